"""Generators and discriminators of the GAN families."""
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLP

__all__ = ["MLP", "DCGANGenerator", "DCGANDiscriminator"]
