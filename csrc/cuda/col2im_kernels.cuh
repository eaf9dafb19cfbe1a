// Kernels of col2im and im2col of the CUDA GEMM route (common/col2im.h);
// launched by col2im.cu (tests/cpp also runs them on a CPU emulation of
// CUDA). The columns are always rows of pixels (cols/dcols [n*h*w,
// kh*kw*c]); the image (y, dy) is NHWC or NCHW (kNHWC).
// Block row blockIdx.y takes one row of pixels (an output row for col2im, an
// input row for im2col) and its threads the row's values, channels fastest,
// so neighbouring threads read and write neighbouring column entries (and
// NHWC image values; NCHW ones are a plane apart); the per-row index math is
// done once per block, the rest in 32-bit integers.
#pragma once

#include <cstdint>

#include "col2im.cuh"

namespace pygan {
namespace cuda {
namespace col2im_kernels {

constexpr int kThreads = 256;
constexpr int64_t kMaxRowBlocks = 65535;  // gridDim.y's limit; rows beyond it loop

// Offset of value (b, y, x, ch) of an image [n, c, h, w], NHWC or NCHW.
template <bool kNHWC>
__device__ __forceinline__ int64_t image_offset(int64_t b, int y, int x, int ch, int64_t c,
                                                int64_t h, int64_t w) {
  return kNHWC ? ((b * h + y) * w + x) * c + ch : ((b * c + ch) * h + y) * w + x;
}

template <bool kNHWC, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    col2im_rows(const T* __restrict__ cols, const T* __restrict__ bias, T* __restrict__ y,
                Col2imShape s, int row_values) {
  const int c = int(s.c);
  const int64_t pixel = s.kh * s.kw * s.c;  // a cols row
  for (int64_t row = blockIdx.y; row < s.n * s.oh; row += gridDim.y) {
    const int64_t b = row / s.oh;
    const int oy = int(row - b * s.oh);
    for (int v = blockIdx.x * kThreads + threadIdx.x; v < row_values; v += gridDim.x * kThreads) {
      const int ox = v / c, ch = v - ox * c;
      Acc acc = 0;
      taps_1d<int>(oy, int(s.ph), int(s.sh), int(s.kh), int(s.h), [&](int i, int ih) {
        taps_1d<int>(ox, int(s.pw), int(s.sw), int(s.kw), int(s.w), [&](int j, int iw) {
          acc += to_acc(cols[((b * s.h + ih) * s.w + iw) * pixel + (i * s.kw + j) * c + ch]);
        });
      });
      // The bias last, as the CPU's col2im_rows and convolutions add it.
      if (bias != nullptr) acc += to_acc(bias[ch]);
      y[image_offset<kNHWC>(b, oy, ox, ch, c, s.oh, s.ow)] = from_acc<T, Acc>(acc);
    }
  }
}

template <bool kNHWC, typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    im2col_rows(const T* __restrict__ dy, T* __restrict__ dcols, Col2imShape s,
                int row_values) {
  const int c = int(s.c), kh = int(s.kh), kw = int(s.kw);
  for (int64_t row = blockIdx.y; row < s.n * s.h; row += gridDim.y) {
    const int64_t b = row / s.h;
    const int ih = int(row - b * s.h);
    for (int v = blockIdx.x * kThreads + threadIdx.x; v < row_values; v += gridDim.x * kThreads) {
      // v = ((iw * kh + i) * kw + j) * c + ch
      const int ch = v % c, tap = v / c;
      const int j = tap % kw, i = (tap / kw) % kh, iw = tap / (kw * kh);
      const int oy = tap_output(ih, int(s.ph), int(s.sh), i);
      const int ox = tap_output(iw, int(s.pw), int(s.sw), j);
      const bool inside = oy >= 0 && oy < s.oh && ox >= 0 && ox < s.ow;
      dcols[row * row_values + v] = inside ? dy[image_offset<kNHWC>(b, oy, ox, ch, c, s.oh, s.ow)]
                                           : from_acc<T, Acc>(Acc(0));
    }
  }
}

// Grid for `rows` rows of `row_values` values each.
inline dim3 row_grid(int64_t rows, int64_t row_values) {
  const int64_t x = (row_values + kThreads - 1) / kThreads;
  return dim3(unsigned(x), unsigned(rows < kMaxRowBlocks ? rows : kMaxRowBlocks));
}

// The kernels index a row's values, and coordinates, in 32 bits.
inline bool fits_32_bits(const Col2imShape& s, int64_t row_values) {
  const int64_t limit = INT32_MAX;
  return row_values < limit && s.h * s.sh + s.kh < limit && s.w * s.sw + s.kw < limit &&
         s.oh + s.ph < limit && s.ow + s.pw < limit;
}

}  // namespace col2im_kernels
}  // namespace cuda
}  // namespace pygan
