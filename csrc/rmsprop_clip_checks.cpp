// The argument checks of pygan::rmsprop_clip_ as ops of their own: the whole
// of them for the fake kernel, the hyperparameters alone for the reference
// (pygan/ops/rmsprop_clip.py), so that FakeTensorMode, torch.compile and
// meta tensors refuse what the kernels refuse, with their words. The kernels
// are CompositeImplicitAutograd: FakeTensorMode runs them on the fake tensors
// themselves (their devices, and symbolic sizes as c10::SymInt), where a Meta
// kernel would see meta devices; with no tensor at all (the hyperparameter
// check, empty lists) the dispatcher takes them too.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <optional>

#include "rmsprop_clip_args.h"

namespace pygan {
namespace {

void check(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
           at::TensorList momentum_buffers, at::TensorList grad_avgs, double lr, double alpha,
           double eps, double weight_decay, double momentum, bool centered, bool maximize,
           std::optional<double> clip) {
  check_rmsprop_clip_args<c10::SymInt>(params, grads, square_avgs, momentum_buffers, grad_avgs,
                                       lr, alpha, eps, weight_decay, momentum, centered,
                                       maximize, clip);
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CompositeImplicitAutograd, m) {
  m.impl("_rmsprop_clip_check", &check);
  m.impl("_rmsprop_clip_hyperparameter_check", &check_rmsprop_hyper);
}

}  // namespace pygan
