// Element types of the CUDA launchers and their conversions to the type the
// math runs in (float, or double for double tensors). No torch headers.
#pragma once

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace pygan {
namespace cuda {

enum class Dtype { kFloat32, kFloat64, kFloat16, kBFloat16 };

#if defined(__CUDACC__)
__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T, typename Acc> __device__ __forceinline__ T from_acc(Acc x);
template <> __device__ __forceinline__ float from_acc<float, float>(float x) { return x; }
template <> __device__ __forceinline__ double from_acc<double, double>(double x) { return x; }
template <> __device__ __forceinline__ __half from_acc<__half, float>(float x) {
  return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16, float>(float x) {
  return __float2bfloat16_rn(x);
}

// Calls f(T{}, Acc{}) with the element type of `dtype` and its math type.
template <typename F>
cudaError_t dispatch_dtype(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::kFloat32: return f(float{}, float{});
    case Dtype::kFloat64: return f(double{}, double{});
    case Dtype::kFloat16: return f(__half{}, float{});
    case Dtype::kBFloat16: return f(__nv_bfloat16{}, float{});
  }
  return cudaErrorInvalidValue;
}
#endif

}  // namespace cuda
}  // namespace pygan
