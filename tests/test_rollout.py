"""pygan.ops.rollout: prefixes and token ranges, reproducibility (seed,
offset, generator, thread count, CPU vs CUDA), sampling frequencies against
softmax(logits / temperature), the kernel against the PyTorch reference in
distribution, EOS handling, opcheck and bad inputs."""
import math

import pytest
import torch

from pygan.models import CNNTextDiscriminator, LSTMGenerator
from pygan.ops import RolloutParams, rollout, rollout_reference

from .conftest import CUDA

# chi2.ppf(0.999, df) (scipy.stats), for the frequency tests at fixed seeds.
CHI2_999 = {7: 24.3219, 24: 51.1786}


def model(vocab=40, emb=6, hidden=12, length=7, eos=None, std=0.5, seed=0) -> LSTMGenerator:
    torch.manual_seed(seed)
    return LSTMGenerator(vocab, emb, hidden, length, start_token=1, eos_token=eos,
                         pad_token=0, init_std=std)


def sequences(G, batch, seed=0):
    return G.sample(batch, generator=torch.Generator().manual_seed(seed))


def test_prefixes_copied_and_tokens_sampled(device):
    G = model().to(device)
    seqs = sequences(G.cpu(), 5).to(device)
    G.to(device)
    out = rollout(G, seqs, 4, seed=3)
    assert out.shape == (4, 6, 5, 7) and out.dtype == torch.int64 and out.device == seqs.device
    assert 0 <= int(out.min()) and int(out.max()) < 40
    for t in range(1, 7):
        assert torch.equal(out[:, t - 1, :, :t], seqs[:, :t].expand(4, 5, t))
    assert not torch.equal(out[0], out[1])  # rollouts differ
    assert not torch.equal(out[:, 0, :, 1:], seqs[:, 1:].expand(4, 5, 6))  # really sampled


def test_seed_offset_and_generator(device):
    G = model().to(device)
    seqs = torch.randint(40, (3, 7), device=device)
    out = rollout(G, seqs, 3, seed=11, offset=5)
    assert torch.equal(out, rollout(G, seqs, 3, seed=11, offset=5))
    assert not torch.equal(out, rollout(G, seqs, 3, seed=11, offset=6))
    assert not torch.equal(out, rollout(G, seqs, 3, seed=12, offset=5))
    g = torch.Generator(device).manual_seed(0)
    first, second = rollout(G, seqs, 3, generator=g), rollout(G, seqs, 3, generator=g)
    assert not torch.equal(first, second)  # the generator advanced
    g.manual_seed(0)
    assert torch.equal(first, rollout(G, seqs, 3, generator=g))
    params = RolloutParams.of(G)
    assert torch.equal(out, rollout(params, seqs, 3, seed=11, offset=5))


def test_cpu_threads_do_not_change_tokens():
    # Enough rows that the tiling differs between 1 and 2 threads.
    G = model(vocab=300, hidden=20, length=8, eos=2)
    seqs = torch.randint(300, (30, 8))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rollout(G, seqs, 5, 0.8, seed=7)
        torch.set_num_threads(2)
        two = rollout(G, seqs, 5, 0.8, seed=7)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


@CUDA
@pytest.mark.parametrize("eos, temperature, vocab, emb, hidden, length, std, batch, n", [
    (None, 1.0, 1000, 6, 48, 9, 0.3, 17, 6),
    (2, 0.7, 1000, 6, 48, 9, 0.3, 17, 6),
    (None, 1.0, 30, 5, 10, 6, 0.8, 3, 3000),  # test_rewards_agree_with_the_reference's model
])
def test_cpu_and_cuda_draw_the_same_tokens(eos, temperature, vocab, emb, hidden, length, std,
                                           batch, n):
    G = model(vocab=vocab, emb=emb, hidden=hidden, length=length, eos=eos, std=std)
    seqs = torch.randint(3, vocab, (batch, length))
    cpu = rollout(G, seqs, n, temperature, seed=5, offset=2)
    gpu = rollout(G.cuda(), seqs.cuda(), n, temperature, seed=5, offset=2).cpu()
    differ = (cpu != gpu).flatten(1).any(1).nonzero().flatten().tolist()
    assert not differ, f"rollouts {differ[:10]} differ ({len(differ)} of {n})"


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("temperature", [1.0, 0.6, 2.0])
def test_first_token_frequencies_follow_softmax(device, temperature):
    G = model(vocab=8, emb=3, hidden=5, length=2, std=1.0, seed=1)
    seqs = torch.tensor([[3, 0]])
    n = 40000
    out = rollout(G.to(device), seqs.to(device), n, temperature, seed=21)
    counts = torch.bincount(out[:, 0, 0, 1].cpu(), minlength=8).double()
    with torch.no_grad():
        probs = torch.softmax(G.cpu().double()(seqs)[0, 1] / temperature, 0)
    assert chi_square(counts, probs) < CHI2_999[7]


def test_continuation_frequencies_follow_the_model(device):
    # Prefix length 1, two sampled tokens: the joint p(y1) p(y2 | y1) over
    # 25 cells exercises the LSTM step after the first sampled token.
    G = model(vocab=5, emb=3, hidden=4, length=3, std=1.0, seed=2)
    seqs = torch.tensor([[4, 0, 0]])
    n = 50000
    out = rollout(G.to(device), seqs.to(device), n, seed=8)[:, 0, 0].cpu()
    counts = torch.bincount(out[:, 1] * 5 + out[:, 2], minlength=25).double()
    grid = torch.tensor([[4, i, 0] for i in range(5)])
    with torch.no_grad():
        logits = G.cpu().double()(grid)
    probs = (torch.softmax(logits[0, 1], 0)[:, None] * torch.softmax(logits[:, 2], 1)).flatten()
    assert chi_square(counts, probs) < CHI2_999[24]


def test_low_temperature_is_greedy(device):
    G = model(vocab=60, hidden=16, length=6, std=1.0).to(device)
    seqs = torch.randint(60, (4, 6), device=device)
    out = rollout(G, seqs, 2, temperature=1e-4, seed=0)
    with torch.no_grad():
        for t in range(1, 6):
            greedy = seqs[:, :t]
            for _ in range(t, 6):
                nxt = G(torch.cat([greedy, greedy[:, :1]], 1))[:, -1].argmax(1, keepdim=True)
                greedy = torch.cat([greedy, nxt], 1)
            assert torch.equal(out[:, t - 1], greedy.expand(2, 4, 6))


def test_pad_after_eos_and_prefix_kept(device):
    G = model(vocab=12, hidden=8, length=8, eos=2, std=0.5).to(device)
    with torch.no_grad():
        G.out.bias[2] = 2.0  # EOS often
    seqs = torch.randint(3, 12, (6, 8), device=device)
    seqs[0, 2] = 2  # an EOS inside a prefix, real tokens after it
    gen = torch.Generator(device).manual_seed(4)
    for out in (rollout(G, seqs, 50, seed=4), rollout_reference(G, seqs, 50, generator=gen)):
        for t in range(1, 8):
            assert torch.equal(out[:, t - 1, :, :t], seqs[:, :t].expand(50, 6, t))
        rows = out.flatten(0, 2)
        starts = torch.arange(1, 8, device=device).repeat_interleave(6).repeat(50)
        for row, t in zip(rows.tolist(), starts.tolist()):
            if 2 in row[:7]:
                first = row.index(2)
                assert all(tok == 0 for tok in row[max(first + 1, t):])
        assert (rows[:, 1:] == 2).any() and (out[:, :, 1:, :] == 0).any()


@torch.no_grad()
def test_rewards_agree_with_the_reference(device):
    """Mean discriminator probability of the completions of each prefix,
    kernel against reference, within 5 standard errors."""
    G = model(vocab=30, emb=5, hidden=10, length=6, std=0.8).to(device)
    torch.manual_seed(0)  # D's own seed: with CUDA, the global RNG's state here differed
    D = CNNTextDiscriminator(30, 8, widths=(1, 2, 3), maps=(4, 4, 4)).to(device).eval()
    D.out.weight.mul_(100.0)  # a discriminator with opinions: rewards spread over (0, 1)
    seqs = sequences(G.cpu(), 3, seed=1).to(device)
    G.to(device)
    n = 3000

    def rewards(out):
        return torch.sigmoid(D(out.flatten(0, 2))).view(n, 5, 3).double()

    kernel = rewards(rollout(G, seqs, n, seed=9))
    ref = rewards(rollout_reference(G, seqs, n, generator=torch.Generator(device).manual_seed(9)))
    se = ((kernel.var(0) + ref.var(0)) / n).sqrt()
    assert ((kernel.mean(0) - ref.mean(0)).abs() <= 5 * se + 1e-9).all()
    # The shortest prefixes leave the rewards open (std 0.34-0.40 with this D).
    spread = {"kernel": kernel[:, 0].std(0), "reference": ref[:, 0].std(0)}
    assert all(s.min() > 0.1 for s in spread.values()), spread


def test_opcheck():
    G = model()
    p = RolloutParams.of(G).detached()
    seqs = torch.randint(40, (3, 5))
    torch.library.opcheck(torch.ops.pygan.rollout.default,
                          (seqs, *p[:7], 2, 1.0, 3, 0, p.start_token, None, 0))


def kernel_args(**change):
    G = model()
    p = RolloutParams.of(G).detached()
    args = dict(seqs=torch.randint(40, (3, 5)), embedding=p.embedding, w_ih=p.w_ih, w_hh=p.w_hh,
                b_ih=p.b_ih, b_hh=p.b_hh, w_out=p.w_out, b_out=p.b_out, n_rollouts=2,
                temperature=1.0, seed=0, offset=0, start_token=1, eos_token=None, pad_token=0)
    args.update(change)
    return args


@pytest.mark.parametrize("change, message", [
    (dict(seqs=torch.zeros(3, 5)), "seqs must be an int64 tensor"),
    (dict(seqs=torch.zeros(3, dtype=torch.int64)), "seqs must be an int64 tensor"),
    (dict(seqs=torch.zeros(3, 1, dtype=torch.int64)), "T >= 2"),
    (dict(seqs=torch.zeros(0, 4, dtype=torch.int64)), "at least one sequence"),
    (dict(seqs=torch.full((2, 4), 40)), r"token ids in \[0, 40\), got values from 40 to 40"),
    (dict(seqs=torch.full((2, 4), -1)), "token ids"),
    (dict(n_rollouts=0), "n_rollouts must be >= 1, got 0"),
    (dict(temperature=0.0), "temperature must be a positive finite number"),
    (dict(temperature=math.inf), "temperature"),
    (dict(temperature=math.nan), "temperature"),
    (dict(offset=-1), "offset must be >= 0"),
    (dict(start_token=40), "start_token must be a token id"),
    (dict(eos_token=-2), "eos_token must be a token id"),
    (dict(pad_token=99), "pad_token must be a token id"),
    (dict(w_ih=torch.zeros(48, 5)), r"w_ih must have shape \[48, 6\]"),
    (dict(w_hh=torch.zeros(48, 11)), "w_hh must be \\[4H, H\\]"),
    (dict(b_hh=torch.zeros(47)), "b_hh must have shape"),
    (dict(w_out=torch.zeros(41, 12)), "w_out must have shape"),
    (dict(b_out=torch.zeros(40, dtype=torch.float64)), "b_out must be float32"),
    (dict(embedding=torch.zeros(40)), "embedding must be \\[V, E\\]"),
])
def test_kernel_names_bad_arguments(change, message):
    with pytest.raises(RuntimeError, match=message):
        torch.ops.pygan.rollout(**kernel_args(**change))


@CUDA
def test_kernel_names_a_device_mismatch():
    args = kernel_args()
    args["w_out"] = args["w_out"].cuda()
    with pytest.raises(RuntimeError, match="w_out is on cuda:0 but seqs is on cpu"):
        torch.ops.pygan.rollout(**args)


@pytest.mark.parametrize("call, error, message", [
    (lambda G, s: rollout(G, s, 2, seed=1, generator=torch.Generator()), ValueError,
     "generator or seed"),
    (lambda G, s: rollout(object(), s, 2), TypeError, "LSTMGenerator-like"),
    (lambda G, s: rollout(G, s.tolist(), 2), TypeError, "seqs must be a Tensor"),
    (lambda G, s: rollout_reference(G, s.float(), 2), ValueError, "seqs must be an int64"),
    (lambda G, s: rollout_reference(G, s, 0), ValueError, "n_rollouts"),
    (lambda G, s: rollout_reference(G, s, 2, -1.0), ValueError, "temperature"),
    (lambda G, s: rollout_reference(G, s + 40, 2), ValueError, "token ids"),
])
def test_wrappers_name_bad_arguments(call, error, message):
    G = model()
    with pytest.raises(error, match=message):
        call(G, torch.randint(40, (2, 5)))
