// The CPU rollout kernel's tile math, torch-free so that ctest can check it
// bit for bit against csrc/common (tests/cpp/test_rollout_tile.cpp).
//
// gemm_fma_rows: a small GEMM whose every output is exactly dot_fma's chain,
//   out[r, j] = fma(a[r, K-1], w[K-1, j], ... fma(a[r, 0], w[0, j], bias[j]))
// rather than ATen's GEMM (whose summation order is the BLAS's): the CUDA
// kernel computes the same chain, so logits and LSTM states, hence tokens,
// agree across backends. Register-blocked micro-kernels on GCC vector types:
// 12 rows x 32 columns (24 zmm accumulators) where AVX-512 exists, 6 x 16
// (12 ymm) with AVX2+FMA. GCC fuses their `a * w + acc` into one FMA
// (contraction is its C++ default), which is what keeps them equal to
// dot_fma; CPUs without FMA take a scalar fmaf loop instead.
//
// block_chunk_stats, chunk_logits, lstm_cells: csrc/common's level-1
// statistics, chunk logits and LSTM cell as vectorizable loops (in the
// AVX-512/AVX2 clones, where fmaf is an instruction rather than a libm call).
#pragma once

#include <math.h>

#include <cstdint>

#include "../common/rollout.h"
#include "../common/sampling.h"
#include "vectorize.h"

namespace pygan {
namespace cpu {

constexpr int64_t kGemmRows = 12;  // rows per call of gemm_fma_rows
constexpr int64_t kGemmCols = 32;  // columns must come in multiples of this

template <int W>
struct VecOf {
  typedef float type __attribute__((vector_size(W * 4), aligned(4)));
};

// MR rows x (NV * W) columns of out from a (row stride lda) and w (row
// stride ldw, K rows), accumulators in registers for all K.
template <int MR, int NV, int W>
PYGAN_CPU_CLONES_V4 void gemm_micro(const float* __restrict__ a, int64_t lda,
                                    const float* __restrict__ w, int64_t ldw,
                                    const float* __restrict__ bias, int64_t k_len,
                                    float* __restrict__ out, int64_t ldo) {
  using V = typename VecOf<W>::type;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) acc[r][q] = *reinterpret_cast<const V*>(bias + q * W);
  for (int64_t k = 0; k < k_len; ++k) {
    V wk[NV];
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) wk[q] = *reinterpret_cast<const V*>(w + k * ldw + q * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float ar = a[r * lda + k];
#pragma GCC unroll 4
      for (int q = 0; q < NV; ++q) acc[r][q] = ar * wk[q] + acc[r][q];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) *reinterpret_cast<V*>(out + r * ldo + q * W) = acc[r][q];
}

inline void gemm_scalar(const float* a, int64_t lda, const float* w, int64_t ldw,
                        const float* bias, int64_t k_len, int64_t cols, float* out,
                        int64_t ldo) {
  for (int64_t r = 0; r < kGemmRows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float acc = bias[j];
      for (int64_t k = 0; k < k_len; ++k) acc = fmaf(a[r * lda + k], w[k * ldw + j], acc);
      out[r * ldo + j] = acc;
    }
}

enum class GemmKind { kAvx512, kFma, kScalar };

inline GemmKind gemm_kind() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const GemmKind kind = __builtin_cpu_supports("avx512f") ? GemmKind::kAvx512
                               : __builtin_cpu_supports("fma")   ? GemmKind::kFma
                                                                 : GemmKind::kScalar;
  return kind;
#else
  return GemmKind::kFma;  // aarch64 and the like: FMA is baseline, GCC contracts
#endif
}

// kGemmRows rows x `cols` (a multiple of kGemmCols) columns of out.
inline void gemm_fma_rows(const float* a, int64_t lda, const float* w, int64_t ldw,
                          const float* bias, int64_t k_len, int64_t cols, float* out,
                          int64_t ldo) {
  switch (gemm_kind()) {
    case GemmKind::kAvx512:
      for (int64_t j = 0; j < cols; j += 32)
        gemm_micro<12, 2, 16>(a, lda, w + j, ldw, bias + j, k_len, out + j, ldo);
      return;
    case GemmKind::kFma:
      for (int64_t i = 0; i < kGemmRows; i += 6)
        for (int64_t j = 0; j < cols; j += 16)
          gemm_micro<6, 2, 8>(a + i * lda, lda, w + j, ldw, bias + j, k_len, out + i * ldo + j,
                              ldo);
      return;
    case GemmKind::kScalar:
      gemm_scalar(a, lda, w, ldw, bias, k_len, cols, out, ldo);
      return;
  }
}

// chunk_stats of one chunk of `count` logits (all 32 readable) as vector
// operations: the tree's levels spelled out, and no masks when kFull.
template <bool kFull>
PYGAN_HD ChunkStats chunk_stats_vec(const float* __restrict__ l, int64_t count, float inv_temp) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < kChunk; ++j) m = (kFull || j < count) && l[j] > m ? l[j] : m;
  float w[kChunk];
#pragma omp simd
  for (int64_t j = 0; j < kChunk; ++j)
    w[j] = kFull || j < count ? softmax_weight(l[j], m, inv_temp) : 0.0f;
#pragma omp simd
  for (int j = 0; j < 16; ++j) w[j] = w[j] + w[j + 16];
#pragma omp simd
  for (int j = 0; j < 8; ++j) w[j] = w[j] + w[j + 8];
#pragma omp simd
  for (int j = 0; j < 4; ++j) w[j] = w[j] + w[j + 4];
  w[0] = w[0] + w[2];
  w[1] = w[1] + w[3];
  return {m, w[0] + w[1]};
}

// chunk_stats of every 32-column chunk of `rows` rows of logits (row stride
// ld, `cols` a multiple of 32 of which the first `valid` are vocabulary
// entries): chunk c of row r goes to cmax[r * sld + c], csum[r * sld + c].
PYGAN_CPU_CLONES_V4 inline void block_chunk_stats(const float* __restrict__ logits, int64_t rows,
                                                  int64_t ld, int64_t cols, int64_t valid,
                                                  float inv_temp, float* __restrict__ cmax,
                                                  float* __restrict__ csum, int64_t sld) {
  const int64_t chunks = cols / kChunk;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t count = valid - c * kChunk;
      const float* l = logits + r * ld + c * kChunk;
      const ChunkStats st = count >= kChunk ? chunk_stats_vec<true>(l, kChunk, inv_temp)
                                            : chunk_stats_vec<false>(l, count, inv_temp);
      cmax[r * sld + c] = st.max;
      csum[r * sld + c] = st.sum;
    }
}

// The 32 logits of chunk c from hidden state h [H] and W_out^T [H, ldw]
// (+ bias [ldw]): dot_fma's chain for each, the 32 chains side by side.
PYGAN_CPU_CLONES_V4 inline void chunk_logits(const float* __restrict__ h,
                                             const float* __restrict__ w_t, int64_t ldw,
                                             const float* __restrict__ bias, int64_t hidden,
                                             int64_t c, float* __restrict__ out) {
  const int64_t v0 = c * kChunk;
  float acc[kChunk];
#pragma omp simd
  for (int j = 0; j < kChunk; ++j) acc[j] = bias[v0 + j];
  for (int64_t k = 0; k < hidden; ++k) {
    const float hk = h[k];
    const float* wk = w_t + k * ldw + v0;
#pragma omp simd
    for (int j = 0; j < kChunk; ++j) acc[j] = fmaf(hk, wk[j], acc[j]);
  }
#pragma omp simd
  for (int j = 0; j < kChunk; ++j) out[j] = acc[j];
}

// The LSTM cell for `rows` rows of gate pre-activations (row stride ld,
// blocks i, f, g, o of `hidden` each) and previous cells c_in [rows, H].
// h_out/c_out may alias c_in.
PYGAN_CPU_CLONES_V4 inline void lstm_cells(const float* gates, int64_t ld, const float* c_in,
                                           float* h_out, float* c_out, int64_t rows,
                                           int64_t hidden) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gates + r * ld;
    const float* c = c_in + r * hidden;
    float* ho = h_out + r * hidden;
    float* co = c_out + r * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const LstmState st = lstm_unit(g[j], g[hidden + j], g[2 * hidden + j],
                                     g[3 * hidden + j], c[j]);
      ho[j] = st.h;
      co[j] = st.c;
    }
  }
}

}  // namespace cpu
}  // namespace pygan
