"""Fréchet distance and kernel inception distance (KID) between two sets of
feature vectors, plus the input check every feature metric shares."""
import torch
from torch import Tensor


def check_matrices(fn: str, a_name: str, a: Tensor, b_name: str, b: Tensor, min_rows: int,
                   finite: bool = True) -> None:
    """Raises ValueError, naming ``fn`` and the argument, unless ``a`` and
    ``b`` are 2-D tensors with the same number of columns, at least
    ``min_rows`` rows each and (when ``finite``) no NaN or inf."""
    for name, t in ((a_name, a), (b_name, b)):
        if not isinstance(t, Tensor) or t.dim() != 2:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{fn}: {name} must be a 2-D tensor [rows, dim], got {got}")
        if t.shape[0] < min_rows or t.shape[1] < 1:
            raise ValueError(f"{fn}: {name} needs at least {min_rows} row(s) and 1 column, "
                             f"got shape {tuple(t.shape)}")
        if finite and not torch.isfinite(t).all():
            raise ValueError(f"{fn}: {name} contains NaN or inf")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{fn}: {a_name} and {b_name} must have the same last dimension, "
                         f"got {a.shape[1]} and {b.shape[1]}")


def _covariance(x: Tensor, mean: Tensor) -> Tensor:
    """Unbiased [D, D] covariance of the rows of x."""
    centered = x - mean
    return centered.T @ centered / (len(x) - 1)


def _psd_sqrt(s: Tensor) -> Tensor:
    """Square root of a symmetric PSD matrix; eigenvalues that rounding made
    slightly negative are taken as 0."""
    vals, vecs = torch.linalg.eigh(s)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Args:
        feats_a: [N, D] floating tensor, any device, N >= 2, finite.
        feats_b: [M, D] on any device, M >= 2, finite.

    Returns ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) with
    unbiased (N - 1) covariances, computed in float64 on feats_a's device.
    Tr((S_a S_b)^{1/2}) is taken as Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}): the
    two matrices are similar, and the second is symmetric PSD, so symmetric
    eigendecompositions give it stably even when N < D makes S singular.
    """
    check_matrices("frechet_distance", "feats_a", feats_a, "feats_b", feats_b, min_rows=2)
    a = feats_a.to(torch.float64)
    b = feats_b.to(a.device, torch.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = _covariance(a, mu_a), _covariance(b, mu_b)
    root_a = _psd_sqrt(s_a)
    inner = root_a @ s_b @ root_a
    eig = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0)
    fd = (mu_a - mu_b).square().sum() + s_a.trace() + s_b.trace() - 2 * eig.sqrt().sum()
    return fd.item()


def _mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 of equal-size sets under k(x, y) = (x.y / D + 1)^3."""
    m, d = x.shape
    kernel = lambda p, q: (p @ q.T / d + 1) ** 3  # noqa: E731
    k_xx, k_yy = kernel(x, x), kernel(y, y)
    # Dropping the diagonals (k(x, x)) is what makes the estimate unbiased.
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum())
    return within / (m * (m - 1)) - 2 * kernel(x, y).mean()


def kid(feats_a: Tensor, feats_b: Tensor, subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Kernel inception distance (Binkowski et al. 2018).

    Args:
        feats_a: [N, D] floating tensor, any device, N >= 2, finite.
        feats_b: [M, D], M >= 2, finite; moved to feats_a's device.
        subsets: number of random subset pairs (>= 1).
        subset_size: rows drawn without replacement from each set per subset;
            min(subset_size, N, M) is used (>= 2).
        generator: torch.Generator that draws the subsets (its device is
            where the permutations are made); None uses torch's global RNG.

    Returns (mean, std) over subsets of the unbiased MMD^2 with the cubic
    polynomial kernel, in float64. The std is the population std (0 for one
    subset). Being unbiased, the estimate can be slightly negative when both
    sets come from one distribution.
    """
    check_matrices("kid", "feats_a", feats_a, "feats_b", feats_b, min_rows=2)
    if subsets < 1:
        raise ValueError(f"kid: subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"kid: subset_size must be >= 2, got {subset_size}")
    a = feats_a.to(torch.float64)
    b = feats_b.to(a.device, torch.float64)
    m = min(subset_size, len(a), len(b))
    perm_device = generator.device if generator is not None else "cpu"
    draw = lambda n: torch.randperm(n, generator=generator, device=perm_device)[:m]  # noqa: E731
    values = torch.stack([_mmd2_unbiased(a[draw(len(a)).to(a.device)],
                                         b[draw(len(b)).to(a.device)]) for _ in range(subsets)])
    return values.mean().item(), values.std(unbiased=False).item()
