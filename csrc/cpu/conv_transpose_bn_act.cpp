// CPU kernels of pygan::conv_transpose_bn_act and its backward. Everything
// is channels-last (NHWC): oneDNN's transposed convolutions ran 1.2-2.2x
// faster on NHWC tensors than on NCHW ones, which it reorders on every call
// (bench/results/conv_transpose_bn_act_cpu.md), and a block's NHWC output is
// the next block's NHWC input. Batch norm and the activation then work on
// rows of C contiguous channel values: every pass streams memory in order
// and its inner loop runs across channels, one SIMD lane per channel.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "../conv_transpose_bn_act_impl.h"
#include "col2im_rows.h"
#include "vectorize.h"

namespace pygan {
namespace {

template <Act A>
using ActTag = std::integral_constant<Act, A>;

template <typename F>
void dispatch_act(Act act, F&& f) {
  switch (act) {
    case Act::kRelu: return f(ActTag<Act::kRelu>{});
    case Act::kLeakyRelu: return f(ActTag<Act::kLeakyRelu>{});
    // The CPU forward applies tanh with ATen's vectorized (SLEEF) tanh
    // afterwards: libm's scalar tanh would cost more than the convolution.
    case Act::kTanh: return f(ActTag<Act::kTanh>{});
    default: return f(ActTag<Act::kNone>{});
  }
}

// Rows per statistics chunk: ~64 KB of floats, so a chunk's second pass
// reads it from L2. The chunks depend on the shape only, never on the thread
// count, so the passes round the same way for any number of threads.
constexpr int64_t kChunkElements = 16384;

int64_t chunk_rows(int64_t c) { return std::max<int64_t>(1, kChunkElements / c); }

// Rows per parallel_for task for the element-wise passes: about ATen's grain.
int64_t row_grain(int64_t c) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(c, 1));
}

// Per chunk of rows: the chunk's per-channel mean and sum of squared
// deviations from it (two passes over the cached chunk), accumulated in
// double: a chunk holds thousands of rows when C is small.
template <typename T>
PYGAN_CPU_CLONES_V4 void chunk_moments(const T* __restrict__ y, int64_t rows, int64_t c,
                                       double* __restrict__ mean, double* __restrict__ m2) {
  std::fill(mean, mean + c, 0.0);
  std::fill(m2, m2 + c, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = y + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) mean[k] += double(row[k]);
  }
  const double inv = 1.0 / double(rows);
#pragma omp simd
  for (int64_t k = 0; k < c; ++k) mean[k] *= inv;
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = y + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const double d = double(row[k]) - mean[k];
      m2[k] += d * d;
    }
  }
}

// Batch mean and biased variance of each channel of y [rows, c]: chunk
// moments combined in chunk order by Chan's formula.
template <typename T>
void channel_stats(const T* y, int64_t rows, int64_t c, T* mean, T* var) {
  const int64_t per = chunk_rows(c), chunks = (rows + per - 1) / per;
  std::vector<double> part(2 * chunks * c);
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i)
      chunk_moments(y + i * per * c, std::min(per, rows - i * per), c, &part[2 * i * c],
                    &part[(2 * i + 1) * c]);
  });
  for (int64_t k = 0; k < c; ++k) {
    double count = 0, mu = 0, m2 = 0;
    for (int64_t i = 0; i < chunks; ++i) {
      const double n = double(std::min(per, rows - i * per)), total = count + n;
      const double delta = part[2 * i * c + k] - mu;
      mu += delta * n / total;
      m2 += part[(2 * i + 1) * c + k] + delta * delta * count * n / total;
      count = total;
    }
    mean[k] = T(mu);
    var[k] = T(m2 / double(rows));
  }
}

// out[r, k] = act(y[r, k] * scale[k] + shift[k]); tanh is left to the caller.
template <Act A, typename T>
PYGAN_CPU_CLONES_V4 void affine_act_rows(const T* __restrict__ y, T* __restrict__ out,
                                         int64_t rows, int64_t c, const T* __restrict__ scale,
                                         const T* __restrict__ shift, T slope) {
  constexpr Act kAct = A == Act::kTanh ? Act::kNone : A;
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * c;
    T* o = out + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) o[k] = act_forward(kAct, yr[k] * scale[k] + shift[k], slope);
  }
}

// Per chunk of rows, in double: sums[k] = sum(g), sums[c + k] =
// sum(g * (y - mean)), g = dout * act'(out).
template <Act A, typename T>
PYGAN_CPU_CLONES_V4 void chunk_grad_sums(const T* __restrict__ dout, const T* __restrict__ out,
                                         const T* __restrict__ y, int64_t rows, int64_t c,
                                         const T* __restrict__ mean, T slope,
                                         double* __restrict__ sums) {
  double* sg = sums;
  double* sgc = sums + c;
  std::fill(sums, sums + 2 * c, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const T g = dout[o + k] * act_grad_from_out(A, out[o + k], slope);
      sg[k] += double(g);
      sgc[k] += double(g * (y[o + k] - mean[k]));
    }
  }
}

// dy[r, k] = coef.k[k] * g + coef.c1[k] * (y - mean[k]) + coef.c0[k]
// (kCentred), or dy = scale[k] * g where y is not needed.
template <typename T>
struct RowCoeffs {
  const T* k;
  const T* c1;
  const T* c0;
  const T* mean;
};

template <Act A, bool kCentred, typename T>
PYGAN_CPU_CLONES_V4 void grad_input_rows(const T* __restrict__ dout, const T* __restrict__ out,
                                         const T* __restrict__ y, T* __restrict__ dy,
                                         int64_t rows, int64_t c, RowCoeffs<T> coef, T slope) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const T g = dout[o + k] * act_grad_from_out(A, out[o + k], slope);
      dy[o + k] = kCentred ? coef.k[k] * g + coef.c1[k] * (y[o + k] - coef.mean[k]) + coef.c0[k]
                           : coef.k[k] * g;
    }
  }
}

template <typename T>
T param_or(const std::optional<at::Tensor>& t, int64_t c, T fallback) {
  return t.has_value() ? t->data_ptr<T>()[c] : fallback;
}

// Calls f(first_row, rows, sample) over [0, rows) in ATen-sized tasks, each
// cut where a new sample begins (every `per` rows: H * W for per-sample BN
// parameters; rows for per-channel ones, one segment a task).
template <typename F>
void for_rows(int64_t rows, int64_t c, int64_t per, F&& f) {
  at::parallel_for(0, rows, row_grain(c), [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last;) {
      const int64_t sample = r / per, stop = std::min(last, (sample + 1) * per);
      f(r, stop - r, sample);
      r = stop;
    }
  });
}

// Rows (pixels) per sample of an NHWC [N, C, H, W] tensor.
int64_t rows_per_sample(const at::Tensor& t) { return t.size(2) * t.size(3); }

// dy over all rows, in tasks cut at sample boundaries (every `per` rows):
// sample s's rows take k from coef.k + s * k_stride (per-sample k: stride C).
template <Act A, typename T>
void grad_input_all_rows(const T* gp, const T* op, const T* yp, T* dp, int64_t rows, int64_t c,
                         int64_t per, RowCoeffs<T> coef, int64_t k_stride, T slope,
                         bool training) {
  for_rows(rows, c, per, [&](int64_t first, int64_t n, int64_t sample) {
    const int64_t o = first * c;
    RowCoeffs<T> cs = coef;
    cs.k += sample * k_stride;
    if (training)
      grad_input_rows<A, true>(gp + o, op + o, yp + o, dp + o, n, c, cs, slope);
    else
      grad_input_rows<A, false>(gp + o, op + o, yp + o, dp + o, n, c, cs, slope);
  });
}

// The backward with per-sample parameters gamma [N, C] (dgamma, dbeta [N,
// C]). Each sample's sums sg = sum_hw(g), sgc = sum_hw(g (y - mean)) give
// dbeta = sg and dgamma = invstd * sgc; the input gradient's sums over
// (n, h, w) of dxhat = gamma[n, c] g and dxhat * xhat are then
// sum_n gamma[n, c] sg and invstd sum_n gamma[n, c] sgc, so
// bn_grad_coeffs with gamma 1 and those weighted sums gives c1 and c0, and
// k[n, c] = gamma[n, c] invstd. Samples are the tasks (sums in double, in
// one order for any thread count).
template <Act A, typename T>
void per_sample_backward(const T* gp, const T* op, const T* yp, const at::Tensor& gamma,
                         const T* mp, const T* vp, int64_t per, int64_t c, const BNActParams& p,
                         T* dp, T* dgamma, T* dbeta) {
  const int64_t samples = gamma.size(0), rows = samples * per;
  const T* gam = gamma.data_ptr<T>();
  const T slope = T(p.slope);
  std::vector<double> part(2 * samples * c);
  at::parallel_for(0, samples, 1, [&](int64_t first, int64_t last) {
    for (int64_t s = first; s < last; ++s) {
      const int64_t o = s * per * c;
      chunk_grad_sums<A>(gp + o, op + o, yp + o, per, c, mp, slope, &part[2 * s * c]);
    }
  });
  std::vector<T> k(samples * c), c1(c), c0(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const T invstd = bn_invstd(vp[ch], T(p.eps));
    double wsg = 0, wsgc = 0;
    for (int64_t s = 0; s < samples; ++s) {
      const double sg = part[2 * s * c + ch], sgc = part[(2 * s + 1) * c + ch];
      const int64_t i = s * c + ch;
      dgamma[i] = T(sgc) * invstd;
      dbeta[i] = T(sg);
      wsg += double(gam[i]) * sg;
      wsgc += double(gam[i]) * sgc;
      k[i] = gam[i] * invstd;
    }
    const auto coef = bn_grad_coeffs(T(1), invstd, T(wsg), T(wsgc), rows, p.training);
    c1[ch] = coef.c1;
    c0[ch] = coef.c0;
  }
  grad_input_all_rows<A>(gp, op, yp, dp, rows, c, per,
                         RowCoeffs<T>{k.data(), c1.data(), c0.data(), mp}, c, slope, p.training);
}

// y, out: channels-last [N, C, H, W] (rows of C values); see the impl header.
template <typename T>
void forward_pass(const at::Tensor& y, at::Tensor& out, const std::optional<at::Tensor>& gamma,
                  const std::optional<at::Tensor>& beta, at::Tensor& mean, at::Tensor& var,
                  const std::optional<at::Tensor>& running_mean,
                  const std::optional<at::Tensor>& running_var, const BNActParams& p) {
  const int64_t c = y.size(1), rows = y.numel() / c;
  const T* yp = y.data_ptr<T>();
  T* op = out.data_ptr<T>();
  const T slope = T(p.slope);
  // Per-sample parameters ([N, C]) fold into one (scale, shift) row a sample.
  const bool by_sample = is_per_sample(gamma);
  const int64_t per = by_sample ? rows_per_sample(y) : rows;
  const int64_t samples = by_sample ? y.size(0) : 1;
  std::vector<T> scale(samples * c, T(1)), shift(samples * c, T(0));
  if (p.normalize) {
    T* mp = mean.data_ptr<T>();
    T* vp = var.data_ptr<T>();
    if (p.training) channel_stats(yp, rows, c, mp, vp);
    if (running_mean.has_value()) {
      T* rm = running_mean->data_ptr<T>();
      T* rv = running_var->data_ptr<T>();
      for (int64_t k = 0; k < c; ++k)
        update_running_stats(rm[k], rv[k], mp[k], vp[k], T(p.momentum), rows);
    }
    for (int64_t i = 0; i < samples * c; ++i) {
      const int64_t k = i % c;
      const auto ss = bn_fold(mp[k], bn_invstd(vp[k], T(p.eps)), param_or(gamma, i, T(1)),
                              param_or(beta, i, T(0)));
      scale[i] = ss.scale;
      shift[i] = ss.shift;
    }
  }
  dispatch_act(p.act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    if (!p.normalize && A != Act::kRelu && A != Act::kLeakyRelu) return;  // identity
    for_rows(rows, c, per, [&](int64_t first, int64_t n, int64_t sample) {
      affine_act_rows<A>(yp + first * c, op + first * c, n, c, scale.data() + sample * c,
                         shift.data() + sample * c, slope);
    });
  });
  if (p.act == Act::kTanh) out.tanh_();
}

template <typename T>
void backward_pass(const at::Tensor& dout, const at::Tensor& out, const at::Tensor& y,
                   const std::optional<at::Tensor>& gamma, const at::Tensor& mean,
                   const at::Tensor& var, const BNActParams& p, at::Tensor& dy,
                   at::Tensor& dgamma, at::Tensor& dbeta) {
  const int64_t c = out.size(1), rows = out.numel() / c;
  const T* gp = dout.data_ptr<T>();
  const T* op = out.data_ptr<T>();
  T* dp = dy.data_ptr<T>();
  const T slope = T(p.slope);
  dispatch_act(p.act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    if (!p.normalize) {
      const std::vector<T> one(c, T(1));
      for_rows(rows, c, rows, [&](int64_t first, int64_t n, int64_t) {
        grad_input_rows<A, false>(gp + first * c, op + first * c, op, dp + first * c, n, c,
                                  RowCoeffs<T>{one.data(), nullptr, nullptr, nullptr}, slope);
      });
      return;
    }
    const T* yp = y.data_ptr<T>();
    const T* mp = mean.data_ptr<T>();
    if (is_per_sample(gamma)) {
      per_sample_backward<A>(gp, op, yp, *gamma, mp, var.data_ptr<T>(), rows_per_sample(out), c,
                             p, dp, dgamma.data_ptr<T>(), dbeta.data_ptr<T>());
      return;
    }
    const int64_t per = chunk_rows(c), chunks = (rows + per - 1) / per;
    std::vector<double> part(2 * chunks * c);
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const int64_t o = i * per * c;
        chunk_grad_sums<A>(gp + o, op + o, yp + o, std::min(per, rows - i * per), c, mp, slope,
                           &part[2 * i * c]);
      }
    });
    std::vector<T> k(c), c1(c), c0(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum_g = 0, sum_gc = 0;
      for (int64_t i = 0; i < chunks; ++i) {
        sum_g += part[2 * i * c + ch];
        sum_gc += part[(2 * i + 1) * c + ch];
      }
      const T invstd = bn_invstd(var.data_ptr<T>()[ch], T(p.eps));
      dgamma.data_ptr<T>()[ch] = T(sum_gc) * invstd;
      dbeta.data_ptr<T>()[ch] = T(sum_g);
      const auto coef = bn_grad_coeffs(param_or(gamma, ch, T(1)), invstd, T(sum_g), T(sum_gc),
                                       rows, p.training);
      k[ch] = coef.k;
      c1[ch] = coef.c1;
      c0[ch] = coef.c0;
    }
    grad_input_all_rows<A>(gp, op, yp, dp, rows, c, rows, RowCoeffs<T>{k.data(), c1.data(),
                           c0.data(), mp}, 0, slope, p.training);
  });
}

// The image block's forward (few output channels) is col2im_rows.h's;
// oneDNN's backward kernels stay the faster ones there (1.0 ms for that block).
at::Tensor conv_cpu(const at::Tensor& input, const at::Tensor& weight,
                    const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                    at::IntArrayRef padding, at::IntArrayRef output_padding,
                    at::MemoryFormat fmt) {
  if (weight.size(1) <= kFewOutChannels && !is_pointwise_gemm(input, padding, output_padding))
    return conv_transpose_few_channels(input, weight, bias, stride, padding, output_padding);
  return conv_transpose(input, weight, bias, stride, padding, output_padding, fmt);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, double momentum, std::string_view activation,
    double slope) {
  return conv_transpose_bn_act_forward(
      input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
      output_padding, normalize, training, eps, momentum, std::string(activation), slope,
      at::MemoryFormat::ChannelsLast, conv_cpu,
      [](const at::Tensor& y, at::Tensor& out, const auto& gamma, const auto& beta,
         at::Tensor& mean, at::Tensor& var, const auto& running_mean, const auto& running_var,
         const BNActParams& p) {
        AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "conv_transpose_bn_act_cpu", [&] {
          forward_pass<scalar_t>(y, out, gamma, beta, mean, var, running_mean, running_var, p);
        });
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bn_weight, const at::Tensor& out, const at::Tensor& y,
    const at::Tensor& mean, const at::Tensor& var, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize, bool training,
    double eps, std::string_view activation, double slope, std::array<bool, 3> output_mask) {
  return conv_transpose_bn_act_backward(
      grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding, output_padding,
      normalize, training, eps, std::string(activation), slope, output_mask,
      at::MemoryFormat::ChannelsLast, conv_transpose_backward,
      [](const at::Tensor& dout, const at::Tensor& o, const at::Tensor& yy, const auto& gamma,
         const at::Tensor& mu, const at::Tensor& v, const BNActParams& p, at::Tensor& dy,
         at::Tensor& dgamma, at::Tensor& dbeta) {
        AT_DISPATCH_FLOATING_TYPES(o.scalar_type(), "conv_transpose_bn_act_backward_cpu", [&] {
          backward_pass<scalar_t>(dout, o, yy, gamma, mu, v, p, dy, dgamma, dbeta);
        });
      });
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CPU, m) {
  m.impl("conv_transpose_bn_act", &forward_cpu);
  m.impl("conv_transpose_bn_act_backward", &backward_cpu);
}

}  // namespace pygan
