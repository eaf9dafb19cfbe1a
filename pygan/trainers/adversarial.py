"""The discriminator and generator steps of the loss-based families (GAN,
DCGAN, WGAN): they differ in models, optimizers and loss pair only."""
import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .. import losses
from ..models import MLP, DCGANDiscriminator, DCGANGenerator
from .base import Trainer
from .rejection import QUANTILE, check_arguments, rejection_sample
from .runlog import save_image_grid, save_scatter

SAMPLE_COUNT = 64  # images in a grid (points in a scatter: 16x this)


@dataclass
class MLPFields:
    """MLP generator/discriminator sizes (PacGAN's 2-D experiments)."""

    g_width: int = 400
    g_depth: int = 4
    g_batchnorm: bool = True
    d_width: int = 200
    d_depth: int = 3
    d_maxout: int = 1  # pieces per unit of D's maxout layers (PacGAN: 5); 1: LeakyReLU


@dataclass
class DCGANFields:
    """DCGAN sizes; image_size must match the data (16, 32 or 64)."""

    image_size: int = 32
    ngf: int = 64
    ndf: int = 64
    fused: bool = True  # generator blocks run the fused conv_transpose_bn_act op


class AdversarialTrainer(Trainer):
    """Subclasses build ``generator`` and ``discriminator`` and set
    ``d_loss(real_out, fake_out)``, ``g_loss(fake_out)`` and ``z_dim``."""

    z_dim: int

    @classmethod
    def add_data_arguments(cls, parser) -> None:
        parser.add_argument("--data", required=True, help="ring, grid, digits, fashion-mnist, "
                            "or a directory (IDX files or images)")

    @classmethod
    def data_from_args(cls, args, config):
        from ..data import load_named

        data, _ = load_named(args.data, "train", getattr(config, "image_size", None))
        return data, {"data": args.data}

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_d_loss(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Terms added to the discriminator loss (e.g. a gradient penalty)."""
        return {}

    def d_step(self, batch):
        G, D = self.models["generator"], self.models["discriminator"]
        real = batch[0]
        with torch.no_grad(), self.autocast():
            fake = G(self.noise(len(real), self.z_dim))
        with self.autocast():
            loss = self.d_loss(D(self.d_input(real)), D(self.d_input(fake)))
        extra = self.extra_d_loss(real, fake)
        total = loss + sum(extra.values())
        self.optimize("loss_d", total, self.optimizers["discriminator"], D)
        return {"loss_d": loss.detach(), **{k: v.detach() for k, v in extra.items()}}

    def g_step(self):
        G, D = self.models["generator"], self.models["discriminator"]
        with self.autocast():
            loss = self.g_loss(D(self.d_input(G(self.noise(self.config.batch_size, self.z_dim)))))
        self.optimize("loss_g", loss, self.optimizers["generator"], G)
        return {"loss_g": loss.detach()}

    def latent(self, n: int, generator: torch.Generator, **conditions) -> tuple[Tensor, ...]:
        """The generator's inputs for ``n`` samples, CPU tensors with the
        samples on dim 0: (z [n, z_dim],) drawn from ``generator``. Conditional
        families add their inputs (e.g. class labels) and take ``conditions``."""
        if conditions:
            raise ValueError(f"sample: a {self.family} generator takes no "
                             f"{', '.join(sorted(conditions))}")
        return (torch.randn(n, self.z_dim, generator=generator),)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, chunk: int = 500, **conditions) -> Tensor:
        """[n, ...] float32 samples on the trainer's device from the generator
        (its EMA when enabled) in eval mode, ``chunk`` at a time; the same
        ``seed`` gives the same noise, so grids are comparable across steps.
        ``conditions`` go to :meth:`latent` (e.g. ``labels`` of a conditional
        family)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"sample: n must be a positive int, got {n!r}")
        gen = torch.Generator().manual_seed(self.config.seed + 12345 if seed is None else seed)
        return self.generate(self.latent(n, gen, **conditions), chunk)

    @torch.no_grad()
    def generate(self, inputs: tuple[Tensor, ...], chunk: int = 500) -> Tensor:
        """The sampling generator (its EMA when enabled) in eval mode on
        ``inputs`` (CPU tensors with the samples on dim 0, what :meth:`latent`
        gives), ``chunk`` samples at a time: float32 [n, ...] on the device."""
        G = self.sampler()
        was_training = G.training
        G.eval()
        try:
            return torch.cat([G(*(t[i:i + chunk].to(self.device) for t in inputs)).float()
                              for i in range(0, len(inputs[0]), chunk)])
        finally:
            G.train(was_training)

    def save_samples(self, path: Path) -> Path:
        if self.image_data:
            return save_image_grid(self.sample(SAMPLE_COUNT), path)
        return save_scatter(self.sample(16 * SAMPLE_COUNT), path)

    # -- shared builders -----------------------------------------------------
    @property
    def image_data(self) -> bool:
        return len(self.data_shape) == 3

    def build_mlps(self, config: MLPFields, leaky_d: bool = True, pack: int = 1) -> None:
        """G: z -> [D]; D: [pack * D] (pack samples concatenated) -> one logit."""
        dim = self.data_shape[0]
        self.models["generator"] = MLP(self.z_dim, dim, config.g_width, config.g_depth,
                                       batchnorm=config.g_batchnorm)
        self.models["discriminator"] = MLP(pack * dim, 1, config.d_width, config.d_depth,
                                           leaky=leaky_d, maxout=config.d_maxout)

    def image_channels(self, config: DCGANFields) -> int:
        """The channel count of the data's images, after checking that they
        are [C, S, S] with S = ``config.image_size``."""
        if len(self.data_shape) != 3:
            raise ValueError(f"{type(self).__name__} takes images [N, C, H, W]; got examples of "
                             f"shape {list(self.data_shape)}")
        c, h, w = self.data_shape
        if h != w or h != config.image_size:
            raise ValueError(f"image_size is {config.image_size} but the images are {h}x{w}; "
                             f"pad or resize the data to {config.image_size}")
        return c

    def build_dcgan(self, config: DCGANFields, norm: str = "batch") -> None:
        c = self.image_channels(config)
        self.models["generator"] = DCGANGenerator(config.image_size, c, self.z_dim, config.ngf,
                                                  fused=config.fused)
        self.models["discriminator"] = DCGANDiscriminator(config.image_size, c, config.ndf, norm)


class BCETrainer(AdversarialTrainer):
    """GAN and DCGAN: the discriminator's logits through the BCE loss (with
    one-sided label smoothing), the generator's minimax or non-saturating
    loss (``config.loss``), Adam(lr, (beta1, beta2)) on both networks.
    Subclasses build the two models in ``build_models``."""

    def build_models(self) -> None:
        raise NotImplementedError

    def build(self) -> None:
        c = self.config
        self.z_dim = c.z_dim
        self.build_models()
        for name, model in self.models.items():
            self.optimizers[name] = torch.optim.Adam(model.parameters(), c.lr, (c.beta1, c.beta2))

    def d_loss(self, real_out, fake_out):
        return losses.d_loss_bce(real_out, fake_out, self.real_label)

    def g_loss(self, fake_out):
        return losses.G_LOSSES[self.config.loss](fake_out)

    def calibrated_discriminator(self, steps: int, lr: float = 1e-3) -> torch.nn.Module:
        """A copy of D trained ``steps`` more batches against the generator as
        it now is (frozen, sampled as :meth:`sample` samples), with Adam at
        ``lr`` falling linearly to 0 and the plain BCE loss (no label
        smoothing or instance noise), so its logit nears log p_data / p_g for
        this generator. GAN training stops far from that optimum. The
        trainer's RNG and data position are restored afterwards: D, G and
        later training are untouched."""
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"calibrated_discriminator: steps must be an int >= 1, got {steps!r}")
        if not lr > 0:
            raise ValueError(f"calibrated_discriminator: lr must be > 0, got {lr!r}")
        if not self.has_data:
            raise ValueError("calibrated_discriminator trains on real data, and this trainer has "
                             "none: reopen the run with open_run(run_dir, data=...)")
        D = copy.deepcopy(self.models["discriminator"]).train().requires_grad_(True)
        G = self.sampler()
        was_training = G.training
        G.eval()
        rng, source = self.generator.get_state(), self.source.state_dict()
        opt = torch.optim.Adam(D.parameters(), lr, (self.config.beta1, self.config.beta2))
        # The decay settles D near the optimum; at a constant rate Adam keeps it jittering.
        decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps)
        try:
            for _ in range(steps):
                real = self.next_batch()[0]
                with torch.no_grad():
                    fake = G(self.noise(len(real), self.z_dim))
                loss = losses.d_loss_bce(D(real), D(fake))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                decay.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"calibrated_discriminator: the loss is {loss.item()} "
                                         f"after {steps} steps; lower lr")
        finally:
            G.train(was_training)
            self.generator.set_state(rng)
            self.source.load_state_dict(source)
        return D.eval()

    def rejection_sample(self, n: int, seed: int | None = None, quantile: float | None = QUANTILE,
                         calibrate_steps: int = 0, calibrate_lr: float = 1e-3,
                         **kwargs) -> Tensor:
        """[n, ...] float32 samples from the generator (seeded like
        :meth:`sample`), thinned by discriminator rejection sampling
        (:func:`~pygan.trainers.rejection.rejection_sample`, whose keyword
        arguments pass through) with D in eval mode: the trained D, or with
        ``calibrate_steps`` > 0 the :meth:`calibrated_discriminator`, as
        Azadi et al. train D further with G fixed. A packed D (PacGAN) scores
        groups, not samples, and is refused."""
        if getattr(self.config, "pack", 1) != 1:
            raise ValueError(f"rejection_sample: a packed discriminator (pack="
                             f"{self.config.pack}) scores groups of samples, not one sample")
        for key in ("batch", "burn_in"):  # a batch of images costs far more memory than points
            kwargs.setdefault(key, 1000 if self.image_data else 10_000)
        check_arguments(n, quantile, **kwargs)  # before a calibration of minutes
        if calibrate_steps:
            D = self.calibrated_discriminator(calibrate_steps, calibrate_lr)
        else:
            D = self.models["discriminator"]
        base = self.config.seed + 12345 if seed is None else seed
        was_training = D.training
        D.eval()
        try:
            return rejection_sample(lambda i, k: self.sample(k, seed=base + 7919 * i),
                                    lambda x: torch.cat([D(part).float().reshape(len(part))
                                                         for part in x.split(500)]),
                                    n, quantile, generator=torch.Generator().manual_seed(base),
                                    **kwargs)
        finally:
            D.train(was_training)
