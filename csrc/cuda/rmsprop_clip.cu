// Launcher of pygan::rmsprop_clip_'s CUDA kernel (rmsprop_clip_kernels.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "rmsprop_clip_kernels.cuh"

namespace pygan {
namespace cuda {

using namespace rmsprop_kernels;

cudaError_t rmsprop_clip_launch(Dtype dtype, const RMSpropClipTensor* tensors, int64_t n,
                                const RMSpropClipHyper<double>& hyper, cudaStream_t stream) {
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using scalar_t = decltype(t);
    using acc_t = decltype(acc);
    const RMSpropClipHyper<acc_t> h = cast_hyper<acc_t>(hyper);
    return launch_groups<scalar_t, acc_t>(tensors, n, [&](const Meta& meta, int64_t blocks) {
      dispatch_rmsprop_flags(h, [&](auto centered, auto momentum, auto clip) {
        rmsprop_clip_kernel<decltype(centered)::value, decltype(momentum)::value,
                            decltype(clip)::value, scalar_t, acc_t>
            <<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(meta, h);
      });
      return cudaGetLastError();
    });
  });
}

}  // namespace cuda
}  // namespace pygan
