// pygan::rmsprop_clip_ seen by autograd, for every device, as torch's own
// in-place ops are: the Autograd kernel refuses to mutate a tensor that
// requires grad while grad mode is on (torch's leaf rule; the update has no
// derivative, so a non-leaf would be silently wrong too), and the
// ADInplaceOrView kernel bumps the version counter of every tensor the op
// writes, so a backward through a graph that saved one of them raises
// instead of using the updated values. Optimizer steps run under no_grad,
// where only the version bump applies (as with torch.optim.RMSprop).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <optional>

namespace pygan {
namespace {

using Lists = at::TensorList;

void call_op(Lists params, Lists grads, Lists square_avgs, Lists momentum_buffers,
             Lists grad_avgs, double lr, double alpha, double eps, double weight_decay,
             double momentum, bool centered, bool maximize, std::optional<double> clip) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("pygan::rmsprop_clip_", "")
                             .typed<decltype(call_op)>();
  op.call(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps, weight_decay,
          momentum, centered, maximize, clip);
}

// The lists the op writes, by name (the schema's Tensor(a!)[] arguments).
template <typename Fn>
void for_written(Lists params, Lists square_avgs, Lists momentum_buffers, Lists grad_avgs,
                 Fn&& fn) {
  const std::pair<const char*, Lists> written[] = {{"params", params},
                                                   {"square_avgs", square_avgs},
                                                   {"momentum_buffers", momentum_buffers},
                                                   {"grad_avgs", grad_avgs}};
  for (const auto& [name, list] : written)
    for (size_t i = 0; i < list.size(); ++i) fn(name, i, list[i]);
}

void check_not_recorded(const char* name, size_t i, const at::Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return;
  const char* what = t.is_leaf()                        ? "is a leaf Variable that requires grad"
                     : t.is_view() && t._base().is_leaf() ? "is a view of a leaf Variable that "
                                                            "requires grad"
                                                          : "requires grad";
  TORCH_CHECK(false, "rmsprop_clip_: ", name, "[", i, "] ", what,
              " and is being used in an in-place operation, which autograd cannot record "
              "(rmsprop_clip_ has no derivative); update it under torch.no_grad(), as "
              "optimizer steps do");
}

void rmsprop_clip_autograd(Lists params, Lists grads, Lists square_avgs, Lists momentum_buffers,
                           Lists grad_avgs, double lr, double alpha, double eps,
                           double weight_decay, double momentum, bool centered, bool maximize,
                           std::optional<double> clip) {
  if (at::GradMode::is_enabled())
    for_written(params, square_avgs, momentum_buffers, grad_avgs, check_not_recorded);
  at::AutoDispatchBelowAutograd below_autograd;
  call_op(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps, weight_decay,
          momentum, centered, maximize, clip);
}

void rmsprop_clip_inplace(Lists params, Lists grads, Lists square_avgs, Lists momentum_buffers,
                          Lists grad_avgs, double lr, double alpha, double eps,
                          double weight_decay, double momentum, bool centered, bool maximize,
                          std::optional<double> clip) {
  {
    at::AutoDispatchBelowADInplaceOrView below_inplace;
    call_op(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps,
            weight_decay, momentum, centered, maximize, clip);
  }
  for_written(params, square_avgs, momentum_buffers, grad_avgs,
              [](const char*, size_t, const at::Tensor& t) {
                torch::autograd::impl::bump_version(t);
              });
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, Autograd, m) { m.impl("rmsprop_clip_", &rmsprop_clip_autograd); }

TORCH_LIBRARY_IMPL(pygan, ADInplaceOrView, m) {
  m.impl("rmsprop_clip_", &rmsprop_clip_inplace);
}

}  // namespace pygan
