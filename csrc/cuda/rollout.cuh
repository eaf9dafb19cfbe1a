// Launcher of the CUDA pygan::rollout kernels: raw pointers, sizes and a
// stream, no torch types, so the kernel file compiles with nvcc alone.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../common/rollout.h"

namespace pygan {
namespace cuda {

// Device pointers, all contiguous; shapes as in csrc/common/rollout.h.
struct RolloutTensors {
  const int64_t* seqs;     // [B, T]
  const float* embedding;  // [V, E]
  const float* gate_w_t;   // [E + H, 4H]: [W_ih, W_hh]^T, so threads of
                           // consecutive hidden units read consecutive weights
  const float* gate_bias;  // [4H]: b_ih + b_hh, added in float
  const float* w_out;      // [V, H]
  const float* b_out;      // [V]
  int64_t* out;            // [N, T-1, B, T], written
};

struct RolloutSampling {
  float inv_temp;
  uint64_t seed;
  uint64_t offset;
  int64_t start_token;
  int64_t eos_token;  // -1: none
  int64_t pad_token;
};

// Bytes of device scratch rollout_launch needs for `shape`.
size_t rollout_workspace_bytes(const RolloutShape& shape);

// Fills tensors.out on `stream`, using `workspace` (rollout_workspace_bytes
// of them, 256-byte aligned). Returns the first CUDA error.
cudaError_t rollout_launch(const RolloutShape& shape, const RolloutSampling& sampling,
                           const RolloutTensors& tensors, void* workspace,
                           cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan
