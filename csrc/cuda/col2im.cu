// Launchers of col2im and im2col of the CUDA GEMM route; the kernels are in
// col2im_kernels.cuh.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "col2im_kernels.cuh"

namespace pygan {
namespace cuda {

using namespace col2im_kernels;

// f(std::true_type{}) for channels-last images, f(std::false_type{}) for NCHW.
template <typename F>
cudaError_t dispatch_layout(bool channels_last, F&& f) {
  return channels_last ? f(std::true_type{}) : f(std::false_type{});
}

cudaError_t col2im_launch(Dtype dtype, const void* cols, const void* bias, void* y,
                          const Col2imShape& shape, bool channels_last, cudaStream_t stream) {
  const int64_t rows = shape.n * shape.oh, row_values = shape.ow * shape.c;
  if (rows * row_values == 0) return cudaSuccess;
  if (!fits_32_bits(shape, row_values)) return cudaErrorInvalidValue;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    return dispatch_layout(channels_last, [&](auto nhwc) {
      col2im_rows<decltype(nhwc)::value, T, decltype(acc)>
          <<<row_grid(rows, row_values), kThreads, 0, stream>>>(
              static_cast<const T*>(cols), static_cast<const T*>(bias), static_cast<T*>(y),
              shape, int(row_values));
      return cudaGetLastError();
    });
  });
}

cudaError_t im2col_launch(Dtype dtype, const void* dy, void* dcols, const Col2imShape& shape,
                          bool channels_last, cudaStream_t stream) {
  const int64_t rows = shape.n * shape.h, row_values = shape.w * shape.kh * shape.kw * shape.c;
  if (rows * row_values == 0) return cudaSuccess;
  if (!fits_32_bits(shape, row_values)) return cudaErrorInvalidValue;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    using T = decltype(t);
    return dispatch_layout(channels_last, [&](auto nhwc) {
      im2col_rows<decltype(nhwc)::value, T, decltype(acc)>
          <<<row_grid(rows, row_values), kThreads, 0, stream>>>(
              static_cast<const T*>(dy), static_cast<T*>(dcols), shape, int(row_values));
      return cudaGetLastError();
    });
  });
}

}  // namespace cuda
}  // namespace pygan
