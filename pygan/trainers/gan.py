"""The original GAN (Goodfellow et al. 2014) with MLPs."""
from dataclasses import dataclass
from typing import Literal

from .adversarial import BCETrainer, MLPFields
from .config import TrainConfig


@dataclass
class GANConfig(MLPFields, TrainConfig):
    """Defaults follow PacGAN's 2-D experiments (Adam 1e-4, beta1 0.5, batch 100)."""

    batch_size: int = 100
    loss: Literal["nonsaturating", "minimax"] = "nonsaturating"
    z_dim: int = 2
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999


class GANTrainer(BCETrainer):
    """The original GAN: MLPs, minimax or non-saturating loss, k D-steps.

    The discriminator outputs logits (the sigmoid is in the loss); ``d_steps``
    (k) discriminator steps precede each generator step. Data: vectors [N, D]
    or a 2-D mixture sampler."""

    family = "gan"
    config_class = GANConfig

    def build_models(self) -> None:
        if len(self.data_shape) != 1:
            raise ValueError(f"GANTrainer takes vectors [N, D]; got examples of shape "
                             f"{list(self.data_shape)} (use DCGANTrainer for images)")
        self.build_mlps(self.config)
