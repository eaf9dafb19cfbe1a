// The argument checks of pygan::rollout as an op of its own, for the fake
// kernel and the reference (pygan/ops/rollout.py), so that FakeTensorMode,
// torch.compile and meta tensors refuse what the kernels refuse, with their
// words. The kernel is CompositeImplicitAutograd: FakeTensorMode runs it on
// the fake tensors themselves (their devices, and symbolic sizes as
// c10::SymInt), where a Meta kernel would see meta devices.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <optional>

#include "rollout_args.h"

namespace pygan {
namespace {

// check_values: also the token range of seqs, which reads its values (the
// reference's real tensors, whose sizes are concrete: the kernels' checks);
// fake tensors have none.
void check(const at::Tensor& seqs, const at::Tensor& embedding, const at::Tensor& w_ih,
           const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh,
           const at::Tensor& w_out, const at::Tensor& b_out, int64_t n_rollouts,
           double temperature, int64_t seed, int64_t offset, int64_t start_token,
           std::optional<int64_t> eos_token, int64_t pad_token, bool check_values) {
  if (check_values) {
    check_rollout_args(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out, n_rollouts,
                       temperature, seed, offset, start_token, eos_token, pad_token);
  } else {
    check_rollout_sizes<c10::SymInt>(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out,
                                     n_rollouts, temperature, offset, start_token, eos_token,
                                     pad_token);
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CompositeImplicitAutograd, m) { m.impl("_rollout_check", &check); }

}  // namespace pygan
