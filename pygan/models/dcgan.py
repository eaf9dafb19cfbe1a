"""DCGAN (Radford et al. 2016) generator and discriminator for square images
of 16, 32 or 64 pixels (28-pixel data is padded to 32), any channel count."""
import itertools

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ..nn import ConvTransposeBNAct

SIZES = (16, 32, 64)


def _num_blocks(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES} (pad 28-pixel images to 32), "
                         f"got {image_size}")
    return image_size.bit_length() - 3  # 4 -> size in stride-2 doublings: 16: 2, 32: 3, 64: 4


def generator_layout(image_size: int, z_dim: int, ngf: int) -> list[tuple[int, int, int, int]]:
    """(in, out, stride, padding) of the 4x4 ConvTranspose2d+BN+ReLU blocks of a
    DCGAN generator: the first maps 1x1 to 4x4, each next doubles the size; the
    Tanh output block (widths[-1] -> channels, stride 2) follows them."""
    n = _num_blocks(image_size)
    for name, value in (("z_dim", z_dim), ("ngf", ngf)):
        if value < 1:
            raise ValueError(f"DCGAN generator: {name} must be >= 1, got {value}")
    widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64
    return [(z_dim, widths[0], 1, 0)] + [(a, b, 2, 1) for a, b in zip(widths, widths[1:])]


def check_latent(model: str, z: Tensor, z_dim: int) -> Tensor:
    """z [B, z_dim] or [B, z_dim, 1, 1] -> [B, z_dim, 1, 1], or ValueError."""
    if z.dim() == 2:
        z = z[:, :, None, None]
    if z.dim() != 4 or z.shape[1:] != (z_dim, 1, 1):
        raise ValueError(f"{model} expects z of shape [B, {z_dim}] or [B, {z_dim}, 1, 1], "
                         f"got {list(z.shape)}")
    return z


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
        if channels < 1:
            raise ValueError(f"DCGANGenerator: channels must be >= 1, got {channels}")
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        sizes = generator_layout(image_size, z_dim, ngf)
        blocks = [ConvTransposeBNAct(a, b, 4, s, p, bias=False, fused=fused)
                  for a, b, s, p in sizes]
        blocks.append(ConvTransposeBNAct(sizes[-1][1], channels, 4, 2, 1, bias=False, norm=False,
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
        return self.blocks(check_latent("DCGANGenerator", z, self.z_dim))


class DCGANDiscriminator(nn.Module):
    """images [B, channels, size, size] -> scores [B] (logits, or WGAN critic
    scores: no sigmoid either way). Strided 4x4 convolutions with LeakyReLU(0.2),
    halving the size down to 4x4, then a 4x4 convolution to one output.
    ``norm`` is "batch" (DCGAN), "layer" (WGAN-GP: a per-example norm keeps the
    gradient penalty well defined), "spectral" (every convolution's weight
    divided by its largest singular value, Miyato et al. 2018; no BN) or
    "none"; the first layer is never batch- or layer-normalised.
    :meth:`features` gives the last hidden activations [B, ndf * 2^(n-1), 4, 4]
    that the final convolution (a linear map of them) scores."""

    def __init__(self, image_size: int = 32, channels: int = 3, ndf: int = 64,
                 norm: str = "batch"):
        super().__init__()
        n = _num_blocks(image_size)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.image_size, self.channels = image_size, channels
        layers, c, size = [], channels, image_size
        for i in range(n):
            out = ndf * 2 ** i
            unnormalised = i == 0 or norm in ("none", "spectral")
            layers.append(nn.Conv2d(c, out, 4, 2, 1, bias=unnormalised))
            size //= 2
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c = out
        layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
        self.feature_shape = (c, 4, 4)
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)
        if norm == "spectral":  # after the init: the parametrization keeps the raw weight
            for layer in self.net:
                if isinstance(layer, nn.Conv2d):
                    spectral_norm(layer)

    def features(self, x: Tensor) -> Tensor:
        """images [B, channels, size, size] -> [B, *feature_shape]."""
        want = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"DCGANDiscriminator expects images of shape [B, {want[0]}, "
                             f"{want[1]}, {want[2]}], got {list(x.shape)}")
        for layer in itertools.islice(self.net, len(self.net) - 1):
            x = layer(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.net[-1](self.features(x)).flatten()


NORMS = ("batch", "layer", "spectral", "none")


def _dcgan_init(m: nn.Module) -> None:
    # The DCGAN paper's initialisation: N(0, 0.02) weights, BN scale N(1, 0.02).
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        # Drawn in a contiguous tensor: normal_ fills memory in order, so a fused block's
        # channels-last weight would get other values than the plain module from one seed.
        with torch.no_grad():
            m.weight.copy_(torch.empty(m.weight.shape).normal_(0.0, 0.02))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)

