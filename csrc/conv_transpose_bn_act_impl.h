// pygan::conv_transpose_bn_act and its backward, shared by the CPU kernel and
// the CUDA binding: argument checks (conv_transpose_bn_act_args.h), the
// transposed convolution through ATen (oneDNN / cuDNN, or GEMMs and a
// backend's col2im/im2col), and the calls into a backend's fused batch-norm +
// activation passes.
//
// A backend provides a memory format for its activations (channels-last on
// the CPU; on CUDA the layout it is given, cuda_activation_format), its
// convolution forward and backward (conv_transpose and
// conv_transpose_backward below, or the GEMM formulation for some shapes)
// and two functions (csrc/cpu, csrc/cuda):
//   forward_pass(y, out, gamma, beta, mean, var, running_mean, running_var, p):
//     out = act(bn(y)), gamma and beta per channel [C] or per sample [N, C]
//     (is_per_sample); in training mode it first writes the batch mean and
//     biased variance of y into mean/var and updates running_mean/var when
//     given (update_running_stats, p.momentum); in eval mode it reads the
//     running statistics from mean/var.
//   backward_pass(grad_out, out, y, gamma, mean, var, p, dy, dgamma, dbeta):
//     dy = dL/dy, and dgamma/dbeta (gamma's shape, [C] without gamma) when
//     normalising.
// The tensors they get (y, out, grad_out, dy) are all in that format. The op
// returns out and y in it too, and the gradients of input and weight in
// their layouts.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string>
#include <tuple>

#include "common/bn_act.h"
#include "common/col2im.h"
#include "conv_transpose_bn_act_args.h"

namespace pygan {

inline std::vector<int64_t> dilation_one() { return {1, 1}; }

// Per-sample BN parameters [N, C] (class-conditional batch norm), as the
// checks allow them; else per channel [C] or none.
inline bool is_per_sample(const std::optional<at::Tensor>& gamma) {
  return gamma.has_value() && gamma->dim() == 2;
}

// How the transposed convolution is computed: ATen's convolution (oneDNN on
// the CPU, cuDNN on CUDA), except for a 1x1 input without padding (the first
// DCGAN block, z -> 4x4), which is one GEMM, [N, C_in] @ [C_in, C_out*kH*kW]:
// oneDNN took ~4x longer for it. A backend may route other shapes to its own
// code (the CPU: the image block's forward, cpu/col2im_rows.h).
inline bool is_pointwise_gemm(const at::Tensor& input, at::IntArrayRef padding,
                              at::IntArrayRef output_padding) {
  return input.size(2) == 1 && input.size(3) == 1 && padding[0] == 0 && padding[1] == 0 &&
         output_padding[0] == 0 && output_padding[1] == 0;
}

// The GEMM's view of a 4-D tensor t [lead, C, kH, kW] (the weight, or the
// block's output or its gradient): [lead, C*kH*kW], columns in (kh, kw, c)
// order when the weight is channels-last, so that neither the weight nor a
// channels-last output is copied, else in (c, kh, kw) order.
inline at::Tensor gemm_columns(const at::Tensor& t, bool taps_major) {
  return (taps_major ? t.permute({0, 2, 3, 1}) : t).reshape({t.size(0), -1});
}

// Channels-last strides that are not also contiguous ones (a tensor with
// one channel or 1x1 planes is both, and either reading of it is the same).
inline bool is_channels_last(const at::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// The CUDA activations' format: channels-last when the input or the weight
// is, as cuDNN chooses its output's (the CPU's is always channels-last).
inline at::MemoryFormat cuda_activation_format(const at::Tensor& input, const at::Tensor& weight) {
  return is_channels_last(input) || is_channels_last(weight) ? at::MemoryFormat::ChannelsLast
                                                             : at::MemoryFormat::Contiguous;
}


// The inverse of gemm_columns for a result [lead, C*kH*kW].
inline at::Tensor from_gemm_columns(const at::Tensor& m, at::IntArrayRef sizes, bool taps_major) {
  if (!taps_major) return m.view(sizes);
  return m.view({sizes[0], sizes[2], sizes[3], sizes[1]}).permute({0, 3, 1, 2});
}

// y in memory format fmt (input is already in it).
inline at::Tensor conv_transpose(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef output_padding,
                                 at::MemoryFormat fmt) {
  if (!is_pointwise_gemm(input, padding, output_padding))
    return at::convolution(input, weight.contiguous(fmt), bias, stride, padding, dilation_one(),
                           /*transposed=*/true, output_padding, 1)
        .contiguous(fmt);
  const int64_t n = input.size(0), c_in = weight.size(0), c_out = weight.size(1);
  const bool taps_major = is_channels_last(weight);
  at::Tensor y = from_gemm_columns(
      at::mm(input.reshape({n, c_in}), gemm_columns(weight, taps_major)),
      {n, c_out, weight.size(2), weight.size(3)}, taps_major);
  if (bias.has_value()) y.add_(bias->view({1, c_out, 1, 1}));
  return y.contiguous(fmt);
}

// (grad_input, grad_weight, grad_bias) of conv_transpose as output_mask
// asks; dy and input in memory format fmt.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_transpose_backward(
    const at::Tensor& dy, const at::Tensor& input, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    std::array<bool, 3> output_mask, at::MemoryFormat fmt) {
  if (!is_pointwise_gemm(input, padding, output_padding)) {
    std::vector<int64_t> bias_sizes = {weight.size(1)};
    return at::convolution_backward(
        dy, input, weight.contiguous(fmt),
        output_mask[2] ? at::OptionalIntArrayRef(bias_sizes) : at::OptionalIntArrayRef(), stride,
        padding, dilation_one(), /*transposed=*/true, output_padding, 1, output_mask);
  }
  const int64_t n = input.size(0), c_in = weight.size(0);
  const bool taps_major = is_channels_last(weight);
  const at::Tensor dy_cols = gemm_columns(dy, taps_major);
  at::Tensor gi, gw, gb;
  if (output_mask[0])
    gi = at::mm(dy_cols, gemm_columns(weight, taps_major).t()).view(input.sizes());
  if (output_mask[1])
    gw = from_gemm_columns(at::mm(input.reshape({n, c_in}).t(), dy_cols), weight.sizes(),
                           taps_major);
  if (output_mask[2]) gb = dy.sum({0, 2, 3});
  return {gi, gw, gb};
}

// The GEMM formulation of conv_transpose on channels-last tensors
// (common/col2im.h): the GEMM's rows of a channels-last [N, C, H, W] tensor
// (a view [N*H*W, C]) and the geometry col2im and im2col work on.
inline at::Tensor gemm_rows(const at::Tensor& t) {
  return t.permute({0, 2, 3, 1}).reshape({-1, t.size(1)});
}

inline Col2imShape col2im_shape(const at::Tensor& input, const at::Tensor& weight,
                                at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef output_padding) {
  const auto out = [&](int d) {  // output size of spatial dimension d (checked to fit)
    return *checked_out_size(input.size(d), weight.size(d), stride[d - 2], padding[d - 2],
                             output_padding[d - 2]);
  };
  return {input.size(0), input.size(2),  input.size(3), weight.size(1), weight.size(2),
          weight.size(3), stride[0],     stride[1],     padding[0],     padding[1],
          out(2),         out(3)};
}

// y = conv_transpose2d(input, weight, bias, ...) as cols = X @ W, then the
// backend's col2im(cols, bias or an undefined tensor, y, shape); y in memory
// format fmt, any input and weight layout (X is a free view of a
// channels-last input, a copy of another).
template <typename Col2im>
at::Tensor conv_transpose_by_col2im(const at::Tensor& input, const at::Tensor& weight,
                                    const std::optional<at::Tensor>& bias,
                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                    at::IntArrayRef output_padding, at::MemoryFormat fmt,
                                    Col2im col2im) {
  const Col2imShape s = col2im_shape(input, weight, stride, padding, output_padding);
  const at::Tensor cols = at::mm(gemm_rows(input), gemm_columns(weight.contiguous(
                                     at::MemoryFormat::ChannelsLast), /*taps_major=*/true));
  at::Tensor y = at::empty({s.n, s.c, s.oh, s.ow}, input.options().memory_format(fmt));
  col2im(cols, bias.has_value() ? bias->contiguous() : at::Tensor(), y, s);
  return y;
}

// conv_transpose_backward's results by the GEMM formulation: the backend's
// im2col(dy, dcols, shape) fills dcols [N*H*W, kH*kW*C_out] from dy, then
// grad_input = dcols @ W^T and grad_weight = X^T @ dcols (channels-last, as
// their GEMMs leave them).
template <typename Im2col>
std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_transpose_backward_by_im2col(
    const at::Tensor& dy, const at::Tensor& input, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    std::array<bool, 3> output_mask, Im2col im2col) {
  const Col2imShape s = col2im_shape(input, weight, stride, padding, output_padding);
  at::Tensor dcols = at::empty({s.n * s.h * s.w, s.kh * s.kw * s.c}, dy.options());
  im2col(dy, dcols, s);
  const at::Tensor w_cols =
      gemm_columns(weight.contiguous(at::MemoryFormat::ChannelsLast), /*taps_major=*/true);
  at::Tensor gi, gw, gb;
  if (output_mask[0])
    gi = at::mm(dcols, w_cols.t()).view({s.n, s.h, s.w, input.size(1)}).permute({0, 3, 1, 2});
  if (output_mask[1])
    gw = from_gemm_columns(at::mm(gemm_rows(input).t(), dcols), weight.sizes(),
                           /*taps_major=*/true);
  if (output_mask[2]) gb = dy.sum({0, 2, 3});
  return {gi, gw, gb};
}

// conv is the backend's transposed convolution, conv_transpose's signature.
// A batch of 0 gives empty results, as torch's modules do: batch statistics
// of no values are NaN (torch.mean's), the running ones stay unchanged.
template <typename Conv, typename ForwardPass>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> conv_transpose_bn_act_forward(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& bn_weight, const std::optional<at::Tensor>& bn_bias,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding,
    bool normalize, bool training, double eps, double momentum, const std::string& activation,
    double slope, at::MemoryFormat fmt, Conv conv, ForwardPass forward_pass) {
  const BNActParams p = check_forward_args<int64_t>(
      input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
      output_padding, normalize, training, eps, momentum, activation, slope);
  const int64_t c = weight.size(1);
  const bool empty = input.size(0) == 0;
  const Col2imShape s = col2im_shape(input, weight, stride, padding, output_padding);
  at::Tensor y = empty ? at::empty({0, c, s.oh, s.ow}, input.options().memory_format(fmt))
                       : conv(input.contiguous(fmt), weight, bias, stride, padding,
                              output_padding, fmt);
  const auto stats_options = input.options().dtype(bn_stats_dtype(input.scalar_type()));
  if (!normalize) {  // act in place: y itself is not needed by the backward
    at::Tensor none = at::empty({0}, stats_options);
    const std::optional<at::Tensor> no_running;
    if (!empty) forward_pass(y, y, bn_weight, bn_bias, none, none, no_running, no_running, p);
    return {y, at::empty({0}, input.options()), none, none.clone()};
  }
  at::Tensor mean = training ? at::empty({c}, stats_options) : running_mean->clone();
  at::Tensor var = training ? at::empty({c}, stats_options) : running_var->clone();
  at::Tensor out = at::empty_like(y);
  const auto running = [&](const std::optional<at::Tensor>& t) {
    return training ? t : std::optional<at::Tensor>();
  };
  if (!empty) {
    forward_pass(y, out, bn_weight, bn_bias, mean, var, running(running_mean),
                 running(running_var), p);
  } else if (training) {
    mean.fill_(NAN);
    var.fill_(NAN);
  }
  return {out, y, mean, var};
}

// conv_backward is the backend's, conv_transpose_backward's signature. out,
// y and grad_out may come in any layout (a direct call of the op): they are
// made the backend's.
template <typename ConvBackward, typename BackwardPass>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
conv_transpose_bn_act_backward(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bn_weight, const at::Tensor& out, const at::Tensor& y,
    const at::Tensor& mean, const at::Tensor& var, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef output_padding, bool normalize, bool training,
    double eps, const std::string& activation, double slope, std::array<bool, 3> output_mask,
    at::MemoryFormat fmt, ConvBackward conv_backward, BackwardPass backward_pass) {
  const BNActParams p = check_backward_args<int64_t>(
      grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding, output_padding,
      normalize, training, eps, activation, slope);
  const int64_t c = weight.size(1);
  const auto stats_options = input.options().dtype(bn_stats_dtype(input.scalar_type()));
  const std::vector<int64_t> param_sizes =
      !normalize ? std::vector<int64_t>{0}
                 : is_per_sample(bn_weight) ? bn_weight->sizes().vec() : std::vector<int64_t>{c};
  at::Tensor dgamma = at::empty(param_sizes, stats_options);
  at::Tensor dbeta = at::empty(param_sizes, stats_options);
  at::Tensor grad_input, grad_weight, grad_bias;
  if (input.size(0) == 0) {  // sums over no values
    dgamma.zero_();
    dbeta.zero_();
    if (output_mask[0]) grad_input = at::empty_like(input);
    if (output_mask[1]) grad_weight = at::zeros_like(weight);
    if (output_mask[2]) grad_bias = at::zeros({c}, input.options());
  } else {
    const at::Tensor out_f = out.contiguous(fmt);
    at::Tensor dy = at::empty_like(out_f);
    backward_pass(grad_out.contiguous(fmt), out_f, normalize ? y.contiguous(fmt) : y, bn_weight,
                  mean, var, p, dy, dgamma, dbeta);
    std::tie(grad_input, grad_weight, grad_bias) = conv_backward(
        dy, input.contiguous(fmt), weight, stride, padding, output_padding, output_mask, fmt);
  }
  const auto undefined_as_empty = [&](const at::Tensor& t) {
    return t.defined() ? t : at::empty({0}, input.options());
  };
  if (grad_input.defined()) grad_input = grad_input.contiguous(input.suggest_memory_format());
  if (grad_weight.defined()) grad_weight = grad_weight.contiguous(weight.suggest_memory_format());
  return {undefined_as_empty(grad_input), undefined_as_empty(grad_weight),
          undefined_as_empty(grad_bias), dgamma, dbeta};
}

}  // namespace pygan
