// Launchers of the fused batch-norm + activation passes of
// pygan::conv_transpose_bn_act (the binding runs the convolution: cuDNN's, or
// GEMMs with col2im.cuh's passes). Raw pointers, sizes and a stream; no
// torch types.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../common/bn_act.h"
#include "dtype.cuh"

namespace pygan {
namespace cuda {

// Activations as [n, c, hw]: NCHW is n images, c channels, hw = H * W
// elements per plane; NHWC is n = N * H * W pixels, c channels, hw = 1.
// rows_per_sample > 0: gamma and beta are per sample, [n / rows_per_sample,
// c] (1 for NCHW, H * W for NHWC); 0: per channel, [c].
struct BNActShape {
  int64_t n;
  int64_t c;
  int64_t hw;
  int64_t rows_per_sample = 0;
};

// Device bytes of scratch either launcher needs for `shape` (per-slice
// partial statistics; 256-byte aligned, as the caching allocator gives).
size_t bn_act_workspace_bytes(Dtype dtype, BNActShape shape);

// y, out: [n, c, hw] of `dtype` (out may alias y when !p.normalize).
// gamma, beta: [c], [samples, c] (shape.rows_per_sample > 0) or null (1
// and 0). mean, var: [c], float32 for half
// types, else `dtype`: written in training mode, read in eval mode, unused
// without normalisation. running_mean, running_var: [c] (stats dtype) or
// null, updated in training mode (update_running_stats, p.momentum).
// Statistics and math in float (double for double). When normalising,
// n * hw (a channel's elements) must be below 2^32.
cudaError_t bn_act_forward_launch(Dtype dtype, const void* y, void* out, const void* gamma,
                                  const void* beta, void* mean, void* var, void* running_mean,
                                  void* running_var, void* workspace, BNActShape shape,
                                  BNActParams p, cudaStream_t stream);

// dout, out, y: [n, c, hw]; dy: [n, c, hw] written; dgamma, dbeta: gamma's
// shape ([c] without gamma) written when normalising (stats dtype).
cudaError_t bn_act_backward_launch(Dtype dtype, const void* dout, const void* out, const void* y,
                                   const void* gamma, const void* mean, const void* var,
                                   void* dy, void* dgamma, void* dbeta, void* workspace,
                                   BNActShape shape, BNActParams p, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan
