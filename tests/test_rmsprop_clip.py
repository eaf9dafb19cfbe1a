"""pygan.ops.rmsprop_clip_ against torch.optim.RMSprop + clamp_, its
reference, opcheck, and every input check."""
import itertools

import pytest
import torch
from hypothesis import given, settings, strategies as st

from pygan.ops import rmsprop_clip_, rmsprop_clip_reference

from .conftest import CUDA

SHAPE_LISTS = {
    "empty": [],
    "one": [(7,)],
    "mixed": [(3, 5), (70001,), (2, 3, 4, 5), (0,), (1,)],
    "many": [(i % 7 + 1, 33) for i in range(60)],  # more than one CUDA launch
}
OPTIONS = [dict(centered=c, momentum=m, weight_decay=w, maximize=x, clip=k)
           for c, m, w, x, k in itertools.product((False, True), (0.0, 0.9), (0.0, 0.1),
                                                  (False, True), (None, 0.01))]


def make_state(params, momentum, centered, dtype=None):
    new = lambda: [torch.zeros_like(p, dtype=dtype or p.dtype) for p in params]  # noqa: E731
    return new(), new() if momentum > 0 else [], new() if centered else []


def run_op(fn, params, grads_per_step, lr, opts, state_dtype=None):
    opts = dict(opts)
    sq, mom, ga = make_state(params, opts["momentum"], opts["centered"], state_dtype)
    for grads in grads_per_step:
        fn(params, grads, sq, mom, ga, lr=lr, **opts)
    return sq, mom, ga


def run_torch(params, grads_per_step, lr, opts):
    opts = dict(opts)
    clip = opts.pop("clip")
    params = [p.detach().clone().requires_grad_() for p in params]
    if not params:
        return params, None
    opt = torch.optim.RMSprop(params, lr=lr, foreach=False, **opts)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        if clip is not None:
            with torch.no_grad():
                for p in params:
                    p.clamp_(-clip, clip)
    return [p.detach() for p in params], opt


def random_problem(shapes, dtype, device, steps=20, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rand = lambda s: torch.randn(s, generator=gen, dtype=torch.float64).to(device, dtype)  # noqa: E731
    params = [0.02 * rand(s) for s in shapes]
    grads = [[rand(s) for s in shapes] for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("shapes", SHAPE_LISTS.values(), ids=SHAPE_LISTS.keys())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("impl", [rmsprop_clip_, rmsprop_clip_reference], ids=["op", "reference"])
def test_matches_torch_rmsprop_then_clamp(impl, dtype, shapes, opts, device):
    params, grads = random_problem(shapes, dtype, device)
    want, opt = run_torch(params, grads, 1e-3, opts)
    sq, mom, ga = run_op(impl, params, grads, 1e-3, opts)
    torch.testing.assert_close(params, want)
    for i, p in enumerate(want):
        state = opt.state[opt.param_groups[0]["params"][i]]
        torch.testing.assert_close(sq[i], state["square_avg"])
        if opts["momentum"]:
            torch.testing.assert_close(mom[i], state["momentum_buffer"])
        if opts["centered"]:
            torch.testing.assert_close(ga[i], state["grad_avg"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("opts", OPTIONS[::5], ids=str)
def test_half_params_float32_state_match_reference(dtype, opts, device):
    params, grads = random_problem(SHAPE_LISTS["mixed"], dtype, device)
    ref_params = [p.clone() for p in params]
    got = run_op(rmsprop_clip_, params, grads, 1e-3, opts, torch.float32)
    want = run_op(rmsprop_clip_reference, ref_params, grads, 1e-3, opts, torch.float32)
    # Both round p to the half type once per step; math order may differ by an ulp.
    tol = dict(atol=2e-3, rtol=1e-2)
    torch.testing.assert_close(params, ref_params, **tol)
    torch.testing.assert_close(got, want, **tol)


@given(n=st.integers(0, 5), size=st.integers(0, 300), lr=st.floats(0, 0.1),
       alpha=st.floats(0.5, 1), momentum=st.sampled_from([0.0, 0.5]), centered=st.booleans(),
       clip=st.one_of(st.none(), st.floats(1e-3, 1.0)))
@settings(max_examples=60, deadline=None)
def test_property_matches_reference(n, size, lr, alpha, momentum, centered, clip):
    # alpha >= 0.5: with alpha near 0 a centered variance is ~0 and rounds to
    # either sign (torch itself then gives NaN), which says nothing about the op.

    shapes = [(size + i,) for i in range(n)]
    params, grads = random_problem(shapes, torch.float64, "cpu", steps=3, seed=size)
    ref = [p.clone() for p in params]
    opts = dict(alpha=alpha, momentum=momentum, centered=centered, clip=clip,
                weight_decay=0.0, maximize=False, eps=1e-6)
    run_op(rmsprop_clip_, params, grads, lr, opts)
    run_op(rmsprop_clip_reference, ref, grads, lr, opts)
    torch.testing.assert_close(params, ref, equal_nan=True)


def test_nan_passes_the_clamp(device):
    p = torch.zeros(5, device=device)
    g = torch.tensor([1.0, float("nan"), -1.0, 0.5, 2.0], device=device)
    rmsprop_clip_([p], [g], [torch.zeros_like(p)], lr=0.1, clip=0.01)
    assert p[1].isnan() and p.nan_to_num().abs().max() <= 0.01


def test_channels_last_tensors(device):
    p = torch.randn(2, 3, 4, 5, device=device).to(memory_format=torch.channels_last)
    g = torch.randn_like(p)
    ref_p = p.contiguous()
    sq, ref_sq = torch.zeros_like(p), torch.zeros_like(ref_p)
    rmsprop_clip_([p], [g], [sq], lr=0.01, clip=0.5)
    rmsprop_clip_reference([ref_p], [g.contiguous()], [ref_sq], lr=0.01, clip=0.5)
    torch.testing.assert_close(p, ref_p)


def test_strides_of_size_one_dimensions_do_not_matter(device):
    # A compiled D's backward gave a [64, 1, 4, 4] weight's grad strides
    # [16, 1, 4, 1] against the weight's [16, 16, 4, 1]: the same memory order.
    p = torch.randn(6, 1, 4, 4, device=device)
    g = torch.empty_strided(p.shape, (16, 1, 4, 1), device=device).copy_(torch.randn_like(p))
    ref_p, sq, ref_sq = p.clone(), torch.zeros_like(p), torch.zeros_like(p)
    rmsprop_clip_([p], [g], [sq], lr=0.01, clip=0.5)
    rmsprop_clip_reference([ref_p], [g.contiguous()], [ref_sq], lr=0.01, clip=0.5)
    torch.testing.assert_close(p, ref_p)
    torch.testing.assert_close(sq, ref_sq)


@CUDA
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cpu_cuda_parity(dtype):
    shapes = SHAPE_LISTS["mixed"] + [(3,), (1, 1025)]  # odd sizes: scalar tails
    opts = dict(centered=True, momentum=0.9, weight_decay=0.1, maximize=False, clip=0.02)
    state_dtype = torch.float32 if dtype == torch.bfloat16 else dtype
    cpu_p, grads = random_problem(shapes, dtype, "cpu")
    cuda_p = [p.cuda() for p in cpu_p]
    cpu_state = run_op(rmsprop_clip_, cpu_p, grads, 1e-3, opts, state_dtype)
    cuda_state = run_op(rmsprop_clip_, cuda_p, [[g.cuda() for g in gs] for gs in grads], 1e-3,
                        opts, state_dtype)
    torch.testing.assert_close([p.cpu() for p in cuda_p], cpu_p)
    torch.testing.assert_close([[t.cpu() for t in s] for s in cuda_state], list(cpu_state))


@CUDA
def test_cuda_misaligned_views_take_the_scalar_path():
    base = torch.randn(4 * 1000 + 3, device="cuda")
    p = base[1:4001]  # 4-byte offset: not 16-byte aligned
    g, sq = torch.randn(4000, device="cuda"), torch.zeros(4000, device="cuda")
    ref_p, ref_sq = p.cpu(), sq.cpu()
    rmsprop_clip_([p], [g], [sq], lr=0.01, clip=0.5)
    rmsprop_clip_reference([ref_p], [g.cpu()], [ref_sq], lr=0.01, clip=0.5)
    torch.testing.assert_close(p.cpu(), ref_p)


def test_opcheck(device):
    params, grads = random_problem([(3, 4), (10,)], torch.float32, device, steps=1)
    sq, mom, ga = make_state(params, 0.9, True)
    args = (params, grads[0], sq, mom, ga, 1e-3, 0.99, 1e-8, 0.0, 0.9, True, False, 0.01)
    torch.library.opcheck(torch.ops.pygan.rmsprop_clip_.default, args)


def bad_call(**override):
    p = [torch.zeros(3), torch.zeros(2, 2)]
    args = dict(params=p, grads=[torch.ones(3), torch.ones(2, 2)],
                square_avgs=[torch.zeros(3), torch.zeros(2, 2)], momentum_buffers=[],
                grad_avgs=[], lr=0.1, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False, clip=0.01)
    args.update(override)
    rmsprop_clip_(args.pop("params"), args.pop("grads"), args.pop("square_avgs"),
                  args.pop("momentum_buffers"), args.pop("grad_avgs"), **args)


BAD = {
    "grads has 1 tensors but params has 2": dict(grads=[torch.ones(3)]),
    "square_avgs has 0 tensors": dict(square_avgs=[]),
    r"grads\[1\] has shape \[4\] but params\[1\] has shape \[2, 2\]":
        dict(grads=[torch.ones(3), torch.ones(4)]),
    r"grads\[0\] has dtype Double, expected Float":
        dict(grads=[torch.ones(3, dtype=torch.float64), torch.ones(2, 2)]),
    r"square_avgs\[1\] has dtype Half, expected Float":
        dict(square_avgs=[torch.zeros(3), torch.zeros(2, 2, dtype=torch.half)]),
    r"params must be float32, float64, float16 or bfloat16, got Long":
        dict(params=[torch.zeros(3, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long)]),
    r"grads\[1\] must be dense": dict(grads=[torch.ones(3), torch.ones(2, 4)[:, ::2]]),
    r"grads\[1\] has strides \[1, 2\] but params\[1\] has strides \[2, 1\]":
        dict(grads=[torch.ones(3), torch.ones(2, 2).t()]),
    "lr must be in": dict(lr=-1.0),
    "alpha must be in": dict(alpha=1.5),
    "eps must be in": dict(eps=float("nan")),
    "weight_decay must be in": dict(weight_decay=-0.1),
    "momentum must be in": dict(momentum=-0.5),
    "clip must be positive and finite": dict(clip=0.0),
    "momentum_buffers has 0 tensors but params has 2": dict(momentum=0.9),
    "momentum_buffers must be empty when momentum is 0":
        dict(momentum_buffers=[torch.zeros(3), torch.zeros(2, 2)]),
    "grad_avgs has 0 tensors but params has 2": dict(centered=True),
    "grad_avgs must be empty when centered is False":
        dict(grad_avgs=[torch.zeros(3), torch.zeros(2, 2)]),
    "params is empty but grads has 2": dict(params=[]),
}


@pytest.mark.parametrize("message, override", BAD.items(), ids=range(len(BAD)))
def test_bad_inputs_name_the_argument(message, override):
    with pytest.raises(RuntimeError, match=message):
        bad_call(**override)


@CUDA
def test_mixed_devices_are_refused():
    with pytest.raises(RuntimeError, match=r"grads\[0\] is on cpu but params\[0\] is on cuda"):
        bad_call(params=[torch.zeros(3, device="cuda"), torch.zeros(2, 2, device="cuda")],
                 square_avgs=[torch.zeros(3, device="cuda"), torch.zeros(2, 2, device="cuda")])


def test_reference_checks_list_lengths():
    with pytest.raises(ValueError, match="momentum_buffers has 0 tensors, expected 1"):
        rmsprop_clip_reference([torch.zeros(2)], [torch.ones(2)], [torch.zeros(2)], lr=0.1,
                               momentum=0.9)
