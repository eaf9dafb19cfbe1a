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
    pack: int = 1  # PacGAN: D judges this many samples concatenated (1: the plain GAN)

    def validate(self) -> None:
        super().validate()
        if not (isinstance(self.pack, int) and self.pack >= 1):
            raise ValueError(f"pack must be an int >= 1, got {self.pack!r}")
        if self.batch_size % self.pack:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of pack "
                             f"({self.pack}): D sees batch_size / pack packed samples")


class GANTrainer(BCETrainer):
    """The original GAN: MLPs, minimax or non-saturating loss, k D-steps.

    The discriminator outputs logits (the sigmoid is in the loss); ``d_steps``
    (k) discriminator steps precede each generator step. Data: vectors [N, D]
    or a 2-D mixture sampler. With ``pack`` m > 1 (PacGAN, Lin et al. 2018)
    the discriminator scores groups of m samples, all real or all generated,
    concatenated into one [m * D] input, which penalises a generator whose
    samples lack the data's variety."""

    family = "gan"
    config_class = GANConfig

    def build_models(self) -> None:
        if len(self.data_shape) != 1:
            raise ValueError(f"GANTrainer takes vectors [N, D]; got examples of shape "
                             f"{list(self.data_shape)} (use DCGANTrainer for images)")
        self.build_mlps(self.config, pack=self.config.pack)

    def d_input(self, x):
        """[B, D] -> [B / pack, pack * D]: consecutive samples packed (after
        any instance noise)."""
        x = super().d_input(x)
        pack = self.config.pack
        if pack == 1:
            return x
        if len(x) % pack:
            raise ValueError(f"GANTrainer: a batch of {len(x)} samples cannot be packed in "
                             f"groups of {pack}")
        return x.reshape(len(x) // pack, pack * x.shape[1])
