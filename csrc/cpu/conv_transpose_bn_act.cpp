// CPU kernels of pygan::conv_transpose_bn_act and its backward. The
// convolution is ATen's (oneDNN GEMMs); batch norm and the activation are
// fused per channel: a parallel_for hands each thread whole channels, whose
// N planes (N * H * W elements, tens of KB for DCGAN shapes) stay in its L2
// cache between the statistics passes and the pass that writes the output,
// so memory sees one read and one write per element where eager BatchNorm2d
// + ReLU costs three reads and two writes (and twice that in the backward).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>

#include "../conv_transpose_bn_act_impl.h"
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

// out = act(y * scale + shift) over one plane; tanh is left to the caller.
template <Act A, typename T>
PYGAN_CPU_CLONES void affine_act(const T* __restrict__ y, T* __restrict__ out, int64_t n,
                                 T scale, T shift, T slope) {
  constexpr Act kAct = A == Act::kTanh ? Act::kNone : A;
  for (int64_t i = 0; i < n; ++i) out[i] = act_forward(kAct, y[i] * scale + shift, slope);
}

// (sum(g), sum(g * (y - mean))) over one plane, g = dout * act'(out).
template <Act A, typename T>
PYGAN_CPU_CLONES void grad_sums(const T* __restrict__ dout, const T* __restrict__ out,
                                const T* __restrict__ y, int64_t n, T mean, T slope,
                                double& sum_g, double& sum_gc) {
  T sg = 0, sgc = 0;
#pragma omp simd reduction(+ : sg, sgc)
  for (int64_t i = 0; i < n; ++i) {
    const T g = dout[i] * act_grad_from_out(A, out[i], slope);
    sg += g;
    sgc += g * (y[i] - mean);
  }
  sum_g += sg;
  sum_gc += sgc;
}

// dy = k * g + c1 * (y - mean) + c0 over one plane (y unused when c1 == 0).
template <Act A, bool kCentred, typename T>
PYGAN_CPU_CLONES void grad_input(const T* __restrict__ dout, const T* __restrict__ out,
                                 const T* __restrict__ y, T* __restrict__ dy, int64_t n, T mean,
                                 T slope, BNGradCoeffs<T> k) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = dout[i] * act_grad_from_out(A, out[i], slope);
    dy[i] = kCentred ? k.k * g + k.c1 * (y[i] - mean) + k.c0 : k.k * g;
  }
}

// Items per parallel_for task for items of `elements` each: about ATen's
// grain, so small blocks (batch 1, 4x4 planes) do not wake threads per item.
int64_t grain_for(int64_t elements) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(elements, 1));
}

template <typename T>
T param_or(const std::optional<at::Tensor>& t, int64_t c, T fallback) {
  return t.has_value() ? t->data_ptr<T>()[c] : fallback;
}

// Mean and biased variance of one channel, two passes over its (cached) planes.
template <typename T>
void channel_stats(const T* y, int64_t n, int64_t stride, int64_t hw, T& mean, T& var) {
  double sum = 0;
  for (int64_t b = 0; b < n; ++b) {
    const T* p = y + b * stride;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < hw; ++i) s += p[i];
    sum += s;
  }
  const double m = sum / double(n * hw);
  double sq = 0;
  for (int64_t b = 0; b < n; ++b) {
    const T* p = y + b * stride;
    T s = 0;
    const T mf = T(m);
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < hw; ++i) s += (p[i] - mf) * (p[i] - mf);
    sq += s;
  }
  mean = T(m);
  var = T(sq / double(n * hw));
}

template <typename T>
void forward_pass(const at::Tensor& y, at::Tensor& out, const std::optional<at::Tensor>& gamma,
                  const std::optional<at::Tensor>& beta, at::Tensor& mean, at::Tensor& var,
                  const BNActParams& p) {
  const int64_t n = y.size(0), c = y.size(1), hw = y.size(2) * y.size(3), stride = c * hw;
  const T* yp = y.data_ptr<T>();
  T* op = out.data_ptr<T>();
  const T slope = T(p.slope);
  dispatch_act(p.act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    if (!p.normalize) {
      if (A == Act::kRelu || A == Act::kLeakyRelu) {
        at::parallel_for(0, n * c, grain_for(hw), [&](int64_t first, int64_t last) {
          for (int64_t i = first; i < last; ++i)
            affine_act<A>(yp + i * hw, op + i * hw, hw, T(1), T(0), slope);
        });
      }
      return;
    }
    T* mp = mean.data_ptr<T>();
    T* vp = var.data_ptr<T>();
    at::parallel_for(0, c, grain_for(n * hw), [&](int64_t first, int64_t last) {
      for (int64_t ch = first; ch < last; ++ch) {
        if (p.training) channel_stats(yp + ch * hw, n, stride, hw, mp[ch], vp[ch]);
        const auto ss = bn_fold(mp[ch], bn_invstd(vp[ch], T(p.eps)), param_or(gamma, ch, T(1)),
                                param_or(beta, ch, T(0)));
        for (int64_t b = 0; b < n; ++b)
          affine_act<A>(yp + b * stride + ch * hw, op + b * stride + ch * hw, hw, ss.scale,
                        ss.shift, slope);
      }
    });
  });
  if (p.act == Act::kTanh) out.tanh_();
}

template <typename T>
void backward_pass(const at::Tensor& dout, const at::Tensor& out, const at::Tensor& y,
                   const std::optional<at::Tensor>& gamma, const at::Tensor& mean,
                   const at::Tensor& var, const BNActParams& p, at::Tensor& dy,
                   at::Tensor& dgamma, at::Tensor& dbeta) {
  const int64_t n = out.size(0), c = out.size(1), hw = out.size(2) * out.size(3);
  const int64_t stride = c * hw;
  const T* gp = dout.data_ptr<T>();
  const T* op = out.data_ptr<T>();
  T* dp = dy.data_ptr<T>();
  const T slope = T(p.slope);
  dispatch_act(p.act, [&](auto tag) {
    constexpr Act A = decltype(tag)::value;
    if (!p.normalize) {
      at::parallel_for(0, n * c, grain_for(hw), [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i)
          grad_input<A, false>(gp + i * hw, op + i * hw, op, dp + i * hw, hw, T(0), slope,
                               BNGradCoeffs<T>{T(1), T(0), T(0)});
      });
      return;
    }
    const T* yp = y.data_ptr<T>();
    at::parallel_for(0, c, grain_for(n * hw), [&](int64_t first, int64_t last) {
      for (int64_t ch = first; ch < last; ++ch) {
        const T mu = mean.data_ptr<T>()[ch];
        const T invstd = bn_invstd(var.data_ptr<T>()[ch], T(p.eps));
        double sum_g = 0, sum_gc = 0;
        const int64_t off = ch * hw;
        for (int64_t b = 0; b < n; ++b)
          grad_sums<A>(gp + b * stride + off, op + b * stride + off, yp + b * stride + off, hw,
                       mu, slope, sum_g, sum_gc);
        dgamma.data_ptr<T>()[ch] = T(sum_gc) * invstd;
        dbeta.data_ptr<T>()[ch] = T(sum_g);
        const auto k = bn_grad_coeffs(param_or(gamma, ch, T(1)), invstd, T(sum_g), T(sum_gc),
                                      n * hw, p.training);
        for (int64_t b = 0; b < n; ++b) {
          const int64_t o = b * stride + off;
          if (p.training)
            grad_input<A, true>(gp + o, op + o, yp + o, dp + o, hw, mu, slope, k);
          else
            grad_input<A, false>(gp + o, op + o, yp + o, dp + o, hw, mu, slope, k);
        }
      }
    });
  });
}

void check_cpu(const at::Tensor& input) {
  TORCH_CHECK(input.device().is_cpu(), "conv_transpose_bn_act: input must be on the CPU for the "
              "CPU kernel, got ", input.device());
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble,
              "conv_transpose_bn_act: the CPU kernel takes float32 or float64 input, got ",
              input.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, std::string_view activation, double slope) {
  check_cpu(input);
  return conv_transpose_bn_act_forward(
      input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
      output_padding, normalize, training, eps, std::string(activation), slope,
      [](const at::Tensor& y, at::Tensor& out, const auto& gamma, const auto& beta,
         at::Tensor& mean, at::Tensor& var, const BNActParams& p) {
        AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "conv_transpose_bn_act_cpu", [&] {
          forward_pass<scalar_t>(y, out, gamma, beta, mean, var, p);
        });
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bn_weight, const at::Tensor& out, const at::Tensor& y,
    const at::Tensor& mean, const at::Tensor& var, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize, bool training,
    double eps, std::string_view activation, double slope, std::array<bool, 3> output_mask) {
  check_cpu(out);
  return conv_transpose_bn_act_backward(
      grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding, output_padding,
      normalize, training, eps, std::string(activation), slope, output_mask,
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
