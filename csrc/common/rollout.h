// The LSTM cell and the work layout of pygan::rollout, shared by the CPU and
// CUDA kernels (the sampling itself is sampling.h).
//
// Output out[n, t-1, b, :] (rollout n < N, prefix length 1 <= t < T,
// sequence b < B) copies seqs[b, :t] and samples tokens s = t..T-1. The
// uniform number of the token at flat output position e is
// philox_uniform(seed, offset, e), whichever thread computes it.
//
// Work: the teacher-forced prefix states (h, c)[t][b] (after the start token
// and tokens 0..t-1) are computed once; the first sampled token of (t, b),
// s = t, is drawn N times from that one state (one projection for all N
// rollouts); every later token s > t needs the rollout's own state. The
// continuation rows are ordered (t, n, b), so the rows still sampling at
// step s (those with t < s) are a prefix of them.
#pragma once

#include <math.h>

#include <cstdint>

#include "macros.h"
#include "sampling.h"

namespace pygan {

struct RolloutShape {
  int64_t n;      // rollouts
  int64_t t;      // sequence length
  int64_t b;      // sequences
  int64_t vocab;
  int64_t emb;
  int64_t hidden;
};

// Flat index of out[n, t-1, b, s] ([N, T-1, B, T] row-major).
PYGAN_HD int64_t out_index(const RolloutShape& s, int64_t n, int64_t t, int64_t b, int64_t pos) {
  return ((n * (s.t - 1) + (t - 1)) * s.b + b) * s.t + pos;
}

// Continuation row r <-> (t, n, b), t in 1..T-2 (for t = T-1 the first
// sampled token is the last one).
struct RowId {
  int64_t t;
  int64_t n;
  int64_t b;
};

PYGAN_HD RowId continuation_row(const RolloutShape& s, int64_t r) {
  const int64_t per_t = s.n * s.b;
  return {r / per_t + 1, (r / s.b) % s.n, r % s.b};
}

PYGAN_HD int64_t continuation_row_index(const RolloutShape& s, int64_t t, int64_t n, int64_t b) {
  return ((t - 1) * s.n + n) * s.b + b;
}

// Rows still sampling at step s >= 2: those with prefix length t < s.
PYGAN_HD int64_t continuation_rows_at(const RolloutShape& s, int64_t step) {
  return (step - 1) * s.n * s.b;
}

// Logistic and tanh from exp_neg of -|x| (never overflows), as fixed
// operation sequences; within a few ulp of libm.
PYGAN_HD float sigmoid_fixed(float x) {
  const float e = exp_neg(-fabsf(x));
  const float r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

PYGAN_HD float tanh_fixed(float x) {
  const float e = exp_neg(-2.0f * fabsf(x));
  return copysignf((1.0f - e) / (1.0f + e), x);
}

// Gate pre-activation j: b_ih[j] + b_hh[j] (added first, in float), then
// the fma chain over x (E inputs, W_ih's row j) and on over h (W_hh's row j),
// i.e. one dot_fma over the concatenation [x, h].
PYGAN_HD float lstm_gate(float bias_sum, const float* x, const float* w_ih_row, int64_t emb,
                         const float* h, const float* w_hh_row, int64_t hidden) {
  return dot_fma(dot_fma(bias_sum, x, w_ih_row, emb), h, w_hh_row, hidden);
}

struct LstmState {
  float h;
  float c;
};

// One hidden unit of torch.nn.LSTM's cell from its four gate
// pre-activations (order i, f, g, o) and its previous cell value.
PYGAN_HD LstmState lstm_unit(float gi, float gf, float gg, float go, float c) {
  const float c_new = fmaf(sigmoid_fixed(gf), c, sigmoid_fixed(gi) * tanh_fixed(gg));
  return {sigmoid_fixed(go) * tanh_fixed(c_new), c_new};
}

}  // namespace pygan
