"""DCGAN (Radford et al. 2016)."""
from dataclasses import dataclass
from typing import Literal

from .adversarial import BCETrainer, DCGANFields
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


class DCGANTrainer(BCETrainer):
    """DCGAN: convolutional generator and discriminator for images.

    Transposed-conv generator with BatchNorm+ReLU and Tanh output; strided
    conv discriminator with LeakyReLU; non-saturating loss. Images
    [N, C, S, S] in [-1, 1] with S = image_size (pad 28 to 32)."""

    family = "dcgan"
    config_class = DCGANConfig

    def build_models(self) -> None:
        self.build_dcgan(self.config)  # which checks that the data are images
