"""Class-conditional DCGAN generator (conditional batch norm) and a
discriminator with the heads the conditional families need: the projection
term of Miyato & Koyama (2018), an auxiliary classifier (ACGAN, Odena et
al. 2017) or InfoGAN's Q head (Chen et al. 2016)."""
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..nn import ConditionalConvTransposeBNAct, ConvTransposeBNAct
from .dcgan import DCGANDiscriminator, _dcgan_init, check_latent, generator_layout


def check_labels(model: str, labels: Tensor, n: int, num_classes: int) -> None:
    """ValueError naming ``labels`` unless they are int64 [n] in [0, num_classes)."""
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (n,):
        got = (f"{labels.dtype} {list(labels.shape)}" if isinstance(labels, Tensor)
               else type(labels).__name__)
        raise ValueError(f"{model}: labels must be int64 [{n}] (one class per sample), got {got}")
    if n and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise ValueError(f"{model}: labels must be in [0, {num_classes}), got values from "
                         f"{int(labels.min())} to {int(labels.max())}")


class ConditionalGenerator(nn.Module):
    """(z [B, z_dim] or [B, z_dim, 1, 1], labels int64 [B]) -> images
    [B, channels, size, size] in (-1, 1).

    The DCGAN generator with every BatchNorm made class-conditional: each
    block is a :class:`pygan.nn.ConditionalConvTransposeBNAct` (batch
    statistics shared by all classes, scale and shift looked up per sample
    from class embeddings, as in SNGAN/BigGAN), and the output block is
    ConvTranspose2d + Tanh. The first block also takes the label one-hot
    beside z (Mirza & Osindero's input conditioning): with conditional batch
    norm alone, whose scales start at 1, a 1,500-step ACGAN on Fashion-MNIST
    drew the class asked for 15% of the time, as often as chance. ``fused``
    picks the fused op or the unfused modules; the state_dict keys are the
    same either way.
    """

    def __init__(self, image_size: int = 32, channels: int = 1, z_dim: int = 100,
                 num_classes: int = 10, ngf: int = 64, fused: bool = True):
        super().__init__()
        for name, value in (("channels", channels), ("num_classes", num_classes)):
            if value < 1:
                raise ValueError(f"ConditionalGenerator: {name} must be >= 1, got {value}")
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        self.num_classes = num_classes
        sizes = generator_layout(image_size, z_dim + num_classes, ngf)
        self.blocks = nn.ModuleList(
            ConditionalConvTransposeBNAct(a, b, 4, s, p, num_classes=num_classes, bias=False,
                                          fused=fused) for a, b, s, p in sizes)
        self.output = ConvTransposeBNAct(sizes[-1][1], channels, 4, 2, 1, bias=False, norm=False,
                                         activation="tanh", fused=fused)
        self.apply(_dcgan_init)

    @property
    def fused(self) -> bool:
        return self.output.fused and all(b.fused for b in self.blocks)

    @fused.setter
    def fused(self, value: bool) -> None:
        for b in (*self.blocks, self.output):
            b.fused = value

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        z = check_latent("ConditionalGenerator", z, self.z_dim)
        check_labels("ConditionalGenerator", labels, len(z), self.num_classes)
        x = torch.cat([z, F.one_hot(labels, self.num_classes).to(z)[:, :, None, None]], 1)
        for block in self.blocks:
            x = block(x, labels)
        return self.output(x)


class HeadedDiscriminator(nn.Module):
    """images [B, channels, size, size] (and labels int64 [B] with
    ``projection``) -> (logits [B], aux [B, aux_outputs] or None).

    A :class:`DCGANDiscriminator` body whose features h (flattened,
    [B, F]) feed the real/fake logit w.h (its final convolution) plus, with
    ``projection``, <embed(labels), h> (Miyato & Koyama: the logit of
    p(y|x)-weighted realness), and an auxiliary head of ``aux_outputs``
    values: ACGAN's class logits (``aux_hidden`` 0: one linear layer) or
    InfoGAN's Q outputs (a hidden LeakyReLU layer of ``aux_hidden`` units,
    as its paper's FC-128 Q network). With norm "spectral" the embedding is
    spectrally normalised too.
    """

    def __init__(self, image_size: int = 32, channels: int = 1, ndf: int = 64,
                 norm: str = "batch", num_classes: int = 0, projection: bool = False,
                 aux_outputs: int = 0, aux_hidden: int = 0):
        super().__init__()
        if projection and num_classes < 1:
            raise ValueError(f"HeadedDiscriminator: projection needs num_classes >= 1, "
                             f"got {num_classes}")
        if aux_outputs < 0 or aux_hidden < 0:
            raise ValueError(f"HeadedDiscriminator: aux_outputs and aux_hidden must be >= 0, "
                             f"got {aux_outputs} and {aux_hidden}")
        self.body = DCGANDiscriminator(image_size, channels, ndf, norm)
        self.num_classes, self.projection = num_classes, projection
        width = self.body.feature_shape[0] * 16
        self.embed = None
        if projection:
            self.embed = nn.Embedding(num_classes, width)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
            if norm == "spectral":
                spectral_norm(self.embed)
        self.aux = None
        if aux_outputs and aux_hidden:
            self.aux = nn.Sequential(nn.Linear(width, aux_hidden), nn.LeakyReLU(0.2),
                                     nn.Linear(aux_hidden, aux_outputs))
        elif aux_outputs:
            self.aux = nn.Linear(width, aux_outputs)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        h = self.body.features(x)
        logits = self.body.net[-1](h).flatten()
        h = h.flatten(1)
        if self.projection:
            if labels is None:
                raise ValueError("HeadedDiscriminator: a projection discriminator needs labels")
            check_labels("HeadedDiscriminator", labels, len(x), self.num_classes)
            logits = logits + (self.embed(labels) * h).sum(1)
        return logits, None if self.aux is None else self.aux(h)
