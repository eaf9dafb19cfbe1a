"""DCGAN (Radford et al. 2016)."""
from dataclasses import dataclass
from typing import Literal

import torch

from .. import losses
from .adversarial import AdversarialTrainer, DCGANFields
from .config import TrainConfig


@dataclass
class DCGANConfig(DCGANFields, TrainConfig):
    """The paper's settings: Adam(2e-4, betas 0.5/0.999), batch 128, z 100."""

    batch_size: int = 128
    loss: Literal["nonsaturating", "minimax"] = "nonsaturating"
    z_dim: int = 100
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


class DCGANTrainer(AdversarialTrainer):
    """DCGAN: convolutional generator and discriminator for images.

    Transposed-conv generator with BatchNorm+ReLU and Tanh output; strided
    conv discriminator with LeakyReLU; non-saturating loss. Images
    [N, C, S, S] in [-1, 1] with S = image_size (pad 28 to 32)."""

    family = "dcgan"
    config_class = DCGANConfig

    def build(self) -> None:
        c = self.config
        if len(self.data_shape) != 3:
            raise ValueError(f"DCGANTrainer takes images [N, C, H, W]; got examples of shape "
                             f"{list(self.data_shape)}")
        self.z_dim = c.z_dim
        self.build_dcgan(c)
        for name, model in self.models.items():
            self.optimizers[name] = torch.optim.Adam(model.parameters(), c.lr, (c.beta1, c.beta2))
        self._g_loss = losses.G_LOSSES[c.loss]

    def d_loss(self, real_out, fake_out):
        return losses.d_loss_bce(real_out, fake_out, self.real_label)

    def g_loss(self, fake_out):
        return self._g_loss(fake_out)
