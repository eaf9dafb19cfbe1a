"""Adversarial (AT) and virtual adversarial (VAT) perturbations of a
classifier's continuous input, e.g. word embeddings (Goodfellow et al. 2015;
Miyato et al. 2016, 2017).

The norm of a perturbation is taken per example, over every dimension but
the first: for embeddings [B, T, E] one vector of T * E numbers per sentence.
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _check

__all__ = ["l2_normalize", "at_perturbation", "vat_perturbation", "kl_with_logits"]


def _check_eps(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def l2_normalize(x: Tensor) -> Tensor:
    """x / ||x||_2 per example (over dims 1..), same shape, dtype, device.

    The norm is taken of x divided by its largest magnitude, so the tiny
    finite-difference gradients of VAT neither underflow nor overflow when
    squared; an all-zero example stays zero."""
    _check("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be [B, ...] with at least 2 dims, got {list(x.shape)}")
    dims = tuple(range(1, x.dim()))
    scale = x.abs().amax(dims, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    x = x / scale
    return x / x.square().sum(dims, keepdim=True).sqrt().clamp_min(1e-12)


def at_perturbation(gradient: Tensor, eps: float) -> Tensor:
    """The adversarial perturbation r = eps * g / ||g||_2 per example.

    ``gradient`` [B, ...]: the gradient g of the loss w.r.t. the input (e.g.
    ``torch.autograd.grad(loss, embedded, retain_graph=True)``). The result
    is detached (no gradient flows through r) with g's shape, dtype and device;
    an example whose gradient is zero gets r = 0."""
    _check_eps("eps", eps)
    return eps * l2_normalize(gradient.detach())


def kl_with_logits(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) of the categorical distributions softmax(p_logits) and
    softmax(q_logits), [B, C] each, summed over classes and averaged over
    the batch; a scalar."""
    _check("p_logits", p_logits)
    _check("q_logits", q_logits)
    if p_logits.dim() != 2 or p_logits.shape != q_logits.shape:
        raise ValueError(f"p_logits and q_logits must both be [B, C], got "
                         f"{list(p_logits.shape)} and {list(q_logits.shape)}")
    log_p, log_q = F.log_softmax(p_logits, 1), F.log_softmax(q_logits, 1)
    return (log_p.exp() * (log_p - log_q)).sum(1).mean()


def vat_perturbation(logits_fn: Callable[[Tensor], Tensor], x: Tensor, clean_logits: Tensor,
                     eps: float, xi: float = 0.1, iterations: int = 1,
                     generator: torch.Generator | None = None) -> Tensor:
    """The virtual adversarial perturbation of ``x``: the direction d that
    most increases KL(p(.|x) || p(.|x + d)), found by ``iterations`` steps of
    power iteration from a random direction, scaled to norm ``eps`` per example.

    Args:
        logits_fn: input [B, ...] -> logits [B, C] (the classifier from the
            perturbed input on; it should be deterministic, e.g. dropout off).
        x: [B, ...] floating input, e.g. embeddings [B, T, E]; not modified,
            no gradient flows into it from here.
        clean_logits: [B, C] logits at x (treated as constants). No labels
            are used, so unlabelled examples work.
        eps: the perturbation's norm (> 0); xi: the finite-difference step
            of the power iteration (> 0); iterations >= 1.
        generator: CPU generator for the random start (None: torch's global one).

    Returns r [B, ...], detached, like x, with ||r_b||_2 = eps for every b
    (0 where the KL has no gradient).
    """
    _check("x", x)
    _check("clean_logits", clean_logits)
    _check_eps("eps", eps)
    _check_eps("xi", xi)
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    if clean_logits.dim() != 2 or len(clean_logits) != len(x):
        raise ValueError(f"clean_logits must be [B, C] with B = {len(x)} (x's batch), "
                         f"got {list(clean_logits.shape)}")
    x, p = x.detach(), clean_logits.detach()
    d = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    for _ in range(iterations):
        d = (xi * l2_normalize(d)).requires_grad_(True)
        (d,) = torch.autograd.grad(kl_with_logits(p, logits_fn(x + d)), d)
    return eps * l2_normalize(d)
