"""SeqGAN: the generator, discriminator and rollouts, the oracle LSTM and its
parameter files, the trainer's phases and exact resume, and the `pygan`
command on an oracle and on a text file."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pygan.cli import main
from pygan.data import Vocab
from pygan.metrics import nll, oracle_nll
from pygan.models import CNNTextDiscriminator, LSTMGenerator, OracleLSTM, rollout_completions
from pygan.models.oracle import GATES
from pygan.models.seqgan import sample_tokens
from pygan.trainers import SeqGANConfig, SeqGANTrainer

SHARED_ORACLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "seqgan_oracle_lstm.npz"
TINY = dict(batch_size=16, emb_dim=8, hidden_dim=8, d_emb_dim=8, d_widths="1,2,3,10",
            d_maps="4,4,4,4", d_samples=32, d_rounds=1, d_epochs=1, rollouts=4,
            eval_samples=100, progress=False, log_every=1, sample_every=0, checkpoint_every=0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread runs them faster than two, and does
    not slow down tenfold when the machine's other cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_oracle(seed=1):
    return OracleLSTM.random(vocab_size=20, emb_dim=8, hidden_dim=8, seq_len=8, seed=seed)


def oracle_arrays(vocab=7, emb=3, hidden=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"embedding": rng.normal(size=(vocab, emb)), "W_out": rng.normal(size=(hidden, vocab)),
              "b_out": rng.normal(size=vocab)}
    for g in GATES:
        arrays.update({f"W_{g}": rng.normal(size=(emb, hidden)),
                       f"U_{g}": rng.normal(size=(hidden, hidden)),
                       f"b_{g}": rng.normal(size=hidden)})
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def readme_log_probs(a, seq):
    """log p_oracle of each token, by the equations of shared/data/README.md."""
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    h = c = np.zeros(a["U_i"].shape[0])
    token, out = 0, []
    for y in seq:
        x = a["embedding"][token]
        gate = {g: x @ a[f"W_{g}"] + h @ a[f"U_{g}"] + a[f"b_{g}"] for g in GATES}
        c = sig(gate["f"]) * c + sig(gate["i"]) * np.tanh(gate["c"])
        h = sig(gate["o"]) * np.tanh(c)
        logits = h @ a["W_out"] + a["b_out"]
        out.append(logits[y] - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
        token = y
    return np.array(out)


# -- models --------------------------------------------------------------------
def test_generator_shapes_and_step_matches_the_teacher_forced_pass():
    G = LSTMGenerator(11, 5, 6, max_len=7, start_token=1)
    seqs = G.sample(3, generator=torch.Generator().manual_seed(0))
    assert seqs.shape == (3, 7) and seqs.dtype == torch.int64 and 0 <= seqs.min() < seqs.max() < 11
    logits = G(seqs)
    assert logits.shape == (3, 7, 11) and G.log_probs(seqs).shape == (3, 7)
    h, c = G.prefix_states(seqs)
    assert h.shape == c.shape == (7, 3, 6)
    torch.testing.assert_close(G.out(h).transpose(0, 1), logits)  # step() == nn.LSTM
    step_logits, _ = G.step(seqs[:, 0], (h[0], c[0]))
    torch.testing.assert_close(step_logits, logits[:, 1])


def test_sampling_follows_softmax_with_temperature():
    logits = torch.tensor([[0.0, 1.0, 2.0, -1e9]]).expand(40000, 4)
    for temperature in (1.0, 2.0):
        tokens = sample_tokens(logits, temperature, torch.Generator().manual_seed(0))
        freq = torch.bincount(tokens, minlength=4) / len(tokens)
        torch.testing.assert_close(freq, torch.softmax(logits[0] / temperature, 0), atol=0.01,
                                   rtol=0)


def test_text_generator_pads_after_eos_and_masks_it():
    G = LSTMGenerator(6, 4, 4, max_len=5, start_token=1, eos_token=2, pad_token=0)
    with torch.no_grad():
        G.out.bias[2] = 3.0  # EOS likely, so most samples end early
    seqs = G.sample(200, generator=torch.Generator().manual_seed(0))
    ended = G.token_mask(seqs)
    assert (seqs[~ended] == 0).all() and (~ended).any()
    garbage = seqs.masked_fill(~ended, 5)
    assert nll(G, seqs) == pytest.approx(nll(G, garbage))  # tokens after EOS are not scored
    torch.testing.assert_close(G.nll_loss(seqs), torch.tensor(nll(G, seqs)))


def test_rollouts_copy_the_prefix_and_sample_the_rest():
    G = LSTMGenerator(9, 4, 5, max_len=6, start_token=0)
    seqs = G.sample(3, generator=torch.Generator().manual_seed(0))
    out = rollout_completions(G, seqs, 4, generator=torch.Generator().manual_seed(1))
    assert out.shape == (4, 5, 3, 6) and out.dtype == torch.int64
    assert 0 <= out.min() and out.max() < 9
    for t in range(1, 6):
        assert torch.equal(out[:, t - 1, :, :t], seqs[:, :t].expand(4, 3, t))
    assert not torch.equal(out[0], out[1])  # rollouts differ
    again = rollout_completions(G, seqs, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_rollout_continuations_follow_the_model():
    # One prefix token, one sampled token: its frequencies must be p(y1 | y0).
    G = LSTMGenerator(5, 3, 4, max_len=2, start_token=0, init_std=1.0)
    seqs = torch.tensor([[3, 0]])
    out = rollout_completions(G, seqs, 20000, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(out[:, 0, 0, 1], minlength=5) / 20000
    with torch.no_grad():
        torch.testing.assert_close(freq, torch.softmax(G(seqs)[0, 1], 0), atol=0.015, rtol=0)


def test_discriminator_takes_filters_wider_than_the_sequence():
    D = CNNTextDiscriminator(10, emb_dim=6, widths=(1, 4, 20), maps=(3, 2, 5))
    seqs = torch.randint(10, (5, 3))
    out = D(seqs)
    assert out.shape == (5,) and torch.isfinite(out).all()
    (out.sum() + D.l2_penalty()).backward()
    assert D.convs[2].weight.grad.abs().sum() > 0  # the width-20 filter sees the sequence
    assert D.l2_penalty().item() == pytest.approx(
        0.5 * (D.out.weight.square().sum() + D.out.bias.square().sum()).item())


@pytest.mark.parametrize("make, message", [
    (lambda: CNNTextDiscriminator(10, widths=(1, 2), maps=(3,)), "widths and maps"),
    (lambda: CNNTextDiscriminator(10, dropout=1.0), "dropout"),
    (lambda: LSTMGenerator(10, 4, 4, 5, start_token=10), "start_token"),
    (lambda: LSTMGenerator(10, 0, 4, 5, start_token=0), "emb_dim"),
    (lambda: LSTMGenerator(10, 4, 4, 5, 0).sample(2, temperature=0.0), "temperature"),
    (lambda: rollout_completions(LSTMGenerator(10, 4, 4, 5, 0), torch.zeros(2, 5), 3), "seqs"),
])
def test_models_name_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- the oracle ------------------------------------------------------------------
def test_oracle_from_npz_follows_the_readme_equations(tmp_path):
    arrays = oracle_arrays()
    np.savez(tmp_path / "o.npz", **arrays)
    oracle = OracleLSTM.from_npz(tmp_path / "o.npz", seq_len=6)
    assert (oracle.vocab_size, oracle.max_len, oracle.start_token) == (7, 6, 0)
    seqs = oracle.generate(4, seed=0)
    got = oracle.log_probs(seqs).numpy()
    want = np.stack([readme_log_probs(arrays, s) for s in seqs.tolist()])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert oracle_nll(oracle, seqs) == pytest.approx(-want.mean(), abs=1e-5)
    assert OracleLSTM.from_source(oracle.source).source == oracle.source
    assert not any(p.requires_grad for p in oracle.parameters())


def test_bad_oracle_files_are_named(tmp_path):
    arrays = oracle_arrays()
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if k != "U_f"})
    with pytest.raises(ValueError, match=r"missing.npz: missing array 'U_f' \(expected shape"):
        OracleLSTM.from_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "shape.npz", **{**arrays, "W_out": arrays["W_out"][:, :5]})
    with pytest.raises(ValueError, match=r"'W_out' has shape \[4, 5\], expected \[4, 7\]"):
        OracleLSTM.from_npz(tmp_path / "shape.npz")
    data = (tmp_path / "shape.npz").read_bytes()
    (tmp_path / "torn.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="torn.npz is not a readable .npz file"):
        OracleLSTM.from_npz(tmp_path / "torn.npz")
    with pytest.raises(FileNotFoundError, match="no oracle parameter file"):
        OracleLSTM.from_npz(tmp_path / "nope.npz")


@pytest.mark.skipif(not SHARED_ORACLE.is_file(), reason=f"{SHARED_ORACLE} is absent")
def test_the_papers_oracle_loads():
    oracle = OracleLSTM.from_npz(SHARED_ORACLE)
    assert (oracle.vocab_size, oracle.hidden_dim, oracle.max_len) == (5000, 32, 20)


# -- the trainer -----------------------------------------------------------------
def make(run_dir, oracle=None, data=None, **override):
    oracle = oracle or tiny_oracle()
    data = oracle.generate(128, seed=0) if data is None else data
    return SeqGANTrainer(SeqGANConfig(**{**TINY, **override}), data, run_dir, oracle=oracle)


def test_rewards_are_probabilities_and_the_last_is_d_of_the_sequence(tmp_path):
    trainer = make(tmp_path, steps=1)
    seqs = trainer.generate(16)
    rewards = trainer.rewards(seqs, torch.Generator().manual_seed(0))
    assert rewards.shape == (16, 8) and ((rewards >= 0) & (rewards <= 1)).all()
    torch.testing.assert_close(rewards[:, -1], trainer.real_probability(seqs))


def test_mle_lowers_the_oracle_nll(tmp_path):
    trainer = make(tmp_path, steps=150, mle_steps=150, eval_every=150)
    before = trainer.nll_oracle(1000)
    trainer.fit()
    assert trainer.nll_oracle(1000) < before - 0.2


def test_phases_log_their_values(tmp_path):
    out = make(tmp_path, steps=6, mle_steps=2, d_pretrain_steps=2, eval_every=2, adv_eval_every=1,
               sample_every=3).fit()
    assert out["step"] == 6 and math.isfinite(out["loss_g"]) and 0 <= out["reward"] <= 1
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,loss_mle,loss_d,acc_d,loss_g,reward,nll_oracle,seconds"
    cells = [dict(zip(rows[0].split(","), r.split(","))) for r in rows[1:]]
    assert [c["loss_mle"] != "nan" for c in cells] == [True, True, False, False, False, False]
    assert [c["nll_oracle"] != "nan" for c in cells] == [False, True, False, False, True, True]
    assert (tmp_path / "samples" / "step_0000003.txt").read_text().count("\n") == 64


@pytest.mark.parametrize("split", [1, 3])  # inside MLE; where the adversarial phase starts
def test_resume_is_exact_across_phases(split, tmp_path):
    kwargs = dict(mle_steps=2, d_pretrain_steps=1, deterministic=True, ema=0.9,
                  label_smoothing=0.1, rollout_rate=0.5)
    straight = make(tmp_path / "a", steps=5, **kwargs)
    straight.fit()
    make(tmp_path / "b", steps=split, **kwargs).fit()
    resumed = make(tmp_path / "b", steps=5, **kwargs)
    resumed.fit()
    for name, model in straight.models.items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, resumed.models[name].state_dict()[key]), f"{name}.{key}"
    assert torch.equal(straight.sample(8), resumed.sample(8))


@pytest.mark.parametrize("override, message", [
    (dict(temperature=0.0), "temperature must be a positive finite number, got 0.0"),
    (dict(rollout_rate=1.5), "rollout_rate must be in"),
    (dict(d_widths="1,x"), "d_widths must be a comma-separated list"),
    (dict(d_maps="4,4"), "d_widths and d_maps must be equally long"),
    (dict(d_steps=2), "d_steps does not apply to SeqGAN"),
    (dict(rollouts=0), "rollouts must be >= 1"),
    (dict(d_samples=1000), "d_samples must be at most the 128"),
])
def test_bad_configuration_is_named(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make(tmp_path, **override)


def test_bad_data_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 20\)"):
        make(tmp_path, data=torch.full((64, 8), 20))
    with pytest.raises(ValueError, match="the data has 5 tokens a sequence but the oracle"):
        make(tmp_path, data=torch.zeros(64, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="exactly one of oracle .* got both"):
        SeqGANTrainer(SeqGANConfig(**TINY), torch.zeros(64, 8, dtype=torch.int64), tmp_path,
                      oracle=tiny_oracle(), vocab=Vocab(list(Vocab.SPECIALS)))


# -- the command -----------------------------------------------------------------
CLI_TINY = ["--steps", "5", "--mle-steps", "2", "--d-pretrain-steps", "1", "--batch-size", "16",
            "--emb-dim", "8", "--hidden-dim", "8", "--d-emb-dim", "8", "--d-widths", "1,2,3",
            "--d-maps", "4,4,4", "--d-samples", "32", "--d-rounds", "1", "--d-epochs", "1",
            "--rollouts", "2", "--eval-samples", "50", "--eval-every", "1", "--no-progress",
            "--sample-every", "2"]


def test_cli_oracle_train_sample_eval(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "seqgan", "--data", "oracle", "--vocab-size", "20", "--oracle-emb", "8",
                 "--oracle-hidden", "8", "--max-len", "8", "--oracle-samples", "200",
                 "--oracle-seed", "3", "--out", str(run)] + CLI_TINY) == 0
    assert (run / "samples" / "final.txt").is_file() and (run / "losses.png").is_file()
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.txt")]) == 0
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split()) == 8 for line in lines)
    assert main(["eval", str(run), "-n", "100"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 5 and result["data"] == "oracle" and result["nll_oracle"] > 0


WORDS = "the a cat dog sat ran on mat log fast".split()


def write_tiny_text(tmp_path, test_extra: str = "") -> None:
    """train.txt (80 random lines of WORDS) and test.txt (its first 20, then test_extra)."""
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, rng.integers(2, 7))) for _ in range(80)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[:20]) + "\n" + test_extra)


def test_cli_text_train_sample_eval(tmp_path):
    words = WORDS
    write_tiny_text(tmp_path, "zebra cat\n")
    run = tmp_path / "run"
    assert main(["train", "seqgan", "--data", str(tmp_path / "train.txt"), "--max-len", "8",
                 "--out", str(run)] + CLI_TINY) == 0
    assert main(["sample", str(run), "-n", "6", "--out", str(tmp_path / "s.txt")]) == 0
    sampled = (tmp_path / "s.txt").read_text().splitlines()
    assert len(sampled) == 6 and set(" ".join(sampled).split()) <= set(words) | {"<unk>"}
    assert main(["eval", str(run), "-n", "40", "--test", str(tmp_path / "test.txt")]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["nll_test"] > 0 and 0 <= result["bleu2"] <= 1 and 0 <= result["self_bleu5"] <= 1


@pytest.mark.parametrize("argv, message", [
    (["--data", "EMPTY"], "empty corpus"),
    (["--data", "oracle", "--oracle-params", "/nonexistent.npz"], "no oracle parameter file"),
    (["--data", "oracle", "--temperature", "-1"], "temperature must be"),
    (["--data", "oracle", "--oracle-samples", "0"], "--oracle-samples must be >= 1"),
])
def test_cli_bad_inputs_exit_with_a_message(argv, message, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n  \n")
    argv = [str(tmp_path / "empty.txt") if a == "EMPTY" else a for a in argv]
    assert main(["train", "seqgan", *argv, "--vocab-size", "20", "--max-len", "8",
                 "--out", str(tmp_path / "run")] + CLI_TINY) == 2
    assert message in capsys.readouterr().err
