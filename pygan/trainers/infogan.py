"""InfoGAN (Chen et al. 2016): latent codes whose mutual information with
the generated image is maximised through a Q head sharing D's body."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import losses
from ..models import DCGANGenerator
from ..models.conditional import HeadedDiscriminator, check_labels
from .adversarial import SAMPLE_COUNT, AdversarialTrainer, DCGANFields
from .config import TrainConfig
from .labels import class_grid
from .runlog import save_image_grid


@dataclass
class InfoGANConfig(DCGANFields, TrainConfig):
    """The paper's MNIST set-up on the DCGAN networks: 62 noise variables, one
    10-way categorical code, 2 continuous codes uniform on [-1, 1], Adam with
    2e-4 for D and 1e-3 for G (beta1 0.5), lambda 1; the continuous codes'
    term is their Gaussian negative log-likelihood with unit variance
    (0.5 (c - mu)^2), weighted ``continuous_weight``."""

    z_dim: int = 62  # incompressible noise
    categories: int = 10  # values of the categorical code (0: none)
    continuous: int = 2  # continuous codes
    info_weight: float = 1.0  # lambda of the categorical code's cross-entropy
    continuous_weight: float = 0.1  # lambda of the continuous codes' term
    q_hidden: int = 128  # Q's hidden layer on D's features
    lr: float = 2e-4  # D (and Q)
    g_lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999

    def validate(self) -> None:
        super().validate()
        if self.categories == 1 or self.categories < 0:
            raise ValueError(f"categories must be 0 (none) or >= 2, got {self.categories}")
        if self.continuous < 0:
            raise ValueError(f"continuous must be >= 0, got {self.continuous}")
        if self.categories + self.continuous == 0:
            raise ValueError("InfoGAN needs a code: categories >= 2 or continuous >= 1")
        for name in ("info_weight", "continuous_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class InfoGANTrainer(AdversarialTrainer):
    """InfoGAN: categorical and continuous latent codes, a Q head on D's body.

    G takes [noise (z_dim), one-hot categorical code (categories),
    continuous codes (continuous)]. D's body gives the real/fake logit and
    Q's estimate of the codes (categorical logits, continuous means); the
    information term L_I (cross-entropy of the category, weighted
    ``info_weight``, plus ``continuous_weight`` x 0.5 (c - mu)^2 summed over
    the continuous codes) on generated images is added to both D's loss (so
    Q and D's body learn it) and G's, with the non-saturating GAN loss.
    Data: images [N, C, S, S] in [-1, 1] (no labels)."""

    family = "infogan"
    config_class = InfoGANConfig

    def build(self) -> None:
        c = self.config
        channels = self.image_channels(c)
        self.z_dim = c.z_dim
        self.code_dim = c.categories + c.continuous
        self.models["generator"] = DCGANGenerator(c.image_size, channels, c.z_dim + self.code_dim,
                                                  c.ngf, fused=c.fused)
        self.models["discriminator"] = HeadedDiscriminator(
            c.image_size, channels, c.ndf, "batch", aux_outputs=self.code_dim,
            aux_hidden=c.q_hidden)
        betas = (c.beta1, c.beta2)
        self.optimizers["generator"] = torch.optim.Adam(self.models["generator"].parameters(),
                                                        c.g_lr, betas)
        self.optimizers["discriminator"] = torch.optim.Adam(
            self.models["discriminator"].parameters(), c.lr, betas)

    def codes(self, n: int, generator: torch.Generator, labels: Tensor | None = None,
              continuous: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(categories int64 [n], continuous float32 [n, continuous]) on the CPU:
        the given ones (``labels`` in [0, categories)), else drawn from
        ``generator`` (uniform categories, continuous uniform on [-1, 1])."""
        c = self.config
        if labels is None:
            labels = torch.randint(max(c.categories, 1), (n,), generator=generator)
        elif c.categories == 0:
            raise ValueError("sample: this InfoGAN has no categorical code to set (labels)")
        else:
            check_labels("sample", labels, n, c.categories)
        if continuous is None:
            continuous = torch.rand(n, c.continuous, generator=generator) * 2 - 1
        elif not (isinstance(continuous, Tensor) and continuous.shape == (n, c.continuous)
                  and continuous.is_floating_point()):
            raise ValueError(f"sample: continuous must be a float tensor [{n}, {c.continuous}], "
                             f"got {continuous!r:.80}")
        return labels.cpu(), continuous.float().cpu()

    def generator_input(self, z: Tensor, labels: Tensor, continuous: Tensor) -> Tensor:
        """[n, z_dim + categories + continuous]: noise, one-hot code, continuous codes."""
        parts = [z]
        if self.config.categories:
            parts.append(F.one_hot(labels, self.config.categories).to(z))
        return torch.cat([*parts, continuous.to(z)], 1)

    def latent(self, n: int, generator: torch.Generator, labels: Tensor | None = None,
               continuous: Tensor | None = None):
        z = torch.randn(n, self.z_dim, generator=generator)
        return (self.generator_input(z, *self.codes(n, generator, labels, continuous)),)

    def info_loss(self, q: Tensor, labels: Tensor, continuous: Tensor) -> Tensor:
        """L_I of Q's outputs q [B, categories + continuous] for the codes used."""
        c, q = self.config, q.float()
        loss = q.new_zeros(())
        if c.categories:
            loss = loss + c.info_weight * F.cross_entropy(q[:, :c.categories], labels)
        if c.continuous:
            mu = q[:, c.categories:]
            loss = loss + c.continuous_weight * 0.5 * (mu - continuous).square().sum(1).mean()
        return loss

    def _fake(self, n: int):
        labels, continuous = self.codes(n, self.generator)
        labels, continuous = labels.to(self.device), continuous.to(self.device)
        z = self.generator_input(self.noise(n, self.z_dim), labels, continuous)
        return self.models["generator"](z), labels, continuous

    def d_step(self, batch):
        D, real = self.models["discriminator"], batch[0]
        with torch.no_grad(), self.autocast():
            fake, labels, continuous = self._fake(len(real))
        with self.autocast():
            real_out, _ = D(self.d_input(real))
            fake_out, q = D(self.d_input(fake))
        loss = losses.d_loss_bce(real_out.float(), fake_out.float(), self.real_label)
        info = self.info_loss(q, labels, continuous)
        self.optimize("loss_d", loss + info, self.optimizers["discriminator"], D)
        return {"loss_d": loss.detach(), "loss_info": info.detach()}

    def g_step(self):
        G, D = self.models["generator"], self.models["discriminator"]
        with self.autocast():
            fake, labels, continuous = self._fake(self.config.batch_size)
            out, q = D(self.d_input(fake))
        loss = losses.g_loss_nonsaturating(out.float())
        info = self.info_loss(q, labels, continuous)
        self.optimize("loss_g", loss + info, self.optimizers["generator"], G)
        return {"loss_g": loss.detach()}

    @torch.no_grad()
    def predict_codes(self, images: Tensor, chunk: int = 500) -> tuple[Tensor, Tensor]:
        """Q's reading of images [N, C, H, W]: (categories int64 [N] (argmax;
        zeros without a categorical code), continuous means float32 [N, continuous]),
        on the CPU, D in eval mode."""
        c, D = self.config, self.models["discriminator"]
        was_training = D.training
        D.eval()
        try:
            q = torch.cat([D(x.to(self.device))[1].float().cpu() for x in images.split(chunk)])
        finally:
            D.train(was_training)
        if not c.categories:
            return torch.zeros(len(q), dtype=torch.int64), q
        return q[:, :c.categories].argmax(1), q[:, c.categories:]

    def code_accuracy(self, images: Tensor, labels: Tensor) -> dict:
        """How well the categorical code recovers the true classes ``labels``
        (int64 [N]) of real ``images``: the accuracy of Q's category after the
        best one-to-one matching of code values to classes, and that matching."""
        from ..metrics.conditional import matched_accuracy

        if not self.config.categories:
            raise ValueError("code_accuracy: this InfoGAN has no categorical code")
        accuracy, mapping = matched_accuracy(self.predict_codes(images)[0], labels)
        return {"code_accuracy": accuracy, "code_to_class": mapping}

    def continuous_grid(self, code: int, steps: int = 8, span: float = 2.0,
                        seed: int | None = None) -> Tensor:
        """[categories * steps, C, H, W]: one row per category value, continuous
        code ``code`` swept from -span to span along the row, the other codes
        0 and the noise fixed within a row (InfoGAN's figure 2)."""
        c = self.config
        if not (isinstance(code, int) and 0 <= code < c.continuous):
            raise ValueError(f"continuous_grid: code must be in [0, {c.continuous}), got {code!r}")
        if not (isinstance(steps, int) and steps >= 2):
            raise ValueError(f"continuous_grid: steps must be an int >= 2, got {steps!r}")
        if not 0 < span < float("inf"):
            raise ValueError(f"continuous_grid: span must be a finite number > 0, got {span!r}")
        rows = max(c.categories, 1)
        labels = torch.arange(rows).repeat_interleave(steps)
        continuous = torch.zeros(rows * steps, c.continuous)
        continuous[:, code] = torch.linspace(-span, span, steps).repeat(rows)
        gen = torch.Generator().manual_seed(self.config.seed + 12345 if seed is None else seed)
        z = torch.randn(rows, 1, self.z_dim, generator=gen).expand(rows, steps, self.z_dim)
        return self.generate((self.generator_input(z.reshape(-1, self.z_dim), labels, continuous),))

    @property
    def num_classes(self) -> int:
        """The categorical code's values, what ``sample(labels=...)`` sets."""
        return self.config.categories

    def save_samples(self, path):
        if not self.config.categories:
            return save_image_grid(self.sample(SAMPLE_COUNT), path)
        per_class = max(1, SAMPLE_COUNT // self.config.categories)  # one row per code value
        return save_image_grid(class_grid(self, per_class), path, nrow=per_class)
