"""``ConvTransposeBNAct``: ``Sequential(ConvTranspose2d, BatchNorm2d, act)``
whose forward runs the fused ``pygan.ops.conv_transpose_bn_act``; and
``ConditionalConvTransposeBNAct``, its class-conditional form (per-sample
batch-norm scale and shift from class embeddings). What their fused paths
share (weight layout, dtype choice, batch-norm bookkeeping, the op call) is
``_FusedBlock``."""
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


class _FusedBlock:
    """What the fused blocks share, mixed into an ``nn.Module`` that provides
    ``_conv()`` (its ConvTranspose2d), ``_bn()`` (its BatchNorm2d or None),
    ``activation``, ``negative_slope`` and ``_bn_dtype_tensors()`` (the
    tensors that must have batch norm's dtype for the fused op to run)."""

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
        weight = self._conv().weight
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
        from_cpu = self._conv().weight.device.type == "cpu"
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
        return dtype if all(t is None or t.dtype == bn_dtype
                            for t in self._bn_dtype_tensors()) else None

    def _fused_forward(self, x: Tensor, dtype: torch.dtype, bn_weight: Tensor | None,
                       bn_bias: Tensor | None) -> Tensor:
        """The op's output for x with the given BN affine parameters ([C] or
        [N, C]); batch norm's running statistics and momentum are the
        module's own, as BatchNorm2d keeps them (momentum None = cumulative
        average, ``track_running_stats``, ``num_batches_tracked``)."""
        # _modules rather than self[i]: Sequential's indexing walks an iterator,
        # a measurable share of this block's host time on a GPU.
        conv, bn = self._conv(), self._bn()
        # Under autocast the convolution runs in the autocast dtype while batch
        # norm keeps float32 statistics and parameters, as in the unfused stack.
        cast = lambda t: t if t is None or t.dtype == dtype else t.to(dtype)  # noqa: E731
        x, weight, bias = cast(x), cast(conv.weight), cast(conv.bias)
        running, training, eps, factor = (None, None), True, 1e-5, 0.0
        if bn is not None:
            factor = 0.0 if bn.momentum is None else bn.momentum
            if self.training and bn.track_running_stats:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:  # cumulative moving average
                    factor = 1.0 / float(bn.num_batches_tracked)
            keep_running = not self.training or bn.track_running_stats
            running = (bn.running_mean if keep_running else None,
                       bn.running_var if keep_running else None)
            training, eps = self.training or bn.running_mean is None, bn.eps
        # The op itself rather than the public function: the block's settings
        # were checked when it was built, and the op checks every tensor (the
        # Python layer was about a third of a block's host time).
        return _FUSED_OP(x, weight, bias, bn_weight, bn_bias, *running, list(conv.stride),
                         list(conv.padding), list(conv.output_padding), bn is not None,
                         training, float(eps), float(factor), self.activation,
                         float(self.negative_slope))[0]


def _check_activation(cls: str, activation: str, negative_slope: float) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{cls}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if activation == "leaky_relu" and not negative_slope > 0:
        raise ValueError(f"{cls}: negative_slope must be > 0, got {negative_slope}")


class ConvTransposeBNAct(_FusedBlock, nn.Sequential):

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
        _check_activation("ConvTransposeBNAct", activation, negative_slope)
        layers = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                     output_padding, bias=bias)]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels, eps, momentum, affine, track_running_stats))
        if activation != "none":
            layers.append(_ACT_MODULES[activation](negative_slope))
        super().__init__(*layers)
        self.norm, self.activation, self.negative_slope = norm, activation, negative_slope
        self.fused = fused

    def _conv(self) -> nn.ConvTranspose2d:
        return self._modules["0"]

    def _bn(self) -> nn.BatchNorm2d | None:
        return self._modules["1"] if self.norm else None

    def _bn_dtype_tensors(self) -> tuple:
        return (self._modules["1"].running_mean,) if self.norm else ()

    def forward(self, x: Tensor) -> Tensor:
        dtype = self._compute_dtype(x)
        if dtype is None:
            return super().forward(x)
        bn = self._bn()
        return self._fused_forward(x, dtype, *((bn.weight, bn.bias) if bn is not None
                                               else (None, None)))

    def extra_repr(self) -> str:
        return f"fused={self.fused}"



class ConditionalConvTransposeBNAct(_FusedBlock, nn.Module):
    """A transposed convolution, class-conditional batch norm and an
    activation: the batch statistics are per channel, as BatchNorm2d's, but
    the scale and shift are each sample's class's (rows of two embedding
    tables), as in the class-conditional generators of projection cGANs.

    Unfused, it is (and its ``state_dict`` keys are those of)::

        conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride,
                                  padding, output_padding, bias=bias)
        bn = nn.BatchNorm2d(out_channels, eps, momentum, affine=False)
        scale = nn.Embedding(num_classes, out_channels)  # initialised to ones
        shift = nn.Embedding(num_classes, out_channels)  # initialised to zeros
        out = act(bn(conv(x)) * scale(labels)[:, :, None, None]
                  + shift(labels)[:, :, None, None])

    (keys ``conv.weight``, ``conv.bias``, ``bn.running_mean``,
    ``bn.running_var``, ``bn.num_batches_tracked``, ``scale.weight``,
    ``shift.weight``). With ``fused`` (default) the forward looks up
    ``scale(labels)`` and ``shift(labels)`` ([N, out_channels]: the embedding
    tables get their gradients through torch's embedding backward) and makes
    one ``conv_transpose_bn_act`` call with them as per-sample parameters;
    the rest is :class:`ConvTransposeBNAct`'s fused path (channels-last weight
    on the CPU, running statistics and momentum None as BatchNorm2d, the
    unfused path where the op has no kernel or dtype).

    forward(x, labels): x [N, in_channels, H, W] (float32/float64 on the CPU;
    CUDA also float16/bfloat16 under autocast), labels int64 [N] in
    [0, num_classes) on x's device -> [N, out_channels, H', W'] with
    H' = (H - 1) * stride - 2 * padding + kernel_size + output_padding.
    Bad labels raise ValueError naming ``labels`` (the range check reads the
    values: one host sync on CUDA; under torch.compile it is left to
    embedding's own index check, so that the block traces whole).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, *, num_classes: int, bias: bool = True,
                 activation: str = "relu", negative_slope: float = 0.2, eps: float = 1e-5,
                 momentum: float | None = 0.1, fused: bool = True):
        _check_activation("ConditionalConvTransposeBNAct", activation, negative_slope)
        if type(num_classes) is not int or num_classes < 1:
            raise ValueError(f"ConditionalConvTransposeBNAct: num_classes must be an int >= 1, "
                             f"got {num_classes!r}")
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                       output_padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels, eps, momentum, affine=False)
        self.scale = nn.Embedding(num_classes, out_channels)
        self.shift = nn.Embedding(num_classes, out_channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)
        # In place is safe: the activation's input is the affine's fresh output.
        self.act = (_ACT_MODULES[activation](negative_slope) if activation != "none"
                    else nn.Identity())
        self.num_classes, self.activation, self.negative_slope = (num_classes, activation,
                                                                  negative_slope)
        self.fused = fused

    def _conv(self) -> nn.ConvTranspose2d:
        return self._modules["conv"]

    def _bn(self) -> nn.BatchNorm2d:
        return self._modules["bn"]

    def _bn_dtype_tensors(self) -> tuple:
        return (self._modules["bn"].running_mean, self._modules["scale"].weight,
                self._modules["shift"].weight)

    def _check_labels(self, x: Tensor, labels: Tensor) -> None:
        name = "ConditionalConvTransposeBNAct"
        if not isinstance(labels, Tensor):
            raise ValueError(f"{name}: labels must be an int64 tensor, got "
                             f"{type(labels).__name__}")
        if labels.dtype != torch.int64:
            raise ValueError(f"{name}: labels must be int64, got {labels.dtype}")
        n = x.shape[0] if x.dim() else None  # a bad x is the conv's to refuse
        if labels.dim() != 1 or labels.shape[0] != n:
            raise ValueError(f"{name}: labels must have shape [N]=[{n}] (x's batch), got "
                             f"{list(labels.shape)}")
        if labels.device != x.device:
            raise ValueError(f"{name}: labels is on {labels.device} but x is on {x.device}")
        # The range check reads values: a graph break under torch.compile,
        # which then splits the generator at every block (and recompiled the
        # unfused blocks' backward with dynamic shapes, which inductor failed
        # to compile). Compiled code keeps the static checks; embedding's own
        # index check stands in for this one there.
        if labels.numel() and not torch.compiler.is_compiling():
            low, high = torch.aminmax(labels)
            if low < 0 or high >= self.num_classes:
                raise ValueError(f"{name}: labels must be in [0, {self.num_classes}), got values "
                                 f"in [{int(low)}, {int(high)}]")

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        self._check_labels(x, labels)
        gamma, beta = self._modules["scale"](labels), self._modules["shift"](labels)
        dtype = self._compute_dtype(x)
        if dtype is None:
            y = self._modules["bn"](self._modules["conv"](x))
            return self._modules["act"](y * gamma[:, :, None, None] + beta[:, :, None, None])
        return self._fused_forward(x, dtype, gamma, beta)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, fused={self.fused}"
