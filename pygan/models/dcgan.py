"""DCGAN (Radford et al. 2016) generator and discriminator for square images
of 16, 32 or 64 pixels (28-pixel data is padded to 32), any channel count."""
from torch import Tensor, nn

SIZES = (16, 32, 64)


def _num_blocks(image_size: int) -> int:
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES} (pad 28-pixel images to 32), "
                         f"got {image_size}")
    return image_size.bit_length() - 3  # 4 -> size in stride-2 doublings: 16: 2, 32: 3, 64: 4


class DCGANGenerator(nn.Module):
    """z [B, z_dim] (or [B, z_dim, 1, 1]) -> images [B, channels, size, size] in (-1, 1).

    ``blocks[i]`` is ``Sequential(ConvTranspose2d, BatchNorm2d, ReLU)``: the
    first maps 1x1 to 4x4, each next one doubles the size; the last block is
    ``Sequential(ConvTranspose2d, Tanh)``. The state_dict keys
    (``blocks.0.0.weight``, ``blocks.0.1.running_mean``, ...) are those of the
    fused block module, so checkpoints load into either implementation.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, z_dim: int = 100, ngf: int = 64):
        super().__init__()
        n = _num_blocks(image_size)
        for name, value in (("channels", channels), ("z_dim", z_dim), ("ngf", ngf)):
            if value < 1:
                raise ValueError(f"DCGANGenerator: {name} must be >= 1, got {value}")
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64
        blocks = [self._block(z_dim, widths[0], 1, 0)]
        blocks += [self._block(a, b, 2, 1) for a, b in zip(widths, widths[1:])]
        blocks.append(nn.Sequential(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False),
                                    nn.Tanh()))
        self.blocks = nn.Sequential(*blocks)
        self.apply(_dcgan_init)

    @staticmethod
    def _block(c_in: int, c_out: int, stride: int, padding: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(True))

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

