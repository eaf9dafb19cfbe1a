"""WGAN (Arjovsky et al. 2017) with weight clipping, or WGAN-GP
(Gulrajani et al. 2017) with a gradient penalty."""
from dataclasses import dataclass

import torch

from .. import losses
from ..optim import ClippedRMSprop
from .adversarial import AdversarialTrainer, DCGANFields, MLPFields
from .config import TrainConfig
from .tricks import constant_d_steps, wgan_d_steps


@dataclass
class WGANConfig(MLPFields, DCGANFields, TrainConfig):
    """Clipping: RMSProp lr 5e-5, clip 0.01, n_critic 5 with 100 critic steps
    for the first 25 generator steps and every 500th. gradient_penalty: Adam
    (1e-4, betas 0/0.9), lambda 10, n_critic 5, no clipping. The architecture
    follows the data: MLPs for vectors, DCGAN (critic without sigmoid) for images."""

    z_dim: int = 0  # 0: 2 for vectors, 100 for images
    lr: float = 5e-5
    clip: float = 0.01
    n_critic: int = 5
    gradient_penalty: bool = False
    gp_lambda: float = 10.0
    gp_lr: float = 1e-4

    def validate(self) -> None:
        super().validate()
        for name in ("clip", "gp_lambda"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")


class WGANTrainer(AdversarialTrainer):
    """WGAN: a critic without sigmoid, weight clipping or a gradient penalty.

    Critic loss E[D(G(z))] - E[D(x)]; clipping uses ClippedRMSprop and the
    paper's critic schedule, the gradient penalty Adam and n_critic steps."""

    family = "wgan"
    config_class = WGANConfig

    def build(self) -> None:
        c = self.config
        images = len(self.data_shape) == 3
        self.z_dim = c.z_dim or (100 if images else 2)
        if images:
            # BatchNorm couples the examples a gradient penalty treats one by one.
            self.build_dcgan(c, norm="layer" if c.gradient_penalty else "batch")
        else:
            self.build_mlps(c)
        G, D = self.models["generator"], self.models["discriminator"]
        if c.gradient_penalty:
            self.optimizers["generator"] = torch.optim.Adam(G.parameters(), c.gp_lr, (0.0, 0.9))
            self.optimizers["discriminator"] = torch.optim.Adam(D.parameters(), c.gp_lr, (0.0, 0.9))
            self.d_steps = constant_d_steps(c.n_critic)
        else:
            self.optimizers["generator"] = torch.optim.RMSprop(G.parameters(), c.lr)
            self.optimizers["discriminator"] = ClippedRMSprop(D.parameters(), c.lr,
                                                              clip_value=c.clip)
            self.d_steps = wgan_d_steps(c.n_critic)

    def d_loss(self, real_out, fake_out):
        return losses.d_loss_wasserstein(real_out, fake_out)

    def g_loss(self, fake_out):
        return losses.g_loss_wasserstein(fake_out)

    def extra_d_loss(self, real, fake):
        if not self.config.gradient_penalty:
            return {}
        gp = losses.gradient_penalty(self.models["discriminator"], real, fake, self.generator)
        return {"gp": self.config.gp_lambda * gp}
