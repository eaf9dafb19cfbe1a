"""DCGAN (Radford et al. 2016) generator and discriminator for square images
of 16, 32 or 64 pixels (28-pixel data is padded to 32), any channel count."""
from torch import Tensor, nn

from ..nn import ConvTransposeBNAct

SIZES = (16, 32, 64)


def _num_blocks(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES} (pad 28-pixel images to 32), "
                         f"got {image_size}")
    return image_size.bit_length() - 3  # 4 -> size in stride-2 doublings: 16: 2, 32: 3, 64: 4


class DCGANGenerator(nn.Module):
    """z [B, z_dim] (or [B, z_dim, 1, 1]) -> images [B, channels, size, size] in (-1, 1).

    ``blocks[i]`` is a :class:`pygan.nn.ConvTransposeBNAct` (ConvTranspose2d,
    BatchNorm2d, ReLU): the first maps 1x1 to 4x4, each next one doubles the
    size; the last block is ConvTranspose2d + Tanh. ``fused`` picks the fused
    op or the plain torch modules; the state_dict keys (``blocks.0.0.weight``,
    ``blocks.0.1.running_mean``, ...) are the same either way.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, z_dim: int = 100, ngf: int = 64,
                 fused: bool = True):
        super().__init__()
        n = _num_blocks(image_size)
        for name, value in (("channels", channels), ("z_dim", z_dim), ("ngf", ngf)):
            if value < 1:
                raise ValueError(f"DCGANGenerator: {name} must be >= 1, got {value}")
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64
        sizes = [(z_dim, widths[0], 1, 0)] + [(a, b, 2, 1) for a, b in zip(widths, widths[1:])]
        blocks = [ConvTransposeBNAct(a, b, 4, s, p, bias=False, fused=fused)
                  for a, b, s, p in sizes]
        blocks.append(ConvTransposeBNAct(widths[-1], channels, 4, 2, 1, bias=False, norm=False,
                                         activation="tanh", fused=fused))
        self.blocks = nn.Sequential(*blocks)
        self.apply(_dcgan_init)

    @property
    def fused(self) -> bool:
        return all(b.fused for b in self.blocks)

    @fused.setter
    def fused(self, value: bool) -> None:
        for b in self.blocks:
            b.fused = value

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        if z.dim() != 4 or z.shape[1:] != (self.z_dim, 1, 1):
            raise ValueError(f"DCGANGenerator expects z of shape [B, {self.z_dim}] or "
                             f"[B, {self.z_dim}, 1, 1], got {list(z.shape)}")
        return self.blocks(z)


class DCGANDiscriminator(nn.Module):
    """images [B, channels, size, size] -> scores [B] (logits, or WGAN critic
    scores: no sigmoid either way). Strided 4x4 convolutions with LeakyReLU(0.2),
    halving the size down to 4x4, then a 4x4 convolution to one output.
    ``norm`` is "batch" (DCGAN), "layer" (WGAN-GP: a per-example norm keeps the
    gradient penalty well defined) or "none"; the first layer is never normalised."""

    def __init__(self, image_size: int = 32, channels: int = 3, ndf: int = 64,
                 norm: str = "batch"):
        super().__init__()
        n = _num_blocks(image_size)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")
        self.image_size, self.channels = image_size, channels
        layers, c, size = [], channels, image_size
        for i in range(n):
            out = ndf * 2 ** i
            layers.append(nn.Conv2d(c, out, 4, 2, 1, bias=i == 0 or norm == "none"))
            size //= 2
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c = out
        layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, x: Tensor) -> Tensor:
        want = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"DCGANDiscriminator expects images of shape [B, {want[0]}, "
                             f"{want[1]}, {want[2]}], got {list(x.shape)}")
        return self.net(x).flatten()


def _dcgan_init(m: nn.Module) -> None:
    # The DCGAN paper's initialisation: N(0, 0.02) weights, BN scale N(1, 0.02).
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)

