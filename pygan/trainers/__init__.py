"""One base Trainer (the loop) and one trainer per GAN family."""
from .base import Trainer, TrainingDiverged
from .config import TrainConfig
from .dcgan import DCGANConfig, DCGANTrainer
from .gan import GANConfig, GANTrainer
from .seqgan import SeqGANConfig, SeqGANTrainer
from .wgan import WGANConfig, WGANTrainer

TRAINERS = {"gan": GANTrainer, "dcgan": DCGANTrainer, "wgan": WGANTrainer,
            "seqgan": SeqGANTrainer}

__all__ = ["Trainer", "TrainingDiverged", "TrainConfig", "GANConfig", "GANTrainer",
           "DCGANConfig", "DCGANTrainer", "WGANConfig", "WGANTrainer", "SeqGANConfig",
           "SeqGANTrainer", "TRAINERS"]
