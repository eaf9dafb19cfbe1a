"""Reopening a finished (or interrupted) run for sampling and evaluation."""
from dataclasses import asdict
from pathlib import Path

import torch

from .base import Trainer
from .checkpoint import load_checkpoint


def open_run(run_dir, device: str = "cpu", data=None) -> Trainer:
    """The trainer of ``run_dir/last.pt`` with its models and EMA restored,
    on ``device``. Its data source is ``data`` (what the trainer class takes:
    tensors or a sampler), or, when None, a placeholder of the recorded shape
    (``has_data`` False): enough to sample, not to train."""
    from . import TRAINERS

    path = Path(run_dir) / "last.pt"
    ckpt = load_checkpoint(path)
    family = ckpt.get("family")
    if family not in TRAINERS:
        raise ValueError(f"{path} holds an unknown family {family!r}; known: {sorted(TRAINERS)}")
    cls = TRAINERS[family]
    config = cls.config_class(**{**ckpt["config"], "device": device, "progress": False})
    shape = tuple(ckpt["data_shape"])
    placeholder = data is None
    if placeholder:
        data = lambda n, gen: torch.zeros(n, *shape)  # noqa: E731
    trainer = cls(config, data, run_dir, meta=ckpt["meta"])
    trainer.has_data = not placeholder
    trainer.load(path, resume=False)
    return trainer


def open_finished_run(run_dir, config, data=None) -> Trainer | None:
    """``open_run(run_dir, data=data)`` when that run finished ``config``
    (every field equal but the device, and ``config.steps`` steps taken);
    None when there is no run there or it is another one, so a caller can
    reuse a finished run instead of training it again."""
    if not (Path(run_dir) / "last.pt").is_file():
        return None
    trainer = open_run(run_dir, data=data)
    same = {**asdict(trainer.config), "device": config.device} == asdict(config)
    return trainer if same and trainer.step == config.steps else None
