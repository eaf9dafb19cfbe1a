"""Hostile inputs to conv_transpose_bn_act, its backward op and
ConvTransposeBNAct: refused calls name the argument, in the same words from
the CPU kernel and the fake kernel (FakeTensorMode, meta, torch.compile); a
batch of 0 is an empty result as in torch's modules; leaky_relu matches
torch for any finite slope; the running statistics may not alias.

Calls that reach a kernel run in two subprocesses side by side (each costs
seconds of imports), one for the calls that once killed the process (SIGFPE
on a zero size), printing outcomes as JSON lines, each case announced first
so that a crash still names it."""
import contextlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch._subclasses import FakeTensorMode
from torch.nn import functional as F

import pygan  # noqa: F401  (registers torch.ops.pygan)
from pygan.nn import ConvTransposeBNAct
from pygan.ops import conv_transpose_bn_act, conv_transpose_bn_act_reference

FWD = torch.ops.pygan.conv_transpose_bn_act.default
BWD = torch.ops.pygan.conv_transpose_bn_act_backward.default
C = 5  # the valid call's output channels
NO_BN = dict(normalize=False, bn_weight=None, bn_bias=None, running_mean=None, running_var=None)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def randn(*shape, dtype=torch.float32, device=None):
    """A tensor made on the case's device when the case runs (device=None)."""
    return lambda dev: torch.randn(*shape, dtype=dtype, device=device or dev)


def vec(n, value=1.0, dtype=torch.float32, step=1):
    return lambda dev: torch.full((n * step,), value, dtype=dtype, device=dev)[::step]


def forward_args(dev, post=None, **changes):
    """The op's arguments: a valid call (stride 2, batch norm in training
    mode) with ``changes``; ``post(args)`` may then alias tensors."""
    args = dict(input=randn(2, 3, 4, 4), weight=randn(3, C, 4, 4), bias=None,
                bn_weight=vec(C), bn_bias=vec(C, 0.0), running_mean=vec(C, 0.0),
                running_var=vec(C), stride=[2, 2], padding=[1, 1], output_padding=[0, 0],
                normalize=True, training=True, eps=1e-5, momentum=0.1, activation="relu",
                slope=0.01)
    args.update(changes)
    args = {k: v(dev) if callable(v) else v for k, v in args.items()}
    if post:
        post(args)
    return args


def backward_args(dev, normalize=True, post=None, forward=(), **changes):
    """The backward op's arguments from the forward of forward_args(dev,
    **forward), with ``changes``."""
    f = forward_args(dev, **dict(forward, **({} if normalize else NO_BN)))
    out, y, mean, var = FWD(**f)
    args = dict(grad_out=torch.ones_like(out), input=f["input"], weight=f["weight"],
                bn_weight=f["bn_weight"], out=out, y=y, mean=mean, var=var,
                stride=f["stride"], padding=f["padding"], output_padding=f["output_padding"],
                normalize=normalize, training=f["training"], eps=1e-5, activation="relu",
                slope=0.01, output_mask=[True, True, True])
    args.update({k: v(dev) if callable(v) else v for k, v in changes.items()})
    if post:
        post(args)
    return args


def fwd(post=None, **changes):
    return lambda dev: FWD(**forward_args(dev, post, **changes))


def bwd(normalize=True, post=None, forward=(), **changes):
    return lambda dev: BWD(**backward_args(dev, normalize, post, forward, **changes))


def module(*args, train=True, **kwargs):
    """ConvTransposeBNAct(*args, **kwargs) forward and backward on a batch of
    2 (on the CPU whatever the device)."""
    def run(dev):
        block = ConvTransposeBNAct(*args, **kwargs).train(train)
        block(torch.randn(2, args[0], 4, 4)).sum().backward()
    return run


def cut(**views):
    """post hook: args[k] = args[k][index] for each k=index."""
    return lambda args: args.update({k: args[k][i] for k, i in views.items()})


def zero_size_backward(weight_shape):
    """The backward op with a zero-size weight (the forward refuses one): the
    forward's outputs cut to its output channels."""
    c, ch = weight_shape[1], (slice(None), slice(0, weight_shape[1]))
    return bwd(weight=randn(*weight_shape), post=cut(
        out=ch, y=ch, grad_out=ch, bn_weight=slice(0, c), mean=slice(0, c), var=slice(0, c)))


def alias(target, source, index=()):
    """post hook: args[target] becomes args[source] (or a view of it)."""
    return lambda args: args.update({target: args[source][index]})


def shared_buffer(first, second):
    """post hook: running_mean and running_var become views of one buffer."""
    def post(args):
        buf = torch.ones(12, device=args["input"].device)
        args["running_mean"], args["running_var"] = buf[first], buf[second]
    return post


ZERO_CH = dict(bn_weight=vec(0), bn_bias=vec(0, 0.0), running_mean=vec(0, 0.0),
               running_var=vec(0))
OUT0, KERNEL0 = "weight has 0 output channels", "kernel size must be positive"

# The calls that killed the process before (SIGFPE: a division by a zero
# size), with the pattern their message must match.
CRASHED = {
    "out-channels-0-no-bn": (lambda dev: conv_transpose_bn_act(
        torch.randn(2, 3, 5, 5, device=dev), torch.randn(3, 0, 3, 3, device=dev),
        normalize=False), OUT0),
    "out-channels-0-train": (fwd(weight=randn(3, 0, 4, 4), **ZERO_CH), OUT0),
    "out-channels-0-eval": (fwd(weight=randn(3, 0, 4, 4), training=False, **ZERO_CH), OUT0),
    "kernel-0-no-bn": (fwd(weight=randn(3, 3, 0, 0), **NO_BN), KERNEL0),
    "kernel-0-train": (fwd(weight=randn(3, 3, 0, 0), bn_weight=vec(3), bn_bias=vec(3, 0.0),
                           running_mean=vec(3, 0.0), running_var=vec(3)), KERNEL0),
    "backward-out-channels-0": (zero_size_backward((3, 0, 4, 4)), OUT0),
    "backward-kernel-0": (zero_size_backward((3, C, 0, 0)), KERNEL0),
    "module-out-channels-0": (module(3, 0, 4, 2, 1), OUT0),
    "module-kernel-0-eval": (module(3, 3, 0, 2, 1, train=False), KERNEL0),
}

# Refused calls, each with the pattern its message must match (naming the
# argument); all share one subprocess, each run on CPU tensors and again
# under FakeTensorMode.
REFUSED = {
    # zero and absurd sizes
    "input-channels-0": (fwd(input=randn(2, 0, 4, 4), weight=randn(0, C, 4, 4)),
                         r"input has 0 channels"),
    "empty-planes": (fwd(input=randn(2, 3, 0, 4)), r"input has an empty spatial size"),
    "padding-leaves-no-output-few-channels": (
        fwd(weight=randn(3, 2, 4, 4), padding=[5, 0], **NO_BN),
        r"padding \[5, 0\] leaves no output.*output size of \[0, 10\]"),
    "stride-2^62": (fwd(stride=[2**62, 2**62]), r"stride .* overflow the output size"),
    "padding-2^63-1": (fwd(padding=[2**63 - 1, 0], stride=[2, 2]),
                       r"padding .* overflow the output size"),
    "output-too-large": (fwd(input=randn(1, 3, 2, 2), stride=[2**40, 2**40], **NO_BN),
                         r"has more elements than int64 holds"),
    "one-value-per-channel": (fwd(input=randn(1, 3, 1, 1), weight=randn(3, C, 1, 1),
                                  stride=[1, 1], padding=[0, 0]),
                              r"more than one value per channel"),
    # settings
    "stride-0": (fwd(stride=[0, 2]), r"stride must be two integers >= 1"),
    "eps-negative": (fwd(eps=-1.0), r"eps must be > 0 and finite, got -1"),
    "eps-nan": (fwd(eps=float("nan")), r"eps must be > 0 and finite, got nan"),
    "momentum-nan": (fwd(momentum=float("nan")), r"momentum must be in \[0, 1\]"),
    "slope-inf": (fwd(activation="leaky_relu", slope=float("inf")), r"slope must be finite"),
    "slope-nan": (fwd(activation="leaky_relu", slope=float("nan")), r"slope must be finite"),
    "slope-nan-relu": (fwd(slope=float("nan")), r"slope must be finite"),
    # tensors
    "channel-mismatch": (fwd(weight=randn(4, C, 4, 4)), r"weight is for 4 input channels"),
    "half-on-cpu": (fwd(input=randn(2, 3, 4, 4, dtype=torch.float16),
                        weight=randn(3, C, 4, 4, dtype=torch.float16)),
                    r"the CPU kernel takes float32 or float64 input, got Half"),
    "weight-on-meta": (fwd(weight=randn(3, C, 4, 4, device="meta")),
                       r"weight is on meta but input is on cpu"),
    "running-var-on-meta": (fwd(running_var=lambda dev: torch.ones(C, device="meta")),
                            r"running_var is on meta but input is on cpu"),
    # aliasing of the running statistics, which the op updates in place
    "running-mean-is-running-var": (fwd(post=alias("running_var", "running_mean")),
                                    r"running_mean and running_var share memory"),
    "running-stats-overlap": (fwd(post=shared_buffer(slice(0, 5), slice(3, 8))),
                              r"running_mean and running_var share memory"),
    "running-mean-is-bn-weight": (fwd(post=alias("running_mean", "bn_weight")),
                                  r"running_mean shares memory with bn_weight"),
    "running-var-views-input": (
        fwd(post=alias("running_var", "input", (0, 0, 0)), input=randn(2, 3, 4, C)),
        r"running_var shares memory with input"),
    # the backward op, called directly
    "backward-bn-weight-too-short": (bwd(bn_weight=vec(C - 1)),
                                     r"bn_weight has shape \[4\] but expected \[C_out\]=\[5\]"),
    "backward-mean-strided": (bwd(mean=vec(C, 0.0, step=2)), r"mean must be contiguous"),
    "backward-var-too-long": (bwd(var=vec(C + 1)), r"var must have shape \[5\]"),
    "backward-eps-negative": (bwd(eps=-1e-5), r"eps must be > 0"),
    "backward-slope-nan": (bwd(activation="leaky_relu", slope=float("nan")),
                           r"slope must be finite"),
    "backward-slope-0-leaky": (bwd(activation="leaky_relu", slope=0.0), r"slope must be > 0"),
    "backward-grad-out-double": (bwd(grad_out=randn(2, C, 8, 8, dtype=torch.float64)),
                                 r"grad_out has dtype Double but input has Float"),
    "backward-mean-double": (bwd(mean=vec(C, dtype=torch.float64)),
                             r"mean has dtype Double, expected Float"),
    "backward-out-wrong-shape": (bwd(out=randn(2, C, 8, 7)),
                                 r"out has shape \[2, 5, 8, 7\], expected \[2, 5, 8, 8\]"),
    "backward-y-wrong-shape": (bwd(y=randn(2, C, 7, 8)), r"y has shape \[2, 5, 7, 8\]"),
    "backward-grad-out-on-meta": (bwd(grad_out=randn(2, C, 8, 8, device="meta")),
                                  r"grad_out is on meta but input is on cpu"),
    "backward-y-without-bn": (bwd(normalize=False, y=randn(2, C, 8, 8)),
                              r"y must be empty when normalize is False"),
    "backward-bn-weight-without-bn": (bwd(normalize=False, bn_weight=vec(C)),
                                      r"bn_weight must be None when normalize is False"),
    "backward-stride-0": (bwd(stride=[2, 0]), r"stride must be two integers >= 1"),
    "backward-activation": (bwd(activation="gelu"), r"activation must be relu, leaky_relu"),
    "backward-one-value-per-channel": (
        bwd(forward=dict(input=randn(1, 3, 1, 1), weight=randn(3, C, 1, 1), stride=[1, 1],
                         padding=[0, 0], training=False), training=True),
        r"more than one value per channel"),
}


def _outcome(run, mode):
    """A case's RuntimeError message (None without one) on the CPU ("real")
    or under FakeTensorMode; a check's "ok" or error."""
    try:
        with FakeTensorMode() if mode == "fake" else contextlib.nullcontext():
            if mode == "check":
                run()
                return "ok"
            run("cpu")
    except RuntimeError as e:
        return str(e).strip()
    except Exception as e:  # noqa: BLE001 - a failed check, reported to the test
        return f"{type(e).__name__}: {e}"
    return None


def _main(group):
    """Prints [name, mode, outcome] as a JSON line for each run of the group,
    announced on stderr first. "crashed": the CRASHED cases on the CPU;
    "batch": the REFUSED ones on the CPU and under FakeTensorMode, the
    CRASHED ones under FakeTensorMode (no kernel runs), the EMPTY checks."""
    runs = [(n, "real", case) for n, (case, _) in CRASHED.items()]
    if group == "batch":
        runs = [(n, mode, case) for n, (case, _) in REFUSED.items() for mode in ("real", "fake")]
        runs += [(n, "fake", case) for n, (case, _) in CRASHED.items()]
        runs += [(n, "check", check) for n, check in EMPTY.items()]
    for name, mode, run in runs:
        print(f"case {name} {mode}", file=sys.stderr, flush=True)
        print(json.dumps([name, mode, _outcome(run, mode)]), flush=True)


@pytest.fixture(scope="module")
def outcomes():
    """{(name, mode): outcome} from the two groups' subprocesses, run side by
    side; ("died", group) says how a subprocess ended early."""
    def run(group):
        code = f"from tests.test_conv_transpose_bn_act_hostile import _main; _main({group!r})"
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    groups = ("crashed", "batch")
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(zip(groups, pool.map(run, groups)))
    results = {}
    for group, proc in procs.items():
        for line in proc.stdout.splitlines():
            name, mode, outcome = json.loads(line)
            results[name, mode] = outcome
        if proc.returncode != 0:  # negative: killed by that signal
            last = re.findall(r"^case (.*)$", proc.stderr, re.M)[-1:]
            results["died", group] = (f"the {group} subprocess ended with status "
                                      f"{proc.returncode} in case {last}:\n{proc.stderr[-3000:]}")
    return results


def outcome_of(outcomes, name, mode, group="batch"):
    if (name, mode) not in outcomes:
        pytest.fail(outcomes.get(("died", group), f"{name} {mode} did not run"))
    return outcomes[name, mode]


@pytest.mark.parametrize("name", [*CRASHED, *REFUSED])
def test_refused_naming_the_argument_real_and_fake(outcomes, name):
    """The CPU kernel raises a RuntimeError matching the case's pattern (a
    CRASHED case's process lives on), and the fake kernel the same one."""
    crashed = name in CRASHED
    real = outcome_of(outcomes, name, "real", "crashed" if crashed else "batch")
    assert real is not None and re.search((CRASHED if crashed else REFUSED)[name][1], real), real
    assert outcome_of(outcomes, name, "fake") == real


# A batch of 0: empty results as the unfused modules give them (also with
# batch norm in training mode, where BatchNorm2d leaves the running
# statistics unchanged), zero parameter gradients. Run in the batched
# subprocess (a kernel on an empty batch might crash).
def _empty_batch_matches_modules(norm, train, activation="relu", cout=C, fmt=None):
    fused, plain = (ConvTransposeBNAct(3, cout, 4, 2, 1, norm=norm, activation=activation,
                                       fused=f).train(train) for f in (True, False))
    plain.load_state_dict(fused.state_dict())
    for block in (fused, plain):
        out = block(torch.randn(0, 3, 4, 4).contiguous(memory_format=fmt or torch.contiguous_format))
        assert out.shape == (0, cout, 8, 8), out.shape
        out.sum().backward()
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
        assert not p.grad.any(), name
    for (name, b), c in zip(fused.named_buffers(), plain.buffers()):
        torch.testing.assert_close(b, c, msg=name)


def _empty_batch_op_results():
    """The ops' own results: NaN batch statistics (the mean of no values),
    the running ones untouched (and returned in eval mode); the backward's
    gradients empty or zero."""
    for training in (True, False):
        args = backward_args("cpu", forward=dict(input=randn(0, 3, 4, 4), training=training))
        out, mean, var = args["out"], args["mean"], args["var"]
        assert out.shape == args["y"].shape == (0, C, 8, 8)
        assert (mean.isnan().all() and var.isnan().all()) if training else (
            torch.equal(mean, torch.zeros(C)) and torch.equal(var, torch.ones(C)))
        grads = BWD(**args)
        assert grads[0].shape == (0, 3, 4, 4)
        for g, shape in zip(grads[1:], [(3, C, 4, 4), (C,), (C,), (C,)]):
            assert g.shape == shape and not g.any(), (g.shape, shape)


EMPTY = {
    "empty-batch-train": lambda: _empty_batch_matches_modules(True, True),
    "empty-batch-eval": lambda: _empty_batch_matches_modules(True, False),
    "empty-batch-no-bn": lambda: _empty_batch_matches_modules(False, True, "tanh"),
    "empty-batch-few-channels": lambda: _empty_batch_matches_modules(True, True, cout=3),
    "empty-batch-nhwc": lambda: _empty_batch_matches_modules(True, True, fmt=torch.channels_last),
    "empty-batch-op": _empty_batch_op_results,
}


@pytest.mark.parametrize("name", EMPTY)
def test_empty_batch(outcomes, name):
    assert outcome_of(outcomes, name, "check") == "ok"


def test_empty_batch_fake_shapes():
    with FakeTensorMode():
        out, y, mean, var = FWD(**forward_args("cpu", input=randn(0, 3, 4, 4)))
    assert out.shape == (0, C, 8, 8) and mean.shape == (C,)


@pytest.mark.parametrize("name", ["stride", "padding"])
def test_public_function_refuses_ints_beyond_int64(name):
    with pytest.raises(ValueError, match=f"{name} must fit in int64"):
        conv_transpose_bn_act(torch.randn(2, 3, 4, 4), torch.randn(3, C, 4, 4), **{name: 2**64})


def test_fake_sparse_input_is_refused():
    """(A real sparse tensor is refused by the dispatcher, which names its
    SparseCPU key: the op has no kernel for it.)"""
    with FakeTensorMode(), pytest.raises(RuntimeError, match=r"input must be a strided \(dense\)"):
        fwd(input=lambda dev: torch.randn(2, 3, 4, 4).to_sparse())("cpu")


def test_disjoint_views_of_one_buffer_are_accepted():
    args = forward_args("cpu", post=shared_buffer(slice(0, 5), slice(5, 10)))
    FWD(**args)
    assert args["running_mean"].any()


@pytest.mark.parametrize("dtype, slope", [(torch.float32, 1e8), (torch.float32, 1e30),
                                          (torch.float64, 1e17), (torch.float64, 3.0)])
@pytest.mark.parametrize("normalize", [False, True])
def test_leaky_relu_any_finite_slope_matches_torch(dtype, slope, normalize):
    """A select, not a blend: positive outputs survive a large slope, and the
    gradient is the slope on the negative side, 1 on the positive."""
    torch.manual_seed(0)
    leaves = [torch.randn(2, 3, 4, 4, dtype=dtype), torch.randn(3, C, 4, 4, dtype=dtype)]
    results = []
    for f in (conv_transpose_bn_act, conv_transpose_bn_act_reference):
        x, w = (t.clone().requires_grad_() for t in leaves)
        kw = {} if normalize else dict(normalize=False)
        out = f(x, w, stride=2, padding=1, activation="leaky_relu", slope=slope, **kw)
        out.backward(torch.ones_like(out))
        results.append((out, x.grad, w.grad))
    assert (results[0][0] > 0).any()
    for a, b in zip(*results):  # errors relative to the largest value (slope-sized)
        assert (a - b).abs().max() <= 1e-5 * b.abs().max(), (a - b).abs().max()


def test_relu_of_minus_infinity_is_zero():
    """The blend gave -inf * 0 = NaN."""
    x, w = torch.randn(2, 3, 4, 4), torch.randn(3, C, 4, 4)
    bias = torch.full((C,), -float("inf"))
    out = conv_transpose_bn_act(x, w, bias, stride=2, padding=1, normalize=False)
    torch.testing.assert_close(out, F.relu(F.conv_transpose2d(x, w, bias, 2, 1)))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("normalize", [True, False])
def test_backward_takes_any_layout_of_out_and_y(normalize):
    """out, y and grad_out in NCHW (and sliced) give the gradients their
    channels-last originals give (the kernel's layout on the CPU)."""
    args = backward_args("cpu", normalize=normalize, activation="leaky_relu",
                         grad_out=randn(2, C, 8, 8))
    expected = BWD(**args)
    nchw = {k: args[k].contiguous() for k in ("out", "y") if args[k].numel()}
    nchw["grad_out"] = torch.randn(2, C, 8, 16)[..., ::2].copy_(args["grad_out"])
    for a, b in zip(BWD(**(args | nchw)), expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ["stride-0", "channel-mismatch", "eps-negative",
                                  "running-mean-is-running-var", "backward-bn-weight-too-short"])
def test_meta_tensors_are_refused_alike(outcomes, name):
    """All-meta calls reach the fake kernel through the Meta key."""
    with pytest.raises(RuntimeError) as info:
        REFUSED[name][0]("meta")
    assert str(info.value).strip() == outcome_of(outcomes, name, "real")


def test_torch_compile_fails_at_trace_time_with_the_message():
    block = ConvTransposeBNAct(3, 4, 4, 2, 1)

    def f(x):
        return FWD(x, block[0].weight, None, None, None, None, None, [0, 2], [1, 1], [0, 0],
                   False, True, 1e-5, 0.1, "relu", 0.0)[0]
    with pytest.raises(Exception, match=r"conv_transpose_bn_act: stride must be two integers"):
        torch.compile(f, fullgraph=True, backend="eager")(torch.randn(2, 3, 4, 4))


def test_torch_compile_dynamic_shapes_trace():
    """The fake kernel's checks on symbolic sizes (guards, no errors)."""
    torch.manual_seed(0)
    block = ConvTransposeBNAct(3, 4, 4, 2, 1)
    compiled = torch.compile(block, fullgraph=True, backend="eager", dynamic=True)
    for n in (2, 3):
        x = torch.randn(n, 3, 4 + n, 5)
        torch.testing.assert_close(compiled(x), block(x), rtol=1e-4, atol=1e-4)
