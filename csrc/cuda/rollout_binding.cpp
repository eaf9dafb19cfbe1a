// CUDA registration of pygan::rollout: the shared checks, device guard and
// current stream, the weights in the layouts the kernels read, a workspace
// from the caching allocator, then the torch-free launcher in rollout.cu.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../rollout_args.h"
#include "rollout.cuh"

namespace pygan {
namespace {

at::Tensor rollout_cuda(const at::Tensor& seqs_in, const at::Tensor& embedding,
                        const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& b_ih,
                        const at::Tensor& b_hh, const at::Tensor& w_out, const at::Tensor& b_out,
                        int64_t n_rollouts, double temperature, int64_t seed, int64_t offset,
                        int64_t start_token, std::optional<int64_t> eos_token,
                        int64_t pad_token) {
  // The shared checks first: with seqs on the CPU and a weight on CUDA the
  // dispatcher lands here, and the message names the mismatched argument.
  const RolloutArgs a =
      check_rollout_args(seqs_in, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out, n_rollouts,
                         temperature, seed, offset, start_token, eos_token, pad_token);
  const c10::cuda::CUDAGuard guard(seqs_in.device());
  const at::Tensor seqs = seqs_in.contiguous();
  const at::Tensor emb = embedding.contiguous(), wo = w_out.contiguous(), bo = b_out.contiguous();
  // [E + H, 4H]: the gate GEMM's weights with consecutive hidden units
  // adjacent; the bias sum is lstm_gate's (one float add, as on the CPU).
  const at::Tensor gate_w_t = at::cat({w_ih, w_hh}, 1).t().contiguous();
  const at::Tensor gate_bias = (b_ih + b_hh).contiguous();
  const RolloutShape& s = a.shape;
  at::Tensor out = at::empty({s.n, s.t - 1, s.b, s.t}, seqs.options());
  at::Tensor workspace = at::empty({int64_t(cuda::rollout_workspace_bytes(s))},
                                   seqs.options().dtype(at::kByte));
  const cuda::RolloutTensors tensors{seqs.const_data_ptr<int64_t>(), emb.const_data_ptr<float>(),
                                     gate_w_t.const_data_ptr<float>(),
                                     gate_bias.const_data_ptr<float>(),
                                     wo.const_data_ptr<float>(), bo.const_data_ptr<float>(),
                                     out.data_ptr<int64_t>()};
  const cuda::RolloutSampling sampling{a.inv_temp, a.seed, a.offset, a.start_token, a.eos_token,
                                       a.pad_token};
  C10_CUDA_CHECK(cuda::rollout_launch(s, sampling, tensors, workspace.data_ptr(),
                                      c10::cuda::getCurrentCUDAStream()));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CUDA, m) { m.impl("rollout", &rollout_cuda); }

}  // namespace pygan
