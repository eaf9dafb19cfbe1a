"""``rmsprop_clip_``: torch.optim.RMSprop's update, then a clamp to
[-clip, clip], for a whole list of tensors in one pass over memory.

Per fp32 parameter it reads p, g and square_avg and writes p and square_avg:
20 bytes, against ~60 for foreach RMSprop followed by foreach clamps.
"""
from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import as_reference, real_arg
from ._registry import has_kernel

_OP = "rmsprop_clip_"
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
        grads: one gradient per param: same shape, dtype, device, and strides
            (those of size-1 dimensions may differ).
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


# The fake kernel runs the kernels' own argument checks (a C++ op,
# csrc/rmsprop_clip_checks.cpp), so fake and meta tensors, and torch.compile
# at trace time, are refused as the kernels refuse them. It is also the Meta
# kernel: CPU params with meta grads dispatch here, and are named.
@torch.library.register_fake("pygan::rmsprop_clip_")
def _rmsprop_clip_fake(*args):
    torch.ops.pygan._rmsprop_clip_check(*args)


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
    # The kernels' hyperparameter rule, for the dtype the math runs in.
    math = torch.float64 if all(sq.dtype == torch.float64 for sq in square_avgs) else torch.float32
    with as_reference(_OP, "rmsprop_clip_reference"):
        torch.ops.pygan._rmsprop_clip_hyperparameter_check(math, lr, alpha, eps, weight_decay,
                                                           momentum, clip)
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
