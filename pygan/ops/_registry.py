"""Which compiled kernels this build of pygan has."""
import functools

import torch

_DISPATCH_KEYS = {"cpu": "CPU", "cuda": "CUDA"}


@torch.compiler.assume_constant_result  # torch.compile: a constant, not a graph break
def has_kernel(op: str, device: torch.device | str) -> bool:
    """True when ``pygan::<op>`` has a kernel for ``device``'s type."""
    return _has_kernel(op, torch.device(device).type)


# Kernels are registered when pygan._C loads, before any call; the per-call
# dispatcher query was measurable on the fused block's hot path.
@functools.cache
def _has_kernel(op: str, device_type: str) -> bool:
    key = _DISPATCH_KEYS.get(device_type)
    return key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(f"pygan::{op}", key)
