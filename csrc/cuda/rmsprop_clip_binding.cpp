// CUDA registration of pygan::rmsprop_clip_: checks, device guard, current
// stream, then the torch-free launcher in rmsprop_clip.cu.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <vector>

#include "../rmsprop_clip_args.h"
#include "dtype_binding.h"
#include "rmsprop_clip.cuh"

namespace pygan {
namespace {

void rmsprop_clip_cuda(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
                       at::TensorList momentum_buffers, at::TensorList grad_avgs, double lr,
                       double alpha, double eps, double weight_decay, double momentum,
                       bool centered, bool maximize, std::optional<double> clip) {
  const auto hyper =
      check_rmsprop_clip_args<int64_t>(params, grads, square_avgs, momentum_buffers, grad_avgs,
                                       lr, alpha, eps, weight_decay, momentum, centered,
                                       maximize, clip);
  if (params.empty()) return;
  TORCH_CHECK(params[0].is_cuda(), "rmsprop_clip_: params[0] must be a CUDA tensor for the ",
              "CUDA kernel, got ", params[0].device());
  const c10::cuda::CUDAGuard guard(params[0].device());
  std::vector<cuda::RMSpropClipTensor> tensors(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    tensors[i] = {params[i].data_ptr(),
                  grads[i].const_data_ptr(),
                  square_avgs[i].data_ptr(),
                  momentum_buffers.empty() ? nullptr : momentum_buffers[i].data_ptr(),
                  grad_avgs.empty() ? nullptr : grad_avgs[i].data_ptr(),
                  params[i].numel()};
  }
  C10_CUDA_CHECK(cuda::rmsprop_clip_launch(cuda_dtype(params[0].scalar_type(), "rmsprop_clip_"), tensors.data(),
                                           int64_t(tensors.size()), hyper,
                                           c10::cuda::getCurrentCUDAStream()));
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CUDA, m) { m.impl("rmsprop_clip_", &rmsprop_clip_cuda); }

}  // namespace pygan
