// Argument checks of pygan::conv_transpose_bn_act and its backward, shared by
// the CPU kernel, the CUDA binding and the fake kernels (pygan/ops, through
// the check ops of conv_transpose_bn_act_checks.cpp), so every path refuses
// the same inputs with the same words, naming the argument.
//
// The checks are templates over the size type I: int64_t for the kernels,
// c10::SymInt for the fake kernels, which see symbolic sizes under
// torch.compile(dynamic=True) and opcheck (a comparison of symbolic sizes
// adds a guard, as the same check in Python would).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "common/bn_act.h"
#include "sym_sizes.h"

namespace pygan {

constexpr const char* kForwardName = "conv_transpose_bn_act";
constexpr const char* kBackwardName = "conv_transpose_bn_act_backward";

inline Act parse_activation(const char* op, const std::string& name) {
  if (name == "relu") return Act::kRelu;
  if (name == "leaky_relu") return Act::kLeakyRelu;
  if (name == "tanh") return Act::kTanh;
  if (name == "none") return Act::kNone;
  TORCH_CHECK(false, op, ": activation must be relu, leaky_relu, tanh or none, got '", name,
              "'");
}

// Statistics and BN parameters are float32 for half/bfloat16 activations.
inline at::ScalarType bn_stats_dtype(at::ScalarType t) {
  return at::isReducedFloatingType(t) ? at::kFloat : t;
}

// Every tensor argument is dense and on input's device.
inline void check_dense_on(const char* op, const char* name, const at::Tensor& t,
                           const at::Tensor& input) {
  TORCH_CHECK(t.layout() == at::kStrided, op, ": ", name, " must be a strided (dense) tensor, ",
              "got layout ", t.layout());
  TORCH_CHECK(t.device() == input.device(), op, ": ", name, " is on ", t.device(),
              " but input is on ", input.device());
}

// An activation-sized tensor: input's dtype and the given shape (any layout:
// the composition converts it to the backend's).
template <typename I>
void check_activation(const char* op, const char* name, const at::Tensor& t,
                      const at::Tensor& input, c10::ArrayRef<I> want) {
  check_dense_on(op, name, t, input);
  TORCH_CHECK(t.scalar_type() == input.scalar_type(), op, ": ", name, " has dtype ",
              t.scalar_type(), " but input has ", input.scalar_type());
  TORCH_CHECK(at::symint::sizes<I>(t) == want, op, ": ", name, " has shape ",
              at::symint::sizes<I>(t), ", expected ", want, " (the forward's output)");
}

// A per-channel vector (BN parameters and statistics).
template <typename I>
void check_vector(const char* op, const char* name, const std::optional<at::Tensor>& t,
                  const I& c, const at::Tensor& input) {
  if (!t.has_value()) return;
  check_dense_on(op, name, *t, input);
  TORCH_CHECK(t->dim() == 1 && at::symint::size<I>(*t, 0) == c, op, ": ", name,
              " must have shape [", c, "] (out_channels), got ", at::symint::sizes<I>(*t));
  const auto want = bn_stats_dtype(input.scalar_type());
  TORCH_CHECK(t->scalar_type() == want, op, ": ", name, " has dtype ", t->scalar_type(),
              ", expected ", want, " for ", input.scalar_type(), " input");
  // The kernels index it directly (and update the running statistics in place).
  TORCH_CHECK(t->is_contiguous(), op, ": ", name, " must be contiguous, got strides ",
              at::symint::strides<I>(*t));
}

// BatchNorm's affine parameter `name` (bn_weight or bn_bias): [C_out], one
// per channel, or [N, C_out], one per sample (class-conditional batch norm:
// y = act(gamma[n, c] * xhat + beta[n, c]), the statistics still per
// channel). The dimension decides; returns whether it is per sample. Dtype
// and contiguity as the per-channel vectors'.
template <typename I>
bool check_bn_param(const char* op, const char* name, const at::Tensor& t, const I& n,
                    const I& c, const at::Tensor& input) {
  check_dense_on(op, name, t, input);
  const auto sizes = at::symint::sizes<I>(t);
  const bool per_channel = t.dim() == 1 && sizes[0] == c;
  const bool per_sample = t.dim() == 2 && sizes[0] == n && sizes[1] == c;
  TORCH_CHECK(per_channel || per_sample, op, ": ", name, " has shape ", sizes,
              " but expected [C_out]=[", c, "] or [N, C_out]=[", n, ", ", c, "]");
  const auto want = bn_stats_dtype(input.scalar_type());
  TORCH_CHECK(t.scalar_type() == want, op, ": ", name, " has dtype ", t.scalar_type(),
              ", expected ", want, " for ", input.scalar_type(), " input");
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous, got strides ",
              at::symint::strides<I>(t));
  return per_sample;
}

inline void check_pair(const char* op, const char* name, at::IntArrayRef v, int64_t min) {
  TORCH_CHECK(v.size() == 2 && v[0] >= min && v[1] >= min, op, ": ", name,
              " must be two integers >= ", min, ", got ", v);
}

// (size - 1) * stride - 2 * pad + k + out_pad, nullopt where a step
// overflows int64 (a stride of 2^62, say).
inline std::optional<int64_t> checked_out_size(int64_t size, int64_t k, int64_t stride,
                                               int64_t pad, int64_t out_pad) {
  int64_t r;
  if (__builtin_mul_overflow(size - 1, stride, &r) || __builtin_sub_overflow(r, pad, &r) ||
      __builtin_sub_overflow(r, pad, &r) || __builtin_add_overflow(r, k, &r) ||
      __builtin_add_overflow(r, out_pad, &r))
    return std::nullopt;
  return r;
}

template <typename I>
struct ConvGeometry {
  I n, c;    // batch, output channels
  I oh, ow;  // output size
  std::array<I, 4> out_sizes() const { return {n, c, oh, ow}; }
};

// input, weight and the convolution's settings, as ConvTranspose2d (groups 1,
// dilation 1) takes them; the output's geometry.
template <typename I>
ConvGeometry<I> check_geometry(const char* op, const at::Tensor& input, const at::Tensor& weight,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef output_padding) {
  const auto sizes = [](const at::Tensor& t) { return at::symint::sizes<I>(t); };
  const auto size = [](const at::Tensor& t, int64_t d) { return at::symint::size<I>(t, d); };
  check_dense_on(op, "input", input, input);
  check_dense_on(op, "weight", weight, input);
  TORCH_CHECK(input.dim() == 4, op, ": input must be 4-D [N, C_in, H, W], got ", sizes(input));
  TORCH_CHECK(weight.dim() == 4, op, ": weight must be 4-D [C_in, C_out, kH, kW] ",
              "(ConvTranspose2d layout), got ", sizes(weight));
  const at::ScalarType dtype = input.scalar_type();
  TORCH_CHECK(at::isFloatingType(dtype), op, ": input must be floating point, got ", dtype);
  // The kernels' dtypes (the fake kernels, on other devices, take any).
  TORCH_CHECK(!input.is_cpu() || dtype == at::kFloat || dtype == at::kDouble, op,
              ": the CPU kernel takes float32 or float64 input, got ", dtype);
  TORCH_CHECK(!input.is_cuda() || dtype == at::kFloat || dtype == at::kDouble ||
                  dtype == at::kHalf || dtype == at::kBFloat16,
              op, ": the CUDA kernel takes float32, float64, float16 or bfloat16 input, got ",
              dtype);
  TORCH_CHECK(weight.scalar_type() == dtype, op, ": weight has dtype ", weight.scalar_type(),
              " but input has ", dtype);
  TORCH_CHECK(size(weight, 0) == size(input, 1), op, ": weight is for ", size(weight, 0),
              " input channels but input has ", size(input, 1));
  TORCH_CHECK(size(input, 1) >= 1, op, ": input has 0 channels (shape ", sizes(input), ")");
  TORCH_CHECK(size(weight, 1) >= 1, op, ": weight has 0 output channels (shape ",
              sizes(weight), ")");
  TORCH_CHECK(size(weight, 2) >= 1 && size(weight, 3) >= 1, op, ": kernel size must be ",
              "positive, got weight of shape ", sizes(weight));
  // A batch of 0 is an empty result; empty planes have no output size.
  TORCH_CHECK(size(input, 2) >= 1 && size(input, 3) >= 1, op, ": input has an empty spatial ",
              "size (shape ", sizes(input), ")");
  check_pair(op, "stride", stride, 1);
  check_pair(op, "padding", padding, 0);
  check_pair(op, "output_padding", output_padding, 0);
  TORCH_CHECK(output_padding[0] < stride[0] && output_padding[1] < stride[1], op,
              ": output_padding ", output_padding, " must be smaller than stride ", stride);
  std::array<I, 2> out;
  for (int d = 0; d < 2; ++d) {
    const I in = size(input, 2 + d), k = size(weight, 2 + d);
    const auto ci = as_int(in), ck = as_int(k);
    if (!ci || !ck) {  // symbolic: the kernel checks the concrete sizes for overflow
      out[d] = (in - 1) * stride[d] - 2 * padding[d] + k + output_padding[d];
      continue;
    }
    const auto o = checked_out_size(*ci, *ck, stride[d], padding[d], output_padding[d]);
    TORCH_CHECK(o.has_value(), op, ": stride ", stride, " and padding ", padding,
                " overflow the output size (int64) for input of shape ", sizes(input),
                " and weight of shape ", sizes(weight));
    out[d] = I(*o);
  }
  // Only padding lowers the output size below the kernel's.
  TORCH_CHECK(out[0] >= 1 && out[1] >= 1, op, ": padding ", padding, " leaves no output: ",
              "input of shape ", sizes(input), ", weight of shape ", sizes(weight),
              " and stride ", stride, " give an output size of [", out[0], ", ", out[1], "]");
  const ConvGeometry<I> g{size(input, 0), size(weight, 1), out[0], out[1]};
  TORCH_CHECK(!numel_overflows(g.out_sizes()), op, ": the output's shape [", g.n, ", ", g.c,
              ", ", g.oh, ", ", g.ow, "] has more elements than int64 holds (stride ", stride,
              ", padding ", padding, ")");
  return g;
}

// The settings of the batch norm and activation passes.
template <typename I>
BNActParams check_bn_act(const char* op, const ConvGeometry<I>& g, bool normalize,
                         bool training, double eps, const std::string& activation,
                         double slope) {
  TORCH_CHECK(std::isfinite(eps) && eps > 0, op, ": eps must be > 0 and finite, got ", eps);
  const Act act = parse_activation(op, activation);
  TORCH_CHECK(std::isfinite(slope), op, ": slope must be finite, got ", slope);
  TORCH_CHECK(act != Act::kLeakyRelu || slope > 0, op, ": slope must be > 0 for leaky_relu ",
              "(use relu for 0), got ", slope);
  // BatchNorm2d's rule: one value is refused; none (a batch of 0) is an
  // empty result.
  TORCH_CHECK(!(normalize && training) || g.n * g.oh * g.ow != 1, op, ": batch norm in ",
              "training mode needs more than one value per channel, got output of shape ",
              c10::ArrayRef<I>(g.out_sizes()));
  return {normalize, training, eps, act, slope};
}

// Whether a and b may share memory: one storage and intersecting byte ranges.
template <typename I>
bool may_overlap(const at::Tensor& a, const at::Tensor& b) {
  if (!a.is_alias_of(b) || at::symint::numel<I>(a) == 0 || at::symint::numel<I>(b) == 0)
    return false;
  const auto range = [](const at::Tensor& t) {
    I first = 0;
    if constexpr (std::is_same_v<I, int64_t>) first = t.storage_offset();
    else first = t.sym_storage_offset();
    I last = first;
    for (int64_t d = 0; d < t.dim(); ++d)
      last = last + (at::symint::size<I>(t, d) - 1) * at::symint::strides<I>(t)[d];
    const int64_t item = int64_t(t.element_size());
    return std::pair<I, I>{first * item, (last + 1) * item};
  };
  const auto [a0, a1] = range(a);
  const auto [b0, b1] = range(b);
  return a0 < b1 && b0 < a1;
}

// The running statistics are the op's in-place arguments (updated in
// training mode; the schema has them so in either mode): neither may share
// memory with the other or with a tensor the op reads (nullptr: not given).
template <typename I>
void check_no_aliasing(const std::optional<at::Tensor>& running_mean,
                       const std::optional<at::Tensor>& running_var,
                       std::initializer_list<std::pair<const char*, const at::Tensor*>> read) {
  if (!running_mean.has_value()) return;  // given together with running_var (checked)
  TORCH_CHECK(!may_overlap<I>(*running_mean, *running_var), kForwardName, ": running_mean and ",
              "running_var share memory; they are updated in place and must be distinct");
  for (const auto& [name, t] : {std::pair{"running_mean", &*running_mean},
                                std::pair{"running_var", &*running_var}})
    for (const auto& [other, o] : read)
      TORCH_CHECK(!o || !may_overlap<I>(*t, *o), kForwardName, ": ", name, " shares memory ",
                  "with ", other, ", which the op reads while it updates ", name, " in place");
}

template <typename I>
BNActParams check_forward_args(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, double momentum, const std::string& activation,
    double slope) {
  const char* op = kForwardName;
  const ConvGeometry<I> g =
      check_geometry<I>(op, input, weight, stride, padding, output_padding);
  if (bias.has_value()) {
    check_dense_on(op, "bias", *bias, input);
    TORCH_CHECK(bias->dim() == 1 && at::symint::size<I>(*bias, 0) == g.c, op,
                ": bias must have shape [", g.c, "], got ", at::symint::sizes<I>(*bias));
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), op, ": bias has dtype ",
                bias->scalar_type(), " but input has ", input.scalar_type());
  }
  TORCH_CHECK(normalize || !(bn_weight || bn_bias || running_mean || running_var), op,
              ": bn_weight, bn_bias, running_mean and running_var must be None when "
              "normalize is False");
  TORCH_CHECK(bn_weight.has_value() == bn_bias.has_value(), op, ": bn_weight and bn_bias must "
              "be given together (BatchNorm2d affine) or both be None");
  TORCH_CHECK(running_mean.has_value() == running_var.has_value(), op, ": running_mean and "
              "running_var must be given together or both be None");
  TORCH_CHECK(!normalize || training || running_mean.has_value(), op, ": eval mode "
              "(training=False) normalises with running_mean and running_var; got None");
  if (bn_weight.has_value()) {  // with bn_bias (checked)
    const bool w = check_bn_param<I>(op, "bn_weight", *bn_weight, g.n, g.c, input);
    const bool b = check_bn_param<I>(op, "bn_bias", *bn_bias, g.n, g.c, input);
    TORCH_CHECK(w == b, op, ": bn_weight has shape ", at::symint::sizes<I>(*bn_weight),
                " but bn_bias has shape ", at::symint::sizes<I>(*bn_bias), "; both must be ",
                "[C_out] or both [N, C_out]");
  }
  check_vector<I>(op, "running_mean", running_mean, g.c, input);
  check_vector<I>(op, "running_var", running_var, g.c, input);
  const auto ptr = [](const std::optional<at::Tensor>& t) { return t ? &*t : nullptr; };
  check_no_aliasing<I>(running_mean, running_var,
                       {{"input", &input}, {"weight", &weight}, {"bias", ptr(bias)},
                        {"bn_weight", ptr(bn_weight)}, {"bn_bias", ptr(bn_bias)}});
  BNActParams p = check_bn_act<I>(op, g, normalize, training, eps, activation, slope);
  TORCH_CHECK(momentum >= 0 && momentum <= 1, op, ": momentum must be in [0, 1], got ",
              momentum);
  p.momentum = momentum;
  return p;
}

// The backward's tensors are the forward's: out and grad_out (and y when
// normalising) of the forward's output shape, mean and var per channel;
// without normalisation y, mean and var are the forward's empty tensors.
template <typename I>
BNActParams check_backward_args(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bn_weight, const at::Tensor& out, const at::Tensor& y,
    const at::Tensor& mean, const at::Tensor& var, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize, bool training,
    double eps, const std::string& activation, double slope) {
  const char* op = kBackwardName;
  const ConvGeometry<I> g =
      check_geometry<I>(op, input, weight, stride, padding, output_padding);
  const std::array<I, 4> out_sizes = g.out_sizes();
  check_activation<I>(op, "out", out, input, out_sizes);
  check_activation<I>(op, "grad_out", grad_out, input, out_sizes);
  TORCH_CHECK(normalize || !bn_weight.has_value(), op, ": bn_weight must be None when "
              "normalize is False");
  if (normalize) {
    check_activation<I>(op, "y", y, input, out_sizes);
    if (bn_weight.has_value()) check_bn_param<I>(op, "bn_weight", *bn_weight, g.n, g.c, input);
    check_vector<I>(op, "mean", mean, g.c, input);
    check_vector<I>(op, "var", var, g.c, input);
  } else {
    for (const auto& [name, t] : std::initializer_list<std::pair<const char*, const at::Tensor*>>{
             {"y", &y}, {"mean", &mean}, {"var", &var}}) {
      check_dense_on(op, name, *t, input);
      TORCH_CHECK(at::symint::numel<I>(*t) == 0, op, ": ", name, " must be empty when ",
                  "normalize is False (as the forward returns it), got shape ",
                  at::symint::sizes<I>(*t));
    }
  }
  return check_bn_act<I>(op, g, normalize, training, eps, activation, slope);
}

}  // namespace pygan
