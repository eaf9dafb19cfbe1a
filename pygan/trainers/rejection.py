"""Discriminator rejection sampling (Azadi et al. 2019): keep a generator
sample with a probability that grows with the discriminator's estimate of
p_data / p_g there, which thins out the blur between modes and tops up
under-sampled modes."""
from typing import Callable

import torch
from torch import Tensor

EPS = 1e-6  # keeps log(1 - exp(F)) finite at the largest logit seen
QUANTILE = 0.99  # the default gamma quantile


def check_arguments(n: int, quantile: float | None = QUANTILE, burn_in: int = 10_000,
                    batch: int = 10_000, max_proposals: int = 10_000_000) -> None:
    """Raises ValueError naming the first of :func:`rejection_sample`'s
    arguments that is out of range (callers with costly set-up check first)."""
    for name, value, low in (("n", n, 1), ("burn_in", burn_in, 1), ("batch", batch, 1),
                             ("max_proposals", max_proposals, n)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"rejection_sample: {name} must be an int >= {low}, got {value!r}")
    if quantile is not None and not 0.0 <= quantile <= 1.0:
        raise ValueError(f"rejection_sample: quantile must be in [0, 1] or None, got {quantile!r}")


@torch.no_grad()
def rejection_sample(propose: Callable[[int, int], Tensor], log_ratio: Callable[[Tensor], Tensor],
                     n: int, quantile: float | None = QUANTILE, burn_in: int = 10_000,
                     batch: int = 10_000, max_proposals: int = 10_000_000,
                     generator: torch.Generator | None = None) -> Tensor:
    """Draws ``n`` samples by discriminator rejection sampling.

    Args:
        propose: ``propose(i, k)`` returns the i-th batch of k generator
            samples [k, ...] (i = 0 is the burn-in; distinct i, distinct noise).
        log_ratio: samples [k, ...] -> [k] logits of the discriminator,
            log D / (1 - D), which for an optimal D is log p_data / p_g.
        n: samples to return (>= 1).
        quantile: gamma, the shift of the acceptance logit, is this quantile
            (in [0, 1]) of F over the burn-in batch, as in the paper: lower
            keeps more samples and corrects less. None: gamma = 0, plain
            rejection sampling (kept with probability exp(logit - M)), which
            keeps almost nothing when one region has an outlying logit.
        burn_in: proposals that estimate M, the largest logit (raised later
            whenever a batch exceeds it, gamma then taken again), and gamma;
            they are not returned.
        batch: proposals scored at a time.
        max_proposals: give up, with an error, after this many proposals.
        generator: CPU torch.Generator for the accept/reject draws.

    A proposal x with logit l is kept with probability sigmoid(F - gamma),
    F = l - M - log(1 - exp(l - M - 1e-6)), as in the paper.

    Returns [n, ...] accepted samples in proposal order, on propose's device.
    """
    check_arguments(n, quantile, burn_in, batch, max_proposals)

    def logits(x: Tensor) -> Tensor:
        out = log_ratio(x)
        if out.shape != (len(x),):
            raise ValueError(f"rejection_sample: log_ratio must return [{len(x)}] logits for "
                             f"{len(x)} samples, got {list(out.shape)}")
        if not torch.isfinite(out).all():
            raise FloatingPointError("rejection_sample: the discriminator returned NaN or inf "
                                     "logits")
        return out.double()

    def shifted(l: Tensor, m: Tensor) -> Tensor:
        return l - m - torch.log1p(-torch.exp(l - m - EPS))

    first = logits(propose(0, burn_in))

    def gamma(m: Tensor) -> Tensor | float:
        # Taken again whenever M rises: with gamma fixed, one outlying logit would lower
        # every later F and the acceptance with it.
        return 0.0 if quantile is None else torch.quantile(shifted(first, m), quantile)

    m = first.max()
    g = gamma(m)
    kept, count, proposed, i = [], 0, 0, 0
    while count < n:
        if proposed >= max_proposals:
            raise RuntimeError(f"rejection_sample: kept {count} of {proposed} proposals, fewer "
                               f"than n={n}; the discriminator rejects almost everything (lower "
                               f"quantile, or raise max_proposals)")
        i += 1
        x = propose(i, min(batch, max_proposals - proposed))
        l = logits(x)
        proposed += len(x)
        if l.max() > m:
            m = l.max()
            g = gamma(m)
        p = torch.sigmoid(shifted(l, m) - g)
        u = torch.rand(len(x), generator=generator, dtype=torch.float64).to(p.device)
        kept.append(x[u < p])
        count += len(kept[-1])
    return torch.cat(kept)[:n]
