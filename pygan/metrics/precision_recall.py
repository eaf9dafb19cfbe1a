"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN
hyperspheres in feature space."""
import torch
from torch import Tensor

from .frechet import check_matrices

# Distance blocks hold about this many entries (64 MiB in float32), so the
# memory use stays flat whatever the set sizes.
_BLOCK_ENTRIES = 1 << 24


def _blocks(queries: Tensor, refs: Tensor):
    """Yields [rows, len(refs)] Euclidean distance blocks, row block by row block."""
    rows = max(1, _BLOCK_ENTRIES // len(refs))
    for block in queries.split(rows):
        yield torch.cdist(block, refs)


def _knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance of each row of x to its k-th nearest other row ([N])."""
    # Index k + 1 because each row's nearest is itself, at distance 0.
    return torch.cat([d.kthvalue(k + 1, dim=1).values for d in _blocks(x, x)])


def _coverage(queries: Tensor, refs: Tensor, radii: Tensor) -> float:
    """Fraction of queries inside at least one ball (refs[i], radii[i])."""
    inside = sum(int((d <= radii).any(dim=1).sum()) for d in _blocks(queries, refs))
    return inside / len(queries)


def precision_recall(real_feats: Tensor, fake_feats: Tensor, k: int = 3) -> dict:
    """Improved precision and recall of fake samples against real ones.

    Args:
        real_feats: [N, D] floating features of real samples, finite, any device.
        fake_feats: [M, D] features of generated samples; moved to
            real_feats' device.
        k: neighbourhood size, 1 <= k < N and k < M (the paper uses 3).

    Each point's radius is the distance to its k-th nearest neighbour in its
    own set (itself excluded). Precision is the fraction of fake points inside
    some real point's ball, recall the fraction of real points inside some fake
    point's ball. Distances are computed in float32 (float64 inputs stay
    float64), in row blocks: memory O((N + M) D) plus one block.

    Returns {"precision": float, "recall": float}, each in [0, 1].
    """
    check_matrices("precision_recall", "real_feats", real_feats, "fake_feats", fake_feats,
                   min_rows=2)
    if not 1 <= k < min(len(real_feats), len(fake_feats)):
        raise ValueError(f"precision_recall: k must satisfy 1 <= k < min(N, M) = "
                         f"{min(len(real_feats), len(fake_feats))}, got {k}")
    dtype = torch.float64 if real_feats.dtype == torch.float64 else torch.float32
    real = real_feats.to(dtype)
    fake = fake_feats.to(real.device, dtype)
    return {"precision": _coverage(fake, real, _knn_radii(real, k)),
            "recall": _coverage(real, fake, _knn_radii(fake, k))}
