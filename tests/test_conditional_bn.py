"""Per-sample batch-norm parameters in conv_transpose_bn_act (bn_weight and
bn_bias [N, C_out], class-conditional batch norm) and
pygan.nn.ConditionalConvTransposeBNAct: against the unfused composition
(outputs, every gradient, running statistics, train and eval, every
activation), gradcheck, opcheck, torch.compile; refused inputs with the same
words from the kernel and the fake kernel; bad labels."""
import copy
import re

import pytest
import torch
from torch import nn
from torch._subclasses import FakeTensorMode

from pygan.nn import ConditionalConvTransposeBNAct
from pygan.ops import conv_transpose_bn_act, conv_transpose_bn_act_reference

from .conftest import CUDA, cudnn_enabled

FWD = torch.ops.pygan.conv_transpose_bn_act.default
BWD = torch.ops.pygan.conv_transpose_bn_act_backward.default
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9)}
ACTIVATIONS = ["relu", "leaky_relu", "tanh", "none"]

# (in, out, kernel, stride, padding, output_padding, input H, W, batch)
SHAPES = {
    "dcgan-first": (7, 6, 4, 1, 0, 0, 1, 1, 4),       # 1x1 -> 4x4 (the single-GEMM path)
    "dcgan-4-to-8": (6, 5, 4, 2, 1, 0, 4, 4, 3),
    "few-channels": (4, 3, 4, 2, 1, 0, 8, 8, 2),      # the CPU's col2im-rows forward
    "non-square": (3, 5, 3, 2, 1, 1, 5, 2, 2),
    "uneven-slices": (4, 64, 4, 2, 1, 0, 4, 4, 20),
}


def block_args(shape, device, dtype=torch.float32, seed=0):
    """Input, weight, bias, per-sample bn_weight/bn_bias [N, C] (leaves that
    require grad), running statistics, and the convolution's settings."""
    cin, cout, k, s, p, op, h, w, n = shape
    g = torch.Generator().manual_seed(seed)
    make = lambda *size: torch.randn(*size, generator=g, dtype=dtype)  # noqa: E731
    leaves = [make(n, cin, h, w), make(cin, cout, k, k), make(cout),
              1 + 0.5 * make(n, cout), 0.5 * make(n, cout)]
    leaves = [t.to(device).requires_grad_() for t in leaves]
    stats = [make(cout).to(device), (torch.rand(cout, generator=g, dtype=dtype) + 0.5).to(device)]
    return leaves, stats, dict(stride=s, padding=p, output_padding=op)


def run(fn, leaves, stats, conv, grad_seed=1, **kw):
    """fn's output, the gradients of every leaf under a fixed random
    weighting, and the running statistics after the call."""
    xs = [t.detach().clone().requires_grad_() for t in leaves]
    st = [t.clone() for t in stats]
    out = fn(*xs, *st, **conv, **kw)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed),
                         dtype=out.dtype).to(out.device)
    (out * weight).sum().backward()
    return out, [x.grad for x in xs], st


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_op_matches_unfused_composition(device, shape, activation, training):
    leaves, stats, conv = block_args(shape, device)
    kw = dict(training=training, activation=activation, slope=0.2, momentum=0.3)
    got = run(conv_transpose_bn_act, leaves, stats, conv, **kw)
    want = run(conv_transpose_bn_act_reference, leaves, stats, conv, **kw)
    torch.testing.assert_close(got[0], want[0], **TOL[torch.float32], msg="output")
    for name, a, b in zip(["input", "weight", "bias", "bn_weight", "bn_bias"], got[1], want[1]):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, **TOL[torch.float32], msg=f"grad of {name}")
    for name, a, b in zip(["running_mean", "running_var"], got[2], want[2]):
        torch.testing.assert_close(a, b, **TOL[torch.float32], msg=name)


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])
def test_per_sample_copies_of_per_channel_parameters_agree(device, fmt):
    """[N, C] parameters whose rows are all the same [C] vector give the
    per-channel results (and gradients summed over the batch)."""
    leaves, stats, conv = block_args(SHAPES["dcgan-4-to-8"], device, torch.float64)
    x = leaves[0].detach().contiguous(memory_format=fmt)
    gamma, beta = leaves[3][0].detach(), leaves[4][0].detach()
    n = x.shape[0]
    per_channel = run(conv_transpose_bn_act, [x, leaves[1], leaves[2], gamma, beta], stats, conv)
    per_sample = run(conv_transpose_bn_act, [x, leaves[1], leaves[2], gamma.expand(n, -1),
                                             beta.expand(n, -1)], stats, conv)
    torch.testing.assert_close(per_sample[0], per_channel[0], **TOL[torch.float64])
    for a, b in zip(per_sample[1][:3], per_channel[1][:3]):
        torch.testing.assert_close(a, b, **TOL[torch.float64])
    for a, b in zip(per_sample[1][3:], per_channel[1][3:]):
        torch.testing.assert_close(a.sum(0), b, **TOL[torch.float64])


def test_gradcheck_float64():
    leaves, stats, conv = block_args((3, 4, 3, 2, 1, 0, 3, 2, 3), "cpu", torch.float64)
    for activation in ACTIVATIONS:
        for training in (True, False):
            def f(x, w, b, g, beta):
                return conv_transpose_bn_act(x, w, b, g, beta, *[t.clone() for t in stats],
                                             **conv, training=training, activation=activation,
                                             slope=0.3)
            assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-5), (activation,
                                                                              training)


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])
def test_opcheck(device, fmt):
    leaves, stats, _ = block_args((3, 5, 4, 2, 1, 0, 4, 4, 2), device)
    x = leaves[0].detach().contiguous(memory_format=fmt).requires_grad_()
    w = leaves[1].detach().contiguous(memory_format=fmt).requires_grad_()
    for training in (True, False):
        args = (x, w, leaves[2], leaves[3], leaves[4], *stats, [2, 2], [1, 1], [0, 0], True,
                training, 1e-5, 0.1, "leaky_relu", 0.2)
        torch.library.opcheck(FWD, args)


def test_torch_compile_traces_per_sample_parameters():
    leaves, stats, conv = block_args(SHAPES["dcgan-4-to-8"], "cpu")

    def f(x, w, b, g, beta, rm, rv, **kw):
        return conv_transpose_bn_act(x, w, b, g, beta, rm, rv, **kw)
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    got, want = run(compiled, leaves, stats, conv), run(f, leaves, stats, conv)
    torch.testing.assert_close(got[0], want[0])
    for a, b in zip(got[1] + got[2], want[1] + want[2]):
        torch.testing.assert_close(a, b)


def test_empty_batch_matches_unfused_composition():
    """N = 0 with [0, C] parameters: empty output, zero parameter gradients,
    the running statistics unchanged, as the unfused composition."""
    leaves, stats, conv = block_args((3, 5, 4, 2, 1, 0, 4, 4, 0), "cpu")
    for training in (True, False):
        got = run(conv_transpose_bn_act, leaves, stats, conv, training=training)
        want = run(conv_transpose_bn_act_reference, leaves, stats, conv, training=training)
        assert got[0].shape == want[0].shape == (0, 5, 8, 8)
        for a, b in zip(got[1] + got[2], want[1] + want[2]):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b)


# Refused calls: (changes to a valid per-sample call, the message's pattern).
N, C = 4, 5


def _call(**changes):
    args = dict(input=torch.randn(N, 3, 4, 4), weight=torch.randn(3, C, 4, 4), bias=None,
                bn_weight=torch.ones(N, C), bn_bias=torch.zeros(N, C),
                running_mean=torch.zeros(C), running_var=torch.ones(C), stride=[2, 2],
                padding=[1, 1], output_padding=[0, 0], normalize=True, training=True,
                eps=1e-5, momentum=0.1, activation="relu", slope=0.0)
    args.update({k: v() if callable(v) else v for k, v in changes.items()})
    return args


REFUSED = {
    "batch-mismatch": (dict(bn_weight=lambda: torch.ones(3, C), bn_bias=lambda: torch.ones(3, C)),
                       r"bn_weight has shape \[3, 5\] but expected \[C_out\]=\[5\] or "
                       r"\[N, C_out\]=\[4, 5\]"),
    "channel-mismatch": (dict(bn_bias=lambda: torch.zeros(N, C + 1)),
                         r"bn_bias has shape \[4, 6\] but expected"),
    "three-dims": (dict(bn_weight=lambda: torch.ones(N, C, 1)), r"bn_weight has shape \[4, 5, 1\]"),
    "mixed-forms": (dict(bn_bias=lambda: torch.zeros(C)),
                    r"bn_weight has shape \[4, 5\] but bn_bias has shape \[5\]; both must be"),
    "double": (dict(bn_weight=lambda: torch.ones(N, C, dtype=torch.float64)),
               r"bn_weight has dtype Double, expected Float"),
    "meta": (dict(bn_bias=lambda: torch.zeros(N, C, device="meta")),
             r"bn_bias is on meta but input is on cpu"),
    "strided": (dict(bn_weight=lambda: torch.ones(C, N).t()), r"bn_weight must be contiguous"),
}


def _alias_running_mean():
    """running_mean a row of bn_bias: the op reads bn_bias while it updates
    running_mean in place."""
    args = _call()
    args["running_mean"] = args["bn_bias"][1]
    return args


def _backward_call():
    args = _call()
    out, y, mean, var = FWD(**args)
    return dict(grad_out=torch.ones_like(out), input=args["input"], weight=args["weight"],
                bn_weight=torch.ones(N - 1, C), out=out, y=y, mean=mean, var=var,
                stride=[2, 2], padding=[1, 1], output_padding=[0, 0], normalize=True,
                training=True, eps=1e-5, activation="relu", slope=0.0,
                output_mask=[True, True, True])


CASES = {name: ((lambda changes=changes: FWD(**_call(**changes))), pattern)
         for name, (changes, pattern) in REFUSED.items()}
CASES["running-mean-views-bn-bias"] = (lambda: FWD(**_alias_running_mean()),
                                       r"running_mean shares memory with bn_bias")
CASES["backward-batch-mismatch"] = (lambda: BWD(**_backward_call()),
                                    r"bn_weight has shape \[3, 5\] but expected \[C_out\]=\[5\] "
                                    r"or \[N, C_out\]=\[4, 5\]")


def _message(fn, fake):
    try:
        if fake:
            with FakeTensorMode(allow_non_fake_inputs=False):
                fn()
        else:
            fn()
    except RuntimeError as e:
        return str(e).strip()
    return None


@pytest.mark.parametrize("name", CASES)
def test_refused_with_the_same_words_real_and_fake(name):
    fn, pattern = CASES[name]
    real = _message(fn, fake=False)
    assert real is not None and re.search(pattern, real), real
    assert _message(fn, fake=True) == real


# The module against its unfused equivalent.
def unfused_equivalent(block: ConditionalConvTransposeBNAct, activation: nn.Module):
    class Unfused(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = copy.deepcopy(block.conv), copy.deepcopy(block.bn)
            self.scale, self.shift = copy.deepcopy(block.scale), copy.deepcopy(block.shift)
            self.conv.weight.data = self.conv.weight.data.contiguous()

        def forward(self, x, labels):
            y = self.bn(self.conv(x))
            return activation(y * self.scale(labels)[:, :, None, None]
                              + self.shift(labels)[:, :, None, None])
    return Unfused()


ACT_MODULES = {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(),
               "none": nn.Identity()}


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_module_matches_unfused_equivalent(device, activation, momentum):
    torch.manual_seed(0)
    block = ConditionalConvTransposeBNAct(6, 5, 4, 2, 1, num_classes=3, activation=activation,
                                          momentum=momentum).to(device)
    with torch.no_grad():  # away from the initial ones and zeros
        block.scale.weight.normal_(1.0, 0.5)
        block.shift.weight.normal_(0.0, 0.5)
    plain = unfused_equivalent(block, ACT_MODULES[activation])
    for step, training in enumerate([True, True, False, True]):
        block.train(training)
        plain.train(training)
        x = torch.randn(4, 6, 4, 4, device=device)
        labels = torch.tensor([2, 0, 2, 1], device=device)
        xs = [x.clone().requires_grad_() for _ in range(2)]
        outs = [block(xs[0], labels), plain(xs[1], labels)]
        torch.testing.assert_close(outs[0], outs[1], **TOL[torch.float32], msg=f"step {step}")
        grad = torch.randn_like(outs[1])
        for o in outs:
            o.backward(grad)
        torch.testing.assert_close(xs[0].grad, xs[1].grad, **TOL[torch.float32])
        for (name, p), q in zip(block.named_parameters(), plain.parameters()):
            torch.testing.assert_close(p.grad, q.grad, **TOL[torch.float32], msg=name)
        for (name, b), c in zip(block.named_buffers(), plain.buffers()):
            torch.testing.assert_close(b, c, **TOL[torch.float32], msg=name)
        block.zero_grad()
        plain.zero_grad()


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_module_compiles_whole(fused):
    """fullgraph: the labels' checks do not break the graph, the fused op
    traces through its fake kernels."""
    torch.manual_seed(0)
    block = ConditionalConvTransposeBNAct(3, 4, 4, 2, 1, num_classes=3, fused=fused)
    twin = copy.deepcopy(block)
    x, labels = torch.randn(2, 3, 4, 4), torch.tensor([2, 0])
    out = torch.compile(block, fullgraph=True, backend="aot_eager")(x, labels)
    torch.testing.assert_close(out, twin(x, labels), **TOL[torch.float32])
    out.sum().backward()
    assert block.scale.weight.grad[1].abs().sum() == 0 < block.scale.weight.grad[2].abs().sum()


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_module_empty_batch_matches_unfused_equivalent(training):
    block = ConditionalConvTransposeBNAct(3, 4, 4, 2, 1, num_classes=2).train(training)
    plain = unfused_equivalent(block, nn.ReLU()).train(training)
    for m in (block, plain):
        out = m(torch.randn(0, 3, 4, 4), torch.zeros(0, dtype=torch.int64))
        assert out.shape == (0, 4, 8, 8)
        out.sum().backward()
    for (name, p), q in zip(block.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
        assert not p.grad.any(), name
    for (name, b), c in zip(block.named_buffers(), plain.buffers()):
        torch.testing.assert_close(b, c, msg=name)


def test_module_unfused_path_and_fallback_agree():
    torch.manual_seed(0)
    block = ConditionalConvTransposeBNAct(3, 4, 4, 2, 1, num_classes=2, activation="tanh")
    x, labels = torch.randn(2, 3, 4, 4), torch.tensor([1, 0])
    fused_out = block(x, labels)
    block.fused = False
    assert block.conv.weight.is_contiguous()
    torch.testing.assert_close(block(x, labels), fused_out, **TOL[torch.float32])
    block.fused = True  # bfloat16 has no CPU kernel: the unfused path runs
    assert block.to(torch.bfloat16)(x.bfloat16(), labels).dtype == torch.bfloat16


def test_module_state_dict_is_the_unfused_equivalents():
    block = ConditionalConvTransposeBNAct(4, 3, 4, 2, 1, num_classes=10, bias=False)
    assert list(block.state_dict()) == ["conv.weight", "bn.running_mean", "bn.running_var",
                                        "bn.num_batches_tracked", "scale.weight", "shift.weight"]
    assert torch.equal(block.scale.weight, torch.ones(10, 3))
    assert torch.equal(block.shift.weight, torch.zeros(10, 3))
    assert block.bn.weight is None  # affine=False
    plain = unfused_equivalent(block, nn.ReLU())
    with torch.no_grad():
        plain.scale.weight.normal_()
    block.load_state_dict(plain.state_dict())
    assert torch.equal(block.scale.weight, plain.scale.weight)
    plain.load_state_dict(block.state_dict())


@pytest.mark.parametrize("labels, match", [
    (torch.tensor([0, 1, 2], dtype=torch.int32), r"labels must be int64, got torch.int32"),
    (torch.tensor([0.0, 1.0, 2.0]), r"labels must be int64"),
    (torch.tensor([0, 1]), r"labels must have shape \[N\]=\[3\] \(x's batch\), got \[2\]"),
    (torch.tensor([[0, 1, 2]]), r"labels must have shape \[N\]=\[3\]"),
    (torch.tensor([0, 3, 1]), r"labels must be in \[0, 3\), got values in \[0, 3\]"),
    (torch.tensor([0, -1, 1]), r"labels must be in \[0, 3\), got values in \[-1, 1\]"),
    (torch.zeros(3, dtype=torch.int64, device="meta"), r"labels is on meta but x is on cpu"),
    ([0, 1, 2], r"labels must be an int64 tensor, got list"),
])
def test_module_bad_labels(labels, match):
    block = ConditionalConvTransposeBNAct(2, 3, 4, 2, 1, num_classes=3)
    with pytest.raises(ValueError, match=match):
        block(torch.randn(3, 2, 4, 4), labels)


def test_module_bad_arguments():
    with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
        ConditionalConvTransposeBNAct(2, 3, 4, num_classes=0)
    with pytest.raises(ValueError, match="activation must be one of"):
        ConditionalConvTransposeBNAct(2, 3, 4, num_classes=2, activation="gelu")
    with pytest.raises(ValueError, match="negative_slope must be > 0"):
        ConditionalConvTransposeBNAct(2, 3, 4, num_classes=2, activation="leaky_relu",
                                      negative_slope=0.0)


@CUDA
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])
@pytest.mark.parametrize("cudnn", [True, False], ids=["cudnn", "gemm"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_cuda_layouts_and_routes(fmt, cudnn, training):
    """The CUDA passes in either layout (NCHW: a block per plane in the
    backward; NHWC: a sample's rows), after cuDNN's convolutions or the
    GEMM route."""
    leaves, stats, conv = block_args(SHAPES["uneven-slices"], "cuda")
    leaves[0] = leaves[0].detach().contiguous(memory_format=fmt).requires_grad_()
    with cudnn_enabled(cudnn):
        got = run(conv_transpose_bn_act, leaves, stats, conv, training=training)
    want = run(conv_transpose_bn_act_reference, leaves, stats, conv, training=training)
    for a, b in zip([got[0], *got[1], *got[2]], [want[0], *want[1], *want[2]]):
        torch.testing.assert_close(a, b, **TOL[torch.float32])


@CUDA
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_module_under_autocast(dtype):
    """Half activations with float32 statistics and embedding rows, against
    the unfused equivalent under the same autocast."""
    torch.manual_seed(0)
    block = ConditionalConvTransposeBNAct(16, 12, 4, 2, 1, num_classes=5).cuda()
    with torch.no_grad():
        block.scale.weight.normal_(1.0, 0.5)
        block.shift.weight.normal_(0.0, 0.5)
    plain = unfused_equivalent(block, nn.ReLU())
    x = torch.randn(4, 16, 8, 8, device="cuda")
    labels = torch.tensor([4, 0, 4, 2], device="cuda")
    grad = torch.randn(4, 12, 16, 16, device="cuda")
    results, dtypes = [], []
    for m in (block, plain):
        with torch.autocast("cuda", dtype):
            out = m(x, labels)
        out.float().backward(grad)
        dtypes.append(out.dtype)
        results.append([out.float(), m.scale.weight.grad, m.shift.weight.grad,
                        m.conv.weight.grad, m.bn.running_mean, m.bn.running_var])
    # The fused block returns the autocast dtype; the unfused affine promotes to float32.
    assert dtypes[0] == dtype and block.scale.weight.grad.dtype == torch.float32
    tol = 2e-2 if dtype == torch.float16 else 6e-2
    for name, a, b in zip(["out", "scale grad", "shift grad", "conv grad", "running_mean",
                           "running_var"], *results):
        assert (a - b).abs().max() <= tol * b.abs().max(), name
