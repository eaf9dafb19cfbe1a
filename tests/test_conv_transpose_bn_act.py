"""pygan.ops.conv_transpose_bn_act and pygan.nn.ConvTransposeBNAct against
the unfused torch modules: outputs, every gradient, running statistics;
gradcheck, opcheck, a DCGAN generator trained both ways, and bad inputs."""
import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from pygan.models import DCGANGenerator
from pygan.nn import ConvTransposeBNAct
from pygan.ops import conv_transpose_bn_act, conv_transpose_bn_act_reference

from .conftest import CUDA, cudnn_enabled

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9),
       torch.bfloat16: dict(rtol=3e-2, atol=3e-2), torch.float16: dict(rtol=5e-3, atol=5e-3)}

# (in, out, kernel, stride, padding, output_padding, input H, W, batch)
SHAPES = {
    "dcgan-first": (7, 6, 4, 1, 0, 0, 1, 1, 4),       # 1x1 -> 4x4
    "dcgan-4-to-8": (6, 5, 4, 2, 1, 0, 4, 4, 3),
    "dcgan-32-to-64": (4, 3, 4, 2, 1, 0, 32, 32, 2),
    "batch-1": (5, 3, 4, 2, 1, 0, 3, 3, 1),
    "non-square": (3, 5, 3, 2, 1, 1, 5, 2, 2),        # odd kernel, output_padding
    "stride-3": (2, 3, 5, 3, 2, 2, 3, 4, 2),
    # CUDA splits a channel into slices of whole planes (8 for 64 channels):
    # 20 planes make uneven slices of 2 and 3.
    "uneven-slices": (4, 64, 4, 2, 1, 0, 4, 4, 20),
}


def randomize_bn(block: ConvTransposeBNAct) -> None:
    if block.norm:
        bn = block[1]
        with torch.no_grad():
            if bn.affine:
                bn.weight.normal_(1.0, 0.5)
                bn.bias.normal_(0.0, 0.5)
            if bn.track_running_stats:
                bn.running_mean.normal_()
                bn.running_var.uniform_(0.5, 2.0)


def compare(fused: ConvTransposeBNAct, x: torch.Tensor, steps: int = 2) -> None:
    """Runs ``steps`` forward/backward passes of ``fused`` and of its unfused
    copy on the same inputs and checks outputs, gradients and buffers."""
    plain = copy.deepcopy(fused)
    plain.fused = False
    tol = TOL[x.dtype]
    for step in range(steps):
        xs = [x.detach().clone().requires_grad_() for _ in range(2)]
        outs = [fused(xs[0]), plain(xs[1])]
        torch.testing.assert_close(outs[0], outs[1], **tol, msg=f"output at step {step}")
        grad = torch.randn_like(outs[0])
        for o in outs:
            o.backward(grad)
        torch.testing.assert_close(xs[0].grad, xs[1].grad, **tol)
        for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
            torch.testing.assert_close(p.grad, q.grad, **tol, msg=f"grad of {name}")
        for (name, b), c in zip(fused.named_buffers(), plain.buffers()):
            torch.testing.assert_close(b, c, **tol, msg=f"buffer {name}")
        fused.zero_grad()
        plain.zero_grad()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "none"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])
def test_matches_unfused_modules(device, shape, activation, training, fmt):
    """On CUDA "nhwc" runs the kernels on channels-last activations, their
    channels as [N * H * W, C, 1]; the CPU kernel is channels-last either way."""
    cin, cout, k, s, p, op, h, w, n = shape
    torch.manual_seed(0)
    block = ConvTransposeBNAct(cin, cout, k, s, p, op, bias=False, activation=activation).to(device)
    block.to(memory_format=fmt)
    randomize_bn(block)
    block.train(training)
    compare(block, torch.randn(n, cin, h, w, device=device).contiguous(memory_format=fmt))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", [
    dict(norm=False, activation="tanh"), dict(norm=False, activation="relu", bias=True),
    dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
    dict(bias=True, activation="leaky_relu", negative_slope=0.1), dict(eps=1e-3, momentum=0.5),
], ids=str)
def test_options_match_unfused(device, dtype, options):
    torch.manual_seed(1)
    options = {"bias": False, **options}
    block = ConvTransposeBNAct(6, 5, 4, 2, 1, **options).to(device, dtype)
    randomize_bn(block)
    x = torch.randn(3, 6, 4, 5, device=device, dtype=dtype)
    compare(block, x, steps=3)
    block.eval()
    compare(block, x, steps=1)


@pytest.mark.parametrize("stride", [1, 2])
def test_single_gemm_path_with_bias(device, stride):
    """1x1 inputs without padding take a GEMM instead of the convolution, its
    columns in the weight's memory order (either layout)."""
    torch.manual_seed(2)
    block = ConvTransposeBNAct(7, 5, (4, 3), stride, 0, bias=True).to(device, torch.float64)
    randomize_bn(block)
    for fmt in (torch.contiguous_format, torch.channels_last):
        with torch.no_grad():
            block[0].weight.data = block[0].weight.data.contiguous(memory_format=fmt)
        compare(block, torch.randn(3, 7, 1, 1, device=device, dtype=torch.float64))
    plain = ConvTransposeBNAct(7, 5, 4, stride, 0, bias=True, norm=False, activation="none")
    compare(plain.to(device), torch.randn(3, 7, 1, 1, device=device))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_few_output_channels(device, activation):
    """The image block's shape (one output channel here), with an odd kernel,
    uneven strides and output padding."""
    torch.manual_seed(3)
    for norm in (False, True):
        block = ConvTransposeBNAct(6, 1, (4, 3), (2, 3), (1, 0), (1, 2), bias=True, norm=norm,
                                   activation=activation).to(device, torch.float64)
        randomize_bn(block)
        compare(block, torch.randn(2, 6, 5, 4, device=device, dtype=torch.float64))


def test_cpu_layouts():
    """The CPU kernel works channels-last: out comes back channels-last, the
    gradients of input and weight in their own layouts, and the values do
    not depend on either layout. A fused block keeps its weight
    channels-last on the CPU, a plain one contiguous."""
    torch.manual_seed(4)
    block = ConvTransposeBNAct(6, 5, 4, 2, 1, bias=False)
    weight = block[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 6, 4, 5)
    results = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        with torch.no_grad():
            weight.data = weight.data.contiguous(memory_format=fmt)
        xi = x.contiguous(memory_format=fmt).detach().requires_grad_()
        out = block(xi)
        assert out.is_contiguous(memory_format=torch.channels_last)
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        assert xi.grad.is_contiguous(memory_format=fmt)
        assert weight.grad.is_contiguous(memory_format=fmt)
        results.append((out.detach(), xi.grad, weight.grad.clone()))
        block.zero_grad()
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL[torch.float32])
    block.fused = False
    assert weight.is_contiguous()
    block.fused = True
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_weight_layout_off_the_cpu():
    """The layout rule for devices other than the CPU, checked on "meta": a
    fused block's channels-last CPU weight (pygan's choice) arrives
    contiguous, as plain modules have it; a layout the user then picks stays,
    also when fused is toggled."""
    block = ConvTransposeBNAct(6, 5, 4, 2, 1, bias=False)
    assert block[0].weight.is_contiguous(memory_format=torch.channels_last)
    block.to("meta")
    assert block[0].weight.is_contiguous()
    block.to(memory_format=torch.channels_last)
    for fused in (False, True):
        block.fused = fused
        weight = block[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_statistics_of_offset_activations(device):
    """Batch statistics stay accurate when the mean dwarfs the spread: the
    fused block in float32 is no further from the same block in float64 than
    torch's own float32 modules are. (A one-pass sum of squares loses the
    variance to cancellation here: ~5% error in the output, 100x torch's.)
    Activations near 1000 carry float32 rounding of ~6e-5, which the weight
    gradient's sum over 16k pixels grows to ~1e-2 in both."""
    torch.manual_seed(5)
    # No activation: a relu mask would flip where float32 rounds across 0.
    block = ConvTransposeBNAct(4, 3, 4, 2, 1, bias=True, activation="none").to(device)
    with torch.no_grad():
        block[0].bias.fill_(1e3)
    exact = copy.deepcopy(block).double()
    plain = nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.BatchNorm2d(3)).to(device)
    plain.load_state_dict(block.state_dict())
    x = torch.randn(64, 4, 8, 8, device=device)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_(), x.double().requires_grad_()]
    models = [block, plain, exact]
    outs = [m(v) for m, v in zip(models, xs)]
    grad = torch.randn_like(outs[2])
    for out in outs:
        out.backward(grad.to(out.dtype))

    def error(i, get):
        return (get(i).double() - get(2)).abs().max().item()

    for name, get in [("out", lambda i: outs[i]), ("input grad", lambda i: xs[i].grad),
                      ("weight grad", lambda i: models[i][0].weight.grad),
                      ("bn weight grad", lambda i: models[i][1].weight.grad),
                      ("bn bias grad", lambda i: models[i][1].bias.grad),
                      ("running_mean", lambda i: models[i][1].running_mean),
                      ("running_var", lambda i: models[i][1].running_var)]:
        fused, torch_own = error(0, get), error(1, get)
        assert fused <= 2 * torch_own + 1e-5 * get(2).abs().max().item(), (name, fused, torch_own)


def test_state_dict_loads_both_ways():
    fused = ConvTransposeBNAct(4, 3, 4, 2, 1, bias=False)
    plain = nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False), nn.BatchNorm2d(3),
                          nn.ReLU())
    assert fused.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(fused.state_dict())
    fused.load_state_dict(plain.state_dict())


def test_gradcheck_float64():
    torch.manual_seed(0)
    args = [torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True),
            torch.randn(3, 4, 3, 3, dtype=torch.float64, requires_grad=True),
            torch.randn(4, dtype=torch.float64, requires_grad=True),
            torch.rand(4, dtype=torch.float64).add_(0.5).requires_grad_(),
            torch.randn(4, dtype=torch.float64, requires_grad=True)]
    for activation in ("relu", "leaky_relu", "tanh", "none"):
        for training in (True, False):
            stats = [torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 1]

            def f(x, w, b, g, beta):
                return conv_transpose_bn_act(x, w, b, g, beta, *[t.clone() for t in stats],
                                             stride=2, padding=1, training=training,
                                             activation=activation, slope=0.3)
            assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "nhwc"])
def test_opcheck(device, fmt):
    """The fake kernel's output layout included (CUDA follows input/weight's)."""
    torch.manual_seed(0)
    x, w = (torch.randn(*size, device=device).contiguous(memory_format=fmt)
            for size in ((2, 3, 4, 4), (3, 5, 4, 4)))
    g, b, rm, rv = (t.to(device) for t in (torch.rand(5) + 0.5, torch.randn(5), torch.zeros(5),
                                           torch.ones(5)))
    for training in (True, False):
        args = (x.requires_grad_(), w.requires_grad_(), None, g.requires_grad_(),
                b.requires_grad_(), rm, rv, [2, 2], [1, 1], [0, 0], True, training, 1e-5,
                0.1, "relu", 0.0)
        torch.library.opcheck(torch.ops.pygan.conv_transpose_bn_act.default, args)
    args = (x, w, None, None, None, None, None, [2, 2], [1, 1], [0, 0], False, True, 1e-5,
            0.1, "tanh", 0.0)
    torch.library.opcheck(torch.ops.pygan.conv_transpose_bn_act.default, args)


def test_torch_compile_traces_the_block_whole():
    # The op, with its C++ autograd, stays in the graph (fullgraph: no graph
    # break), with the same results as eager modules.
    torch.manual_seed(0)
    block = ConvTransposeBNAct(6, 4, 4, 2, 1)
    plain = copy.deepcopy(block)
    plain.fused = False
    x = torch.randn(2, 6, 3, 3)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [torch.compile(block, fullgraph=True)(xs[0]), plain(xs[1])]
    for out in outs:
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    tol = TOL[torch.float32]
    torch.testing.assert_close(outs[0], outs[1], **tol)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, **tol)
    torch.testing.assert_close(block[0].weight.grad, plain[0].weight.grad, **tol)
    torch.testing.assert_close(block[1].running_var, plain[1].running_var, **tol)


def test_reference_matches_op():
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 4, 4), torch.randn(3, 5, 4, 4)
    stats = [(torch.zeros(5), torch.ones(5)) for _ in range(2)]
    a = conv_transpose_bn_act(x, w, None, None, None, *stats[0], stride=2, padding=1)
    b = conv_transpose_bn_act_reference(x, w, None, None, None, *stats[1], stride=2, padding=1)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(stats[0], stats[1])


ON_CUDA = [(torch.device("cuda"), fmt, cudnn) for fmt in (torch.contiguous_format,
                                                            torch.channels_last)
           for cudnn in (True, False)]


@pytest.mark.parametrize("device, fmt, cudnn", [
    (torch.device("cpu"), torch.contiguous_format, True),
    *(pytest.param(*case, marks=CUDA) for case in ON_CUDA)],
    ids=["cpu", "cuda-nchw", "cuda-nchw-gemm", "cuda-nhwc", "cuda-nhwc-gemm"])
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_random_shapes_match_reference(device, fmt, cudnn, data):
    """Any geometry, float64: output, running statistics and every gradient
    against the unfused reference. On the CPU, outputs of up to ~13k pixels
    with 2-9 channels span several of the statistics' fixed row chunks, with
    a remainder; 1-4 output channels take the image block's GEMM path. On
    CUDA, NCHW and NHWC (wherever the layout is unambiguous), with cuDNN and
    with it disabled, when the op takes its GEMM route (cuBLAS, col2im,
    im2col)."""
    draw = data.draw
    k = draw(st.integers(1, 5), "kernel")
    s = draw(st.integers(1, 3), "stride")
    p = draw(st.integers(0, k - 1), "padding")
    op = draw(st.integers(0, s - 1), "output_padding")
    h, w = draw(st.integers(1, 33), "H"), draw(st.integers(1, 9), "W")
    if (h - 1) * s - 2 * p + k + op < 1 or (w - 1) * s - 2 * p + k + op < 1:
        return  # an empty output
    cin, cout = draw(st.integers(1, 6), "C_in"), draw(st.integers(1, 9), "C_out")
    n = draw(st.integers(1, 3), "N")
    activation = draw(st.sampled_from(["relu", "leaky_relu", "tanh", "none"]), "activation")
    normalize, training = draw(st.booleans(), "normalize"), draw(st.booleans(), "training")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1), "seed"))
    randn = lambda *size: torch.randn(*size, generator=gen, dtype=torch.float64)  # noqa: E731
    leaves = [randn(n, cin, h, w), randn(cin, cout, k, k), randn(cout)]
    leaves += [randn(cout).abs_().add_(0.5), randn(cout)] if normalize else [None, None]
    leaves = [t if t is None else t.to(device) for t in leaves]
    leaves[:2] = [t.contiguous(memory_format=fmt) for t in leaves[:2]]
    if n * ((h - 1) * s - 2 * p + k + op) * ((w - 1) * s - 2 * p + k + op) == 1 and normalize:
        training = False  # batch statistics need more than one value per channel
    results = []
    for f in (conv_transpose_bn_act, conv_transpose_bn_act_reference):
        args = [t.clone().requires_grad_() if t is not None else None for t in leaves]
        gen.manual_seed(1)  # the same running statistics for both
        stats = ((randn(cout).to(device), randn(cout).abs_().add_(0.5).to(device)) if normalize
                 else (None, None))
        with cudnn_enabled(cudnn or f is conv_transpose_bn_act_reference):
            out = f(*args, *stats, stride=s, padding=p, output_padding=op, normalize=normalize,
                    training=training, activation=activation, slope=0.3)
            grad = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=device)
            out.backward(grad.view_as(out))
        results.append([out, *stats, *(a.grad for a in args if a is not None)])
    for a, b in zip(*results):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_dcgan_generator_trains_the_same_fused_and_unfused():
    torch.manual_seed(0)
    fused = DCGANGenerator(32, 3, 16, 8, fused=True)
    plain = copy.deepcopy(fused)
    plain.fused = False
    assert fused.fused and not plain.fused
    opts = [torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (fused, plain)]
    target = torch.rand(8, 3, 32, 32) * 2 - 1
    for _ in range(5):
        z = torch.randn(8, 16)
        for model, opt in zip((fused, plain), opts):
            opt.zero_grad()
            ((model(z) - target) ** 2).mean().backward()
            opt.step()
    for (name, a), b in zip(fused.state_dict().items(), plain.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_falls_back_to_unfused_for_dtypes_without_a_kernel():
    block = ConvTransposeBNAct(3, 4, 4, 2, 1).to(torch.bfloat16)
    out = block(torch.randn(2, 3, 4, 4, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (2, 4, 8, 8)


def call(**changes):
    args = dict(input=torch.randn(2, 3, 4, 4), weight=torch.randn(3, 5, 4, 4), bias=None,
                bn_weight=torch.ones(5), bn_bias=torch.zeros(5), running_mean=torch.zeros(5),
                running_var=torch.ones(5))
    kwargs = dict(stride=2, padding=1)
    for k, v in changes.items():
        (args if k in args else kwargs)[k] = v
    return conv_transpose_bn_act(*args.values(), **kwargs)


@pytest.mark.parametrize("changes, match", [
    (dict(input=torch.randn(3, 4, 4)), "input must be 4-D"),
    (dict(weight=torch.randn(4, 5, 4, 4)), "weight is for 4 input channels"),
    (dict(weight=torch.randn(3, 5, 4)), "weight must be 4-D"),
    (dict(weight=torch.randn(3, 5, 4, 4, dtype=torch.float64)), "weight has dtype"),
    (dict(input=torch.randint(0, 3, (2, 3, 4, 4))), "float32 or float64 input|floating point"),
    (dict(bias=torch.randn(4)), "bias must have shape"),
    (dict(bn_weight=torch.ones(4), bn_bias=torch.zeros(4)),
     r"bn_weight has shape \[4\] but expected \[C_out\]=\[5\]"),
    (dict(bn_bias=None), "bn_weight and bn_bias must be given together"),
    (dict(running_var=None), "running_mean and running_var"),
    (dict(running_mean=torch.zeros(5, dtype=torch.float64)), "running_mean has dtype"),
    (dict(running_var=torch.ones(5, 2)[:, 0]), "running_var must be contiguous"),
    (dict(bn_weight=torch.ones(10)[::2]), "bn_weight must be contiguous"),
    (dict(normalize=False), "must be None when normalize is False"),
    (dict(training=False, running_mean=None, running_var=None), "eval mode"),
    (dict(stride=0), "stride must be two integers >= 1"),
    (dict(padding=-1), "padding must be two integers >= 0"),
    (dict(output_padding=2), "output_padding .* must be smaller than stride"),
    (dict(stride=(1, 2, 3)), "stride must be an int or two ints"),
    (dict(eps=0.0), "eps must be > 0"),
    (dict(activation="gelu"), "activation must be one of"),
    (dict(activation="leaky_relu", slope=0.0), "slope must be > 0"),
    (dict(momentum=1.5), "momentum must be in"),
    (dict(input=torch.randn(1, 3, 1, 1), weight=torch.randn(3, 5, 1, 1), stride=1, padding=0),
     "more than one value per channel"),
])
def test_bad_inputs(changes, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        call(**changes)


def test_op_refuses_momentum_out_of_range():
    """torch.ops callers skip the Python checks: the op itself names momentum."""
    x, w = torch.randn(2, 3, 4, 4), torch.randn(3, 5, 4, 4)
    with pytest.raises(RuntimeError, match=r"momentum must be in \[0, 1\], got -0.5"):
        torch.ops.pygan.conv_transpose_bn_act(x, w, None, None, None, torch.zeros(5), torch.ones(5),
                                              [2, 2], [1, 1], [0, 0], True, True, 1e-5, -0.5,
                                              "relu", 0.0)


def test_module_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        ConvTransposeBNAct(3, 4, 4, activation="sigmoid")
    with pytest.raises(ValueError, match="negative_slope must be > 0"):
        ConvTransposeBNAct(3, 4, 4, activation="leaky_relu", negative_slope=-0.1)


def test_running_statistics_update_counts_as_in_place():
    """The op updates running_mean/var in place (training mode) and bumps
    their version counters, as an in-place torch op would."""
    block = ConvTransposeBNAct(3, 4, 4, 2, 1)
    before = [block[1].running_mean._version, block[1].running_var._version]
    block(torch.randn(2, 3, 4, 4))
    assert block[1].running_mean._version > before[0]
    assert block[1].running_var._version > before[1]
    assert not torch.equal(block[1].running_mean, torch.zeros(4))
