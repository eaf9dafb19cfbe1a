"""``TrainConfig.compile``: the trainer's models through ``torch.compile``,
its optimizers on torch's multi-tensor kernels.

Models: every model's forward is compiled in place (``nn.Module.compile``,
so state_dict keys and checkpoints are unchanged), and AOTAutograd compiles
its backward with it; pygan's ops stay inside the graphs as ops. Graphs are
shared by models of the same architecture, so a second trainer in the same
process reuses the first one's compilation.

Optimizers: Adam and AdamW are rebuilt with ``fused=True`` (one kernel over
all parameters, on the CPU as on CUDA), others with ``foreach=True``.
Compiling ``optimizer.step`` instead would give the same kind of kernel, but
dynamo guards on the optimizer object: every new trainer in a process
recompiles it, and after ``torch._dynamo.config.recompile_limit`` (8) the
step silently runs eager.

The loop itself (step counters, schedules, the NaN checks, noise from the
trainer's generator) is not compiled: dynamo would guard on the step number
and recompile every step, and its host work is small next to the models'.
"""
import torch
from torch import nn

_FUSED = (torch.optim.Adam, torch.optim.AdamW)
# Built-in optimizers whose constructor takes foreach (pygan's ClippedRMSprop
# is already one fused op and is left as it is).
_FOREACH = (torch.optim.RMSprop, torch.optim.SGD, torch.optim.Adagrad)


def multi_tensor(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The same optimizer (parameters, groups, hyperparameters) on torch's
    fused or foreach implementation; ``optimizer`` itself when it has none
    or has taken a step already (its state is not carried over)."""
    kind = type(optimizer)
    if optimizer.state or kind not in _FUSED + _FOREACH:
        return optimizer
    flags = {"fused": True, "foreach": None} if kind in _FUSED else {"foreach": True}
    params = list(p for g in optimizer.param_groups for p in g["params"])
    if kind in _FUSED and not all(p.is_floating_point() for p in params):
        return optimizer
    groups = [{k: v for k, v in g.items() if k not in ("fused", "foreach")}
              for g in optimizer.param_groups]
    return kind(groups, **{**optimizer.defaults, **flags})


def compile_training(models: dict[str, nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Compiles ``models`` in place and swaps each optimizer in ``optimizers``
    for its :func:`multi_tensor` version."""
    for model in models.values():
        model.compile()
    for name, optimizer in optimizers.items():
        optimizers[name] = multi_tensor(optimizer)
