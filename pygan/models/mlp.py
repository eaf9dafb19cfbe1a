"""Fully connected generator / discriminator for low-dimensional data."""
from torch import Tensor, nn


class Maxout(nn.Module):
    """[B, d_in] -> [B, width]: the largest of ``pieces`` linear maps per unit
    (Goodfellow et al. 2013; PacGAN's 2-D discriminator uses 5 pieces)."""

    def __init__(self, d_in: int, width: int, pieces: int):
        for name, value in (("d_in", d_in), ("width", width), ("pieces", pieces)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Maxout: {name} must be a positive int, got {value!r}")
        super().__init__()
        self.linear, self.pieces = nn.Linear(d_in, width * pieces), pieces

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(1, (-1, self.pieces)).amax(2)


class MLP(nn.Sequential):
    """``depth`` hidden layers of ``width`` units with ReLU (or LeakyReLU(0.2)
    when ``leaky``, or maxout of ``maxout`` pieces when that is > 1), each
    after a BatchNorm1d when ``batchnorm``, then a linear output:
    [B, d_in] -> [B, d_out]. PacGAN's 2-D generator uses BatchNorm; it is what
    lets a short run place samples tightly on the modes.

    A discriminator built from it outputs logits (or critic scores); the
    sigmoid lives in the losses, which is where it is numerically safe.
    """

    def __init__(self, d_in: int, d_out: int, width: int = 128, depth: int = 2,
                 leaky: bool = False, batchnorm: bool = False, maxout: int = 1):
        for name, value in (("d_in", d_in), ("d_out", d_out), ("width", width), ("depth", depth),
                            ("maxout", maxout)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MLP: {name} must be a positive int, got {value!r}")
        if maxout > 1 and batchnorm:
            raise ValueError("MLP: maxout layers take no BatchNorm (got maxout > 1 and batchnorm)")
        layers, d = [], d_in
        for _ in range(depth):
            if maxout > 1:
                layers += [Maxout(d, width, maxout)]
            else:
                layers += [nn.Linear(d, width), *([nn.BatchNorm1d(width)] if batchnorm else []),
                           nn.LeakyReLU(0.2) if leaky else nn.ReLU()]
            d = width
        super().__init__(*layers, nn.Linear(d, d_out))
        self.d_in = d_in

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"MLP expects input of shape [B, {self.d_in}], got {list(x.shape)}")
        return super().forward(x)
