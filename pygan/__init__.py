"""pygan: generative adversarial network training for PyTorch, with fused
C++/CUDA kernels on the hot paths.

Importing pygan loads its operator library (``pygan._C``), which registers the
``torch.ops.pygan.*`` operators; the Python API wraps them.
"""
import torch  # noqa: F401  (torch's libraries must be loaded before pygan._C)

from . import _C  # noqa: F401  (registers torch.ops.pygan.*)
from . import data, losses, metrics, models, nn, ops, optim, trainers
from ._version import __version__

__all__ = ["data", "losses", "metrics", "models", "nn", "ops", "optim", "trainers", "__version__"]
