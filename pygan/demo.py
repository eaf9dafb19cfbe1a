"""A short WGAN run on the 8-mode ring that exercises ClippedRMSprop: the
main job until the family trainers land (see README)."""
import math
import time

import torch
from torch import nn

from .optim import ClippedRMSprop


def ring(n: int, generator: torch.Generator, modes: int = 8, std: float = 0.01) -> torch.Tensor:
    """[n, 2] float32 samples of `modes` Gaussians (std `std`) on the unit circle."""
    angle = torch.randint(modes, (n,), generator=generator) * (2 * math.pi / modes)
    centers = torch.stack([angle.cos(), angle.sin()], dim=1)
    return centers + std * torch.randn(n, 2, generator=generator)


def mlp(d_in: int, d_out: int, width: int = 128) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, d_out))


def check_finite(step: int, name: str, value: torch.Tensor) -> None:
    if not torch.isfinite(value).all():
        raise FloatingPointError(f"training diverged at step {step}: {name} = {value.item()}")


def wgan_ring(steps: int = 1500, n_critic: int = 5, batch: int = 256, lr: float = 5e-5,
              clip: float = 0.01, seed: int = 0, log_every: int = 250, sample=ring,
              out=print) -> dict:
    """Trains an MLP generator against a weight-clipped MLP critic (WGAN,
    RMSProp lr 5e-5, clip 0.01, n_critic critic steps per generator step) on
    the ring and returns the final critic estimate of the Wasserstein distance
    and the generated samples' mean distance to the unit circle."""
    if steps < 1 or n_critic < 1 or batch < 1:
        raise ValueError(f"steps, n_critic and batch must be >= 1, got {steps}, {n_critic}, {batch}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    g, d = mlp(2, 2), mlp(2, 1)
    opt_g = ClippedRMSprop(g.parameters(), lr=lr)
    opt_d = ClippedRMSprop(d.parameters(), lr=lr, clip_value=clip)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        for _ in range(n_critic):
            real, z = sample(batch, gen), torch.randn(batch, 2, generator=gen)
            loss_d = d(g(z).detach()).mean() - d(real).mean()
            check_finite(step, "critic loss", loss_d)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        loss_g = -d(g(torch.randn(batch, 2, generator=gen))).mean()
        check_finite(step, "generator loss", loss_g)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if step % log_every == 0 or step == steps:
            out(f"step {step:6d}  W estimate {-loss_d.item():.5f}  G loss {loss_g.item():.5f}")
    with torch.no_grad():
        fake = g(torch.randn(4096, 2, generator=gen))
    result = {"steps": steps, "w_estimate": -loss_d.item(),
              "radius_error": (fake.norm(dim=1) - 1).abs().mean().item(),
              "seconds": time.perf_counter() - start}
    out(f"done: {steps} generator steps in {result['seconds']:.1f} s; mean |r - 1| of generated "
        f"samples {result['radius_error']:.3f}")
    return result
