"""``rmsprop_clip_``: torch.optim.RMSprop's update, then a clamp to
[-clip, clip], for a whole list of tensors in one pass over memory.

Per fp32 parameter it reads p, g and square_avg and writes p and square_avg:
20 bytes, against ~60 for foreach RMSprop followed by foreach clamps.
"""
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch._prims_common import is_non_overlapping_and_dense_or_false

from ._checks import dtype_name, layout_name, num, real_arg, require
from ._registry import has_kernel

_OP = "rmsprop_clip_"
_PARAM_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_HYPERPARAMETERS = ("lr", "alpha", "eps", "weight_decay", "momentum")
_LISTS = ("params", "grads", "square_avgs", "momentum_buffers", "grad_avgs")


def rmsprop_clip_(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    square_avgs: Sequence[Tensor],
    momentum_buffers: Sequence[Tensor] = (),
    grad_avgs: Sequence[Tensor] = (),
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    clip: float | None = None,
) -> None:
    """In-place RMSProp step (+ clamp) on every tensor of ``params``.

    Args:
        params: tensors to update, any shapes; float32, float64, float16 or
            bfloat16, all of one dtype, all on one device (CPU or CUDA).
            Each dense (contiguous, or channels_last and the like).
        grads: one gradient per param: same shape, strides, dtype, device.
        square_avgs: running means of g^2, same shapes and strides as params;
            float32 for float16/bfloat16 params, else the params' dtype.
        momentum_buffers: like square_avgs when ``momentum > 0``, else empty.
        grad_avgs: like square_avgs when ``centered``, else empty.
        lr, alpha, eps, weight_decay, momentum, centered, maximize: as in
            ``torch.optim.RMSprop`` (lr, eps, weight_decay, momentum >= 0;
            alpha in [0, 1]).
        clip: when given (> 0), each param is clamped to [-clip, clip] after
            its update (NaN passes through, as with ``torch.clamp``).

    Mutates params, square_avgs, momentum_buffers and grad_avgs, and bumps
    their version counters as torch's in-place ops do: a backward through a
    graph that saved one of them raises. Under grad mode none of them may
    require grad (the update has no derivative): call it under
    ``torch.no_grad()``, as optimizer steps run. No tensor it writes may
    share memory with another argument. Hyperparameters must be finite in
    the update's math type (float32 unless the params are float64).

    Runs the compiled kernel for CPU and CUDA tensors; on devices pygan has
    no kernel for (or a CUDA tensor with a CPU-only build) it runs
    :func:`rmsprop_clip_reference`. Invalid arguments raise RuntimeError
    naming the argument (TypeError for a list that is a Tensor or a
    hyperparameter that is not a number); so does the fake kernel, under
    torch.compile and FakeTensorMode.
    """
    for name, value in zip(_LISTS, (params, grads, square_avgs, momentum_buffers, grad_avgs)):
        if isinstance(value, Tensor):  # iterating it would update its rows one by one
            raise TypeError(f"rmsprop_clip_: {name} must be a sequence of tensors, got a Tensor")
    lr, alpha, eps, weight_decay, momentum = (
        real_arg(_OP, name, value)
        for name, value in zip(_HYPERPARAMETERS, (lr, alpha, eps, weight_decay, momentum)))
    clip = None if clip is None else real_arg(_OP, "clip", clip)
    device = params[0].device if len(params) else torch.device("cpu")
    if not has_kernel(_OP, device):
        return rmsprop_clip_reference(
            params, grads, square_avgs, momentum_buffers, grad_avgs, lr=lr, alpha=alpha,
            eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
            maximize=maximize, clip=clip)
    torch.ops.pygan.rmsprop_clip_.default(
        list(params), list(grads), list(square_avgs), list(momentum_buffers), list(grad_avgs),
        lr, alpha, eps, weight_decay, momentum, bool(centered), bool(maximize), clip)


def check_hyperparameters(op: str, in_float64: bool, values, clip, error=RuntimeError) -> None:
    """The hyperparameter rules of csrc/rmsprop_clip_args.h, in its words:
    (lr, alpha, eps, weight_decay, momentum) and clip finite in the update's
    math type (float32 unless ``in_float64``), where a larger value would
    turn every parameter into inf or NaN."""
    math = "float64" if in_float64 else "float32"
    hi = torch.finfo(getattr(torch, math)).max
    for name, value in zip(_HYPERPARAMETERS, values):
        top, why = (1.0, "") if name == "alpha" else (hi, f" (the update runs in {math})")
        require(0.0 <= value <= top, f"{op}: {name} must be in [0, {num(top)}]{why}, got "
                f"{num(value)}", error)
    if clip is not None:
        require(0.0 < clip <= hi, f"{op}: clip must be positive and finite (at most {num(hi)}: "
                f"the update runs in {math}), or None for no clamping, got {num(clip)}", error)


def _check_list(name, tensors, params, dtype) -> None:
    """check_rmsprop_list of csrc/rmsprop_clip_args.h."""
    require(len(tensors) == len(params),
            f"rmsprop_clip_: {name} has {len(tensors)} tensors but params has {len(params)}")
    device = params[0].device
    for i, (t, p) in enumerate(zip(tensors, params)):
        where = f"rmsprop_clip_: {name}[{i}]"
        require(t.device == device, f"{where} is on {t.device} but params[0] is on {device}")
        require(t.dtype == dtype,
                f"{where} has dtype {dtype_name(t.dtype)}, expected {dtype_name(dtype)}")
        require(t.layout == torch.strided, f"{where} must be a dense (strided) tensor, got "
                f"layout {layout_name(t.layout)}")
        require(is_non_overlapping_and_dense_or_false(t), f"{where} must be dense (contiguous "
                f"up to a permutation), got strides {list(t.stride())} for shape {list(t.shape)}")
        require(t.shape == p.shape,
                f"{where} has shape {list(t.shape)} but params[{i}] has shape {list(p.shape)}")
        require(all(st == sp for n, st, sp in zip(t.shape, t.stride(), p.stride()) if n > 1),
                f"{where} has strides {list(t.stride())} but "
                f"params[{i}] has strides {list(p.stride())}")


class _Span(NamedTuple):
    storage: int
    begin: int  # bytes into the storage
    end: int
    order: int  # the argument's position, so a message names the earlier one first
    index: int
    name: str
    written: bool


def _check_overlap(lists) -> None:
    """check_rmsprop_overlap of csrc/rmsprop_clip_args.h, on storages and
    offsets (fake and meta tensors have no data pointers)."""
    spans = []
    for order, (name, tensors, written) in enumerate(lists):
        for i, t in enumerate(tensors):
            if t.numel() == 0:
                continue
            begin = t.storage_offset() * t.element_size()
            spans.append(_Span(t.untyped_storage()._cdata, begin,
                               begin + t.numel() * t.element_size(), order, i, name, written))
    spans.sort(key=lambda s: (s.storage, s.begin))
    furthest = furthest_written = None
    for s in spans:
        if furthest is not None and furthest.storage != s.storage:
            furthest = furthest_written = None
        other = furthest if s.written else furthest_written
        if other is not None and s.begin < other.end:
            a, b = sorted((s, other), key=lambda x: (x.order, x.index))
            raise RuntimeError(
                f"rmsprop_clip_: {a.name}[{a.index}] and {b.name}[{b.index}] overlap in memory; "
                "the tensors the update writes (params, square_avgs, momentum_buffers, "
                "grad_avgs) must not share memory with any other argument")
        if furthest is None or s.end > furthest.end:
            furthest = s
        if s.written and (furthest_written is None or s.end > furthest_written.end):
            furthest_written = s


def _check_args(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps,
                weight_decay, momentum, centered, maximize, clip) -> None:
    """check_rmsprop_clip_args of csrc/rmsprop_clip_args.h, message for
    message, for the fake kernel."""
    dtype = params[0].dtype if params else torch.float64
    require(dtype in _PARAM_DTYPES, "rmsprop_clip_: params must be float32, float64, float16 "
            f"or bfloat16, got {dtype_name(dtype)}")
    check_hyperparameters(_OP, dtype == torch.float64, (lr, alpha, eps, weight_decay, momentum),
                          clip)
    if params:
        state = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
        _check_list("params", params, params, dtype)
        _check_list("grads", grads, params, dtype)
        _check_list("square_avgs", square_avgs, params, state)
        if momentum > 0:
            _check_list("momentum_buffers", momentum_buffers, params, state)
        if centered:
            _check_list("grad_avgs", grad_avgs, params, state)
    else:
        require(not grads and not square_avgs, f"rmsprop_clip_: params is empty but grads has "
                f"{len(grads)} tensors and square_avgs {len(square_avgs)}")
    require(momentum > 0 or not momentum_buffers, "rmsprop_clip_: momentum_buffers must be "
            f"empty when momentum is 0, got {len(momentum_buffers)} tensors")
    require(centered or not grad_avgs, "rmsprop_clip_: grad_avgs must be empty when centered "
            f"is False, got {len(grad_avgs)} tensors")
    _check_overlap([("params", params, True), ("grads", grads, False),
                    ("square_avgs", square_avgs, True),
                    ("momentum_buffers", momentum_buffers, True),
                    ("grad_avgs", grad_avgs, True)])


@torch.library.register_fake("pygan::rmsprop_clip_")
def _rmsprop_clip_fake(*args):
    # Also the Meta kernel: CPU params with meta grads dispatch here.
    _check_args(*args)


@torch.no_grad()
def rmsprop_clip_reference(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    square_avgs: Sequence[Tensor],
    momentum_buffers: Sequence[Tensor] = (),
    grad_avgs: Sequence[Tensor] = (),
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    clip: float | None = None,
) -> None:
    """Pure-PyTorch :func:`rmsprop_clip_`, operation for operation as
    ``torch.optim.RMSprop`` (single-tensor path) followed by ``clamp_``.

    Same arguments and effect; the math runs in the state dtype, so float16 and
    bfloat16 params are updated in float32 and rounded once per step. Accepts
    any strides and any device. Checks the list lengths and the
    hyperparameters (ValueError), not the tensors.
    """
    check_hyperparameters("rmsprop_clip_reference",
                          all(sq.dtype == torch.float64 for sq in square_avgs),
                          (lr, alpha, eps, weight_decay, momentum), clip, ValueError)
    n = len(params)
    expected = {"grads": (grads, n), "square_avgs": (square_avgs, n),
                "momentum_buffers": (momentum_buffers, n if momentum > 0 else 0),
                "grad_avgs": (grad_avgs, n if centered else 0)}
    for name, (lst, want) in expected.items():
        if len(lst) != want:
            raise ValueError(f"rmsprop_clip_reference: {name} has {len(lst)} tensors, "
                             f"expected {want}")
    for i, (p, g, sq) in enumerate(zip(params, grads, square_avgs)):
        pw, g = p.to(sq.dtype), g.to(sq.dtype)
        g = -g if maximize else g
        if weight_decay != 0:
            g = g.add(pw, alpha=weight_decay)
        sq.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if centered:
            ga = grad_avgs[i]
            ga.lerp_(g, 1 - alpha)
            avg = sq.addcmul(ga, ga, value=-1).sqrt_()
        else:
            avg = sq.sqrt()
        avg = avg.add_(eps)
        if momentum > 0:
            buf = momentum_buffers[i]
            buf.mul_(momentum).addcdiv_(g, avg)
            pw.add_(buf, alpha=-lr)
        else:
            pw.addcdiv_(g, avg, value=-lr)
        if clip is not None:
            pw.clamp_(-clip, clip)
        if pw is not p:
            p.copy_(pw)
