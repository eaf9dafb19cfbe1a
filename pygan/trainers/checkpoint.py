"""Checkpoint files: one dict per run, written atomically."""
import os
from pathlib import Path

from ..serialization import load_tagged, save_tagged

FORMAT = "pygan-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Writes a checkpoint atomically (see :func:`pygan.serialization.save_tagged`)."""
    return save_tagged(path, FORMAT, VERSION, payload)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint; FileNotFoundError if missing, ValueError naming the
    file if truncated, corrupt or not a pygan checkpoint."""
    return load_tagged(path, FORMAT, VERSION, "checkpoint")
