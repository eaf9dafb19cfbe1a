// The argument checks of pygan::conv_transpose_bn_act and its backward as ops
// of their own, for the fake kernels (pygan/ops/conv_transpose_bn_act.py), so
// that FakeTensorMode, torch.compile and meta tensors refuse what the kernels
// refuse, with their words. The kernels are CompositeImplicitAutograd:
// FakeTensorMode runs them on the fake tensors themselves (their devices, and
// symbolic sizes as c10::SymInt), where a Meta kernel would see meta devices.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <optional>
#include <string>

#include "conv_transpose_bn_act_args.h"

namespace pygan {
namespace {

void check_forward(const at::Tensor& input, const at::Tensor& weight,
                   const std::optional<at::Tensor>& bias,
                   const std::optional<at::Tensor>& bn_weight,
                   const std::optional<at::Tensor>& bn_bias,
                   const std::optional<at::Tensor>& running_mean,
                   const std::optional<at::Tensor>& running_var, at::IntArrayRef stride,
                   at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize,
                   bool training, double eps, double momentum, std::string_view activation,
                   double slope) {
  check_forward_args<c10::SymInt>(input, weight, bias, bn_weight, bn_bias, running_mean,
                                  running_var, stride, padding, output_padding, normalize,
                                  training, eps, momentum, std::string(activation), slope);
}

void check_backward(const at::Tensor& grad_out, const at::Tensor& input,
                    const at::Tensor& weight, const std::optional<at::Tensor>& bn_weight,
                    const at::Tensor& out, const at::Tensor& y, const at::Tensor& mean,
                    const at::Tensor& var, at::IntArrayRef stride, at::IntArrayRef padding,
                    at::IntArrayRef output_padding, bool normalize, bool training, double eps,
                    std::string_view activation, double slope) {
  check_backward_args<c10::SymInt>(grad_out, input, weight, bn_weight, out, y, mean, var,
                                   stride, padding, output_padding, normalize, training, eps,
                                   std::string(activation), slope);
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CompositeImplicitAutograd, m) {
  m.impl("_conv_transpose_bn_act_check", &check_forward);
  m.impl("_conv_transpose_bn_act_backward_check", &check_backward);
}

}  // namespace pygan
