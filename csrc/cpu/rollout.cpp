// CPU kernel of pygan::rollout (the layout of the work: csrc/common/rollout.h,
// the sampling math: csrc/common/sampling.h).
//
// Rows are processed in tiles (at::parallel_for over tiles). A tile's LSTM
// step is one GEMM over [embedding(token), h] into a tile-sized gate buffer;
// its projection runs in vocabulary blocks: each block of W_out^T (Vb x H
// floats, ~64 KB) serves every row group of the tile from L2, and the
// 12 x Vb logits of a row group are reduced to chunk statistics while they
// are in L1, so a row's [V] logits are never stored. The draws recompute
// only the 32 logits of the chosen chunk.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "../rollout_args.h"
#include "../common/philox.h"
#include "rollout_tile.h"

namespace pygan {
namespace {

using cpu::kGemmCols;
using cpu::kGemmRows;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Zero-padded copies in the layouts the tiles read.
struct CpuWeights {
  RolloutShape s;
  int64_t k_in;     // E + H: the gate GEMM's inner size
  int64_t gates;    // 4H rounded up to kGemmCols
  int64_t v_pad;    // V rounded up to kGemmCols
  int64_t chunks;   // v_pad / 32
  int64_t v_block;  // vocabulary columns per projection block
  at::Tensor gate_w, gate_b, out_w_t, out_b;  // [E+H, gates], [gates], [H, v_pad], [v_pad]
  const float* emb;  // [V, E]
};

CpuWeights prepare(const RolloutShape& s, const at::Tensor& embedding, const at::Tensor& w_ih,
                   const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh,
                   const at::Tensor& w_out, const at::Tensor& b_out) {
  CpuWeights p{s, s.emb + s.hidden, round_up(4 * s.hidden, kGemmCols),
               round_up(s.vocab, kGemmCols)};
  p.chunks = p.v_pad / kChunk;
  // ~64 KB of W_out^T per block (Vb x H floats), at least one chunk.
  p.v_block = std::min({p.v_pad, int64_t(512),
                        std::max<int64_t>(kGemmCols, (16384 / s.hidden) / 32 * 32)});
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  p.gate_w = at::zeros({p.k_in, p.gates}, f32);
  p.gate_w.narrow(1, 0, 4 * s.hidden).copy_(at::cat({w_ih, w_hh}, 1).t());
  p.gate_b = at::zeros({p.gates}, f32);
  p.gate_b.narrow(0, 0, 4 * s.hidden).copy_(b_ih + b_hh);  // the bias_sum of lstm_gate
  p.out_w_t = at::zeros({s.hidden, p.v_pad}, f32);
  p.out_w_t.narrow(1, 0, s.vocab).copy_(w_out.t());
  p.out_b = at::zeros({p.v_pad}, f32);
  p.out_b.narrow(0, 0, s.vocab).copy_(b_out);
  p.emb = embedding.const_data_ptr<float>();
  return p;
}

// One thread's buffers for tiles of up to `tile` rows.
struct Scratch {
  std::vector<float> x, gates, h, logits, cmax, csum, scale, cdf;
  Scratch(const CpuWeights& p, int64_t tile)
      : x(tile * p.k_in), gates(tile * p.gates), h(tile * p.s.hidden),
        logits(kGemmRows * p.v_block), cmax(tile * p.chunks), csum(tile * p.chunks),
        scale(p.chunks), cdf(p.chunks) {}
};

// (h, c) <- LSTM cell of (token, h_in, c_in) for `rows` rows (at most the
// scratch's tile). h_out/c_out may alias h_in/c_in.
void lstm_rows(const CpuWeights& p, const int64_t* tokens, const float* h_in, const float* c_in,
               float* h_out, float* c_out, int64_t rows, Scratch& sc) {
  const int64_t E = p.s.emb, H = p.s.hidden;
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(p.emb + tokens[r] * E, E, sc.x.data() + r * p.k_in);
    std::copy_n(h_in + r * H, H, sc.x.data() + r * p.k_in + E);
  }
  const float* gw = p.gate_w.const_data_ptr<float>();
  const float* gb = p.gate_b.const_data_ptr<float>();
  // The GEMM runs whole row groups; rows past `rows` hold stale inputs and
  // their gates are not used.
  for (int64_t r = 0; r < rows; r += kGemmRows)
    cpu::gemm_fma_rows(sc.x.data() + r * p.k_in, p.k_in, gw, p.gates, gb, p.k_in, p.gates,
                       sc.gates.data() + r * p.gates, p.gates);
  cpu::lstm_cells(sc.gates.data(), p.gates, c_in, h_out, c_out, rows, H);
}

// Chunk statistics of `rows` rows of hidden states h [rows, H] into
// sc.cmax/csum. The rows are copied into whole, zero-padded row groups.
void project_rows(const CpuWeights& p, float inv_temp, const float* h_rows, int64_t rows,
                  Scratch& sc) {
  const int64_t H = p.s.hidden;
  float* h = sc.h.data();
  std::copy_n(h_rows, rows * H, h);
  std::fill(h + rows * H, h + round_up(rows, kGemmRows) * H, 0.0f);
  const float* wt = p.out_w_t.const_data_ptr<float>();
  const float* bt = p.out_b.const_data_ptr<float>();
  for (int64_t v0 = 0; v0 < p.v_pad; v0 += p.v_block) {
    const int64_t cols = std::min(p.v_block, p.v_pad - v0);
    const int64_t valid = std::min(cols, p.s.vocab - v0);
    for (int64_t r = 0; r < rows; r += kGemmRows) {
      cpu::gemm_fma_rows(h + r * H, H, wt + v0, p.v_pad, bt + v0, H, cols, sc.logits.data(),
                         p.v_block);
      const int64_t c0 = r * p.chunks + v0 / kChunk;
      cpu::block_chunk_stats(sc.logits.data(), std::min(kGemmRows, rows - r), p.v_block, cols,
                             valid, inv_temp, sc.cmax.data() + c0, sc.csum.data() + c0,
                             p.chunks);
    }
  }
}

// Samples `count` tokens of tile row i (hidden state h) whose draws are
// output positions first, first + step, ...; calls emit(k, token).
template <typename Emit>
PYGAN_CPU_CLONES_V4 void draw_tokens(const CpuWeights& p, const RolloutArgs& a, const float* h,
                                     int64_t i, int64_t first, int64_t step, int64_t count,
                                     Scratch& sc, Emit&& emit) {
  const int64_t V = p.s.vocab;
  const float total = row_cdf(sc.cmax.data() + i * p.chunks, sc.csum.data() + i * p.chunks,
                              p.chunks, a.inv_temp, sc.scale.data(), sc.cdf.data());
  float l[kChunk], w[kChunk];
  for (int64_t k = 0; k < count; ++k) {
    const float target = cdf_target(philox_uniform(a.seed, a.offset, first + k * step), total);
    const int64_t c = find_chunk(sc.cdf.data(), p.chunks, target);
    int64_t token = V - 1;  // every weight 0 or NaN: a diverged model
    if (c < p.chunks) {
      const int n = int(std::min<int64_t>(kChunk, V - c * kChunk));
      cpu::chunk_logits(h, p.out_w_t.const_data_ptr<float>(), p.v_pad,
                        p.out_b.const_data_ptr<float>(), p.s.hidden, c, l);
      const float cm = sc.cmax[i * p.chunks + c];
      for (int j = 0; j < n; ++j) w[j] = softmax_weight(l[j], cm, a.inv_temp);
      token = c * kChunk + pick_in_chunk(w, n, sc.scale[c], c ? sc.cdf[c - 1] : 0.0f, target);
    }
    emit(k, token);
  }
}

// Runs fn(first_row, rows, scratch) over tiles of [0, total) in parallel.
// Threads take tiles from a shared counter, so a thread the OS preempts
// (a shared machine) does not hold the others at the barrier; which thread
// computes a row does not change its bits.
template <typename Fn>
void for_tiles(const CpuWeights& p, int64_t total, Fn&& fn) {
  // Big enough that streaming W_out^T from L3 costs little next to the
  // tile's projection; small enough to give every thread several tiles.
  const int64_t threads = at::get_num_threads();
  const int64_t want = p.s.vocab * p.s.hidden > (1 << 18) ? 96 : 48;
  const int64_t tile =
      std::min(want, round_up(std::max<int64_t>(1, total / (4 * threads)), kGemmRows));
  const int64_t tiles = (total + tile - 1) / tile;
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::min(threads, tiles), 1, [&](int64_t, int64_t) {
    Scratch sc(p, tile);
    for (int64_t i = next++; i < tiles; i = next++)
      fn(i * tile, std::min(tile, total - i * tile), sc);
  });
}

at::Tensor rollout_cpu(const at::Tensor& seqs_in, const at::Tensor& embedding,
                       const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                       const at::Tensor& b_hh, const at::Tensor& w_out, const at::Tensor& b_out,
                       int64_t n_rollouts, double temperature, int64_t seed, int64_t offset,
                       int64_t start_token, std::optional<int64_t> eos_token,
                       int64_t pad_token) {
  const RolloutArgs a =
      check_rollout_args(seqs_in, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out, n_rollouts,
                         temperature, seed, offset, start_token, eos_token, pad_token);
  TORCH_CHECK(seqs_in.device().is_cpu(), "rollout: seqs must be on the CPU for the CPU kernel, ",
              "got ", seqs_in.device());
  const RolloutShape& s = a.shape;
  const at::Tensor seqs = seqs_in.contiguous();
  const at::Tensor emb = embedding.contiguous();  // read in place, so kept alive here
  const CpuWeights p = prepare(s, emb, w_ih, w_hh, b_ih, b_hh, w_out, b_out);
  const int64_t N = s.n, T = s.t, B = s.b, H = s.hidden;
  at::Tensor out = at::empty({N, T - 1, B, T}, seqs.options());
  int64_t* o = out.data_ptr<int64_t>();
  const int64_t* sq = seqs.const_data_ptr<int64_t>();

  // Teacher-forced prefix states [T, B, H]: step t reads token t-1 (the
  // start token at t = 0).
  std::vector<float> hp(T * B * H), cp(T * B * H), zeros(B * H, 0.0f);
  std::vector<int64_t> prefix_tokens(T * B, a.start_token);
  for (int64_t t = 1; t < T; ++t)
    for (int64_t b = 0; b < B; ++b) prefix_tokens[t * B + b] = sq[b * T + t - 1];
  for (int64_t t = 0; t < T; ++t) {
    const float* h_in = t ? hp.data() + (t - 1) * B * H : zeros.data();
    const float* c_in = t ? cp.data() + (t - 1) * B * H : zeros.data();
    for_tiles(p, B, [&](int64_t r0, int64_t rows, Scratch& sc) {
      lstm_rows(p, prefix_tokens.data() + t * B + r0, h_in + r0 * H, c_in + r0 * H,
                hp.data() + (t * B + r0) * H, cp.data() + (t * B + r0) * H, rows, sc);
    });
  }

  // Prefixes, and whether each (t, b) prefix already holds EOS.
  std::vector<uint8_t> prefix_ended(T * B, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 1; t < T; ++t)
      prefix_ended[t * B + b] = prefix_ended[(t - 1) * B + b] || sq[b * T + t - 1] == a.eos_token;
  at::parallel_for(0, N * (T - 1) * B, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = (i / B) % (T - 1) + 1, b = i % B;
      std::copy_n(sq + b * T, t, o + i * T);
    }
  });

  // Continuation state, rows ordered (t, n, b) for t = 1..T-2.
  const int64_t rows_all = (T - 2) * N * B;
  std::vector<float> h(rows_all * H), c(rows_all * H);
  std::vector<int64_t> tok(rows_all);
  std::vector<uint8_t> ended(rows_all, 0);

  // The first sampled token of every (t, b): N draws from the prefix state.
  for_tiles(p, (T - 1) * B, [&](int64_t r0, int64_t rows, Scratch& sc) {
    const float* hr = hp.data() + (B + r0) * H;  // prefix states t = 1..T-1
    project_rows(p, a.inv_temp, hr, rows, sc);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t t = (r0 + i) / B + 1, b = (r0 + i) % B;
      const bool done = prefix_ended[t * B + b];
      const int64_t first = out_index(s, 0, t, b, t), step = out_index(s, 1, t, b, t) - first;
      draw_tokens(p, a, hr + i * H, i, first, step, N, sc, [&](int64_t n, int64_t token) {
        o[first + n * step] = done ? a.pad_token : token;
        if (t == T - 1) return;
        const int64_t r = continuation_row_index(s, t, n, b);
        std::copy_n(hp.data() + (t * B + b) * H, H, h.data() + r * H);
        std::copy_n(cp.data() + (t * B + b) * H, H, c.data() + r * H);
        tok[r] = token;
        ended[r] = done || token == a.eos_token;
      });
    }
  });

  // Steps s = 2..T-1: the rows with t < s advance one token.
  for (int64_t step = 2; step < T; ++step) {
    for_tiles(p, continuation_rows_at(s, step), [&](int64_t r0, int64_t rows, Scratch& sc) {
      float* hr = h.data() + r0 * H;
      float* cr = c.data() + r0 * H;
      lstm_rows(p, tok.data() + r0, hr, cr, hr, cr, rows, sc);
      project_rows(p, a.inv_temp, hr, rows, sc);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t r = r0 + i;
        const RowId id = continuation_row(s, r);
        const int64_t e = out_index(s, id.n, id.t, id.b, step);
        draw_tokens(p, a, hr + i * H, i, e, 0, 1, sc, [&](int64_t, int64_t token) {
          o[e] = ended[r] ? a.pad_token : token;
          ended[r] = ended[r] || token == a.eos_token;
          tok[r] = token;
        });
      }
    });
  }
  return out;
}

// Tensors on devices pygan has no kernel for land here: check the
// arguments, then say which device lacks a kernel.
at::Tensor rollout_no_kernel(const at::Tensor& seqs, const at::Tensor& embedding,
                             const at::Tensor& w_ih, const at::Tensor& w_hh,
                             const at::Tensor& b_ih, const at::Tensor& b_hh,
                             const at::Tensor& w_out, const at::Tensor& b_out,
                             int64_t n_rollouts, double temperature, int64_t seed,
                             int64_t offset, int64_t start_token,
                             std::optional<int64_t> eos_token, int64_t pad_token) {
  check_rollout_args(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out, n_rollouts,
                     temperature, seed, offset, start_token, eos_token, pad_token);
  TORCH_CHECK(false, "rollout: pygan has no kernel for seqs on ", seqs.device(),
              "; use pygan.ops.rollout_reference");
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CPU, m) { m.impl("rollout", &rollout_cpu); }

TORCH_LIBRARY_IMPL(pygan, CompositeExplicitAutograd, m) {
  m.impl("rollout", &rollout_no_kernel);
}

}  // namespace pygan
