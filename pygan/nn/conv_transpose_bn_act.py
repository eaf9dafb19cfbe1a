"""``ConvTransposeBNAct``: ``Sequential(ConvTranspose2d, BatchNorm2d, act)``
whose forward runs the fused ``pygan.ops.conv_transpose_bn_act``."""
import torch
from torch import Tensor, nn

from ..ops import has_kernel
from ..ops.conv_transpose_bn_act import ACTIVATIONS

_FUSED_OP = torch.ops.pygan.conv_transpose_bn_act.default

_ACT_MODULES = {"relu": lambda slope: nn.ReLU(inplace=True),
                "leaky_relu": lambda slope: nn.LeakyReLU(slope, inplace=True),
                "tanh": lambda slope: nn.Tanh()}
_KERNEL_DTYPES = {"cpu": (torch.float32, torch.float64),
                  "cuda": (torch.float32, torch.float64, torch.float16, torch.bfloat16)}


class ConvTransposeBNAct(nn.Sequential):
    """A transposed convolution, batch norm (``norm``) and an activation.

    It *is* the ``nn.Sequential`` of ``ConvTranspose2d`` (index 0),
    ``BatchNorm2d`` (index 1, when ``norm``) and the activation module, so
    ``state_dict`` keys (``0.weight``, ``1.running_mean``, ...), printing,
    ``.train()``/``.eval()`` and weight loading are those of the unfused
    stack. With ``fused`` (default) the forward is one
    ``conv_transpose_bn_act`` call; BatchNorm2d's semantics are kept
    (momentum None = cumulative average, ``track_running_stats``,
    ``num_batches_tracked``). Tensors the op has no kernel for (e.g. bfloat16
    on the CPU) take the unfused path. A fused block on the CPU keeps its
    conv weight channels-last, the CPU kernel's layout, and returns
    channels-last outputs. On CUDA the block runs in the layout it is given:
    NCHW by default, NHWC after ``.to(memory_format=torch.channels_last)``
    (fewer host calls: 3-16% faster step by step on an H100, though slower
    than NCHW at 32x32 batch 64 in a CUDA graph; bench/results/h100.md). Its
    convolutions are cuDNN's; with ``torch.backends.cudnn.enabled = False``
    they are pygan's GEMM route instead (cuBLAS GEMMs with col2im/im2col
    passes, float32 precision as ``torch.backends.cuda.matmul`` sets it).

    Input [N, in_channels, H, W] -> output [N, out_channels, H', W'] with
    H' = (H - 1) * stride - 2 * padding + kernel_size + output_padding.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, norm: bool = True,
                 activation: str = "relu", negative_slope: float = 0.2, eps: float = 1e-5,
                 momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, fused: bool = True):
        if activation not in ACTIVATIONS:
            raise ValueError(f"ConvTransposeBNAct: activation must be one of {ACTIVATIONS}, "
                             f"got {activation!r}")
        if activation == "leaky_relu" and not negative_slope > 0:
            raise ValueError(f"ConvTransposeBNAct: negative_slope must be > 0, got {negative_slope}")
        layers = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                     output_padding, bias=bias)]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels, eps, momentum, affine, track_running_stats))
        if activation != "none":
            layers.append(_ACT_MODULES[activation](negative_slope))
        super().__init__(*layers)
        self.norm, self.activation, self.negative_slope = norm, activation, negative_slope
        self.fused = fused

    @property
    def fused(self) -> bool:
        return self._fused

    @fused.setter
    def fused(self, value: bool) -> None:
        self._fused = bool(value)
        self._set_weight_layout()

    def _set_weight_layout(self, from_cpu: bool = False) -> None:
        """Sets the conv weight's layout on the CPU: channels-last for a fused
        block, the kernel's layout (a contiguous weight would be converted,
        and its gradient back, on every call: ~0.2-0.4 ms a block at DCGAN
        sizes), contiguous for a plain one. Elsewhere the weight keeps the
        user's layout (``.to(memory_format=torch.channels_last)`` runs the
        CUDA kernel channels-last), except that one arriving from the CPU
        (``from_cpu``), whose layout pygan chose, becomes contiguous, as
        plain modules have it. Values, state_dict keys and loading are
        unaffected."""
        weight = self._modules["0"].weight
        if weight.device.type == "cpu":
            fmt = torch.channels_last if self._fused else torch.contiguous_format
        elif from_cpu:
            fmt = torch.contiguous_format
        else:
            return
        if not weight.is_contiguous(memory_format=fmt):
            with torch.no_grad():
                weight.data = weight.data.contiguous(memory_format=fmt)

    def _apply(self, fn, recurse=True):
        from_cpu = self._modules["0"].weight.device.type == "cpu"
        super()._apply(fn, recurse)
        self._set_weight_layout(from_cpu)  # .to(device) keeps strides
        return self

    def _compute_dtype(self, x: Tensor) -> torch.dtype | None:
        """The dtype the fused op would run in, or None for the unfused path."""
        device = x.device
        kind = device.type
        dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
        if not (self.fused and dtype in _KERNEL_DTYPES.get(kind, ())
                and has_kernel("conv_transpose_bn_act", device)):
            return None
        bn_dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
        running_mean = self._modules["1"].running_mean if self.norm else None
        return dtype if running_mean is None or running_mean.dtype == bn_dtype else None

    def forward(self, x: Tensor) -> Tensor:
        dtype = self._compute_dtype(x)
        if dtype is None:
            return super().forward(x)
        # _modules rather than self[i]: Sequential's indexing walks an iterator,
        # a measurable share of this block's host time on a GPU.
        conv = self._modules["0"]
        # Under autocast the convolution runs in the autocast dtype while batch
        # norm keeps float32 statistics and parameters, as in the unfused stack.
        cast = lambda t: t if t is None or t.dtype == dtype else t.to(dtype)  # noqa: E731
        x, weight, bias = cast(x), cast(conv.weight), cast(conv.bias)
        bn_args, training, eps, factor = (None, None, None, None), True, 1e-5, 0.0
        if self.norm:
            bn = self._modules["1"]
            factor = 0.0 if bn.momentum is None else bn.momentum
            if self.training and bn.track_running_stats:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:  # cumulative moving average
                    factor = 1.0 / float(bn.num_batches_tracked)
            keep_running = not self.training or bn.track_running_stats
            bn_args = (bn.weight, bn.bias, bn.running_mean if keep_running else None,
                       bn.running_var if keep_running else None)
            training, eps = self.training or bn.running_mean is None, bn.eps
        # The op itself rather than the public function: the block's settings
        # were checked when it was built, and the op checks every tensor (the
        # Python layer was about a third of a block's host time).
        return _FUSED_OP(x, weight, bias, *bn_args, list(conv.stride), list(conv.padding),
                         list(conv.output_padding), self.norm, training, float(eps),
                         float(factor), self.activation, float(self.negative_slope))[0]

    def extra_repr(self) -> str:
        return f"fused={self.fused}"

