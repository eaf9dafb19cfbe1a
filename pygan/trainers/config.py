"""Trainer configuration: dataclasses whose fields become the CLI's flags."""
import argparse
import math
from dataclasses import dataclass, fields
from typing import Literal, get_args, get_origin


@dataclass
class TrainConfig:
    """What every trainer takes. Steps count generator updates."""

    steps: int = 2000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto (cuda when available), cpu, cuda, cuda:N
    deterministic: bool = False  # torch.use_deterministic_algorithms + seeded everything
    amp: Literal["none", "bf16", "fp16"] = "none"  # fp16 (with a grad scaler) needs CUDA
    d_steps: int = 1  # discriminator steps per generator step (k)
    ema: float = 0.0  # decay of the generator's weight average; 0 disables it
    instance_noise: float = 0.0  # std of noise added to D's inputs at step 0 ...
    noise_anneal_steps: int = 0  # ... decaying linearly to 0 here (0: at `steps`, so a
    # resumed run with more steps re-stretches the annealing; set it to resume exactly)
    label_smoothing: float = 0.0  # one-sided: D's real target is 1 - label_smoothing
    lr_decay_start: float = 1.0  # fraction of the steps after which every learning rate
    # falls linearly to 0 at the last step (1: constant rates)
    log_every: int = 50
    sample_every: int = 500  # 0 disables the sample images during training
    checkpoint_every: int = 500
    progress: bool = True  # tqdm progress bar
    compile: bool = False  # models and optimizer steps through torch.compile (trainers/compiled.py)

    def validate(self) -> None:
        """Raises ValueError naming the first field out of range."""
        positive = ("steps", "batch_size", "d_steps", "log_every")
        non_negative = ("seed", "instance_noise", "noise_anneal_steps", "sample_every",
                        "checkpoint_every")
        for f in fields(self):
            value = getattr(self, f.name)
            if get_origin(f.type) is Literal and value not in get_args(f.type):
                raise ValueError(f"{f.name} must be one of {get_args(f.type)}, got {value!r}")
            if f.name in positive and not value >= 1:
                raise ValueError(f"{f.name} must be >= 1, got {value!r}")
            if f.name in non_negative and not value >= 0:
                raise ValueError(f"{f.name} must be >= 0, got {value!r}")
            if (f.name == "lr" or f.name.endswith("_lr")) and not (
                    isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if not 0.0 <= self.lr_decay_start <= 1.0:
            raise ValueError(f"lr_decay_start must be in [0, 1], got {self.lr_decay_start}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


# Fields that may differ when a run is resumed: they change how long or how
# loudly it runs, not what it computes.
RESUMABLE_CHANGES = {"steps", "log_every", "sample_every", "checkpoint_every", "progress",
                     "device", "compile", "eval_every", "adv_eval_every", "eval_samples"}


def add_config_arguments(parser, config_class) -> None:
    """One --flag per dataclass field (underscores become dashes): ints,
    floats and strings typed, Literals as choices, bools as --x/--no-x."""
    for f in fields(config_class):
        flag, default = "--" + f.name.replace("_", "-"), f.default
        if f.type is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=default)
        elif get_origin(f.type) is Literal:
            parser.add_argument(flag, dest=f.name, choices=get_args(f.type), default=default,
                                help=f"(default: {default})")
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=default,
                                help=f"(default: {default})")


def config_from_args(config_class, args):
    """The config_class instance the parsed --flags describe."""
    return config_class(**{f.name: getattr(args, f.name) for f in fields(config_class)})

