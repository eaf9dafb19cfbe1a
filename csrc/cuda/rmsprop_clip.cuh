// Launcher of the CUDA rmsprop_clip_ kernel: raw pointers, sizes and a
// stream, no torch types, so the kernel file compiles with nvcc alone.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../common/rmsprop_clip.h"
#include "dtype.cuh"

namespace pygan {
namespace cuda {

// One parameter tensor and its state, all `numel` elements long and laid out
// alike. momentum_buf / grad_avg are null unless momentum > 0 / centered.
// State dtype: float32 for kFloat16/kBFloat16 params, else the param dtype.
struct RMSpropClipTensor {
  void* param;
  const void* grad;
  void* square_avg;
  void* momentum_buf;
  void* grad_avg;
  int64_t numel;
};

// Updates all n tensors on `stream` in ceil(n / kMaxTensorsPerLaunch)
// launches. Returns the first CUDA error (cudaSuccess if none).
cudaError_t rmsprop_clip_launch(Dtype dtype, const RMSpropClipTensor* tensors, int64_t n,
                                const RMSpropClipHyper<double>& hyper, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan
