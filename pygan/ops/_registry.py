"""Which compiled kernels this build of pygan has."""
import torch

_DISPATCH_KEYS = {"cpu": "CPU", "cuda": "CUDA"}


def has_kernel(op: str, device: torch.device | str) -> bool:
    """True when ``pygan::<op>`` has a kernel for ``device``'s type."""
    key = _DISPATCH_KEYS.get(torch.device(device).type)
    return key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(f"pygan::{op}", key)
