// The CPU forward of a transposed convolution with few output channels (the
// DCGAN image block: 3), channels-last: one GEMM and an overlap-add.
//
// oneDNN's kernel spends ~2 ms on the 64 -> 3 channel block at 16x16 ->
// 32x32, batch 64 (0.1 GFLOP): its SIMD lanes run across 3 channels. Here the
// channels-last input is already the GEMM's rows X [N*H*W, C_in], the
// channels-last weight its W [C_in, kH*kW*C_out], and
//   cols = X @ W        [N*H*W, kH*kW*C_out]
// holds every input pixel's contribution to its kH x kW output window;
// col2im_rows adds them up. (For the wide middle blocks oneDNN's own kernels
// are the faster ones.)
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>

#include "../conv_transpose_bn_act_impl.h"
#include "vectorize.h"

namespace pygan {

// Output channels up to which the CPU forward takes conv_transpose_few_channels.
constexpr int64_t kFewOutChannels = 4;

struct Col2imShape {
  int64_t n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow;
};

// y[b, oy, ox, :] = bias + the sum of cols[b, ih, iw, i, j, :] over the taps
// (i, j) that land on (oy, ox): oy = ih*sh - ph + i, ox = iw*sw - pw + j.
// Each output pixel is gathered and written once, so rows of the output can
// go to different threads.
template <typename T>
PYGAN_CPU_CLONES void col2im_rows(const T* __restrict__ cols, const T* __restrict__ bias,
                                  T* __restrict__ y, const Col2imShape& s) {
  const int64_t pixel = s.kh * s.kw * s.c;
  at::parallel_for(0, s.n * s.oh, std::max<int64_t>(1, at::internal::GRAIN_SIZE / (s.ow * pixel)),
                   [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
      const int64_t b = r / s.oh, oy = r % s.oh;
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        T* out = y + (r * s.ow + ox) * s.c;
        for (int64_t k = 0; k < s.c; ++k) out[k] = T(0);
        for (int64_t i = (oy + s.ph) % s.sh; i < s.kh; i += s.sh) {
          const int64_t ih = (oy + s.ph - i) / s.sh;  // exact: i = oy + ph (mod sh)
          if (ih < 0 || ih >= s.h) continue;
          for (int64_t j = (ox + s.pw) % s.sw; j < s.kw; j += s.sw) {
            const int64_t iw = (ox + s.pw - j) / s.sw;
            if (iw < 0 || iw >= s.w) continue;
            const T* src = cols + ((b * s.h + ih) * s.w + iw) * pixel + (i * s.kw + j) * s.c;
            for (int64_t k = 0; k < s.c; ++k) out[k] += src[k];
          }
        }
        // The bias last, as convolutions add it: added first, a large bias
        // would round every tap's sum.
        for (int64_t k = 0; bias && k < s.c; ++k) out[k] += bias[k];
      }
    }
  });
}

// y = conv_transpose2d(input, weight, bias, ...), channels-last; input is
// channels-last (so its rows view is free), any weight layout.
inline at::Tensor conv_transpose_few_channels(const at::Tensor& input, const at::Tensor& weight,
                                              const std::optional<at::Tensor>& bias,
                                              at::IntArrayRef stride, at::IntArrayRef padding,
                                              at::IntArrayRef output_padding) {
  // The output size of each spatial dimension d.
  const auto out = [&](int d) {
    return (input.size(d) - 1) * stride[d - 2] - 2 * padding[d - 2] + weight.size(d) +
           output_padding[d - 2];
  };
  const Col2imShape s{input.size(0), input.size(2), input.size(3), weight.size(1),
                      weight.size(2), weight.size(3), stride[0], stride[1], padding[0],
                      padding[1], out(2), out(3)};
  const at::Tensor cols =
      at::mm(input.permute({0, 2, 3, 1}).reshape({-1, input.size(1)}),
             gemm_columns(weight, /*taps_major=*/true));
  at::Tensor y = at::empty({s.n, s.c, s.oh, s.ow},
                           input.options().memory_format(at::MemoryFormat::ChannelsLast));
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "conv_transpose_few_channels", [&] {
    col2im_rows(cols.const_data_ptr<scalar_t>(),
                b.defined() ? b.const_data_ptr<scalar_t>() : nullptr, y.data_ptr<scalar_t>(), s);
  });
  return y;
}

}  // namespace pygan
