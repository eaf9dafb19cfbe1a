// Batch-norm + activation math of pygan::conv_transpose_bn_act, shared by the
// CPU loops and the CUDA kernels so the two backends cannot drift apart.
//
// Forward, per channel: out = act(y * scale + shift), where BatchNorm is
// folded into scale = gamma * invstd and shift = beta - mean * scale.
// Backward, per channel: with g = dL/dout * act'(out) (the gradient at BN's
// output), dbeta = sum(g), dgamma = invstd * sum(g * (y - mean)), and
//   dL/dy = k * g + c1 * (y - mean) + c0,     k = gamma * invstd,
// where, in training mode (batch statistics, m elements per channel),
//   c1 = -k * invstd^2 * sum(g * (y - mean)) / m,  c0 = -k * sum(g) / m,
// and c1 = c0 = 0 in eval mode (running statistics are constants).
#pragma once

#include <math.h>

#include <cstdint>

#include "macros.h"

namespace pygan {

enum class Act : int { kNone = 0, kRelu = 1, kLeakyRelu = 2, kTanh = 3 };

// What the fused passes do besides the convolution.
struct BNActParams {
  bool normalize;  // batch norm at all
  bool training;   // batch statistics (else the given running statistics)
  double eps;
  Act act;
  double slope;  // leaky_relu's negative slope (> 0, finite)
  double momentum = 0;  // the running statistics' update (training mode)
};

// The activations are selects, as torch's are: a blend such as
// pre * (slope + (1 - slope) * (pre > 0)) cancels for a large slope (1e8 in
// float32 zeroes positive outputs) and makes NaN of relu(-inf). Under
// -fno-trapping-math (setup.py) GCC turns these selects into vector blends,
// so the CPU loops still vectorize.
template <typename T>
PYGAN_HD T act_forward(Act act, T pre, T slope) {
  switch (act) {
    case Act::kRelu: return pre < T(0) ? T(0) : pre;  // NaN stays NaN, as torch.relu
    case Act::kLeakyRelu: return pre > T(0) ? pre : pre * slope;
    case Act::kTanh: return tanh(pre);
    default: return pre;
  }
}

// d act / d pre written in terms of the activation's output, so the backward
// needs no pre-activation tensor: relu and leaky relu (slope > 0) keep the
// sign of pre, and tanh' = 1 - tanh^2.
template <typename T>
PYGAN_HD T act_grad_from_out(Act act, T out, T slope) {
  switch (act) {
    case Act::kRelu: return out > T(0) ? T(1) : T(0);
    case Act::kLeakyRelu: return out > T(0) ? T(1) : slope;
    case Act::kTanh: return T(1) - out * out;
    default: return T(1);
  }
}

// BN folded into one multiply-add per element.
template <typename T>
struct ScaleShift {
  T scale;
  T shift;
};

template <typename T>
PYGAN_HD ScaleShift<T> bn_fold(T mean, T invstd, T gamma, T beta) {
  const T scale = gamma * invstd;
  return {scale, beta - mean * scale};
}

template <typename T>
PYGAN_HD T bn_invstd(T var, T eps) {
  return T(1) / sqrt(var + eps);
}

// BatchNorm2d's update of one channel's running statistics from a batch of
// m > 1 values with mean `mean` and biased variance `var`: each moves toward
// the batch's (the variance unbiased) by `momentum`.
template <typename T>
PYGAN_HD void update_running_stats(T& running_mean, T& running_var, T mean, T var, T momentum,
                                   int64_t m) {
  running_mean += momentum * (mean - running_mean);
  running_var += momentum * (var * T(m) / T(m - 1) - running_var);
}

// dL/dy = k * g + c1 * (y - mean) + c0 for every element of one channel.
template <typename T>
struct BNGradCoeffs {
  T k;
  T c1;
  T c0;
};

// sum_g = sum(g), sum_gc = sum(g * (y - mean)) over the channel's m elements.
template <typename T>
PYGAN_HD BNGradCoeffs<T> bn_grad_coeffs(T gamma, T invstd, T sum_g, T sum_gc, int64_t m,
                                        bool training) {
  const T k = gamma * invstd;
  if (!training) return {k, T(0), T(0)};
  const T inv_m = T(1) / T(m);
  return {k, -k * invstd * invstd * sum_gc * inv_m, -k * sum_g * inv_m};
}

}  // namespace pygan
