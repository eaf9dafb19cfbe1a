"""Mode-collapse statistics on mixtures of Gaussians, as defined by PacGAN
(Lin et al. 2018): modes captured, % high-quality samples, reverse KL."""
import math

import torch
from torch import Tensor

from .frechet import check_matrices


def mode_stats(samples: Tensor, centers: Tensor, std: float) -> dict:
    """Scores generated samples against the modes of a Gaussian mixture.

    Args:
        samples: [N, D] generated points (D = 2 for the ring and grid), N >= 1,
            any real dtype, CPU or CUDA.
        centers: [K, D] mode centres, K >= 1; moved to samples' device.
        std: the mixture's per-mode standard deviation (> 0, finite).

    A sample is high quality when its nearest centre lies within 3 * std of
    it (boundary included); a sample with NaN or inf coordinates never is.

    Returns a dict:
        modes: int, number of modes whose neighbourhood got >= 1 HQ sample.
        high_quality: float, percentage (0..100) of samples that are HQ.
        reverse_kl: float, KL(q || uniform) = sum_k q_k log(q_k K) over the
            modes with q_k > 0, where q is the histogram of the HQ samples'
            nearest modes. 0 means every mode equally hit; log K, all HQ
            samples on one mode. float('inf') when no sample is HQ: there is
            no generated mode distribution to compare, and inf keeps "all
            samples off the modes" from looking like a good score.
    """
    check_matrices("mode_stats", "samples", samples, "centers", centers, min_rows=1,
                   finite=False)
    if not 0 < std < math.inf:
        raise ValueError(f"mode_stats: std must be positive and finite, got {std}")
    x = samples.to(torch.float64)
    c = centers.to(x.device, torch.float64)
    # The direct (non-matmul) path avoids cancellation error right at 3 std.
    dist = torch.cdist(x, c, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= 3 * std
    counts = torch.bincount(nearest[hq], minlength=len(c))
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = math.inf
    else:
        q = counts[counts > 0].to(torch.float64) / n_hq
        reverse_kl = (q * (q * len(c)).log()).sum().item()
    return {"modes": int((counts > 0).sum()), "high_quality": 100.0 * n_hq / len(x),
            "reverse_kl": reverse_kl}
