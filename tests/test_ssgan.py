"""Semi-supervised GAN: Salimans' discriminator formula, feature matching,
the labelled/unlabelled split, small runs of each mode, exact resume, the
command line and bad inputs."""
import csv
import json
import math
import shutil

import pytest
import torch

from pygan import losses
from pygan.cli import main
from pygan.data.semi_supervised import LabelledSplit, split_labels_per_class
from pygan.models.ssgan import SSGANDiscriminator
from pygan.trainers import SSGANConfig, SSGANTrainer

QUIET = dict(progress=False, log_every=2, eval_every=2, sample_every=0, checkpoint_every=0)
SMALL = dict(batch_size=12, d_width=4, g_width=16, z_dim=8)
L = torch.tensor([[1.0, -2.0, 0.5], [30.0, 29.0, -40.0], [-50.0, -60.0, -55.0]],
                 dtype=torch.float64)


def test_implicit_fake_class_is_z_over_z_plus_one():
    z = L.exp().sum(1)
    torch.testing.assert_close(torch.sigmoid(losses.ssgan_real_logit(L)), z / (z + 1))


def test_explicit_fake_class_is_the_mass_of_the_real_classes():
    want = torch.softmax(L, 1)[:, :2].sum(1)
    torch.testing.assert_close(torch.sigmoid(losses.ssgan_real_logit(L, explicit_fake=True)),
                               want)


def test_conditional_entropy_is_the_mean_entropy_of_the_softmax():
    p = torch.softmax(L, 1)
    want = -(p * p.log()).sum(1).mean()
    torch.testing.assert_close(losses.conditional_entropy(L), want)
    uniform = torch.zeros(5, 4)  # log K for every row; finite for saturated rows too
    assert losses.conditional_entropy(uniform).item() == pytest.approx(math.log(4))
    assert losses.conditional_entropy(torch.tensor([[1e4, -1e4]])).item() == 0.0


def test_unsupervised_loss_is_finite_at_large_logits():
    big = torch.tensor([[500.0, 400.0], [-500.0, -400.0]])
    loss = losses.d_loss_bce(losses.ssgan_real_logit(big), losses.ssgan_real_logit(big.flip(0)))
    assert torch.isfinite(loss)


def test_feature_matching_is_the_squared_distance_of_the_means():
    real, fake = torch.randn(5, 3), torch.randn(7, 3)
    want = ((real.mean(0) - fake.mean(0)) ** 2).mean()
    torch.testing.assert_close(losses.feature_matching_loss(real, fake), want)


def test_split_keeps_per_class_labels_and_the_rest_unlabelled():
    labels = torch.arange(60) % 3
    lab, rest = split_labels_per_class(torch.zeros(60, 2), labels, 4, seed=1)
    assert torch.equal(torch.bincount(labels[lab]), torch.tensor([4, 4, 4]))
    assert len(rest) == 48 and not set(lab.tolist()) & set(rest.tolist())
    again, _ = split_labels_per_class(torch.zeros(60, 2), labels, 4, seed=1)
    assert torch.equal(lab, again)


def images(n=60, classes=3, size=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    x = torch.rand(n, 1, size, size, generator=gen) * 0.5 - 1 + labels.view(-1, 1, 1, 1) * 0.5
    return x, labels


def split(classes=3):
    x, y = images(classes=classes)
    test_x, test_y = images(30, classes=classes, seed=1)
    lab, rest = split_labels_per_class(x, y, 2, seed=0)
    return LabelledSplit(x[lab], y[lab], x[rest], classes, test_x, test_y)


def make(run_dir, callbacks=(), **override):
    return SSGANTrainer(SSGANConfig(**{**QUIET, **SMALL, **override}), split(), run_dir,
                        callbacks)


@pytest.mark.parametrize("override", [
    dict(),
    dict(fake_class="explicit", g_loss="nonsaturating", d_arch="mlp"),
    dict(unsupervised_weight=0.0),
    dict(d_arch="conv", d_weight_norm=False),  # weight norm is the default
    dict(d_data_init=True),
    dict(d_data_init=True, unsupervised_weight=0.0),
    dict(entropy_weight=1.0),
])
def test_small_runs_log_the_test_error(override, tmp_path):
    trainer = make(tmp_path, steps=4, sample_every=2, **override)
    out = trainer.fit()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert 0 <= float(rows[-1]["test_error"]) <= 1 and out["test_error"] == pytest.approx(
        1 - out["test_accuracy"])
    baseline = override.get("unsupervised_weight") == 0.0
    assert ("loss_g" in rows[0]) != baseline
    assert (tmp_path / "samples" / "final.png").is_file() != baseline
    logits, features = trainer.models["discriminator"](torch.zeros(2, 1, 8, 8))
    assert logits.shape == (2, 3 + (override.get("fake_class") == "explicit"))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_weight_norm_starts_as_the_same_function(arch):
    def build(weight_norm):
        torch.manual_seed(0)
        return SSGANDiscriminator((1, 8, 8), 4, arch, 8, weight_norm=weight_norm).eval()

    plain, normed = build(False), build(True)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(normed(x)[0], plain(x)[0])
    layers = [m for m in normed.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_data_dependent_init_standardises_every_layer(arch):
    torch.manual_seed(0)
    D = SSGANDiscriminator((1, 8, 8), 4, arch, 8, noise=0.0, dropout=0.0, weight_norm=True)
    D.eval()  # the noise and dropout layers off: the statistics are the layers' own
    x = torch.randn(64, 1, 8, 8) * 3 + 1
    D.init_from_data(x)
    outputs = []
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    hooks = [m.register_forward_hook(lambda m, i, out: outputs.append(out)) for m in layers]
    D(x)
    for h in hooks:
        h.remove()
    for out in outputs:  # with the new g and bias, each unit is standardised on x
        dims = [0, *range(2, out.dim())]
        torch.testing.assert_close(out.mean(dims), torch.zeros(out.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(out.std(dims, unbiased=False), torch.ones(out.shape[1]),
                                   atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="needs weight_norm=True"):
        SSGANDiscriminator((1, 8, 8), 4, arch, 8).init_from_data(x)
    with pytest.raises(ValueError, match="a batch of at least 2 images"):
        D.init_from_data(x[:1])


def test_eval_every_adds_logged_rows_with_a_test_error(tmp_path):
    make(tmp_path, steps=6, log_every=4, eval_every=3).fit()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = [(r["step"], math.isnan(float(r["test_error"]))) for r in csv.DictReader(f)]
    assert rows == [("3", False), ("4", True), ("6", False)]


def test_resume_is_exact(tmp_path):
    # Stopped at step 3 of 5 (the checkpoint of step 3, copied away before the run goes
    # on), so the config, the lr decay over the last half included, is the same.
    (tmp_path / "b").mkdir()

    def keep_step_3(trainer, values):
        if trainer.step == 4:
            shutil.copy(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt")

    extra = dict(steps=5, deterministic=True, checkpoint_every=3, lr_decay_start=0.5)
    straight = make(tmp_path / "a", callbacks=[keep_step_3], **extra)
    straight.fit()
    resumed = make(tmp_path / "b", **extra)
    resumed.fit()
    with open(tmp_path / "b" / "metrics.csv", newline="") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["4", "5"]  # it did start at 3
    for name, model in straight.models.items():
        for (k, want), got in zip(model.state_dict().items(),
                                  resumed.models[name].state_dict().values()):
            assert torch.equal(want, got), f"{name}.{k}"
    assert straight.evaluate() == resumed.evaluate()


def test_command_line_train_sample_and_bad_counts(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "ssgan", "--data", "digits", "--labels-per-class", "3", "--steps", "2",
            "--batch-size", "16", "--d-width", "4", "--g-width", "16", "--log-every", "1",
            "--eval-every", "2", "--no-progress", "--out", str(run)]
    assert main(args) == 0
    assert "test_error" in (run / "metrics.csv").read_text().splitlines()[0]
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 2 and result["test_examples"] == 359 and 0 <= result["test_error"] <= 1
    capsys.readouterr()
    assert main(args[:4] + ["--labels-per-class", "1000"] + args[6:] + ["--restart"]) == 2
    assert "per_class=1000 is more than the" in capsys.readouterr().err


@pytest.mark.parametrize("call, message", [
    (lambda: split_labels_per_class(torch.zeros(4, 2), None, 1, 0), "the data set has no labels"),
    (lambda: split_labels_per_class(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]), 3, 0),
     "per_class=3 is more than the 2 examples of class 0"),
    (lambda: split_labels_per_class(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), 1, 0),
     "1 class"),
    (lambda: split_labels_per_class(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), 0, 0),
     "per_class must be an int >= 1"),
    (lambda: LabelledSplit(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(0, 4), 2),
     "unlabelled must be"),
    (lambda: LabelledSplit(torch.zeros(2, 3), torch.tensor([0, 5]), torch.zeros(0, 3), 2),
     r"labels must lie in \[0, 2\)"),
    (lambda: LabelledSplit(torch.zeros(2, 3), torch.tensor([0, 0]), torch.zeros(0, 3), 1),
     "num_classes must be an int >= 2"),
    (lambda: losses.ssgan_real_logit(torch.zeros(3, 2), explicit_fake=True), r"\[B, K \+ 1\]"),
    (lambda: losses.feature_matching_loss(torch.zeros(3, 2), torch.zeros(3, 4)),
     "the same F"),
    (lambda: SSGANDiscriminator((1, 8, 8), 3, arch="resnet"), "arch must be one of"),
    (lambda: SSGANTrainer(SSGANConfig(**QUIET), (torch.zeros(4, 1, 8, 8),), "unused"),
     "takes a LabelledSplit"),
    (lambda: SSGANConfig(eval_every=-1).validate(), "eval_every must be >= 0"),
    (lambda: SSGANConfig(unsupervised_weight=-1.0).validate(), "unsupervised_weight must be"),
    (lambda: SSGANConfig(entropy_weight=-0.5).validate(), "entropy_weight must be >= 0"),
    (lambda: losses.conditional_entropy(torch.zeros(4)), r"class_logits must be \[B, K\]"),
    (lambda: SSGANConfig(d_data_init=True, d_weight_norm=False).validate(),
     "d_data_init initialises weight-normalised layers"),
])
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
