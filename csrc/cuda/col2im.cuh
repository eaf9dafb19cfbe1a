// Launchers of the col2im and im2col passes of the CUDA GEMM route of
// pygan::conv_transpose_bn_act (common/col2im.h; the binding runs the GEMMs).
// Raw pointers, sizes and a stream; no torch types.
#pragma once

#include <cuda_runtime_api.h>

#include "../common/col2im.h"
#include "dtype.cuh"

namespace pygan {
namespace cuda {

// y [n, c, oh, ow] (NHWC when channels_last, else NCHW) = col2im(cols
// [n*h*w, kh*kw*c]) + bias (bias: [c] or null).
cudaError_t col2im_launch(Dtype dtype, const void* cols, const void* bias, void* y,
                          const Col2imShape& shape, bool channels_last, cudaStream_t stream);

// dcols [n*h*w, kh*kw*c] = im2col(dy [n, c, oh, ow], NHWC when channels_last,
// else NCHW), zero where a tap falls outside dy.
cudaError_t im2col_launch(Dtype dtype, const void* dy, void* dcols, const Col2imShape& shape,
                          bool channels_last, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan
