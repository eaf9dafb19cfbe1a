"""Adversarial text training: the AT and VAT perturbations, the frequency-
normalised embeddings, small runs of every method and encoder, exact resume,
the command line and bad inputs."""
import csv
import json

import pytest
import torch

from pygan.cli import main
from pygan.data.labelled_text import load_labelled_text
from pygan.losses.perturbation import at_perturbation, kl_with_logits, vat_perturbation
from pygan.models.text_classifier import NormalizedEmbedding, TextClassifier
from pygan.trainers import AdvTextConfig, AdvTextTrainer

QUIET = dict(progress=False, log_every=2, eval_every=2, checkpoint_every=0)
SMALL = dict(batch_size=8, embed_dim=8, maps=4, hidden=8)


def norms(r):
    return r.flatten(1).norm(dim=1)


def test_at_perturbation_has_norm_eps_along_the_gradient():
    g = torch.randn(4, 5, 3, dtype=torch.float64)
    g[2] = 0.0
    r = at_perturbation(g, 2.5)
    torch.testing.assert_close(norms(r)[[0, 1, 3]], torch.full((3,), 2.5, dtype=torch.float64))
    assert torch.equal(r[2], torch.zeros(5, 3, dtype=torch.float64))
    cos = torch.nn.functional.cosine_similarity(r.flatten(1), g.flatten(1))[[0, 1, 3]]
    torch.testing.assert_close(cos, torch.ones(3, dtype=torch.float64))


def test_at_perturbation_survives_tiny_gradients():
    r = at_perturbation(torch.full((2, 3), 1e-30), 1.0)
    torch.testing.assert_close(norms(r), torch.ones(2))


def test_vat_perturbation_has_norm_eps_along_the_sensitive_direction():
    # Only the projection on w moves the logits: that is the direction KL grows fastest along.
    w = torch.tensor([0.6, 0.0, 0.8, 0.0], dtype=torch.float64)

    def logits_fn(x):
        s = x @ w
        return torch.stack([s, -s], 1)

    x = torch.randn(6, 4, dtype=torch.float64)
    r = vat_perturbation(logits_fn, x, logits_fn(x), eps=0.7,
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(norms(r), torch.full((6,), 0.7, dtype=torch.float64))
    cos = torch.nn.functional.cosine_similarity(r, w.expand_as(r))
    torch.testing.assert_close(cos.abs(), torch.ones(6, dtype=torch.float64))


def test_kl_with_logits_is_the_formula():
    p, q = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    pp, qq = p.softmax(1), q.softmax(1)
    torch.testing.assert_close(kl_with_logits(p, q), (pp * (pp / qq).log()).sum(1).mean())


def test_embeddings_have_frequency_weighted_mean_0_and_variance_1():
    f = torch.tensor([0.0, 5.0, 1.0, 3.0, 1.0])
    emb = NormalizedEmbedding(5, 3, f)
    v = emb(torch.arange(5).view(1, 5))[0]
    p = (f / f.sum()).unsqueeze(1)
    w = emb.weight.detach()
    mean = (p * w).sum(0)
    torch.testing.assert_close(v, (w - mean) / ((p * (w - mean) ** 2).sum(0) + 1e-6).sqrt())
    torch.testing.assert_close((p * v).sum(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close((p * v.square()).sum(0), torch.ones(3), atol=1e-2, rtol=0)


@pytest.mark.parametrize("encoder", ["cnn", "lstm"])
def test_trailing_padding_does_not_change_the_logits(encoder):
    model = TextClassifier(20, 2, 6, encoder, maps=3, hidden=5).eval()
    ids = torch.tensor([[5, 6, 7, 2, 0, 0], [8, 2, 0, 0, 0, 0]])
    longer = torch.cat([ids, torch.zeros(2, 10, dtype=torch.int64)], 1)
    torch.testing.assert_close(model(ids), model(longer))
    emb = model.embed(ids)
    emb_changed = emb.clone()
    emb_changed[1, 3:] += 100.0  # perturbing padding positions does nothing
    torch.testing.assert_close(model.classify(emb, model.mask(ids)),
                               model.classify(emb_changed, model.mask(ids)))


def write_corpus(tmp_path, n=40):
    gen = torch.Generator().manual_seed(0)
    words = {"pos": ["good", "great", "fine", "fun"], "neg": ["bad", "dull", "poor", "flat"]}
    common = ["the", "film", "is", "a", "plot"]
    paths = {}
    for name, own in words.items():
        lines = []
        for _ in range(n):
            k = int(torch.randint(2, 7, (1,), generator=gen))
            pool = own + common
            lines.append(" ".join(pool[int(i)] for i in torch.randint(len(pool), (k,),
                                                                      generator=gen)))
        paths[name] = tmp_path / f"corpus.{name}"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def make(tmp_path, run="run", **override):
    paths = write_corpus(tmp_path)
    split, _ = load_labelled_text([paths["neg"], paths["pos"]], 0.25, seed=0, max_len=10,
                                  unlabelled_file=paths["pos"])
    config = AdvTextConfig(**{**QUIET, **SMALL, **override})
    return AdvTextTrainer(config, split, tmp_path / run)


@pytest.mark.parametrize("method, encoder", [("none", "cnn"), ("at", "cnn"), ("vat", "lstm"),
                                             ("at+vat", "cnn")])
def test_small_runs_of_every_method(method, encoder, tmp_path):
    trainer = make(tmp_path, steps=4, method=method, encoder=encoder)
    out = trainer.fit()
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert ("loss_at" in rows[0]) == ("at" in method.split("+"))
    assert ("loss_vat" in rows[0]) == ("vat" in method)
    assert 0 <= out["test_accuracy"] <= 1
    assert not any((tmp_path / "run" / "samples").iterdir())


def test_resume_is_exact(tmp_path):
    extra = dict(method="at+vat", deterministic=True)
    straight = make(tmp_path, "a", steps=5, **extra)
    straight.fit()
    make(tmp_path, "b", steps=3, **extra).fit()
    second = make(tmp_path, "b", steps=5, **extra)
    second.fit()
    want, got = straight.models["classifier"], second.models["classifier"]
    for (k, a), b in zip(want.state_dict().items(), got.state_dict().values()):
        assert torch.equal(a, b), k


def test_command_line_smoke(tmp_path, capsys):
    paths = write_corpus(tmp_path)
    run = tmp_path / "run"
    args = ["train", "adv-text", "--data-pos", str(paths["pos"]), "--data-neg", str(paths["neg"]),
            "--method", "at+vat", "--steps", "2", "--batch-size", "8", "--embed-dim", "8",
            "--maps", "4", "--log-every", "1", "--eval-every", "2", "--no-progress",
            "--out", str(run)]
    assert main(args) == 0
    assert "test_accuracy" in (run / "metrics.csv").read_text().splitlines()[0]
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["test_examples"] == 8 and 0 <= result["test_accuracy"] <= 1
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "x.txt")]) == 2
    assert "nothing to sample" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    capsys.readouterr()
    assert main(args[:3] + [str(empty)] + args[4:] + ["--restart"]) == 2
    assert "empty corpus" in capsys.readouterr().err


@pytest.mark.parametrize("call, message", [
    (lambda p: load_labelled_text([p["pos"]]), "at least 2"),
    (lambda p: load_labelled_text([p["neg"], p["pos"]], test_fraction=1.0),
     r"test_fraction must be in \[0, 1\)"),
    (lambda p: load_labelled_text([p["neg"], p["pos"]], test_fraction=0.001),
     "leaves 0 for testing"),
    (lambda p: AdvTextConfig(ema=0.9).validate(), "ema does not apply"),
    (lambda p: AdvTextConfig(widths="3,x").validate(), "widths must be comma-separated"),
    (lambda p: AdvTextConfig(eps=0.0).validate(), "eps must be > 0"),
    (lambda p: at_perturbation(torch.zeros(2, 3), -1.0), "eps must be a number > 0"),
    (lambda p: vat_perturbation(lambda x: x, torch.zeros(2, 3), torch.zeros(3, 2), 1.0),
     "clean_logits must be"),
    (lambda p: TextClassifier(10)(torch.zeros(2, 3)), "int64 token ids"),
    (lambda p: NormalizedEmbedding(3, 2, torch.zeros(3)), "not all zero"),
])
def test_bad_inputs_are_named(call, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        call(write_corpus(tmp_path, 4))
