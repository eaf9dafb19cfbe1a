// Launchers of col2im and im2col of the CUDA GEMM route; the kernels are in
// col2im_kernels.cuh.
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "col2im_kernels.cuh"

namespace pygan {
namespace cuda {

using namespace col2im_kernels;

// Checks the sizes, then launch(T{}, Acc{}, nhwc, grid) with the element
// types, the image layout (std::true_type for channels-last) and a grid of
// `rows` rows of `row_values` values.
template <typename Launch>
cudaError_t launch_rows(Dtype dtype, bool channels_last, const Col2imShape& shape, int64_t rows,
                        int64_t row_values, Launch launch) {
  if (rows * row_values == 0) return cudaSuccess;
  if (!fits_32_bits(shape, row_values)) return cudaErrorInvalidValue;
  return dispatch_dtype(dtype, [&](auto t, auto acc) {
    if (channels_last) launch(t, acc, std::true_type{}, row_grid(rows, row_values));
    else launch(t, acc, std::false_type{}, row_grid(rows, row_values));
    return cudaGetLastError();
  });
}

cudaError_t col2im_launch(Dtype dtype, const void* cols, const void* bias, void* y,
                          const Col2imShape& shape, bool channels_last, cudaStream_t stream) {
  const int64_t row_values = shape.ow * shape.c;
  return launch_rows(dtype, channels_last, shape, shape.n * shape.oh, row_values,
                     [&](auto t, auto acc, auto nhwc, dim3 grid) {
    using T = decltype(t);
    col2im_rows<decltype(nhwc)::value, T, decltype(acc)><<<grid, kThreads, 0, stream>>>(
        static_cast<const T*>(cols), static_cast<const T*>(bias), static_cast<T*>(y), shape,
        int(row_values));
  });
}

cudaError_t im2col_launch(Dtype dtype, const void* dy, void* dcols, const Col2imShape& shape,
                          bool channels_last, cudaStream_t stream) {
  const int64_t row_values = shape.w * shape.kh * shape.kw * shape.c;
  return launch_rows(dtype, channels_last, shape, shape.n * shape.h, row_values,
                     [&](auto t, auto acc, auto nhwc, dim3 grid) {
    using T = decltype(t);
    im2col_rows<decltype(nhwc)::value, T, decltype(acc)><<<grid, kThreads, 0, stream>>>(
        static_cast<const T*>(dy), static_cast<T*>(dcols), shape, int(row_values));
  });
}

}  // namespace cuda
}  // namespace pygan
