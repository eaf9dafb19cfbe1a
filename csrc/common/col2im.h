// Index math of a transposed convolution computed as one GEMM and a col2im
// pass on channels-last tensors, shared by the CPU's image-block forward
// (cpu/col2im_rows.h) and the CUDA GEMM route (cuda/col2im.cu).
//
// With the input's rows X [N*H*W, C_in] and the weight's columns
// W [C_in, kH*kW*C] (free views of channels-last tensors),
//   cols = X @ W        [N*H*W, kH*kW*C]
// holds every input pixel's contribution to its kH x kW output window.
// col2im gathers them: y[b, oy, ox, :] is the sum of cols[b, ih, iw, i, j, :]
// over the taps (i, j) with oy = ih*sh - ph + i and ox = iw*sw - pw + j.
// The backward's im2col is the same map read the other way:
// dcols[b, ih, iw, i, j, :] = dy[b, oy, ox, :], zero where (oy, ox) falls
// outside the output.
#pragma once

#include <cstdint>

#include "macros.h"

namespace pygan {

struct Col2imShape {
  int64_t n, h, w;  // batch and input size
  int64_t c;        // output channels
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;   // output size
};

// Calls f(i, in) for each tap i of one spatial dimension (kernel k, stride,
// pad) that lands on output coordinate o, in the input coordinate `in` it
// comes from (inside [0, size)). I is a signed integer type: o + pad - i may
// be negative, and is always a multiple of stride, so the division is exact.
template <typename I, typename F>
PYGAN_HD void taps_1d(I o, I pad, I stride, I k, I size, F&& f) {
  for (I i = (o + pad) % stride; i < k; i += stride) {
    const I in = (o + pad - i) / stride;
    if (in >= 0 && in < size) f(i, in);
  }
}

// Output coordinate of tap i of input coordinate in (im2col's direction).
template <typename I>
PYGAN_HD I tap_output(I in, I pad, I stride, I i) {
  return in * stride - pad + i;
}

}  // namespace pygan
