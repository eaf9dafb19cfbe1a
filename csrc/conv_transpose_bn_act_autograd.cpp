// Autograd of pygan::conv_transpose_bn_act, in C++ for every device: the
// forward runs the op below autograd and saves what its backward op needs;
// the backward calls pygan::conv_transpose_bn_act_backward for the inputs
// that need a gradient. A DCGAN generator step on a GPU is bound by host
// time, and a Python autograd node (torch.library.register_autograd or an
// autograd.Function) cost ~20-30 us more per block than this one
// (docs/architecture.md). Fake kernels stay in Python (pygan/ops).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace pygan {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using BackwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

ForwardResult call_forward(const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias,
                           const std::optional<at::Tensor>& bn_weight,
                           const std::optional<at::Tensor>& bn_bias,
                           const std::optional<at::Tensor>& running_mean,
                           const std::optional<at::Tensor>& running_var, at::IntArrayRef stride,
                           at::IntArrayRef padding, at::IntArrayRef output_padding,
                           bool normalize, bool training, double eps, double momentum,
                           std::string_view activation, double slope) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("pygan::conv_transpose_bn_act", "")
                             .typed<decltype(call_forward)>();
  return op.call(input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride,
                 padding, output_padding, normalize, training, eps, momentum, activation,
                 slope);
}

BackwardResult call_backward(const at::Tensor& grad_out, const at::Tensor& input,
                             const at::Tensor& weight, const std::optional<at::Tensor>& bn_weight,
                             const at::Tensor& out, const at::Tensor& y, const at::Tensor& mean,
                             const at::Tensor& var, at::IntArrayRef stride,
                             at::IntArrayRef padding, at::IntArrayRef output_padding,
                             bool normalize, bool training, double eps,
                             std::string_view activation, double slope,
                             std::array<bool, 3> output_mask) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("pygan::conv_transpose_bn_act_backward", "")
                             .typed<decltype(call_backward)>();
  return op.call(grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding,
                 output_padding, normalize, training, eps, activation, slope, output_mask);
}

// The op's 16 arguments in order; the differentiable ones are input, weight,
// bias, bn_weight and bn_bias (0-4).
constexpr size_t kArgs = 16;

class ConvTransposeBNActFunction
    : public torch::autograd::Function<ConvTransposeBNActFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input,
                               const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               const std::optional<at::Tensor>& bn_weight,
                               const std::optional<at::Tensor>& bn_bias,
                               const std::optional<at::Tensor>& running_mean,
                               const std::optional<at::Tensor>& running_var,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef output_padding, bool normalize, bool training,
                               double eps, double momentum, std::string_view activation,
                               double slope) {
    at::Tensor out, y, mean, var;
    {
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      std::tie(out, y, mean, var) =
          call_forward(input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride,
                       padding, output_padding, normalize, training, eps, momentum,
                       activation, slope);
    }
    // Below autograd no ADInplaceOrView kernel counts the in-place update of
    // the running statistics; count it, so a stale saved copy is caught.
    if (normalize && training && running_mean.has_value()) {
      torch::autograd::impl::bump_version(*running_mean);
      torch::autograd::impl::bump_version(*running_var);
    }
    ctx->save_for_backward(
        {input, weight, bn_weight.value_or(at::Tensor()), out, y, mean, var});
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["output_padding"] = output_padding.vec();
    ctx->saved_data["normalize"] = normalize;
    ctx->saved_data["training"] = training;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["activation"] = std::string(activation);
    ctx->saved_data["slope"] = slope;
    // Which of bias, bn_weight, bn_bias were given: needs_input_grad counts
    // only the tensor arguments.
    ctx->saved_data["given"] = std::vector<bool>{bias.has_value(), bn_weight.has_value(),
                                                 bn_bias.has_value()};
    ctx->mark_non_differentiable({y, mean, var});
    // No zero tensors for the gradients of y, mean and var, which the
    // backward ignores: filling them cost ~1 ms of a 35 ms CPU step.
    ctx->set_materialize_grads(false);
    return {out, y, mean, var};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list result(kArgs);
    if (!grads[0].defined()) return result;  // no gradient reached out
    const variable_list saved = ctx->get_saved_variables();
    const auto ints = [&](const char* key) { return ctx->saved_data[key].toIntVector(); };
    const auto bn_weight =
        saved[2].defined() ? std::optional<at::Tensor>(saved[2]) : std::optional<at::Tensor>();
    // needs[i] for argument i (0-4): input and weight are edges 0 and 1, the
    // optional ones follow when given.
    std::array<bool, 5> needs = {ctx->needs_input_grad(0), ctx->needs_input_grad(1)};
    const c10::List<bool> given = ctx->saved_data["given"].toBoolList();
    for (size_t i = 2, edge = 2; i < 5; ++i)
      needs[i] = given[i - 2] && ctx->needs_input_grad(edge++);
    const std::array<bool, 3> mask = {needs[0], needs[1], needs[2]};
    auto [gi, gw, gb, gg, gbeta] = call_backward(
        grads[0], saved[0], saved[1], bn_weight, saved[3], saved[4], saved[5], saved[6],
        ints("stride"), ints("padding"), ints("output_padding"),
        ctx->saved_data["normalize"].toBool(), ctx->saved_data["training"].toBool(),
        ctx->saved_data["eps"].toDouble(), ctx->saved_data["activation"].toStringRef(),
        ctx->saved_data["slope"].toDouble(), mask);
    const at::Tensor grads_out[] = {gi, gw, gb, gg, gbeta};
    for (size_t i = 0; i < 5; ++i)
      if (needs[i]) result[i] = grads_out[i];
    return result;
  }
};

ForwardResult conv_transpose_bn_act_autograd(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, double momentum, std::string_view activation,
    double slope) {
  const variable_list r = ConvTransposeBNActFunction::apply(
      input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
      output_padding, normalize, training, eps, momentum, activation, slope);
  return {r[0], r[1], r[2], r[3]};
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, Autograd, m) {
  m.impl("conv_transpose_bn_act", &conv_transpose_bn_act_autograd);
}

}  // namespace pygan
