"""2-D Gaussian mixtures for mode-collapse experiments (PacGAN protocol).

``ring()`` is 8 modes on the unit circle with std 0.01 and ``grid()`` 25 modes
at {-4, -2, 0, 2, 4}^2 with std 0.05, the settings under which PacGAN and
VEEGAN report mode counts. A sample is "high quality" within 3 std of its
nearest centre; ``Mixture.centers`` is what the metrics measure against.
"""
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


def _check_int(name: str, value, minimum: int) -> None:
    # bool is an int subclass; mixture(modes=True) is a bug, not one mode.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


# eq=False: the generated __eq__ would compare tensors, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class Mixture:
    """An equal-weight mixture of isotropic 2-D Gaussians.

    Attributes:
        name: the mixture's name ("ring", "grid").
        centers: [K, 2] float32 CPU tensor of mode centres (converted on construction).
        std: standard deviation of every component, > 0.
    """

    name: str
    centers: Tensor
    std: float

    def __post_init__(self):
        if not isinstance(self.centers, Tensor) or self.centers.dim() != 2 \
                or self.centers.shape[0] < 1 or self.centers.shape[1] != 2:
            got = tuple(self.centers.shape) if isinstance(self.centers, Tensor) \
                else type(self.centers).__name__
            raise ValueError(f"Mixture: centers must be a [K, 2] tensor with K >= 1, got {got}")
        _check_positive("Mixture: std", self.std)
        object.__setattr__(self, "centers", self.centers.detach().to("cpu", torch.float32))

    @property
    def num_modes(self) -> int:
        """K, the number of components."""
        return self.centers.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """[n, 2] float32 CPU samples: a uniformly chosen centre plus N(0, std^2 I) noise.

        The same CPU ``generator`` state gives the same samples; move the
        result with ``.to(device)``.
        """
        _check_int("n", n, 0)
        mode = torch.randint(self.num_modes, (n,), generator=generator)
        return self.centers[mode] + self.std * torch.randn(n, 2, generator=generator)


def ring(modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
    """``modes`` centres evenly spaced on a circle of ``radius`` around the
    origin, the first at (radius, 0)."""
    _check_int("modes", modes, 1)
    _check_positive("radius", radius)
    _check_positive("std", std)
    angle = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centers = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return Mixture("ring", centers, float(std))


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """``side`` x ``side`` centres ``spacing`` apart, centred on the origin
    (the defaults give {-4, -2, 0, 2, 4}^2), in row-major (x, then y) order."""
    _check_int("side", side, 1)
    _check_positive("spacing", spacing)
    _check_positive("std", std)
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return Mixture("grid", torch.stack([xs, ys], dim=-1).reshape(-1, 2), float(std))


MIXTURES: dict[str, Callable[[], Mixture]] = {"ring": ring, "grid": grid}


def mixture(name: str) -> Mixture:
    """The named mixture with its reference settings: ``mixture("ring")`` or ``mixture("grid")``."""
    if not isinstance(name, str) or name not in MIXTURES:
        raise ValueError(f"unknown mixture {name!r}: choose one of {', '.join(MIXTURES)}")
    return MIXTURES[name]()
