"""One base Trainer (the loop) and one trainer per GAN family."""
from .adv_text import AdvTextConfig, AdvTextTrainer
from .base import Trainer, TrainingDiverged
from .cgan import CGANConfig, CGANTrainer
from .config import TrainConfig
from .dcgan import DCGANConfig, DCGANTrainer
from .gan import GANConfig, GANTrainer
from .infogan import InfoGANConfig, InfoGANTrainer
from .seqgan import SeqGANConfig, SeqGANTrainer
from .ssgan import SSGANConfig, SSGANTrainer
from .wgan import WGANConfig, WGANTrainer

TRAINERS = {"gan": GANTrainer, "dcgan": DCGANTrainer, "wgan": WGANTrainer,
            "ssgan": SSGANTrainer, "adv-text": AdvTextTrainer,
            "seqgan": SeqGANTrainer, "cgan": CGANTrainer, "infogan": InfoGANTrainer}

__all__ = ["Trainer", "TrainingDiverged", "TrainConfig", "GANConfig", "GANTrainer",
           "DCGANConfig", "DCGANTrainer", "WGANConfig", "WGANTrainer", "SSGANConfig",
           "SSGANTrainer", "AdvTextConfig", "AdvTextTrainer", "SeqGANConfig", "SeqGANTrainer",
           "CGANConfig", "CGANTrainer", "InfoGANConfig", "InfoGANTrainer", "TRAINERS"]
