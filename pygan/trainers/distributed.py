"""Multi-process training under `torchrun`: process group set-up, gradient
averaging and the initial weight broadcast.

Gradients are averaged with one all-reduce over a flattened buffer after each
backward instead of wrapping models in DistributedDataParallel: a GAN step
runs the discriminator on real and fake batches separately (as DCGAN
prescribes) before one backward, which DDP's per-forward bookkeeping does not
expect, and the explicit reduction keeps that rule intact."""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Joins the process group when launched by torchrun (WORLD_SIZE > 1):
    gloo on the CPU, nccl on CUDA. A single process gets DistInfo()."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Replaces every gradient by its mean over the processes."""
    grads = [p.grad for p in params if p.grad is not None]
    if world <= 1 or not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world
    for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(avg)


def broadcast_module(module: nn.Module, world: int) -> None:
    """Copies rank 0's parameters and buffers to every process."""
    if world > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)
