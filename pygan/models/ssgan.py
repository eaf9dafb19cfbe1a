"""Semi-supervised GAN (Salimans et al. 2016) models: a discriminator that
is a classifier returning its logits and the features the generator's
feature matching uses, and an MLP generator for small images."""
import math

import torch
from torch import Tensor, nn

from .mlp import MLP

D_ARCHS = ("conv", "mlp")


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode (Salimans et al.'s MNIST
    discriminator regulariser); the identity in eval mode. Draws from
    torch's global RNG, which checkpoints save."""

    def __init__(self, std: float):
        super().__init__()
        if not std >= 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)


class SSGANDiscriminator(nn.Module):
    """images [B, C, H, W] -> (logits [B, num_outputs], features [B, F]).

    ``num_outputs`` is K (implicit fake class) or K + 1 (explicit). The
    features are the last hidden layer, which feature matching compares.
    ``arch``:

    - "conv": Gaussian input noise (std ``noise``), then 3x3 convolutions
      of width (stride 2), 2*width (stride 2) and 4*width channels with
      LeakyReLU(0.2), dropout after each stride, global average pooling
      (F = 4 * width). No BatchNorm: the real, fake and labelled batches pass
      separately and must not share statistics.
    - "mlp": Salimans et al.'s MNIST net: Gaussian noise (std ``noise``) on
      the input, then ReLU layers of 1000-500-250-250-250 units (scaled by
      width / 64) with noise std 0.5 between them and before the output
      (F = the last layer's units, before its noise).

    ``weight_norm`` reparametrises every linear and convolution layer as
    w = g * v / ||v|| (Salimans & Kingma 2016, as Salimans et al.'s
    semi-supervised nets do), with g starting at ||v|| of the He
    initialisation; :meth:`init_from_data` is their data-dependent start.

    Any H and W for "conv"; "mlp" is built for the given image shape.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_outputs: int, arch: str = "conv",
                 width: int = 64, noise: float = 0.3, dropout: float = 0.5,
                 weight_norm: bool = False):
        super().__init__()
        if arch not in D_ARCHS:
            raise ValueError(f"arch must be one of {D_ARCHS}, got {arch!r}")
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
        for name, value in (("num_outputs", num_outputs), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SSGANDiscriminator: {name} must be a positive int, "
                                 f"got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"SSGANDiscriminator: dropout must be in [0, 1), got {dropout}")
        self.image_shape = tuple(image_shape)
        if arch == "conv":
            w, layers, c = width, [GaussianNoise(noise)], image_shape[0]
            for out, stride in ((w, 2), (2 * w, 2), (4 * w, 1)):
                layers += [nn.Conv2d(c, out, 3, stride, 1), nn.LeakyReLU(0.2)]
                layers += [nn.Dropout(dropout)] if stride == 2 else []
                c = out
            self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            sizes = [max(1, round(s * width / 64)) for s in (1000, 500, 250, 250, 250)]
            layers, d = [nn.Flatten(), GaussianNoise(noise)], math.prod(image_shape)
            for i, s in enumerate(sizes):
                layers += [GaussianNoise(0.5)] if i else []
                layers += [nn.Linear(d, s), nn.ReLU()]
                d = s
            self.body, c = nn.Sequential(*layers), d
        self.head = nn.Sequential(*([GaussianNoise(0.5)] if arch == "mlp" else []),
                                  nn.Linear(c, num_outputs))
        self.apply(_he_init)
        self.weight_norm = weight_norm
        if weight_norm:
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.utils.parametrizations.weight_norm(m)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> None:
        """Salimans & Kingma's data-dependent initialisation: one forward pass
        over the images ``x`` [B, C, H, W] (B >= 2) in which every weight-
        normalised layer, in order, rescales g and shifts its bias so that each
        unit's output over the batch (and positions) has mean 0 and std 1."""
        if not self.weight_norm:
            raise ValueError("init_from_data needs weight_norm=True")
        if x.dim() != 4 or len(x) < 2:
            raise ValueError(f"init_from_data needs a batch of at least 2 images, got "
                             f"{list(x.shape)}")

        def standardise(layer, _inputs, out):
            dims = [0, *range(2, out.dim())]
            mean, std = out.mean(dims), out.std(dims, unbiased=False) + 1e-6
            g = layer.parametrizations.weight.original0
            g.div_(std.view(g.shape))
            layer.bias.sub_(mean).div_(std)
            unit = [1, -1] + [1] * (out.dim() - 2)
            return (out - mean.view(unit)) / std.view(unit)  # what the new weights give

        layers = [m for m in self.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        hooks = [m.register_forward_hook(standardise) for m in layers]
        try:
            self(x)
        finally:
            for h in hooks:
                h.remove()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"SSGANDiscriminator expects images [B, "
                             f"{', '.join(map(str, self.image_shape))}], got {list(x.shape)}")
        features = self.body(x)
        return self.head(features), features


def _he_init(m: nn.Module) -> None:
    # He initialisation keeps the activations' scale through the ReLU layers; torch's
    # default shrinks it layer by layer until the noise layers drown the signal.
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_normal_(m.weight, a=0.2 if isinstance(m, nn.Conv2d) else 0.0)
        nn.init.zeros_(m.bias)


class ImageMLPGenerator(nn.Sequential):
    """z [B, z_dim] -> images [B, C, H, W] in (-1, 1): an MLP of ``depth``
    hidden layers of ``width`` units with BatchNorm and ReLU, Tanh, reshape
    (Salimans et al.'s MNIST generator: 500-500 with BatchNorm)."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int = 500,
                 depth: int = 2):
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
        super().__init__(MLP(z_dim, math.prod(image_shape), width, depth, batchnorm=True),
                         nn.Tanh(), nn.Unflatten(1, tuple(image_shape)))
        self.z_dim = z_dim
