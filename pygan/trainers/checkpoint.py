"""Checkpoint files: one torch.save'd dict, written atomically."""
import os
import tempfile
from pathlib import Path

import torch

FORMAT = "pygan-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Writes payload (plus format tags) to a temporary file beside ``path``,
    flushes it to disk, and renames it over ``path``: a crash at any moment
    leaves either the old checkpoint or the new one, never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint written by :func:`save_checkpoint` (tensors on the
    CPU). Raises FileNotFoundError for a missing file and ValueError naming
    the file for a truncated, corrupt or foreign one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for torn zip archives
        raise ValueError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a pygan checkpoint")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')}, this pygan "
                         f"reads version {VERSION}")
    return payload
