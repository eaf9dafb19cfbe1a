"""ClippedRMSprop: RMSprop + weight clipping for WGAN critics in one fused pass."""
from collections.abc import Iterable

import torch
from torch import Tensor

from ..ops.rmsprop_clip import rmsprop_clip_, rmsprop_clip_reference

_STATE_KEYS = ("square_avg", "momentum_buffer", "grad_avg")


def _state_dtype(param: Tensor) -> torch.dtype:
    # float16/bfloat16 params keep float32 state (see rmsprop_clip_).
    return torch.float32 if param.dtype in (torch.float16, torch.bfloat16) else param.dtype


def _is_dense(t: Tensor) -> bool:
    """Non-overlapping and dense: a permutation of a contiguous layout."""
    expected = 1
    for stride, size in sorted((st, n) for n, st in zip(t.shape, t.stride()) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _check_group(group: dict, params: list) -> None:
    """The settings of a param group, as torch.optim checks its own (ValueError).
    The update runs in float32 for all but float64 parameters, so there a
    setting beyond float32's range would make every parameter inf or NaN."""
    in_float64 = all(p.dtype == torch.float64 for p in params)
    hi = torch.finfo(torch.float64 if in_float64 else torch.float32).max
    limit = "" if in_float64 else f" in float32 (at most {hi:g}: the update runs in float32)"
    for name in ("lr", "eps", "weight_decay", "momentum"):
        if not 0.0 <= group[name] <= hi:
            raise ValueError(f"ClippedRMSprop: {name} must be >= 0 and finite{limit}, "
                             f"got {group[name]}")
    if not 0.0 <= group["alpha"] <= 1.0:
        raise ValueError(f"ClippedRMSprop: alpha must be in [0, 1], got {group['alpha']}")
    clip = group["clip_value"]
    if clip is not None and not 0.0 < clip <= hi:
        raise ValueError(f"ClippedRMSprop: clip_value must be positive and finite{limit} or "
                         f"None, got {clip}")


class ClippedRMSprop(torch.optim.Optimizer):
    """``torch.optim.RMSprop`` followed by ``p.clamp_(-clip_value, clip_value)``,
    done by one fused multi-tensor kernel per (device, dtype) per param group.

    Args:
        params: parameters or param groups, as for any torch optimizer.
        lr, alpha, eps, weight_decay, momentum, centered, maximize: exactly as
            in ``torch.optim.RMSprop`` (same defaults).
        clip_value: clamp bound c > 0 (WGAN uses 0.01), or None for plain
            RMSprop, which makes this a faster drop-in for torch's RMSprop.

    The clamp comes after each update, so the weights a caller sees between
    steps (the generator's loss included) always lie in [-c, c]. The original
    WGAN code clamps before each critic step instead, so its generator step
    sees the critic's last update unclamped; the two agree on every critic
    evaluation that follows a clamp.

    ``state_dict`` uses torch's key names (``step``, ``square_avg``,
    ``momentum_buffer``, ``grad_avg``), so a state saved by either optimizer
    loads into the other. Loading a torch RMSprop state keeps this optimizer's
    ``clip_value``. float16/bfloat16 parameters keep float32 state.
    Parameters without gradients are skipped; sparse gradients are refused.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, maximize: bool = False,
                 clip_value: float | None = None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize,
                        clip_value=clip_value)
        _check_group(defaults, [])
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group, then a check of the group's settings
        against its parameters' dtypes (the constructor adds its groups here
        too); a group that fails is not kept."""
        super().add_param_group(param_group)
        try:
            _check_group(self.param_groups[-1], self.param_groups[-1]["params"])
        except ValueError:
            self.param_groups.pop()
            raise

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0.0)
            group.setdefault("centered", False)
            group.setdefault("maximize", False)
            group.setdefault("clip_value", None)

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state saved by this optimizer or by ``torch.optim.RMSprop``;
        groups saved without ``clip_value`` keep the current one."""
        groups = [{**saved, "clip_value": saved.get("clip_value", current["clip_value"])}
                  for saved, current in zip(state_dict["param_groups"], self.param_groups)]
        groups += state_dict["param_groups"][len(groups):]  # let torch report the mismatch
        super().load_state_dict({**state_dict, "param_groups": groups})
        # torch casts loaded state to the param dtype; half params keep float32 state.
        for param, state in self.state.items():
            for key in _STATE_KEYS:
                if key in state and state[key].dtype != _state_dtype(param):
                    state[key] = state[key].to(_state_dtype(param))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            new = lambda: torch.zeros_like(p, dtype=_state_dtype(p),  # noqa: E731
                                           memory_format=torch.preserve_format)
            state["square_avg"] = new()
            if group["momentum"] > 0:
                state["momentum_buffer"] = new()
            if group["centered"]:
                state["grad_avg"] = new()
        return state

    @torch.no_grad()
    def step(self, closure=None):
        """Performs one optimization step; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            buckets: dict[tuple, tuple[list, ...]] = {}
            steps = []
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError(f"ClippedRMSprop does not support sparse gradients "
                                       f"(param group {gi}, parameter {pi})")
                state = self._init_state(p, group)
                steps.append(state["step"])
                # is_contiguous() first: the stride walks cost more host time than the
                # kernel on a GPU, and almost every parameter is contiguous.
                contiguous = p.is_contiguous()
                if not (contiguous and grad.is_contiguous()) and grad.stride() != p.stride():
                    grad = torch.empty_like(p).copy_(grad)  # the kernel walks p and g in lockstep
                # The fused kernel needs dense params; other views take the reference path.
                fused = contiguous or _is_dense(p)
                lists = buckets.setdefault((fused, p.device, p.dtype), ([], [], [], [], []))
                lists[0].append(p)
                lists[1].append(grad)
                lists[2].append(state["square_avg"])
                if group["momentum"] > 0:
                    lists[3].append(state["momentum_buffer"])
                if group["centered"]:
                    lists[4].append(state["grad_avg"])
            for (fused, _, _), lists in buckets.items():
                (rmsprop_clip_ if fused else rmsprop_clip_reference)(
                    *lists, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=group["momentum"],
                    centered=group["centered"], maximize=group["maximize"],
                    clip=group["clip_value"])
            if steps:
                torch._foreach_add_(steps, 1.0)
        return loss
