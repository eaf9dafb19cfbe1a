// The CPU forward of a transposed convolution with few output channels (the
// DCGAN image block: 3), channels-last: one GEMM and an overlap-add
// (common/col2im.h).
//
// oneDNN's kernel spends ~2 ms on the 64 -> 3 channel block at 16x16 ->
// 32x32, batch 64 (0.1 GFLOP): its SIMD lanes run across 3 channels. Here the
// channels-last input is already the GEMM's rows and the channels-last
// weight its columns. (For the wide middle blocks oneDNN's own kernels are
// the faster ones.)
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>

#include "../common/col2im.h"
#include "../conv_transpose_bn_act_impl.h"
#include "vectorize.h"

namespace pygan {

// Output channels up to which the CPU forward takes conv_transpose_few_channels.
constexpr int64_t kFewOutChannels = 4;

// y = col2im(cols) + bias, [N*OH*OW, C]. Each output pixel is gathered and
// written once, so rows of the output can go to different threads.
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
        taps_1d<int64_t>(oy, s.ph, s.sh, s.kh, s.h, [&](int64_t i, int64_t ih) {
          taps_1d<int64_t>(ox, s.pw, s.sw, s.kw, s.w, [&](int64_t j, int64_t iw) {
            const T* src = cols + ((b * s.h + ih) * s.w + iw) * pixel + (i * s.kw + j) * s.c;
            for (int64_t k = 0; k < s.c; ++k) out[k] += src[k];
          });
        });
        // The bias last, as convolutions add it: added first, a large bias
        // would round every tap's sum.
        for (int64_t k = 0; bias && k < s.c; ++k) out[k] += bias[k];
      }
    }
  });
}

// y = conv_transpose2d(input, weight, bias, ...), channels-last; input is
// channels-last, any weight layout.
inline at::Tensor conv_transpose_few_channels(const at::Tensor& input, const at::Tensor& weight,
                                              const std::optional<at::Tensor>& bias,
                                              at::IntArrayRef stride, at::IntArrayRef padding,
                                              at::IntArrayRef output_padding) {
  return conv_transpose_by_col2im(
      input, weight, bias, stride, padding, output_padding, at::MemoryFormat::ChannelsLast,
      [](const at::Tensor& cols, const at::Tensor& b, at::Tensor& y, const Col2imShape& s) {
        AT_DISPATCH_FLOATING_TYPES(cols.scalar_type(), "conv_transpose_few_channels", [&] {
          col2im_rows(cols.const_data_ptr<scalar_t>(),
                      b.defined() ? b.const_data_ptr<scalar_t>() : nullptr,
                      y.data_ptr<scalar_t>(), s);
        });
      });
}

}  // namespace pygan
