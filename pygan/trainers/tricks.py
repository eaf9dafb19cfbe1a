"""Stabilisers the trainers share: EMA of the generator, annealed instance
noise, and discriminator-step schedules."""
import copy

import torch
from torch import nn


class EMA:
    """Exponential moving average of a module's parameters (buffers, e.g.
    BatchNorm statistics, are copied): shadow = decay * shadow + (1 - decay) * p.
    ``shadow`` is a frozen copy of the module in eval mode, used for sampling."""

    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        params = [p for p in module.parameters()]
        torch._foreach_lerp_(list(self.shadow.parameters()), params, 1.0 - self.decay)
        for s, b in zip(self.shadow.buffers(), module.buffers()):
            s.copy_(b)

    def state_dict(self) -> dict:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state)


def instance_noise_std(initial: float, step: int, anneal_steps: int) -> float:
    """Noise std at ``step``: ``initial`` decaying linearly to 0 at ``anneal_steps``
    (Sønderby et al. 2017; Arjovsky & Bottou 2017)."""
    if initial == 0.0 or step >= anneal_steps:
        return 0.0
    return initial * (1.0 - step / anneal_steps)


def constant_d_steps(k: int):
    """k discriminator steps before every generator step."""
    return lambda step: k


def wgan_d_steps(n_critic: int = 5, warmup_steps: int = 25, every: int = 500,
                 many: int = 100):
    """The WGAN paper's schedule: ``many`` critic steps for the first
    ``warmup_steps`` generator steps and every ``every``-th, else ``n_critic``."""
    return lambda step: many if step < warmup_steps or step % every == 0 else n_critic
