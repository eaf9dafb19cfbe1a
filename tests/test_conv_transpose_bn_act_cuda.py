"""conv_transpose_bn_act on CUDA only: layouts, the two convolution routes
(cuDNN, and pygan's GEMM route when cuDNN is disabled), and float16/bfloat16
activations. Skipped without a GPU; the device-generic cases are in
test_conv_transpose_bn_act.py."""
import pytest
import torch

from pygan.nn import ConvTransposeBNAct
from pygan.ops import conv_transpose_bn_act, conv_transpose_bn_act_reference

from .conftest import CUDA, cudnn_enabled

pytestmark = CUDA
LAYOUTS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}


def test_layouts_and_routes():
    """The block runs in the layout it is given: NCHW by default (a CPU
    block's channels-last weight comes back contiguous), NHWC after
    .to(memory_format=torch.channels_last); out in that layout, gradients of
    input and weight in their own, the same values in either layout with
    cuDNN's convolutions or the GEMM route."""
    torch.manual_seed(4)
    block = ConvTransposeBNAct(6, 64, 4, 2, 1, bias=True).cuda()
    assert block[0].weight.is_contiguous()
    x = torch.randn(3, 6, 4, 5, device="cuda")
    grad = torch.randn(3, 64, 8, 10, generator=torch.Generator().manual_seed(0)).cuda()
    results = []
    for fmt in LAYOUTS.values():
        block.to(memory_format=fmt)
        weight = block[0].weight
        assert weight.is_contiguous(memory_format=fmt)
        for cudnn in (True, False):
            xi = x.contiguous(memory_format=fmt).detach().requires_grad_()
            with cudnn_enabled(cudnn):
                out = block(xi)
                out.backward(grad)
            assert out.is_contiguous(memory_format=fmt)
            assert xi.grad.is_contiguous(memory_format=fmt)
            assert weight.grad.is_contiguous(memory_format=fmt)
            results.append((out.detach(), xi.grad, weight.grad.clone()))
            block.zero_grad()
    for other in results[1:]:  # each route and layout sums in its own order
        for a, b in zip(other, results[0]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
    block.fused = False
    assert block[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("fmt", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_gemm_route_runs_pygan_kernels(fmt):
    """With cuDNN disabled the convolution is pygan's col2im (forward) and
    im2col (backward) around GEMMs; with it enabled, neither runs."""
    from torch.profiler import ProfilerActivity, profile

    block = ConvTransposeBNAct(8, 16, 4, 2, 1).cuda().to(memory_format=fmt)
    x = torch.randn(4, 8, 6, 6, device="cuda").contiguous(memory_format=fmt).requires_grad_()
    for cudnn in (False, True):
        with cudnn_enabled(cudnn), profile(activities=[ProfilerActivity.CUDA]) as prof:
            block(x).sum().backward()
            torch.cuda.synchronize()
        names = " ".join(e.name for e in prof.events())
        assert ("col2im_rows" in names and "im2col_rows" in names) != cudnn, names[:2000]


def _rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||: a few elements whose ReLU decision flips with
    rounding would dominate a largest-element error."""
    return ((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12)).item()


# Largest error relative to float32 that either dtype may show at all
# (bfloat16's 8-bit mantissa: torch's own unfused bfloat16 block was 0.5-4%
# off on its input and parameter gradients at these shapes).
HALF_TOLERANCE = {torch.float16: 5e-3, torch.bfloat16: 6e-2}


@pytest.mark.parametrize("dtype", HALF_TOLERANCE, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("fmt", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("cudnn", [True, False], ids=["cudnn", "gemm"])
def test_half_precision_activations(dtype, fmt, cudnn):
    """float16/bfloat16 input and weight with float32 batch-norm parameters
    and statistics (the module's autocast arrangement), against the unfused
    functions in float32 on the same rounded values: pygan's error is within
    twice that of torch's unfused functions run in the same dtype (same
    arrangement), and within HALF_TOLERANCE."""
    torch.manual_seed(6)
    x = torch.randn(4, 16, 8, 8, device="cuda").to(dtype).contiguous(memory_format=fmt)
    w = (torch.randn(16, 12, 4, 4, device="cuda") * 0.1).to(dtype).contiguous(memory_format=fmt)
    gamma = torch.rand(12, device="cuda") + 0.5
    beta = torch.randn(12, device="cuda")
    grad = torch.randn(4, 12, 16, 16, device="cuda")
    results = []
    for f, cast in ((conv_transpose_bn_act, dtype), (conv_transpose_bn_act_reference, dtype),
                    (conv_transpose_bn_act_reference, torch.float32)):
        leaves = [t.detach().to(cast).requires_grad_() for t in (x, w)]
        leaves += [t.detach().clone().requires_grad_() for t in (gamma, beta)]
        stats = [torch.zeros(12, device="cuda"), torch.ones(12, device="cuda")]
        with cudnn_enabled(cudnn or f is not conv_transpose_bn_act):
            out = f(leaves[0], leaves[1], None, leaves[2], leaves[3], *stats, stride=2,
                    padding=1)
            out.backward(grad.to(out.dtype))
        assert out.dtype == cast
        results.append([out, *stats, *(t.grad for t in leaves)])
    names = ["out", "running_mean", "running_var", "input grad", "weight grad", "bn weight grad",
             "bn bias grad"]
    for name, mine, torchs, exact in zip(names, *results):
        err, torch_err = _rel_error(mine, exact), _rel_error(torchs, exact)
        assert err <= min(2 * torch_err + 1e-3, HALF_TOLERANCE[dtype]), (name, err, torch_err)
