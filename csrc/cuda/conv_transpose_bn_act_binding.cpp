// CUDA registration of pygan::conv_transpose_bn_act and its backward: the
// shared composition (checks, the transposed convolution) with the fused
// passes of conv_transpose_bn_act.cu, on the current stream. Activations stay
// in the layout they come in: NCHW, or NHWC when the input or weight is
// channels-last. The convolutions are cuDNN's; with cuDNN disabled they take
// pygan's GEMM route: cuBLAS GEMMs (at::mm) with col2im.cu's passes, a few
// kernel launches in place of cuDNN's calls, whose host time (~100 us a call
// under the profiler on the H100 machine) bounds a small generator step.
// Which is faster is for bench_conv_calls/bench_conv to say on a GPU. The
// GEMMs follow torch's matmul precision (torch.backends.cuda.matmul), not
// cuDNN's.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <optional>

#include "../conv_transpose_bn_act_impl.h"
#include "col2im.cuh"
#include "conv_transpose_bn_act.cuh"
#include "dtype_binding.h"

namespace pygan {
namespace {

constexpr const char* kOp = "conv_transpose_bn_act";

// The kernels' [n, c, hw] view of activations: an NHWC tensor is
// [N * H * W, C, 1] (planes of one element, channel stride 1); with
// per-sample BN parameters (gamma [N, C]), a sample's rows along n.
cuda::BNActShape shape_of(const at::Tensor& t, const std::optional<at::Tensor>& gamma) {
  const int64_t hw = t.size(2) * t.size(3);
  const bool nhwc = is_channels_last(t), per_sample = is_per_sample(gamma);
  if (nhwc) return {t.size(0) * hw, t.size(1), 1, per_sample ? hw : 0};
  return {t.size(0), t.size(1), hw, per_sample ? 1 : 0};
}

const void* ptr_or_null(const std::optional<at::Tensor>& t) {
  return t.has_value() ? t->const_data_ptr() : nullptr;
}

void* data_or_null(at::Tensor& t) { return t.numel() ? t.data_ptr() : nullptr; }

void* mutable_or_null(const std::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr() : nullptr;
}

// The device to run on: input's. A mixed-device call can reach this kernel
// with input on another device (the dispatcher picks CUDA for any CUDA
// tensor); then no device is set and the shared checks refuse the call,
// naming the tensor that is not on input's device, as on the CPU.
std::optional<c10::Device> cuda_device_of(const at::Tensor& input) {
  return input.is_cuda() ? std::optional<c10::Device>(input.device()) : std::nullopt;
}

// Scratch for the launchers' per-slice statistics (none without batch norm),
// from the caching allocator.
at::Tensor workspace_for(cuda::Dtype dtype, const cuda::BNActShape& shape,
                         const at::Tensor& t, const BNActParams& p) {
  TORCH_CHECK(!p.normalize || shape.n * shape.hw <= int64_t(UINT32_MAX), kOp, ": the CUDA ",
              "batch norm takes fewer than 2^32 elements per channel (N * H * W), got ",
              shape.n * shape.hw);
  const auto bytes = p.normalize ? int64_t(cuda::bn_act_workspace_bytes(dtype, shape)) : 0;
  return at::empty({bytes}, t.options().dtype(at::kByte));
}

// With cuDNN disabled (torch.backends.cudnn.enabled = False), convolutions
// other than the single-GEMM 1x1 case take the GEMM route rather than ATen's
// non-cuDNN kernels.
bool takes_gemm_route(const at::Tensor& input, at::IntArrayRef padding,
                      at::IntArrayRef output_padding) {
  return !at::globalContext().userEnabledCuDNN() &&
         !is_pointwise_gemm(input, padding, output_padding);
}

at::Tensor conv_cuda(const at::Tensor& input, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef output_padding,
                     at::MemoryFormat fmt) {
  if (!takes_gemm_route(input, padding, output_padding))
    return conv_transpose(input, weight, bias, stride, padding, output_padding, fmt);
  const bool nhwc = fmt == at::MemoryFormat::ChannelsLast;
  return conv_transpose_by_col2im(
      input, weight, bias, stride, padding, output_padding, fmt,
      [nhwc](const at::Tensor& cols, const at::Tensor& b, at::Tensor& y, const Col2imShape& s) {
        C10_CUDA_CHECK(cuda::col2im_launch(
            cuda_dtype(y.scalar_type(), kOp), cols.const_data_ptr(),
            b.defined() ? b.const_data_ptr() : nullptr, y.data_ptr(), s, nhwc,
            c10::cuda::getCurrentCUDAStream()));
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward_cuda(
    const at::Tensor& dy, const at::Tensor& input, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    std::array<bool, 3> output_mask, at::MemoryFormat fmt) {
  if (!takes_gemm_route(input, padding, output_padding))
    return conv_transpose_backward(dy, input, weight, stride, padding, output_padding,
                                   output_mask, fmt);
  const bool nhwc = fmt == at::MemoryFormat::ChannelsLast;
  return conv_transpose_backward_by_im2col(
      dy, input, weight, stride, padding, output_padding, output_mask,
      [nhwc](const at::Tensor& d, at::Tensor& dcols, const Col2imShape& s) {
        C10_CUDA_CHECK(cuda::im2col_launch(cuda_dtype(d.scalar_type(), kOp), d.const_data_ptr(),
                                           dcols.data_ptr(), s, nhwc,
                                           c10::cuda::getCurrentCUDAStream()));
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cuda(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, double momentum, std::string_view activation,
    double slope) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(input));
  return conv_transpose_bn_act_forward(
      input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
      output_padding, normalize, training, eps, momentum, std::string(activation), slope,
      cuda_activation_format(input, weight), conv_cuda,
      [](const at::Tensor& y, at::Tensor& out, const auto& gamma, const auto& beta,
         at::Tensor& mean, at::Tensor& var, const std::optional<at::Tensor>& running_mean,
         const std::optional<at::Tensor>& running_var, const BNActParams& p) {
        const cuda::Dtype dtype = cuda_dtype(y.scalar_type(), kOp);
        const cuda::BNActShape shape = shape_of(y, gamma);
        at::Tensor workspace = workspace_for(dtype, shape, y, p);
        C10_CUDA_CHECK(cuda::bn_act_forward_launch(
            dtype, y.const_data_ptr(), out.data_ptr(), ptr_or_null(gamma), ptr_or_null(beta),
            data_or_null(mean), data_or_null(var), mutable_or_null(running_mean),
            mutable_or_null(running_var), data_or_null(workspace), shape, p,
            c10::cuda::getCurrentCUDAStream()));
      });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bn_weight, const at::Tensor& out, const at::Tensor& y,
    const at::Tensor& mean, const at::Tensor& var, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize, bool training,
    double eps, std::string_view activation, double slope, std::array<bool, 3> output_mask) {
  const c10::cuda::OptionalCUDAGuard guard(cuda_device_of(input));
  return conv_transpose_bn_act_backward(
      grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding, output_padding,
      normalize, training, eps, std::string(activation), slope, output_mask,
      cuda_activation_format(input, weight), conv_backward_cuda,
      [](const at::Tensor& dout, const at::Tensor& o, const at::Tensor& yy, const auto& gamma,
         const at::Tensor& mu, const at::Tensor& v, const BNActParams& p, at::Tensor& dy,
         at::Tensor& dgamma, at::Tensor& dbeta) {
        const cuda::Dtype dtype = cuda_dtype(o.scalar_type(), kOp);
        const cuda::BNActShape shape = shape_of(o, gamma);
        at::Tensor workspace = workspace_for(dtype, shape, o, p);
        C10_CUDA_CHECK(cuda::bn_act_backward_launch(
            dtype, dout.const_data_ptr(), o.const_data_ptr(),
            yy.numel() ? yy.const_data_ptr() : nullptr, ptr_or_null(gamma),
            mu.numel() ? mu.const_data_ptr() : nullptr, v.numel() ? v.const_data_ptr() : nullptr,
            dy.data_ptr(), data_or_null(dgamma), data_or_null(dbeta), data_or_null(workspace),
            shape, p, c10::cuda::getCurrentCUDAStream()));
      });
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CUDA, m) {
  m.impl("conv_transpose_bn_act", &forward_cuda);
  m.impl("conv_transpose_bn_act_backward", &backward_cuda);
}

}  // namespace pygan
