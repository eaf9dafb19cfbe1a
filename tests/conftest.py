import contextlib

import pytest
import torch

import pygan  # noqa: F401  (registers torch.ops.pygan)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True, scope="session")
def full_float32_on_cuda():
    """cuDNN convolutions default to TF32 on Ampere and later (~1e-3 relative
    error), and the tests compare float32 results at 1e-4 against paths that
    run cuBLAS GEMMs (full float32 by default): both take full float32 here."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextlib.contextmanager
def cudnn_enabled(enabled: bool):
    """torch.backends.cudnn.enabled for the block, the other cuDNN flags left
    alone (torch.backends.cudnn.flags would also reset allow_tf32)."""
    saved = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.enabled = saved
