"""The training loop every GAN family shares. A family subclass builds its
models and optimizers and says what one discriminator step and one generator
step are; this class owns everything else (see DESIGN §5)."""
import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import check_structure, first_nonfinite, load_checkpoint, restore, save_checkpoint
from .compiled import compile_training
from .config import RESUMABLE_CHANGES, TrainConfig
from .distributed import average_gradients, broadcast_module, init_distributed
from .interrupts import StopRequest, stop_requests
from .runlog import MetricLog, plot_losses
from .sources import SamplerBatches, TensorBatches
from .tricks import EMA, constant_d_steps, instance_noise_std


class TrainingDiverged(FloatingPointError):
    """A loss or gradient became NaN or infinite."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" -> cuda:local_rank when CUDA is available, else cpu."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    return device


def data_shape_of(data) -> tuple[int, ...]:
    """Per-example shape of a trainer's data (tensors, or a sampler)."""
    if callable(data):
        return tuple(data(1, torch.Generator().manual_seed(0)).shape[1:])
    return tuple((data if isinstance(data, Tensor) else data[0]).shape[1:])


class Trainer:
    """Subclasses set ``family`` and ``config_class`` and implement ``build``
    (models in ``self.models``, optimizers in ``self.optimizers``, the
    generator under the name "generator"), ``d_step(batch) -> dict`` and
    ``g_step() -> dict`` (losses as 0-dim tensors, applied through
    :meth:`optimize`), and ``save_samples(path)``.

    ``data`` is a tuple of CPU tensors with the examples on dim 0 (images,
    labels, ...) or a callable ``sample(n, generator) -> Tensor`` (a mixture).
    ``meta`` (e.g. the data set's name) is stored with every checkpoint.
    The run directory receives ``last.pt`` (checkpoint), ``metrics.csv``,
    ``config.json``, ``samples/`` and ``losses.png``.
    """

    family = "base"
    config_class = TrainConfig
    has_data = True  # False for a run reopened for sampling only (runs.open_run)

    def __init__(self, config: TrainConfig, data, run_dir, callbacks=(), meta: dict | None = None):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        config.validate()
        self.config, self.run_dir, self.callbacks = config, Path(run_dir), list(callbacks)
        self.meta = dict(meta or {})
        self.device = resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = init_distributed(self.device.type)
        if config.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use amp='bf16' on the CPU")
        if config.deterministic:
            if self.device.type == "cuda":
                # torch refuses deterministic cuBLAS calls without a fixed workspace.
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.generator = torch.Generator().manual_seed(config.seed * 7919 + self.dist.rank + 1)
        self.source = self._make_source(data)
        self.data_shape = data_shape_of(data)
        self.models: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.d_steps = constant_d_steps(config.d_steps)
        self.build()
        for model in self.models.values():
            model.to(self.device)
            broadcast_module(model, self.dist.world)
        self.ema = EMA(self.models["generator"], config.ema) if config.ema > 0 else None
        self.base_lrs = {name: [g["lr"] for g in opt.param_groups]
                         for name, opt in self.optimizers.items()}
        self.scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None
        if config.compile:
            compile_training(self.models, self.optimizers)
        self.step = 0
        self.saved_step: int | None = None  # the step run_dir/last.pt holds, once known
        self.stop = StopRequest()  # the signal that ended the last fit(), if one did
        self._torn = False  # an optimizer step failed part-way: the state is inconsistent

    # -- what a family provides ------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def d_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        raise NotImplementedError

    def g_step(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def save_samples(self, path: Path) -> Path:
        raise NotImplementedError

    # -- how the `pygan train <family>` command builds a trainer ----------------
    @classmethod
    def add_data_arguments(cls, parser) -> None:
        """Adds the flags that say where the family's data comes from."""
        raise NotImplementedError

    @classmethod
    def data_from_args(cls, args, config) -> tuple[object, dict]:
        """(data for ``__init__``, meta to record) from the parsed flags."""
        raise NotImplementedError

    # -- helpers for the families ----------------------------------------------
    def _make_source(self, data):
        c = self.config
        if callable(data):
            return SamplerBatches(data, c.batch_size, c.seed, self.dist.rank)
        if isinstance(data, Tensor):
            data = (data,)
        if not (isinstance(data, (tuple, list)) and data
                and all(isinstance(t, Tensor) and t.dim() >= 1 for t in data)):
            raise ValueError("data must be a tensor or a tuple of tensors with the examples on "
                             "dim 0, or a callable sample(n, generator) -> Tensor; got "
                             f"{type(data).__name__}")
        return TensorBatches(tuple(data), c.batch_size, c.seed, self.dist.rank, self.dist.world,
                             self.device)

    def next_batch(self) -> tuple[Tensor, ...]:
        return tuple(t.to(self.device, non_blocking=True) for t in self.source.next())

    def noise(self, n: int, dim: int) -> Tensor:
        """[n, dim] standard normal noise from the trainer's own generator."""
        return torch.randn(n, dim, generator=self.generator).to(self.device)

    def d_input(self, x: Tensor) -> Tensor:
        """Adds the annealed instance noise to a discriminator input."""
        c = self.config
        std = instance_noise_std(c.instance_noise, self.step, c.noise_anneal_steps or c.steps)
        if std == 0.0:
            return x
        return x + std * torch.randn(x.shape, generator=self.generator).to(x)

    @property
    def real_label(self) -> float:
        return 1.0 - self.config.label_smoothing

    def autocast(self):
        if self.config.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def sampler(self) -> nn.Module:
        """The generator to sample from: its EMA when enabled."""
        return self.ema.shadow if self.ema is not None else self.models["generator"]

    def optimize(self, name: str, loss: Tensor, optimizer: torch.optim.Optimizer,
                 module: nn.Module, max_grad_norm: float = 0.0) -> None:
        """Backward, gradient averaging across processes, NaN/inf checks of the
        loss and of the gradients (before they touch the weights), clipping of
        the gradients' global norm to ``max_grad_norm`` when > 0, step."""
        self._check_finite(name, loss)
        optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        params = [p for p in module.parameters() if p.grad is not None]
        average_gradients(params, self.dist.world)
        if self.scaler is not None:  # fp16: the scaler skips steps with inf gradients itself
            if max_grad_norm > 0:
                self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            self._step_optimizer(name, lambda: self.scaler.step(optimizer))
            self.scaler.update()
            return
        norms = torch._foreach_norm([p.grad for p in params])
        self._check_finite(f"gradient of {name}", torch.stack(norms).sum() if norms else loss)
        if max_grad_norm > 0 and norms:
            total = torch.linalg.vector_norm(torch.stack(norms))
            torch._foreach_mul_([p.grad for p in params],
                                (max_grad_norm / (total + 1e-6)).clamp(max=1.0))
        self._step_optimizer(name, optimizer.step)

    def _step_optimizer(self, name: str, step) -> None:
        """Runs ``step()``; an update too large for the weights' dtype (torch:
        "value cannot be converted ... without overflow", raised part-way
        through the parameter list) becomes TrainingDiverged."""
        try:
            step()
        except RuntimeError as exc:
            if "overflow" not in str(exc):
                raise
            self._torn = True
            raise TrainingDiverged(f"training diverged at step {self.step + 1}: the optimizer "
                                   f"update from {name} overflowed ({exc}); lower the learning "
                                   f"rate") from None

    def _check_finite(self, name: str, value: Tensor) -> None:
        if not torch.isfinite(value).all():
            raise TrainingDiverged(f"training diverged at step {self.step + 1}: "
                                   f"{name} = {value.float().sum().item()}")

    # -- checkpoints -----------------------------------------------------------
    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"family": self.family, "config": dataclasses.asdict(self.config),
                "meta": self.meta, "data_shape": list(self.data_shape), "step": self.step,
                "rng": rng, "data": self.source.state_dict(),
                "models": {k: m.state_dict() for k, m in self.models.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.scaler.state_dict() if self.scaler else None}

    def save(self, path: Path | None = None) -> Path | None:
        """Writes the checkpoint (rank 0 only) to ``path`` or run_dir/last.pt."""
        if not self.dist.is_main:
            return None
        written = save_checkpoint(path or self.run_dir / "last.pt", self.state_dict())
        if path is None:
            self.saved_step = self.step
        return written

    def load(self, path, resume: bool = True) -> None:
        """Restores a checkpoint of the same family. With ``resume`` (and a
        config equal up to RESUMABLE_CHANGES, and the same data) everything is
        restored so training continues exactly where it stopped; without, only
        the models and the EMA (for sampling and evaluation). Raises ValueError
        naming the file for a checkpoint that is damaged, incomplete or does not
        fit these models."""
        ckpt = load_checkpoint(path)
        check_structure(ckpt, path)
        if ckpt["family"] != self.family:
            raise ValueError(f"{path} is a {ckpt['family']!r} checkpoint, not {self.family!r}")
        ours = dataclasses.asdict(self.config)
        # A field the checkpoint lacks is newer than it: its default is the old behaviour.
        saved = {**dataclasses.asdict(type(self.config)()), **ckpt["config"]}
        changed = sorted(k for k in ours if k not in RESUMABLE_CHANGES and saved.get(k) != ours[k])
        if changed:
            diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {ours[k]!r}" for k in changed)
            raise ValueError(f"cannot resume {path} with a different configuration ({diffs})")
        # The data's description (name, files, vocabulary) must match too; a key
        # the checkpoint lacks was added by a newer pygan.
        saved_meta = ckpt["meta"]
        moved = sorted(k for k in saved_meta if k in self.meta and saved_meta[k] != self.meta[k])
        if moved:
            diffs = ", ".join(f"{k}: {saved_meta[k]!r:.60} -> {self.meta[k]!r:.60}" for k in moved)
            raise ValueError(f"cannot resume {path} with different data ({diffs}); use "
                             f"another run directory or --restart")
        for k, m in self.models.items():
            restore(f"models[{k!r}]", path, lambda: m.load_state_dict(ckpt["models"][k]))
        if self.ema is not None:
            restore("ema", path, lambda: self.ema.load_state_dict(ckpt["ema"]))
        self.step = self.saved_step = ckpt["step"]
        if not resume:
            return
        for k, o in self.optimizers.items():
            restore(f"optimizers[{k!r}]", path, lambda: o.load_state_dict(ckpt["optimizers"][k]))
        if self.scaler is not None:
            restore("scaler", path, lambda: self.scaler.load_state_dict(ckpt["scaler"]))
        restore("data", path, lambda: self.source.load_state_dict(ckpt["data"]))
        restore("rng", path, lambda: (torch.set_rng_state(ckpt["rng"]["torch"]),
                                      self.generator.set_state(ckpt["rng"]["generator"])))
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])

    def _save_after_divergence(self) -> str:
        """Saves the state if it is the last finite one and says what happened.
        The gradient checks precede every update, so the weights are finite;
        but an update may have overflowed, or batch-norm statistics moved to
        NaN in the forward pass that diverged: then nothing is saved."""
        state = self.state_dict()
        bad = ("an optimizer update stopped part-way" if self._torn else
               first_nonfinite({k: state[k] for k in ("models", "optimizers", "ema")}))
        if bad is None:
            return f"saved the last finite state to {self.save()}"
        if not self._torn:
            bad = f"{bad} is NaN or infinite"
        last = self.run_dir / "last.pt"
        kept = (f"{last} still holds step {self.saved_step}" if self.saved_step is not None
                else "no checkpoint was written")
        return f"saved nothing ({bad}); {kept}"

    # -- the loop --------------------------------------------------------------
    def fit(self, resume: bool = True) -> dict:
        """Trains up to ``config.steps`` generator steps, resuming from
        run_dir/last.pt when it exists and ``resume``. Returns the last losses.
        SIGINT (Ctrl-C) or SIGTERM ends it after the current step with a
        checkpoint; ``self.stop`` then names the signal."""
        c, main = self.config, self.dist.is_main
        last = self.run_dir / "last.pt"
        resumed = resume and last.exists()
        if resumed:
            self.load(last)
        if main:
            (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(
                {"family": self.family, "meta": self.meta, **dataclasses.asdict(c)},
                indent=2) + "\n")
        log = MetricLog(self.run_dir, self.step if resumed else None) if main else None
        from tqdm.auto import tqdm
        bar = tqdm(total=c.steps, initial=self.step, disable=not (c.progress and main),
                   desc=self.family, dynamic_ncols=True)
        start, values = time.perf_counter(), {}
        try:
            with stop_requests() as self.stop:
                while self.step < c.steps and not self.stop:
                    self.set_learning_rates()
                    values = self.train_step()
                    self._after_step(values, log, bar, start)
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"{exc}; {self._save_after_divergence()}") from None
        finally:
            bar.close()
        self.save()
        if main:
            if self.stop:
                print(f"stopped by {self.stop.name} at step {self.step}: checkpoint saved "
                      f"to {last}")
            log.close()
            plot_losses(self.run_dir / "metrics.csv", self.run_dir / "losses.png")
            self.save_samples(self.run_dir / "samples" / "final.png")
        return {"step": self.step, **{k: v.item() for k, v in values.items()}}

    def set_learning_rates(self) -> None:
        """Each optimizer's rates for this step: the built ones until
        ``lr_decay_start * steps``, then falling linearly to 0 at ``steps``.
        A function of the step alone, so a resumed run follows it exactly."""
        c = self.config
        start = c.lr_decay_start * c.steps
        scale = (c.steps - self.step) / (c.steps - start) if self.step > start else 1.0
        for name, optimizer in self.optimizers.items():
            for group, lr in zip(optimizer.param_groups, self.base_lrs[name]):
                group["lr"] = lr * scale

    def train_step(self) -> dict[str, Tensor]:
        """One generator step and the discriminator steps before it; families
        whose step is not a D/G pair (e.g. a classifier) override this."""
        d_values = {}
        for _ in range(self.d_steps(self.step)):
            d_values = self.d_step(self.next_batch())
        g_values = self.g_step()
        if self.ema is not None:
            self.ema.update(self.models["generator"])
        self.step += 1
        return {**d_values, **g_values}

    def log_due(self, step: int) -> bool:
        """Whether the values of ``step`` go to metrics.csv; a family that
        computes a metric now and then (an evaluation) adds those steps."""
        return step % self.config.log_every == 0 or step == self.config.steps

    def _after_step(self, values: dict, log, bar, start: float) -> None:
        c, s = self.config, self.step
        for cb in self.callbacks:
            cb(self, values)
        if log is not None and self.log_due(s):
            row = {k: v.item() for k, v in values.items()}
            log.log(s, {**row, "seconds": time.perf_counter() - start})
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()}, refresh=False)
        bar.update(1)
        if self.dist.is_main and c.sample_every and s % c.sample_every == 0:
            self.save_samples(self.run_dir / "samples" / f"step_{s:07d}.png")
        if c.checkpoint_every and s % c.checkpoint_every == 0:
            self.save()
