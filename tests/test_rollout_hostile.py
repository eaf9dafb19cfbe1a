"""Hostile inputs to rollout: shapes and zero sizes, dtypes, devices (meta
among them), token ids and seqs values out of [0, V), temperatures whose
inverse overflows float32, output sizes past int64, and Python types
(floats and bools where ints belong, seeds outside [0, 2**64)). The kernel
cases run in a child interpreter (tests/hostile.py), eagerly and under
FakeTensorMode, whose fake kernel must say the same words."""

import numpy as np
import pytest
import torch

from pygan.models import LSTMGenerator
from pygan.ops import RolloutParams, rollout, rollout_reference
from pygan.ops.rollout import MIN_TEMPERATURE

from .conftest import CUDA
from .hostile import Case, check_result, run_table

OP = torch.ops.pygan.rollout.default
V, E, H = 40, 6, 12


def model(**change) -> LSTMGenerator:
    torch.manual_seed(0)
    G = LSTMGenerator(V, E, H, 5, start_token=1, pad_token=0, init_std=1.0)
    for name, value in change.items():
        setattr(G, name, value)
    return G


def args(**change):
    """Valid keyword arguments of the op (B = 3, T = 5), then `change`."""
    p = RolloutParams.of(model()).detached()
    a = dict(seqs=torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(0)),
             embedding=p.embedding, w_ih=p.w_ih, w_hh=p.w_hh, b_ih=p.b_ih, b_hh=p.b_hh,
             w_out=p.w_out, b_out=p.b_out, n_rollouts=2, temperature=1.0, seed=0, offset=0,
             start_token=1, eos_token=None, pad_token=0)
    a.update(change)
    return a


def meta(name):
    return lambda: args(**{name: args()[name].to("meta")})


KERNEL_CASES = {
    # Shapes and zero sizes.
    "no sequences": Case(lambda: args(seqs=torch.zeros(0, 5, dtype=torch.long)),
                         r"seqs must hold at least one sequence, got shape \[0, 5\]"),
    "T = 1": Case(lambda: args(seqs=torch.zeros(3, 1, dtype=torch.long)),
                  r"seqs must have T >= 2 tokens a row .* got T = 1"),
    "1-D seqs": Case(lambda: args(seqs=torch.zeros(5, dtype=torch.long)),
                     r"seqs must be an int64 tensor \[B, T\], got Long of shape \[5\]"),
    "float seqs": Case(lambda: args(seqs=torch.zeros(3, 5)),
                       r"seqs must be an int64 tensor \[B, T\], got Float of shape \[3, 5\]"),
    "empty vocabulary": Case(lambda: args(embedding=torch.zeros(0, E)),
                             r"embedding must be \[V, E\], got shape \[0, 6\]"),
    "E = 0": Case(lambda: args(embedding=torch.zeros(V, 0)), r"embedding must be \[V, E\]"),
    "H = 0": Case(lambda: args(w_hh=torch.zeros(0, 0)), r"w_hh must be \[4H, H\] .* \[0, 0\]"),
    "w_hh not 4H x H": Case(lambda: args(w_hh=torch.zeros(48, 11)), r"w_hh must be \[4H, H\]"),
    "w_ih shape": Case(lambda: args(w_ih=torch.zeros(48, 5)),
                       r"w_ih must have shape \[48, 6\], got \[48, 5\]"),
    "b_ih shape": Case(lambda: args(b_ih=torch.zeros(47)), r"b_ih must have shape \[48\]"),
    "w_out vocabulary": Case(lambda: args(w_out=torch.zeros(41, H)),
                             r"w_out must have shape \[40, 12\], got \[41, 12\]"),
    "b_out shape": Case(lambda: args(b_out=torch.zeros(V, 1)), r"b_out must have shape \[40\]"),
    # dtypes and devices (finding 4: a meta weight next to CPU seqs).
    "double weight": Case(lambda: args(w_hh=torch.zeros(48, H, dtype=torch.float64)),
                          "w_hh must be float32, got Double"),
    "meta weight, CPU seqs": Case(meta("w_out"), "w_out is on meta but seqs is on cpu"),
    "meta seqs, CPU weights": Case(meta("seqs"), "embedding is on cpu but seqs is on meta"),
    # Counts, temperatures, offsets, token ids.
    "n_rollouts 0": Case(lambda: args(n_rollouts=0), "n_rollouts must be >= 1, got 0"),
    "n_rollouts -1": Case(lambda: args(n_rollouts=-1), "n_rollouts must be >= 1, got -1"),
    "output past int64": Case(lambda: args(n_rollouts=2 ** 62),
                              r"n_rollouts = 4611686018427387904 makes the output "
                              r"\[n_rollouts, T-1, B, T\] hold more than 2\*\*63 - 1 elements"),
    "temperature 1e-39": Case(lambda: args(temperature=1e-39),
                              r"temperature must be a positive finite number of at least "
                              r"2.93874e-39 \(1/temperature must be finite in float32\), "
                              r"got 1e-39"),
    "temperature 0": Case(lambda: args(temperature=0.0), "temperature must be .* got 0$"),
    "temperature -1": Case(lambda: args(temperature=-1.0), "temperature must be .* got -1$"),
    "temperature inf": Case(lambda: args(temperature=float("inf")), "temperature .* got inf"),
    "temperature nan": Case(lambda: args(temperature=float("nan")), "temperature .* got nan"),
    "smallest temperature": Case(lambda: args(temperature=MIN_TEMPERATURE), None),
    "huge temperature": Case(lambda: args(temperature=1e300), None),
    "offset -1": Case(lambda: args(offset=-1), "offset must be >= 0, got -1"),
    "any int64 seed": Case(lambda: args(seed=-2 ** 63), None),
    "start_token V": Case(lambda: args(start_token=V),
                          r"start_token must be a token id in \[0, 40\), got 40"),
    "start_token -1": Case(lambda: args(start_token=-1), "start_token must be a token id"),
    "eos_token -2": Case(lambda: args(eos_token=-2), "eos_token must be a token id"),
    "eos_token V": Case(lambda: args(eos_token=V), "eos_token must be a token id"),
    "pad_token V": Case(lambda: args(pad_token=V), "pad_token must be a token id"),
    # seqs' values: the fake kernel has none to check.
    "seqs token V": Case(lambda: args(seqs=torch.full((3, 5), V)),
                         r"seqs must hold token ids in \[0, 40\), got values from 40 to 40",
                         fake=False),
    "seqs token -1": Case(lambda: args(seqs=torch.full((3, 5), -1)),
                          "seqs must hold token ids .* from -1 to -1", fake=False),
    "valid": Case(args, None),
}


@pytest.fixture(scope="module")
def kernel_results():
    return run_table(__name__, "KERNEL_CASES")


@pytest.mark.parametrize("name", KERNEL_CASES)
def test_kernel_and_fake_name_the_argument(name, kernel_results):
    check_result(KERNEL_CASES[name], kernel_results[name], "rollout: ")


SEQS = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("call, error, message", [
    (lambda G: rollout(G, SEQS, 2.5, seed=0), TypeError,
     r"rollout: n_rollouts must be an int, got 2.5 \(float\)"),
    (lambda G: rollout(G, SEQS, True, seed=0), TypeError, "n_rollouts must be an int, got True"),
    (lambda G: rollout(G, SEQS, 2, True, seed=0), TypeError,
     r"temperature must be a real number, got True \(bool\)"),
    (lambda G: rollout(G, SEQS, 2, "1", seed=0), TypeError, "temperature must be a real number"),
    (lambda G: rollout(G, SEQS, 2, seed=-1), ValueError, r"seed must be in \[0, 2\*\*64\), got -1"),
    (lambda G: rollout(G, SEQS, 2, seed=2 ** 64), ValueError, r"seed must be in \[0, 2\*\*64\)"),
    (lambda G: rollout(G, SEQS, 2, seed=1.0), TypeError, "seed must be an int, got 1.0"),
    (lambda G: rollout(G, SEQS, 2, seed=False), TypeError, "seed must be an int, got False"),
    (lambda G: rollout(G, SEQS, 2, seed=0, offset=2 ** 63), ValueError,
     r"offset must be in \[0, 2\*\*63\)"),
    (lambda G: rollout(G, SEQS, 2, seed=0, offset=0.5), TypeError, "offset must be an int"),
    (lambda G: rollout(model(start_token=True), SEQS, 2, seed=0), TypeError,
     "start_token must be an int, got True"),
    (lambda G: rollout(model(eos_token=2.0), SEQS, 2, seed=0), TypeError,
     "eos_token must be an int, got 2.0"),
    (lambda G: rollout_reference(G, SEQS, 2.5), TypeError,
     "rollout_reference: n_rollouts must be an int"),
    (lambda G: rollout_reference(G, SEQS, 2, 1e-39), ValueError,
     "rollout_reference: temperature must be a positive finite number of at least 2.93874e-39"),
    (lambda G: rollout_reference(G.double(), SEQS, 2), ValueError,
     "rollout_reference: embedding must be float32, got Double"),
    (lambda G: rollout_reference(G, SEQS.to("meta"), 2), ValueError,
     "rollout_reference: embedding is on cpu but seqs is on meta"),
])
def test_wrappers_name_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(model())


def test_integral_arguments_of_other_types_are_taken():
    G = model()
    want = rollout(G, SEQS, 2, seed=3, offset=1)
    assert torch.equal(want, rollout(G, SEQS, np.int64(2), seed=np.uint64(3), offset=np.int8(1)))


def test_seeds_up_to_2_64_are_the_keys_bits():
    G = model()
    assert torch.equal(rollout(G, SEQS, 2, seed=2 ** 64 - 1), OP(**args(seqs=SEQS, seed=-1)))


def test_meta_tensors_give_the_shape():
    p = RolloutParams.of(model()).detached()
    p = p._replace(**{k: getattr(p, k).to("meta") for k in p._fields[:7]})
    out = rollout(p, SEQS.to("meta"), 4, seed=0)
    assert out.device.type == "meta" and out.shape == (4, 4, 3, 5) and out.dtype == torch.int64


def greedy(G, seqs):
    """out[t-1] = seqs[:, :t] continued by argmax tokens, [T-1, B, T]."""
    T = seqs.shape[1]
    rows = []
    with torch.no_grad():
        for t in range(1, T):
            s = seqs[:, :t]
            while s.shape[1] < T:
                s = torch.cat([s, G(torch.cat([s, s[:, :1]], 1))[:, -1].argmax(1, keepdim=True)], 1)
            rows.append(s)
    return torch.stack(rows)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_the_smallest_temperature_is_greedy_on_kernel_and_reference(device):
    G = model().to(device)
    seqs = SEQS.to(device)
    want = greedy(G, seqs).expand(3, 4, 3, 5)
    assert torch.equal(rollout(G, seqs, 3, MIN_TEMPERATURE, seed=5), want)
    assert torch.equal(rollout_reference(G, seqs, 3, MIN_TEMPERATURE), want)
    with pytest.raises(RuntimeError, match="temperature must be a positive finite number"):
        rollout(G, seqs, 3, MIN_TEMPERATURE / 2, seed=5)


def test_compile_fails_at_trace_time_with_the_kernel_message():
    p = RolloutParams.of(model()).detached()

    def sample(seqs, n):
        return rollout(p, seqs, n, seed=7)

    torch._dynamo.reset()
    assert torch.equal(torch.compile(sample, fullgraph=True)(SEQS, 2), sample(SEQS, 2))
    torch._dynamo.reset()
    with pytest.raises(Exception, match="rollout: n_rollouts must be >= 1, got 0"):
        torch.compile(sample, fullgraph=True)(SEQS, 0)


def test_compile_with_dynamic_shapes_checks_symbolic_sizes():
    """The fake kernel's check op on symbolic sizes: guards, no errors."""
    p = RolloutParams.of(model()).detached()

    def sample(seqs):
        return rollout(p, seqs, 2, seed=7)

    torch._dynamo.reset()
    compiled = torch.compile(sample, fullgraph=True, dynamic=True, backend="eager")
    for B, T in ((3, 5), (4, 6)):
        seqs = torch.randint(V, (B, T), generator=torch.Generator().manual_seed(B))
        assert torch.equal(compiled(seqs), sample(seqs))
    with pytest.raises(Exception, match=r"rollout: seqs must have T >= 2 .* got T = 1"):
        compiled(torch.zeros(3, 1, dtype=torch.long))


@CUDA
def test_cuda_names_a_cpu_seqs_before_its_own_device_check():
    a = args(**{k: v.cuda() for k, v in args().items() if k not in ("seqs",) and
                isinstance(v, torch.Tensor)})
    with pytest.raises(RuntimeError, match="embedding is on cuda:0 but seqs is on cpu"):
        OP(**a)
    with pytest.raises(RuntimeError, match="temperature must be"):
        OP(**{**a, "seqs": a["seqs"].cuda(), "temperature": 1e-39})
