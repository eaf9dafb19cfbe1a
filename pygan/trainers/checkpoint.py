"""Checkpoint files: one dict per run, written atomically, checked on load.

A checkpoint holds family, config, meta, data_shape, step, rng, data,
models, optimizers, ema and scaler (see :meth:`Trainer.state_dict`).
"""
import os
from pathlib import Path

import torch
from torch import Tensor

from ..serialization import load_tagged, save_tagged

FORMAT = "pygan-checkpoint"
VERSION = 1

# key -> the types its value may have
_STRUCTURE = {"family": (str,), "config": (dict,), "meta": (dict,), "data_shape": (list,),
              "step": (int,), "rng": (dict,), "data": (dict,), "models": (dict,),
              "optimizers": (dict,), "ema": (dict, type(None)), "scaler": (dict, type(None))}


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Writes a checkpoint atomically (see :func:`pygan.serialization.save_tagged`;
    a failed write raises ``WriteFailed`` and leaves the previous file intact)."""
    return save_tagged(path, FORMAT, VERSION, payload)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint; FileNotFoundError if missing, ValueError naming the
    file if truncated, corrupt (a failed checksum) or not a pygan checkpoint."""
    return load_tagged(path, FORMAT, VERSION, "checkpoint")


def check_structure(ckpt: dict, path) -> None:
    """Raises ValueError naming ``path`` and the key when a trainer checkpoint
    lacks an entry or holds one of the wrong type (e.g. a negative step)."""
    for key, types in _STRUCTURE.items():
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint has no {key!r} entry (not written by a "
                             f"pygan trainer, or edited?)")
        value = ckpt[key]
        if not isinstance(value, types) or isinstance(value, bool):
            names = " or ".join(t.__name__ for t in types)
            raise ValueError(f"{path}: checkpoint entry {key!r} must be a {names}, "
                             f"got {type(value).__name__} {value!r:.80}")
    if ckpt["step"] < 0:
        raise ValueError(f"{path}: checkpoint step must be >= 0, got {ckpt['step']}")
    if not all(isinstance(n, int) and n >= 1 for n in ckpt["data_shape"]):
        raise ValueError(f"{path}: checkpoint data_shape must hold positive ints, "
                         f"got {ckpt['data_shape']!r:.80}")
    for key in ("torch", "generator"):
        if not isinstance(ckpt["rng"].get(key), Tensor):
            raise ValueError(f"{path}: checkpoint rng has no {key!r} state tensor")


def restore(what: str, path, load) -> None:
    """Runs ``load()`` (a load_state_dict call), turning its errors into a
    ValueError that names the checkpoint file and ``what`` it was restoring."""
    try:
        load()
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: {what} does not fit this trainer ({first}); was the "
                         f"checkpoint written by another model or pygan version?") from None


def first_nonfinite(state, prefix: str = "") -> str | None:
    """The dotted name of the first floating tensor in the nested dicts and
    lists ``state`` holding NaN or inf; None when all are finite."""
    if isinstance(state, Tensor):
        finite = not state.is_floating_point() or bool(torch.isfinite(state).all())
        return None if finite else prefix or "<tensor>"
    if isinstance(state, dict):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    else:
        return None
    for key, value in items:
        found = first_nonfinite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None
