"""``conv_transpose_bn_act``: a DCGAN generator block — ConvTranspose2d, then
BatchNorm2d, then an activation — with batch norm and the activation fused
into the passes over the convolution's output (forward and backward).

Floor, per block: the convolution's FLOPs, plus one write of the
convolution's output, one read of it and one write of the activations
(eager BatchNorm2d + ReLU: three reads, two writes; its backward twice that).
"""
import torch
from torch import Tensor
from torch.nn import functional as F

from ._registry import has_kernel

_OP = "conv_transpose_bn_act"
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "none")


def _pair(name: str, v) -> list[int]:
    pair = [v, v] if type(v) is int else list(v)
    if len(pair) != 2 or type(pair[0]) is not int or type(pair[1]) is not int:
        raise ValueError(f"conv_transpose_bn_act: {name} must be an int or two ints, got {v!r}")
    # The schema's int is int64; the op checks the values' ranges.
    if not all(-2**63 <= x < 2**63 for x in pair):
        raise ValueError(f"conv_transpose_bn_act: {name} must fit in int64, got {v!r}")
    return pair


def conv_transpose_bn_act(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    bn_weight: Tensor | None = None,
    bn_bias: Tensor | None = None,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    normalize: bool = True,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str = "relu",
    slope: float = 0.01,
) -> Tensor:
    """act(batch_norm(conv_transpose2d(input, weight, bias))) in fused passes.

    Args:
        input: [N, C_in, H, W], float32/float64 (CUDA also float16/bfloat16).
        weight: [C_in, C_out, kH, kW] (ConvTranspose2d's layout), input's dtype.
        bias: [C_out] or None.
        bn_weight, bn_bias: BatchNorm2d's affine parameters, both or neither,
            both [C_out] (per channel) or both [N, C_out] (per sample:
            class-conditional batch norm, ``out = act(bn_weight[n, c] * xhat
            + bn_bias[n, c])``, the batch statistics still per channel over
            (N, H, W)); contiguous, on input's device, float32 for half
            inputs, else input's dtype.
        running_mean, running_var: [C_out] or None. In training mode they are
            updated in place as BatchNorm2d does (momentum-weighted, with the
            unbiased batch variance); in eval mode they normalise.
        stride, padding, output_padding: ints or pairs, as ConvTranspose2d
            (groups 1, dilation 1).
        normalize: False skips batch norm (then all BN arguments are None).
        training: batch statistics (True) or running statistics (False).
        momentum: BatchNorm2d's exponential average factor (for its
            momentum=None, pass 1 / num_batches_tracked as it does).
        eps: added to the variance.
        activation: "relu", "leaky_relu" (with ``slope`` > 0), "tanh" or "none";
            ``slope`` must be finite.

    Returns:
        [N, C_out, (H-1)*sH - 2*pH + kH + opH, ...] in input's dtype and device,
        channels-last on the CPU (the kernel's layout) and on CUDA when input
        or weight is channels-last (as cuDNN's convolutions), else contiguous.
        Differentiable in input, weight, bias, bn_weight and bn_bias (their
        gradients have their shapes: [N, C_out] for per-sample ones). A batch
        of 0 (with [0, C_out] per-sample parameters, or [C_out] ones) gives
        an empty output and zero parameter gradients, as the
        unfused modules do (in training mode too: the running statistics stay
        unchanged). Invalid arguments raise RuntimeError naming the argument,
        also for fake and meta tensors (torch.compile at trace time). Devices
        without a pygan kernel run :func:`conv_transpose_bn_act_reference`.
        On CUDA the convolution is cuDNN's, or with cuDNN disabled
        (``torch.backends.cudnn.enabled``, read at each call, forward and
        backward) pygan's own: cuBLAS GEMMs with col2im/im2col passes.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"conv_transpose_bn_act: activation must be one of {ACTIVATIONS}, "
                         f"got {activation!r}")
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    output_padding = _pair("output_padding", output_padding)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"conv_transpose_bn_act: momentum must be in [0, 1], got {momentum}")
    if not isinstance(input, Tensor):
        raise TypeError(f"conv_transpose_bn_act: input must be a Tensor, got {type(input).__name__}")
    if not has_kernel(_OP, input.device):
        return conv_transpose_bn_act_reference(
            input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride=stride,
            padding=padding, output_padding=output_padding, normalize=normalize,
            training=training, momentum=momentum, eps=eps, activation=activation, slope=slope)
    # Autograd is the op's C++ kernel (csrc/conv_transpose_bn_act_autograd.cpp).
    return torch.ops.pygan.conv_transpose_bn_act.default(
        input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
        output_padding, normalize, training, float(eps), float(momentum), activation,
        float(slope))[0]


def _out_size(size: int, k: int, s: int, p: int, op: int) -> int:
    return (size - 1) * s - 2 * p + k + op


def _is_channels_last(t: Tensor) -> bool:
    """Channels-last strides that are not also contiguous ones."""
    return (t.dim() == 4 and not t.is_contiguous()
            and t.is_contiguous(memory_format=torch.channels_last))


def _activation_format(input: Tensor, weight: Tensor) -> torch.memory_format:
    """The kernels' layout for out and y: channels-last on the CPU, where
    oneDNN's convolutions run faster on it; on CUDA channels-last when input
    or weight is, as cuDNN chooses (csrc's cuda_activation_format)."""
    if input.device.type == "cpu" or _is_channels_last(input) or _is_channels_last(weight):
        return torch.channels_last
    return torch.contiguous_format


# The fake kernels first run the kernels' own argument checks (C++ ops,
# csrc/conv_transpose_bn_act_checks.cpp), so fake and meta tensors, and
# torch.compile at trace time, are refused as the kernels refuse them.
@torch.library.register_fake("pygan::conv_transpose_bn_act")
def _forward_fake(input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride,
                  padding, output_padding, normalize, training, eps, momentum, activation,
                  slope):
    torch.ops.pygan._conv_transpose_bn_act_check(
        input, weight, bias, bn_weight, bn_bias, running_mean, running_var, stride, padding,
        output_padding, normalize, training, eps, momentum, activation, slope)
    n, c = input.shape[0], weight.shape[1]
    h, w = (_out_size(input.shape[2 + i], weight.shape[2 + i], stride[i], padding[i],
                      output_padding[i]) for i in range(2))
    out = torch.empty((n, c, h, w), dtype=input.dtype, device=input.device,
                      memory_format=_activation_format(input, weight))
    y = torch.empty_like(out) if normalize else input.new_empty((0,))
    stats = (c,) if normalize else (0,)
    stats_dtype = _stats_dtype(input.dtype)
    return (out, y, input.new_empty(stats, dtype=stats_dtype),
            input.new_empty(stats, dtype=stats_dtype))


@torch.library.register_fake("pygan::conv_transpose_bn_act_backward")
def _backward_fake(grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding,
                   output_padding, normalize, training, eps, activation, slope, output_mask):
    torch.ops.pygan._conv_transpose_bn_act_backward_check(
        grad_out, input, weight, bn_weight, out, y, mean, var, stride, padding, output_padding,
        normalize, training, eps, activation, slope)
    c = weight.shape[1]
    grad_input = torch.empty_like(input) if output_mask[0] else input.new_empty(0)
    grad_weight = torch.empty_like(weight) if output_mask[1] else input.new_empty(0)
    grad_bias = input.new_empty(c if output_mask[2] else 0)
    # The BN parameters' gradients have bn_weight's shape: [C] or [N, C].
    params = (0,) if not normalize else (
        tuple(bn_weight.shape) if bn_weight is not None and bn_weight.dim() == 2 else (c,))
    stats_dtype = _stats_dtype(input.dtype)
    return (grad_input, grad_weight, grad_bias, input.new_empty(params, dtype=stats_dtype),
            input.new_empty(params, dtype=stats_dtype))


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    """BN parameters and statistics: float32 for half inputs (csrc's bn_stats_dtype)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def conv_transpose_bn_act_reference(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    bn_weight: Tensor | None = None,
    bn_bias: Tensor | None = None,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    normalize: bool = True,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str = "relu",
    slope: float = 0.01,
) -> Tensor:
    """The same block as unfused torch functions (any device and dtype):
    ``conv_transpose2d``, ``batch_norm``, then the activation. Per-sample
    parameters ([N, C_out]) are applied after a batch norm without affine:
    ``bn(y) * bn_weight[:, :, None, None] + bn_bias[:, :, None, None]``."""
    y = F.conv_transpose2d(input, weight, bias, stride, padding, output_padding)
    if normalize and bn_weight is not None and bn_weight.dim() == 2:
        y = F.batch_norm(y, running_mean, running_var, None, None, training, momentum, eps)
        y = y * bn_weight[:, :, None, None] + bn_bias[:, :, None, None]
    elif normalize:
        y = F.batch_norm(y, running_mean, running_var, bn_weight, bn_bias, training, momentum, eps)
    if activation == "relu":
        return F.relu(y)
    if activation == "leaky_relu":
        return F.leaky_relu(y, slope)
    return torch.tanh(y) if activation == "tanh" else y
