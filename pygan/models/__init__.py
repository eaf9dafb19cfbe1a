"""Generators and discriminators of the GAN families."""
from .conditional import ConditionalGenerator, HeadedDiscriminator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLP
from .oracle import OracleLSTM
from .seqgan import CNNTextDiscriminator, LSTMGenerator, rollout_completions
from .ssgan import ImageMLPGenerator, SSGANDiscriminator
from .text_classifier import NormalizedEmbedding, TextClassifier

__all__ = ["MLP", "DCGANGenerator", "DCGANDiscriminator", "LSTMGenerator", "CNNTextDiscriminator",
           "OracleLSTM", "rollout_completions", "SSGANDiscriminator", "ImageMLPGenerator",
           "TextClassifier", "NormalizedEmbedding", "ConditionalGenerator",
           "HeadedDiscriminator"]
