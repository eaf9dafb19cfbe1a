// Categorical sampling from softmax(logits / temperature) with one uniform
// number per draw (inverse CDF), shared by the CPU and CUDA kernels of
// pygan::rollout. Every floating-point operation is spelled out (explicit
// fma, own exp) and every sum has a fixed order, so both backends compute
// the same bits and therefore draw the same token.
//
// The vocabulary is cut into chunks of kChunk = 32 entries (a CUDA warp, four
// AVX2 or two AVX-512 registers). A row is sampled in two levels, so that
// its [V] logits are never stored:
//  1. per chunk c: its max M_c and S_c = tree_sum32(exp((l - M_c) / temp));
//  2. per row: m = max_c M_c, scale_c = exp((M_c - m) / temp), and the
//     chunk-level CDF R_c = fma(S_c, scale_c, R_{c-1}) in chunk order;
//  3. per draw: target = u * R_last, c = the first chunk with R_c > target,
//     then the 32 logits of chunk c are recomputed and walked in order.
// Zero-weight tokens are never drawn (a strict > throughout).
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "macros.h"

namespace pygan {

constexpr int kChunk = 32;

PYGAN_HD float bits_as_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

PYGAN_HD uint32_t float_as_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

// e^x for x <= 0, within 2 ulp; 0 below -86 (where e^x leaves the normal
// range) and for NaN. Cody-Waite reduction x = k ln2 + r, Cephes' degree-7
// polynomial for e^r, and 2^k added to the exponent bits, so no libm call
// (whose results differ between glibc, SLEEF and CUDA) and no multiply that
// a compiler could fuse differently on each backend.
PYGAN_HD float exp_neg(float x) {
  const float xc = x > -87.0f ? x : -87.0f;  // keeps int(k) defined; NaN -> -87
  const float magic = 0x1.8p23f;              // adding it rounds to an integer
  const float k = fmaf(xc, 1.44269504f, magic) - magic;
  float r = fmaf(k, -0.693359375f, xc);
  r = fmaf(k, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  const float er = fmaf(p, r * r, r) + 1.0f;
  const float y = bits_as_float(float_as_bits(er) + uint32_t(int32_t(k) * (1 << 23)));
  return x >= -86.0f ? y : 0.0f;
}

// bias + sum_k a[k] * b[k], one fma at a time in order k = 0..n-1: the
// definition of every logit and LSTM gate (the CPU's vectorized GEMM and
// the CUDA tiles keep exactly this chain per output).
PYGAN_HD float dot_fma(float bias, const float* a, const float* b, int64_t n) {
  float acc = bias;
  for (int64_t k = 0; k < n; ++k) acc = fmaf(a[k], b[k], acc);
  return acc;
}

// The unnormalised probability of a logit relative to `ref` (>= logit).
PYGAN_HD float softmax_weight(float logit, float ref, float inv_temp) {
  return exp_neg((logit - ref) * inv_temp);
}

// Sum of w[0..31] by the pairwise tree w[j] += w[j + h], h = 16, 8, .., 1,
// which is also what a CUDA warp's xor-butterfly of shuffles computes
// (addition is commutative, so both lanes of a pair get the same bits).
// Overwrites w.
PYGAN_HD float tree_sum32(float* w) {
  for (int h = kChunk / 2; h > 0; h /= 2)
    for (int j = 0; j < h; ++j) w[j] = w[j] + w[j + h];
  return w[0];
}

struct ChunkStats {
  float max;  // of the chunk's logits
  float sum;  // of softmax_weight(logit, max) over the chunk
};

// Level 1 for one chunk of `count` (1..32) logits; w: 32 floats of scratch,
// left holding the weights (0 past count) in tree-summed form.
PYGAN_HD ChunkStats chunk_stats(const float* logits, int count, float inv_temp, float* w) {
  float m = logits[0];
  for (int j = 1; j < count; ++j) m = logits[j] > m ? logits[j] : m;
  for (int j = 0; j < kChunk; ++j) w[j] = j < count ? softmax_weight(logits[j], m, inv_temp) : 0.0f;
  return {m, tree_sum32(w)};
}

// Level 2: the weight of chunk c relative to the row's max m ...
PYGAN_HD float chunk_scale(float chunk_max, float row_max, float inv_temp) {
  return softmax_weight(chunk_max, row_max, inv_temp);
}

// ... and one step of the chunk-level CDF (also used inside a chunk).
PYGAN_HD float cdf_step(float before, float sum, float scale) { return fmaf(sum, scale, before); }

// Fills scale[c] and the chunk-level CDF cdf[c] of one row's n chunk stats;
// returns the total (cdf[n - 1]).
PYGAN_HD float row_cdf(const float* chunk_max, const float* chunk_sum, int64_t n, float inv_temp,
                       float* scale, float* cdf) {
  float m = chunk_max[0];
  for (int64_t c = 1; c < n; ++c) m = chunk_max[c] > m ? chunk_max[c] : m;
  float total = 0.0f;
  for (int64_t c = 0; c < n; ++c) {
    scale[c] = chunk_scale(chunk_max[c], m, inv_temp);
    total = cdf_step(total, chunk_sum[c], scale[c]);
    cdf[c] = total;
  }
  return total;
}

// What a uniform u in [0, 1) selects: the first position whose cumulative
// weight exceeds u * total (< total for any u < 1).
PYGAN_HD float cdf_target(float u, float total) { return u * total; }

// First c in [0, n) with cdf[c] > target (binary search), n if none.
PYGAN_HD int64_t find_chunk(const float* cdf, int64_t n, float target) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (cdf[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Level 3: the index in the chosen chunk, from its `count` weights w (as
// softmax_weight gave them, before any tree sum), its scale and the CDF
// before it. The in-chunk running sum is sequential, so it can end a hair
// below the tree sum; then the last token of positive weight is taken.
PYGAN_HD int pick_in_chunk(const float* w, int count, float scale, float before, float target) {
  float cum = 0.0f;
  int last = count - 1;
  for (int j = 0; j < count; ++j) {
    cum = cum + w[j];
    if (cdf_step(before, cum, scale) > target) return j;
  }
  while (last > 0 && !(w[last] > 0.0f)) --last;
  return last;
}

}  // namespace pygan
