"""``rollout``: SeqGAN's Monte Carlo search in one call. For every prefix
length t = 1..T-1 of every sequence and every one of N rollouts, the prefix
copied and the rest of the sequence sampled from an LSTM language model.

The teacher-forced prefix states are computed once and shared by all
rollouts and prefix lengths, and the first sampled token of each prefix is
drawn N times from one projection. Sampling is inverse-CDF with one Philox
uniform per token, fused with the output projection: the logits of a row
are reduced to per-32-token statistics as they are computed and never
stored. CPU and CUDA compute the same bits (csrc/common), so the same
(seed, offset) gives the same tokens on both.

Floor: the output projection, 2 * H * V FLOPs for each of
B * (T-1) + N * B * (T-1) * (T-2) / 2 sampled rows.
"""
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from ._checks import as_reference, index_arg, real_arg, require
from ._registry import has_kernel

_OP = "rollout"
SEED_BOUND = 2 ** 63 - 1
# The kernels take 1/temperature in float32; below this it is inf (csrc/rollout_args.h).
MIN_TEMPERATURE = 1.0 / torch.finfo(torch.float32).max
# Logits one CPU chunk of the reference holds: [rows, V] float32 that stays
# in the L2 cache from the projection through the sampling (4096-row chunks
# of a 5,000-token vocabulary ran 2-4x slower on the development machine).
CPU_CHUNK_FLOATS = 1 << 19
GPU_CHUNK_ROWS = 16384


class RolloutParams(NamedTuple):
    """The rollout network: ``embedding`` [V, E]; one ``torch.nn.LSTM``
    layer's ``w_ih`` [4H, E], ``w_hh`` [4H, H], ``b_ih``, ``b_hh`` [4H]
    (gate order i, f, g, o); the output Linear's ``w_out`` [V, H] and
    ``b_out`` [V]; all float32 on one device. Generation starts from
    ``start_token``; with ``eos_token`` set, what follows a sequence's first
    EOS is ``pad_token``."""

    embedding: Tensor
    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor
    b_hh: Tensor
    w_out: Tensor
    b_out: Tensor
    start_token: int
    eos_token: int | None = None
    pad_token: int = 0

    @classmethod
    def of(cls, model) -> "RolloutParams":
        """The parameters of a model shaped like
        :class:`pygan.models.LSTMGenerator` (``embedding``, single-layer
        batch-first ``lstm``, ``out``, and the three token ids), or
        ``model`` itself when it already is a RolloutParams."""
        if isinstance(model, cls):
            return model
        try:
            lstm = model.lstm
            if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size:
                raise ValueError(f"rollout: the model's LSTM must be one unidirectional layer "
                                 f"without projection, got {lstm}")
            return cls(model.embedding.weight, lstm.weight_ih_l0, lstm.weight_hh_l0,
                       lstm.bias_ih_l0, lstm.bias_hh_l0, model.out.weight, model.out.bias,
                       model.start_token, model.eos_token, model.pad_token)
        except AttributeError as exc:
            raise TypeError(f"rollout: model must be a RolloutParams or an LSTMGenerator-like "
                            f"module, got {type(model).__name__} ({exc})") from None

    def token_ids(self, op: str) -> tuple[int, int | None, int]:
        """(start_token, eos_token, pad_token) as ints; a bool or a float
        raises TypeError naming it (the op would take True as token 1)."""
        return (index_arg(op, "start_token", self.start_token),
                None if self.eos_token is None else index_arg(op, "eos_token", self.eos_token),
                index_arg(op, "pad_token", self.pad_token))

    def detached(self) -> "RolloutParams":
        return self._replace(**{k: getattr(self, k).detach() for k in self._fields[:7]})


def rollout(model, seqs: Tensor, n_rollouts: int, temperature: float = 1.0, *,
            generator: torch.Generator | None = None, seed: int | None = None,
            offset: int = 0) -> Tensor:
    """Completions of every prefix of ``seqs`` by the rollout network.

    Args:
        model: a :class:`pygan.models.LSTMGenerator` (or anything with its
            attributes) or a :class:`RolloutParams`.
        seqs: int64 [B, T] token ids in [0, V), T >= 2, on the model's device.
        n_rollouts: N >= 1, an int (not a bool or a float).
        temperature: sampling from softmax(logits / temperature), at least
            ``MIN_TEMPERATURE`` (~2.9e-39, whose inverse is float32's
            largest value) and finite. Smaller temperatures are refused,
            not taken as greedy: the kernels and the reference compute
            1/temperature in float32, where it would be inf. At the bound,
            sampling is already greedy up to ties (sampled uniformly).
        generator: a torch.Generator the Philox seed is drawn from, so
            successive calls differ and the generator's state reproduces
            them. Default: torch's global CPU generator.
        seed, offset: an explicit Philox stream instead of ``generator``
            (ints: seed in [0, 2**64), the Philox key; offset in
            [0, 2**63)): the same pair gives the same tokens on the CPU and
            on CUDA; a different offset, other tokens.

    Returns:
        int64 [N, T-1, B, T] on seqs' device: ``out[n, t-1, b, :t]`` is
        ``seqs[b, :t]``; positions t..T-1 are sampled, and PAD after the
        first EOS (of the prefix or the sample) when the model has one.

    Devices without a pygan kernel run :func:`rollout_reference` with a
    generator seeded from (seed, offset); meta tensors take the op's fake
    kernel (shapes only). Invalid arguments raise RuntimeError (kernels,
    and the fake kernel under torch.compile or FakeTensorMode), ValueError
    or, for a value of the wrong type, TypeError, naming the argument.
    """
    p = RolloutParams.of(model).detached()
    n_rollouts = index_arg(_OP, "n_rollouts", n_rollouts)
    temperature = real_arg(_OP, "temperature", temperature)
    offset = index_arg(_OP, "offset", offset)
    require(0 <= offset < 2 ** 63, f"rollout: offset must be in [0, 2**63), got {offset}",
            ValueError)
    if seed is None:
        seed = int(torch.randint(SEED_BOUND, (), generator=generator,
                                 device=generator.device if generator is not None else "cpu"))
    elif generator is not None:
        raise ValueError("rollout: give generator or seed, not both")
    seed = index_arg(_OP, "seed", seed)
    require(0 <= seed < 2 ** 64, f"rollout: seed must be in [0, 2**64), got {seed}", ValueError)
    tokens = p.token_ids(_OP)
    _check_tensor(_OP, seqs)
    if seqs.device.type != "meta" and not has_kernel(_OP, seqs.device):
        fallback = torch.Generator(seqs.device).manual_seed((seed * 1000003 + offset) % SEED_BOUND)
        return rollout_reference(p, seqs, n_rollouts, temperature, fallback)
    # The schema's int64 carries the key's 64 bits (keys >= 2**63 as negatives).
    key = seed - 2 ** 64 if seed >= 2 ** 63 else seed
    return torch.ops.pygan.rollout(seqs, *p[:7], n_rollouts, temperature, key, offset, *tokens)


# The fake kernel runs the kernels' own argument checks (a C++ op,
# csrc/rollout_checks.cpp), all but the token range of seqs, which needs its
# values; so fake and meta tensors, and torch.compile at trace time, are
# refused as the kernels refuse them. It is also the Meta kernel: a weight on
# meta with seqs on the CPU dispatches here, and is named.
@torch.library.register_fake("pygan::rollout")
def _rollout_fake(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out, n_rollouts,
                  temperature, seed, offset, start_token, eos_token, pad_token):
    torch.ops.pygan._rollout_check(seqs, embedding, w_ih, w_hh, b_ih, b_hh, w_out, b_out,
                                   n_rollouts, temperature, seed, offset, start_token, eos_token,
                                   pad_token, False)
    B, T = seqs.shape
    return seqs.new_empty((n_rollouts, T - 1, B, T))


def _check_tensor(op: str, seqs) -> None:
    if not isinstance(seqs, Tensor):
        raise TypeError(f"{op}: seqs must be a Tensor, got {type(seqs).__name__}")


def sample_tokens(logits: Tensor, temperature: float = 1.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """One token per row of ``logits`` [R, V] from softmax(logits / temperature):
    int64 [R] on the logits' device (``generator`` must be on that device).

    Inverse-CDF sampling with one uniform number per row: on the CPU,
    torch.multinomial takes ~3x as long for 5000 categories."""
    weights = logits.float() - logits.amax(1, keepdim=True)
    if temperature != 1.0:
        weights.mul_(1.0 / temperature)
    cdf = weights.exp_().cumsum_(1)
    u = torch.rand(len(cdf), 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    # right=True skips zero-probability tokens; the clamp guards u rounding up to the total.
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=cdf.shape[1] - 1)


@torch.no_grad()
def rollout_reference(model, seqs: Tensor, n_rollouts: int, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
    """Pure-PyTorch :func:`rollout` (same arguments and result; randomness
    from ``generator``, a torch.Generator on seqs' device, or the global one).

    All completions advance together: at step s the rows of every prefix
    length t <= s sample token s, those with t == s joining from the state
    the teacher-forced pass over ``seqs`` left after t tokens, so
    N*B*T(T-1)/2 tokens are sampled in T-1 batched steps (logits of a
    cache-sized chunk of rows at a time, :func:`sample_tokens`).
    Checks its arguments as the kernels do (ValueError, TypeError for a
    value of the wrong type).
    """
    p = RolloutParams.of(model).detached()
    ref = "rollout_reference"
    n_rollouts = index_arg(ref, "n_rollouts", n_rollouts)
    temperature = real_arg(ref, "temperature", temperature)
    token_ids = p.token_ids(ref)
    _check_tensor(ref, seqs)
    with as_reference(_OP, ref):  # the kernels' checks, the token range of seqs included
        torch.ops.pygan._rollout_check(seqs, *p[:7], n_rollouts, temperature, 0, 0, *token_ids,
                                       True)
    B, T = seqs.shape
    N = n_rollouts

    def cell(tokens, state):
        return torch.lstm_cell(F.embedding(tokens, p.embedding), state, p.w_ih, p.w_hh,
                               p.b_ih, p.b_hh)

    def sample_next(h):
        rows = max(16, CPU_CHUNK_FLOATS // len(p.b_out)) if h.device.type == "cpu" \
            else GPU_CHUNK_ROWS
        return torch.cat([sample_tokens(F.linear(part, p.w_out, p.b_out), temperature, generator)
                          for part in h.split(rows)])

    # Prefix states: index t is the state after the start token and tokens < t.
    zeros = p.w_hh.new_zeros(B, p.w_hh.shape[1])
    state, hs, cs = (zeros, zeros), [], []
    tokens = seqs.new_full((B,), p.start_token)
    for t in range(T):
        state = cell(tokens, state)
        hs.append(state[0])
        cs.append(state[1])
        tokens = seqs[:, t]
    out = seqs.expand(N, T - 1, B, T).clone()
    # Active rows are ordered by prefix length, then rollout, then sequence.
    h = c = zeros[:0]
    for s in range(1, T):
        h = torch.cat([h, hs[s].repeat(N, 1)])
        c = torch.cat([c, cs[s].repeat(N, 1)])
        tokens = sample_next(h)
        out[:, :s, :, s] = tokens.view(s, N, B).transpose(0, 1)
        if s < T - 1:
            h, c = cell(tokens, (h, c))
    if p.eos_token is None:
        return out
    return _pad_after_eos(out, seqs, p.eos_token, p.pad_token)


def _pad_after_eos(out: Tensor, seqs: Tensor, eos: int, pad: int) -> Tensor:
    """PAD on every sampled position after the row's first EOS; the prefix
    stays as given."""
    T = seqs.shape[1]
    eos_seen = (out == eos).long().cumsum(-1) - (out == eos).long() > 0
    sampled = torch.arange(T, device=out.device) >= torch.arange(1, T, device=out.device)[:, None]
    return out.masked_fill(eos_seen & sampled[:, None, :], pad)
