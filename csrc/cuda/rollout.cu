// CUDA kernels of pygan::rollout (the layout of the work:
// csrc/common/rollout.h; the sampling math: csrc/common/sampling.h).
//
//  lstm_step      one LSTM step for a set of rows; a block owns 8 rows (their
//                 [x, h] in shared memory), each thread a hidden unit's four
//                 gates for all 8 rows, reading the transposed gate weights
//                 coalesced.
//  chunk_stats    the projection fused with level 1 of the sampling: a block
//                 computes the logits of 32 rows x 256 vocabulary entries
//                 (h and W_out tiles in shared memory, 32 accumulators per
//                 thread: 8 rows x 4 entries of one chunk), then reduces
//                 each row's 32-entry chunks (max and tree sum, in-thread
//                 then by xor-shuffles over 8 lanes) and writes only those
//                 two numbers per chunk: the logits never reach memory.
//  draw           one warp per row: the chunk-level CDF, the Philox draws,
//                 the chosen chunk's 32 logits recomputed, the token written.
// Every value is computed by csrc/common's functions in their order, so the
// tokens equal the CPU kernel's.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/philox.h"
#include "rollout.cuh"

namespace pygan {
namespace cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kLstmRows = 8;
constexpr int kRowsPerWarp = 8;         // chunk_stats: rows per warp ...
constexpr int kWarpChunks = 4;          // ... and chunks (8 lanes each)
constexpr int kStatRowGroups = 4;       // warps along the rows ...
constexpr int kStatVocabGroups = 2;     // ... and the vocabulary: 32 rows x 8 chunks a block
constexpr int kStatRows = kStatRowGroups * kRowsPerWarp;
constexpr int kStatVocab = kStatVocabGroups * kWarpChunks * kChunk;
constexpr int kStatThreads = kStatRowGroups * kStatVocabGroups * kChunk;
constexpr int kKTile = 32;              // hidden units per shared-memory tile
constexpr int kDrawWarps = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
size_t align256(size_t n) { return (n + 255) / 256 * 256; }

struct Workspace {
  float* hp;          // [T * B, H] prefix states
  float* cp;
  float* h;           // [rows_all, H] continuation states
  float* c;
  int64_t* tok;       // [rows_all] last sampled token
  uint8_t* ended;     // [rows_all]
  float* cmax;        // [batch, chunks]
  float* cdf;         // [batch, chunks]: chunk sums, then the chunk-level CDF
  int64_t batch;      // rows whose statistics fit at once
};

// Carves base (null: only counts) into the buffers; returns the bytes used.
size_t carve(const RolloutShape& s, char* base, Workspace& w) {
  const int64_t H = s.hidden, chunks = ceil_div(s.vocab, kChunk);
  const int64_t rows_all = (s.t - 2) * s.n * s.b, first_rows = (s.t - 1) * s.b;
  const int64_t most = rows_all > first_rows ? rows_all : first_rows;
  // At most 128 MB of statistics (but 1024 rows), and 2^20 rows (the
  // chunk_stats grid's y dimension).
  int64_t cap = (int64_t(1) << 24) / chunks;
  cap = cap < 1024 ? 1024 : (cap > (int64_t(1) << 20) ? int64_t(1) << 20 : cap);
  w.batch = most < cap ? most : cap;
  size_t used = 0;
  auto take = [&](size_t bytes) {
    char* p = base ? base + used : nullptr;
    used += align256(bytes);
    return p;
  };
  w.hp = reinterpret_cast<float*>(take(sizeof(float) * s.t * s.b * H));
  w.cp = reinterpret_cast<float*>(take(sizeof(float) * s.t * s.b * H));
  w.h = reinterpret_cast<float*>(take(sizeof(float) * rows_all * H));
  w.c = reinterpret_cast<float*>(take(sizeof(float) * rows_all * H));
  w.tok = reinterpret_cast<int64_t*>(take(sizeof(int64_t) * rows_all));
  w.ended = reinterpret_cast<uint8_t*>(take(rows_all));
  w.cmax = reinterpret_cast<float*>(take(sizeof(float) * w.batch * chunks));
  w.cdf = reinterpret_cast<float*>(take(sizeof(float) * w.batch * chunks));
  return used;
}

__global__ void copy_prefixes(const int64_t* __restrict__ seqs, int64_t* __restrict__ out,
                              RolloutShape s) {
  const int64_t total = s.n * (s.t - 1) * s.b * s.t;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pos = i % s.t, rest = i / s.t, b = rest % s.b;
    const int64_t t = (rest / s.b) % (s.t - 1) + 1;
    if (pos < t) out[i] = seqs[b * s.t + pos];
  }
}

// One LSTM step of `rows` rows: token r is tokens[r * stride] (or
// const_token when tokens is null); h_in/c_in null mean zeros. In place is
// allowed: a block reads its rows' h into shared memory before writing.
__global__ void lstm_step(const float* __restrict__ emb, const float* __restrict__ gate_w_t,
                          const float* __restrict__ gate_bias, const int64_t* tokens,
                          int64_t stride, int64_t const_token, const float* h_in,
                          const float* c_in, float* h_out, float* c_out, int64_t rows,
                          int64_t E, int64_t H) {
  extern __shared__ float xh[];  // [kLstmRows, E + H]
  const int64_t K = E + H, r0 = blockIdx.x * int64_t(kLstmRows);
  for (int64_t i = threadIdx.x; i < kLstmRows * K; i += blockDim.x) {
    const int64_t r = r0 + i / K, k = i % K;
    float v = 0.0f;
    if (r < rows) {
      const int64_t token = tokens ? tokens[r * stride] : const_token;
      v = k < E ? emb[token * E + k] : (h_in ? h_in[r * H + k - E] : 0.0f);
    }
    xh[i] = v;
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    float g[kLstmRows][4];
    for (int q = 0; q < 4; ++q) {
      const float bias = gate_bias[q * H + j];
#pragma unroll
      for (int r = 0; r < kLstmRows; ++r) g[r][q] = bias;
    }
    // lstm_gate's chain: k over [x, h], one fma at a time. Unrolled so that
    // the weight loads of 4 steps are in flight together: with one warp a
    // block and ~4 warps an SM at SeqGAN's sizes, it is latency-bound.
#pragma unroll 4
    for (int64_t k = 0; k < K; ++k) {
      const float* wk = gate_w_t + k * 4 * H + j;
      const float w0 = wk[0], w1 = wk[H], w2 = wk[2 * H], w3 = wk[3 * H];
#pragma unroll
      for (int r = 0; r < kLstmRows; ++r) {
        const float x = xh[r * K + k];
        g[r][0] = fmaf(x, w0, g[r][0]);
        g[r][1] = fmaf(x, w1, g[r][1]);
        g[r][2] = fmaf(x, w2, g[r][2]);
        g[r][3] = fmaf(x, w3, g[r][3]);
      }
    }
#pragma unroll
    for (int r = 0; r < kLstmRows; ++r) {
      const int64_t row = r0 + r;
      if (row >= rows) break;
      const LstmState st =
          lstm_unit(g[r][0], g[r][1], g[r][2], g[r][3], c_in ? c_in[row * H + j] : 0.0f);
      h_out[row * H + j] = st.h;
      c_out[row * H + j] = st.c;
    }
  }
}

// chunk_stats' shared-memory row of vocabulary entry j of its tile: rotated
// by 8 per chunk within the chunk, so that the 32 lanes of a warp (entry
// t + 8 e of chunk g for lane 8 g + t) read 32 different banks.
__device__ int ws_row(int j) {
  return (j & ~(kChunk - 1)) | ((j + 8 * (j / kChunk)) & (kChunk - 1));
}

// Level 1 of the sampling for rows [0, rows) of h ([rows, H]): chunk
// statistics into cmax/csum [rows, chunks]. Grid: (vocabulary tiles, row tiles).
//
// Warp w owns rows 8 (w % 4) .. +8 and chunks 4 (w / 4) .. +4 of the block's
// 32 x 256 tile; lane l owns chunk g = l / 8 of those, and in it entries
// t, t+8, t+16, t+24 (t = l % 8) of all 8 rows: 32 accumulators, so per k
// 6 shared loads (two broadcast float4 of h, four w) feed 32 FMAs. Owning
// t, t+8, t+16, t+24 makes the first two levels of tree_sum32 (pairs 16 and
// 8 apart) in-thread and the last three (4, 2, 1) xor-shuffles within the
// 8 lanes: the same pairs, so the same bits as the CPU's tree.
__global__ void __launch_bounds__(kStatThreads)
    chunk_stats(const float* __restrict__ h, int64_t rows, const float* __restrict__ w_out,
                const float* __restrict__ b_out, int64_t V, int64_t H, float inv_temp,
                float* __restrict__ cmax, float* __restrict__ csum, int64_t chunks) {
  // hs is k-major: a warp's 8 rows at one k are two broadcast float4 loads.
  __shared__ __align__(16) float hs[kKTile][kStatRows + 4];
  // ws rows by ws_row; the stride kKTile + 1 is 1 mod 32, so the loads
  // (lanes along k) write without bank conflicts too.
  __shared__ float ws[kStatVocab][kKTile + 1];
  const int warp = threadIdx.x / kChunk, lane = threadIdx.x % kChunk;
  const int rg = warp % kStatRowGroups, g = (warp / kStatRowGroups) * kWarpChunks + lane / 8;
  const int t = lane % 8;
  const int64_t r0 = blockIdx.y * int64_t(kStatRows), v0 = blockIdx.x * int64_t(kStatVocab);
  int wrow[4];
  bool valid[4];
  float acc[kRowsPerWarp][4];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const int j = g * kChunk + t + 8 * e;
    wrow[e] = ws_row(j);
    valid[e] = v0 + j < V;
    const float bias = valid[e] ? b_out[v0 + j] : 0.0f;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) acc[r][e] = bias;
  }
  for (int64_t k0 = 0; k0 < H; k0 += kKTile) {
    const int kc = H - k0 < kKTile ? int(H - k0) : kKTile;
    __syncthreads();  // the previous tile is consumed
    for (int i = threadIdx.x; i < kStatRows * kKTile; i += kStatThreads) {
      const int64_t r = r0 + i / kKTile;
      const int k = i % kKTile;
      hs[k][i / kKTile] = r < rows && k < kc ? h[r * H + k0 + k] : 0.0f;
    }
    for (int i = threadIdx.x; i < kStatVocab * kKTile; i += kStatThreads) {
      const int64_t v = v0 + i / kKTile;
      const int k = i % kKTile;
      ws[ws_row(i / kKTile)][k] = v < V && k < kc ? w_out[v * H + k0 + k] : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kc; ++k) {
      const float4 ha = *reinterpret_cast<const float4*>(&hs[k][rg * kRowsPerWarp]);
      const float4 hb = *reinterpret_cast<const float4*>(&hs[k][rg * kRowsPerWarp + 4]);
      const float hv[kRowsPerWarp] = {ha.x, ha.y, ha.z, ha.w, hb.x, hb.y, hb.z, hb.w};
      float wv[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) wv[e] = ws[wrow[e]][k];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[r][e] = fmaf(hv[r], wv[e], acc[r][e]);
    }
  }
  const int64_t c = v0 / kChunk + g;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    float m = valid[0] ? acc[r][0] : -INFINITY;  // fmaxf: NaN only where all are NaN
#pragma unroll
    for (int e = 1; e < 4; ++e) m = fmaxf(m, valid[e] ? acc[r][e] : -INFINITY);
    for (int o = 4; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, o));
    float w[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) w[e] = valid[e] ? softmax_weight(acc[r][e], m, inv_temp) : 0.0f;
    float sum = (w[0] + w[2]) + (w[1] + w[3]);  // tree_sum32's levels 16 and 8
    for (int o = 4; o > 0; o /= 2) sum = sum + __shfl_xor_sync(kFullMask, sum, o);
    const int64_t row = r0 + rg * kRowsPerWarp + r;
    if (t == 0 && row < rows && c < chunks) {
      cmax[row * chunks + c] = m;
      csum[row * chunks + c] = sum;
    }
  }
}

// A warp's view of one row for its draws.
struct RowSampler {
  const float* h;     // [H]
  const float* cmax;  // [chunks]
  const float* cdf;   // [chunks]
  float row_max;
  float total;
};

// Turns the row's chunk sums (in cdf) into its chunk-level CDF in place,
// as row_cdf does; fills row_max and total. All lanes of the warp call it.
__device__ void build_cdf(RowSampler& rs, float* cdf, int64_t chunks, float inv_temp) {
  const int lane = threadIdx.x % kChunk;
  float m = -INFINITY;
  for (int64_t c = lane; c < chunks; c += kChunk) m = fmaxf(m, rs.cmax[c]);
  for (int o = kChunk / 2; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(kFullMask, m, o));
  float total = 0.0f;
  for (int64_t base = 0; base < chunks; base += kChunk) {
    const int64_t c = base + lane;
    const float sum = c < chunks ? cdf[c] : 0.0f;
    const float scale = c < chunks ? chunk_scale(rs.cmax[c], m, inv_temp) : 0.0f;
    const int n = chunks - base < kChunk ? int(chunks - base) : kChunk;
    float mine = 0.0f;
    for (int j = 0; j < n; ++j) {  // sequential, as row_cdf: every lane runs the chain
      total = cdf_step(total, __shfl_sync(kFullMask, sum, j), __shfl_sync(kFullMask, scale, j));
      if (lane == j) mine = total;
    }
    if (c < chunks) cdf[c] = mine;
  }
  __syncwarp();
  rs.row_max = m;
  rs.total = total;
}

// The token that uniform u selects (the same in every lane).
__device__ int64_t draw_token(const RowSampler& rs, float u, const float* __restrict__ w_out,
                              const float* __restrict__ b_out, int64_t V, int64_t H,
                              int64_t chunks, float inv_temp) {
  const int lane = threadIdx.x % kChunk;
  const float target = cdf_target(u, rs.total);
  int64_t c = chunks;
  for (int64_t base = 0; base < chunks; base += kChunk) {
    const unsigned hit =
        __ballot_sync(kFullMask, base + lane < chunks && rs.cdf[base + lane] > target);
    if (hit) {
      c = base + __ffs(int(hit)) - 1;
      break;
    }
  }
  if (c == chunks) return V - 1;  // every weight 0 or NaN: a diverged model
  const int64_t v = c * kChunk + lane;
  const int count = V - c * kChunk < kChunk ? int(V - c * kChunk) : kChunk;
  const float cm = rs.cmax[c];
  const float mine =
      lane < count ? softmax_weight(dot_fma(b_out[v], rs.h, w_out + v * H, H), cm, inv_temp)
                   : 0.0f;
  float w[kChunk];
#pragma unroll
  for (int j = 0; j < kChunk; ++j) w[j] = __shfl_sync(kFullMask, mine, j);
  const float scale = chunk_scale(cm, rs.row_max, inv_temp);
  return c * kChunk + pick_in_chunk(w, count, scale, c ? rs.cdf[c - 1] : 0.0f, target);
}

struct DrawArgs {
  RolloutShape s;
  RolloutSampling smp;
  const int64_t* seqs;
  const float* w_out;
  const float* b_out;
  int64_t* out;
  Workspace ws;
  int64_t chunks;
};

// The first sampled token of rows (t, b) = [row0, row0 + rows) of the
// (T-1) * B prefix rows, N draws each; starts the continuation rows.
__global__ void draw_first(DrawArgs a, int64_t row0, int64_t rows) {
  const int64_t local = blockIdx.x * int64_t(kDrawWarps) + threadIdx.x / kChunk;
  if (local >= rows) return;  // whole warps
  const int lane = threadIdx.x % kChunk;
  const RolloutShape& s = a.s;
  const int64_t row = row0 + local, t = row / s.b + 1, b = row % s.b, H = s.hidden;
  const float* hp = a.ws.hp + (t * s.b + b) * H;
  const float* cp = a.ws.cp + (t * s.b + b) * H;
  RowSampler rs{hp, a.ws.cmax + local * a.chunks, a.ws.cdf + local * a.chunks, 0.0f, 0.0f};
  build_cdf(rs, a.ws.cdf + local * a.chunks, a.chunks, a.smp.inv_temp);
  bool done = false;
  for (int64_t pos = 0; pos < t; ++pos) done = done || a.seqs[b * s.t + pos] == a.smp.eos_token;
  for (int64_t n = 0; n < s.n; ++n) {
    const int64_t e = out_index(s, n, t, b, t);
    const int64_t token = draw_token(rs, philox_uniform(a.smp.seed, a.smp.offset, e), a.w_out,
                                     a.b_out, s.vocab, H, a.chunks, a.smp.inv_temp);
    if (lane == 0) a.out[e] = done ? a.smp.pad_token : token;
    if (t == s.t - 1) continue;
    const int64_t r = continuation_row_index(s, t, n, b);
    for (int64_t j = lane; j < H; j += kChunk) {
      a.ws.h[r * H + j] = hp[j];
      a.ws.c[r * H + j] = cp[j];
    }
    if (lane == 0) {
      a.ws.tok[r] = token;
      a.ws.ended[r] = done || token == a.smp.eos_token;
    }
  }
}

// Token `step` of continuation rows [row0, row0 + rows).
__global__ void draw_next(DrawArgs a, int64_t row0, int64_t rows, int64_t step) {
  const int64_t local = blockIdx.x * int64_t(kDrawWarps) + threadIdx.x / kChunk;
  if (local >= rows) return;
  const int lane = threadIdx.x % kChunk;
  const RolloutShape& s = a.s;
  const int64_t r = row0 + local;
  RowSampler rs{a.ws.h + r * s.hidden, a.ws.cmax + local * a.chunks,
                a.ws.cdf + local * a.chunks, 0.0f, 0.0f};
  build_cdf(rs, a.ws.cdf + local * a.chunks, a.chunks, a.smp.inv_temp);
  const RowId id = continuation_row(s, r);
  const int64_t e = out_index(s, id.n, id.t, id.b, step);
  const int64_t token = draw_token(rs, philox_uniform(a.smp.seed, a.smp.offset, e), a.w_out,
                                   a.b_out, s.vocab, s.hidden, a.chunks, a.smp.inv_temp);
  if (lane == 0) {
    const bool ended = a.ws.ended[r];
    a.out[e] = ended ? a.smp.pad_token : token;
    a.ws.ended[r] = ended || token == a.smp.eos_token;
    a.ws.tok[r] = token;
  }
}

cudaError_t launch_lstm(const RolloutShape& s, const RolloutTensors& x, const int64_t* tokens,
                        int64_t stride, int64_t const_token, const float* h_in,
                        const float* c_in, float* h_out, float* c_out, int64_t rows,
                        cudaStream_t stream) {
  const size_t smem = sizeof(float) * kLstmRows * (s.emb + s.hidden);
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(
        lstm_step, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (err != cudaSuccess) return err;
  }
  const int threads = int(ceil_div(s.hidden < 256 ? s.hidden : 256, 32) * 32);
  lstm_step<<<unsigned(ceil_div(rows, kLstmRows)), threads, smem, stream>>>(
      x.embedding, x.gate_w_t, x.gate_bias, tokens, stride, const_token, h_in, c_in, h_out,
      c_out, rows, s.emb, s.hidden);
  return cudaGetLastError();
}

// Statistics then draws for `rows` rows, a workspace batch at a time;
// draw(row0, batch_rows) launches the draw kernel.
template <typename Draw>
cudaError_t sample_rows(const DrawArgs& a, const float* h, int64_t rows, cudaStream_t stream,
                        Draw&& draw) {
  for (int64_t row0 = 0; row0 < rows; row0 += a.ws.batch) {
    const int64_t n = rows - row0 < a.ws.batch ? rows - row0 : a.ws.batch;
    const dim3 grid(unsigned(ceil_div(a.s.vocab, kStatVocab)), unsigned(ceil_div(n, kStatRows)));
    chunk_stats<<<grid, kStatThreads, 0, stream>>>(h + row0 * a.s.hidden, n, a.w_out, a.b_out,
                                                   a.s.vocab, a.s.hidden, a.smp.inv_temp,
                                                   a.ws.cmax, a.ws.cdf, a.chunks);
    draw(row0, n);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace

size_t rollout_workspace_bytes(const RolloutShape& shape) {
  Workspace w;
  return carve(shape, nullptr, w);
}

cudaError_t rollout_launch(const RolloutShape& s, const RolloutSampling& smp,
                           const RolloutTensors& x, void* workspace, cudaStream_t stream) {
  DrawArgs a{s, smp, x.seqs, x.w_out, x.b_out, x.out, {}, ceil_div(s.vocab, kChunk)};
  carve(s, static_cast<char*>(workspace), a.ws);
  const int64_t B = s.b, H = s.hidden;
  const int64_t copy_blocks = ceil_div(s.n * (s.t - 1) * B * s.t, 256);
  copy_prefixes<<<unsigned(copy_blocks < 4096 ? copy_blocks : 4096), 256, 0, stream>>>(
      x.seqs, x.out, s);
  cudaError_t err = cudaGetLastError();
  // Teacher-forced prefix states: step t reads token t-1 (the start token at 0).
  for (int64_t t = 0; t < s.t && err == cudaSuccess; ++t) {
    const float* h_in = t ? a.ws.hp + (t - 1) * B * H : nullptr;
    const float* c_in = t ? a.ws.cp + (t - 1) * B * H : nullptr;
    err = launch_lstm(s, x, t ? x.seqs + t - 1 : nullptr, s.t, smp.start_token, h_in, c_in,
                      a.ws.hp + t * B * H, a.ws.cp + t * B * H, B, stream);
  }
  if (err != cudaSuccess) return err;
  const unsigned draw_threads = kDrawWarps * kChunk;
  err = sample_rows(a, a.ws.hp + B * H, (s.t - 1) * B, stream, [&](int64_t row0, int64_t n) {
    draw_first<<<unsigned(ceil_div(n, kDrawWarps)), draw_threads, 0, stream>>>(a, row0, n);
  });
  for (int64_t step = 2; step < s.t && err == cudaSuccess; ++step) {
    const int64_t rows = continuation_rows_at(s, step);
    err = launch_lstm(s, x, a.ws.tok, 1, 0, a.ws.h, a.ws.c, a.ws.h, a.ws.c, rows, stream);
    if (err != cudaSuccess) return err;
    err = sample_rows(a, a.ws.h, rows, stream, [&](int64_t row0, int64_t n) {
      draw_next<<<unsigned(ceil_div(n, kDrawWarps)), draw_threads, 0, stream>>>(a, row0, n,
                                                                               step);
    });
  }
  return err;
}

}  // namespace cuda
}  // namespace pygan
