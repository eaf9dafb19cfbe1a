"""Optimizers built on pygan's fused ops."""
from .clipped_rmsprop import ClippedRMSprop

__all__ = ["ClippedRMSprop"]
