"""Hostile inputs to rmsprop_clip_ and ClippedRMSprop: aliased and
overlapping tensors, hyperparameters beyond float32, devices (meta among
them), dtypes, shapes, list lengths, zero sizes, autograd (version counters,
the leaf rule) and Python types. The kernel cases run in a child
interpreter (tests/hostile.py), eagerly and under FakeTensorMode, whose fake
kernel must say the same words."""

import pytest
import torch
from torch import nn

from pygan.ops import rmsprop_clip_, rmsprop_clip_reference
from pygan.optim import ClippedRMSprop

from .conftest import CUDA
from .hostile import Case, check_result, run_table

OP = torch.ops.pygan.rmsprop_clip_.default
F32_MAX = "3.40282e\\+38"


def args(n=2, dtype=torch.float32, state=None, momentum=0.0, centered=False, **change):
    """Valid arguments for n params of shapes (3,), (2, 2), ..., then `change`."""
    shapes = [(3,), (2, 2), (4,)][:n]
    new = lambda fill, dt: [torch.full(s, fill, dtype=dt) for s in shapes]  # noqa: E731
    st = state or dtype
    a = dict(params=new(0.0, dtype), grads=new(1.0, dtype), square_avgs=new(0.0, st),
             momentum_buffers=new(0.0, st) if momentum else [],
             grad_avgs=new(0.0, st) if centered else [], lr=0.1, alpha=0.99, eps=1e-8,
             weight_decay=0.0, momentum=momentum, centered=centered, maximize=False, clip=0.01)
    a.update(change)
    return a


def aliased(build):
    """args() whose lists `build(a)` rewires to share tensors."""
    def make():
        a = args(momentum=0.9, centered=True)
        build(a)
        return a
    return make


def _set(a, key, i, value):
    a[key][i] = value


def _two_views(a, overlap):
    base = torch.zeros(10)
    a["params"] = [base[:4], base[2:6] if overlap else base[4:8]]
    a["grads"] = [torch.ones(4), torch.ones(4)]
    for key in ("square_avgs", "momentum_buffers", "grad_avgs"):
        a[key] = [torch.zeros(4), torch.zeros(4)]


def _square_avg_in_grad():
    g = torch.ones(6)  # only read, but the square_avg written from it overlaps it
    return args(n=1, grads=[g[1:4]], square_avgs=[g[2:5]])


OVERLAP = "overlap in memory; the tensors the update writes"
KERNEL_CASES = {
    # Aliasing (finding 9): a written tensor shares memory with another argument.
    "square_avg is param": Case(aliased(lambda a: _set(a, "square_avgs", 0, a["params"][0])),
                                rf"params\[0\] and square_avgs\[0\] {OVERLAP}"),
    "grad is param": Case(aliased(lambda a: _set(a, "grads", 1, a["params"][1])),
                          rf"params\[1\] and grads\[1\] {OVERLAP}"),
    "momentum buffer is square_avg": Case(
        aliased(lambda a: _set(a, "momentum_buffers", 0, a["square_avgs"][0])),
        rf"square_avgs\[0\] and momentum_buffers\[0\] {OVERLAP}"),
    "grad_avg is a param": Case(aliased(lambda a: _set(a, "grad_avgs", 0, a["params"][0])),
                                rf"params\[0\] and grad_avgs\[0\] {OVERLAP}"),
    "one param twice": Case(lambda: args(params=[torch.zeros(3)] * 2, grads=[torch.ones(3)] * 2,
                                         square_avgs=[torch.zeros(3), torch.zeros(3)]),
                            rf"params\[0\] and params\[1\] {OVERLAP}"),
    "overlapping views of one storage": Case(aliased(lambda a: _two_views(a, True)),
                                             rf"params\[0\] and params\[1\] {OVERLAP}"),
    "square_avg overlaps a grad": Case(_square_avg_in_grad,
                                       rf"grads\[0\] and square_avgs\[0\] {OVERLAP}"),
    "disjoint views are fine": Case(aliased(lambda a: _two_views(a, False)), None),
    "grads may share memory": Case(lambda: args(params=[torch.zeros(3), torch.zeros(3)],
                                                grads=[torch.ones(3)] * 2,
                                                square_avgs=[torch.zeros(3), torch.zeros(3)]),
                                   None),
    # Hyperparameters beyond the update's float32 math (finding 5).
    "lr 1e300": Case(lambda: args(lr=1e300), rf"lr must be in \[0, {F32_MAX}\] \(the update "
                     r"runs in float32\), got 1e\+300"),
    "eps 1e39": Case(lambda: args(eps=1e39), rf"eps must be in \[0, {F32_MAX}\]"),
    "weight_decay 1e39": Case(lambda: args(weight_decay=1e39), "weight_decay must be in"),
    "momentum 1e39": Case(lambda: args(momentum=1e39), "momentum must be in"),
    "clip 1e39": Case(lambda: args(clip=1e39), rf"clip must be positive and finite \(at most "
                      rf"{F32_MAX}: the update runs in float32\)"),
    "half params, lr 1e39": Case(lambda: args(dtype=torch.half, state=torch.float32, lr=1e39),
                                 "lr must be in .*float32"),
    "double params take lr 1e300": Case(lambda: args(dtype=torch.float64, lr=1e300), None),
    "lr nan": Case(lambda: args(lr=float("nan")), "lr must be in .* got nan"),
    "lr negative": Case(lambda: args(lr=-1.0), r"lr must be in \[0, .* got -1$"),
    "alpha 1.5": Case(lambda: args(alpha=1.5), r"alpha must be in \[0, 1\], got 1.5$"),
    # Devices, dtypes, layouts, shapes.
    "meta grad, CPU params": Case(lambda: args(grads=[torch.ones(3, device="meta"),
                                                      torch.ones(2, 2)]),
                                  r"grads\[0\] is on meta but params\[0\] is on cpu"),
    "double grad": Case(lambda: args(grads=[torch.ones(3, dtype=torch.float64),
                                            torch.ones(2, 2)]),
                        r"grads\[0\] has dtype Double, expected Float"),
    "int params": Case(lambda: args(n=1, params=[torch.zeros(3, dtype=torch.long)]),
                       "params must be float32, float64, float16 or bfloat16, got Long"),
    "half state for float params": Case(
        lambda: args(square_avgs=[torch.zeros(3), torch.zeros(2, 2, dtype=torch.half)]),
        r"square_avgs\[1\] has dtype Half, expected Float"),
    "sparse grad": Case(lambda: args(grads=[torch.ones(3).to_sparse(), torch.ones(2, 2)]),
                        r"grads\[0\] must be a dense \(strided\) tensor, got layout Sparse"),
    "strided grad": Case(lambda: args(grads=[torch.ones(6)[::2], torch.ones(2, 2)]),
                         r"grads\[0\] must be dense .* got strides \[2\] for shape \[3\]"),
    "transposed grad": Case(lambda: args(grads=[torch.ones(3), torch.ones(2, 2).t()]),
                            r"grads\[1\] has strides \[1, 2\] but params\[1\] has strides"),
    "grad shape": Case(lambda: args(grads=[torch.ones(3), torch.ones(4)]),
                       r"grads\[1\] has shape \[4\] but params\[1\] has shape \[2, 2\]"),
    # List lengths, zero sizes.
    "short grads": Case(lambda: args(grads=[torch.ones(3)]),
                        "grads has 1 tensors but params has 2"),
    "no momentum buffers": Case(lambda: args(momentum=0.9, momentum_buffers=[]),
                                "momentum_buffers has 0 tensors but params has 2"),
    "buffers without momentum": Case(lambda: args(momentum_buffers=[torch.zeros(3),
                                                                    torch.zeros(2, 2)]),
                                     "momentum_buffers must be empty when momentum is 0"),
    "grad_avgs, not centered": Case(lambda: args(grad_avgs=[torch.zeros(3), torch.zeros(2, 2)]),
                                    "grad_avgs must be empty when centered is False"),
    "empty params, some grads": Case(lambda: args(params=[]), "params is empty but grads has 2"),
    "zero-size tensors": Case(lambda: args(params=[torch.zeros(0), torch.zeros(2, 0)],
                                           grads=[torch.ones(0), torch.ones(2, 0)],
                                           square_avgs=[torch.zeros(0), torch.zeros(2, 0)]), None),
    "all lists empty": Case(lambda: args(params=[], grads=[], square_avgs=[]), None),
}


@pytest.fixture(scope="module")
def kernel_results():
    return run_table(__name__, "KERNEL_CASES")


@pytest.mark.parametrize("name", KERNEL_CASES)
def test_kernel_and_fake_name_the_argument(name, kernel_results):
    check_result(KERNEL_CASES[name], kernel_results[name], "rmsprop_clip_: ")


# Autograd (finding 2): in-place updates are seen as torch's own are.

@pytest.mark.parametrize("optimizer", [torch.optim.RMSprop, ClippedRMSprop])
def test_backward_through_a_saved_updated_weight_raises(optimizer):
    w = nn.Parameter(torch.randn(3))
    x = torch.randn(3, requires_grad=True)
    loss = (w * x).sum()  # saves w for x's gradient
    w.grad = torch.ones(3)
    optimizer([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_every_written_tensor_gets_a_new_version():
    a = args(momentum=0.9, centered=True)
    written = [t for key in ("params", "square_avgs", "momentum_buffers", "grad_avgs")
               for t in a[key]]
    before = [t._version for t in written + a["grads"]]
    OP(**a)
    after = [t._version for t in written + a["grads"]]
    assert after == [v + 1 for v in before[:len(written)]] + before[len(written):]


@pytest.mark.parametrize("make, message", [
    (lambda w: w, r"params\[0\] is a leaf Variable that requires grad and is being used in an "
                  "in-place operation"),
    (lambda w: w[:2], r"params\[0\] is a view of a leaf Variable that requires grad"),
    (lambda w: w * 2, r"params\[0\] requires grad and is being used in an in-place operation"),
])
def test_params_requiring_grad_are_refused_under_grad_mode(make, message):
    w = torch.zeros(2, requires_grad=True)
    p = make(w)
    with pytest.raises(RuntimeError, match=message):
        rmsprop_clip_([p], [torch.ones(2)], [torch.zeros(2)], lr=0.1)
    with torch.no_grad():
        rmsprop_clip_([w], [torch.ones(2)], [torch.zeros(2)], lr=0.1)  # as an optimizer does
    assert (w < 0).all()


def test_a_state_tensor_requiring_grad_is_named():
    sq = torch.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"square_avgs\[0\] is a leaf Variable"):
        rmsprop_clip_([torch.zeros(2)], [torch.ones(2)], [sq], lr=0.1)


def test_grads_requiring_grad_are_only_read():
    g = torch.ones(2, requires_grad=True)
    p = torch.zeros(2)
    rmsprop_clip_([p], [g], [torch.zeros(2)], lr=0.1)
    assert (p < 0).all() and not p.requires_grad


def test_clipped_rmsprop_steps_bump_versions_and_work_in_inference_mode():
    w = nn.Parameter(torch.zeros(3))
    opt = ClippedRMSprop([w], lr=0.1, clip_value=0.05)
    w.grad = torch.ones(3)
    version = w._version
    opt.step()
    assert w._version == version + 1 and torch.equal(w.detach(), torch.full((3,), -0.05))
    with torch.inference_mode():
        opt.step()  # torch.optim steps run there too
    assert w._version == version + 2


def test_inference_tensors_outside_inference_mode_are_refused_like_torch():
    with torch.inference_mode():
        p = torch.zeros(2)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside "
                                           "InferenceMode"):
        rmsprop_clip_([p], [torch.ones(2)], [torch.zeros(2)], lr=0.1)


# Python types, the constructor, the reference.

@pytest.mark.parametrize("change, error, message", [
    (dict(lr="0.1"), TypeError, r"lr must be a real number, got '0.1' \(str\)"),
    (dict(lr=True), TypeError, r"lr must be a real number, got True \(bool\)"),
    (dict(clip=[0.1]), TypeError, "clip must be a real number"),
    (dict(params=torch.zeros(2, 3)), TypeError, "params must be a sequence of tensors, got a "
                                                "Tensor"),
])
def test_wrapper_refuses_wrong_python_types(change, error, message):
    a = args(**change)
    lists = [a.pop(k) for k in ("params", "grads", "square_avgs", "momentum_buffers",
                                "grad_avgs")]
    with pytest.raises(error, match=message):
        rmsprop_clip_(*lists, **a)


def test_wrapper_takes_a_tensor_lr():
    p = torch.zeros(2)
    rmsprop_clip_([p], [torch.ones(2)], [torch.zeros(2)], lr=torch.tensor(0.1), clip=0.05)
    assert torch.equal(p, torch.full((2,), -0.05))


@pytest.mark.parametrize("dtype, kwargs, message", [
    (torch.float32, dict(lr=1e300), "lr must be >= 0 and finite in float32 "
                                    rf"\(at most {F32_MAX}: the update runs in float32\)"),
    (torch.bfloat16, dict(eps=1e39), "eps must be >= 0 and finite in float32"),
    (torch.float32, dict(clip_value=1e39), "clip_value must be positive and finite in float32"),
])
def test_constructor_refuses_settings_beyond_float32(dtype, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClippedRMSprop([nn.Parameter(torch.zeros(2, dtype=dtype))], **kwargs)


def test_float64_parameters_take_float64_settings():
    w = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    ClippedRMSprop([w], lr=1e300)  # finite in float64


def test_a_refused_param_group_is_not_kept():
    opt = ClippedRMSprop([nn.Parameter(torch.zeros(2, dtype=torch.float64))], lr=1e300)
    with pytest.raises(ValueError, match="lr must be >= 0 and finite in float32"):
        opt.add_param_group(dict(params=[nn.Parameter(torch.zeros(2))]))
    assert len(opt.param_groups) == 1


def test_an_lr_changed_after_construction_is_refused_by_the_op():
    w = nn.Parameter(torch.zeros(2))
    opt = ClippedRMSprop([w], lr=0.1)
    opt.param_groups[0]["lr"] = 1e300  # as a scheduler could
    w.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match=r"rmsprop_clip_: lr must be in \[0, 3.40282e\+38\]"):
        opt.step()
    assert torch.equal(w.detach(), torch.zeros(2))


def test_reference_refuses_settings_beyond_float32():
    with pytest.raises(ValueError, match=r"rmsprop_clip_reference: lr must be in \[0, "
                                         rf"{F32_MAX}\] \(the update runs in float32\)"):
        rmsprop_clip_reference([torch.zeros(2)], [torch.ones(2)], [torch.zeros(2)], lr=1e300)


def test_compile_fails_at_trace_time_with_the_kernel_message():
    def step(p, g, sq):
        rmsprop_clip_([p], [g], [sq], lr=0.1, clip=0.5)
        return p + 1

    torch._dynamo.reset()
    p, sq = torch.zeros(4), torch.zeros(4)
    out = torch.compile(step, fullgraph=True)(p, torch.ones(4), sq)
    want, want_sq = torch.zeros(4), torch.zeros(4)
    rmsprop_clip_([want], [torch.ones(4)], [want_sq], lr=0.1, clip=0.5)
    assert torch.equal(p, want) and torch.equal(sq, want_sq) and torch.equal(out, want + 1)
    torch._dynamo.reset()
    with pytest.raises(Exception, match=r"rmsprop_clip_: params\[0\] and square_avgs\[0\] overlap"):
        torch.compile(step, fullgraph=True)(p, torch.ones(4), p)


def test_compile_with_dynamic_shapes_checks_symbolic_sizes():
    """The fake kernel's check op on symbolic sizes: guards, no errors, and
    overlapping views still refused with the kernel's words."""
    def step(p, g, sq):
        rmsprop_clip_([p], [g], [sq], lr=0.1, clip=0.5)
        return p + 1

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, dynamic=True, backend="eager")
    for n in (4, 7):
        p, want = torch.zeros(n), torch.zeros(n)
        compiled(p, torch.ones(n), torch.zeros(n))
        rmsprop_clip_([want], [torch.ones(n)], [torch.zeros(n)], lr=0.1, clip=0.5)
        assert torch.equal(p, want)
    base = torch.zeros(10)
    with pytest.raises(Exception, match=rf"params\[0\] and square_avgs\[0\] {OVERLAP}"):
        compiled(base[:6], torch.ones(6), base[4:])


@CUDA
def test_cuda_runs_the_same_checks():
    p = torch.zeros(3, device="cuda")
    with pytest.raises(RuntimeError, match=rf"params\[0\] and square_avgs\[0\] {OVERLAP}"):
        rmsprop_clip_([p], [torch.ones_like(p)], [p], lr=0.1)
    with pytest.raises(RuntimeError, match="lr must be in"):
        rmsprop_clip_([p], [torch.ones_like(p)], [torch.zeros_like(p)], lr=1e300)
    with pytest.raises(RuntimeError, match=r"grads\[0\] is on meta but params\[0\] is on cuda:0"):
        rmsprop_clip_([p], [torch.ones(3, device="meta")], [torch.zeros_like(p)], lr=0.1)
