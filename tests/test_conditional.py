"""The conditional image families: cGAN (projection, ACGAN) and InfoGAN —
models, label checks, smoke runs, exact resume, the class-wise metrics and
the CLI's --class."""
import json
import math

import pytest
import torch

from pygan.cli import main
from pygan.metrics import save_classifier, train_classifier
from pygan.metrics.conditional import evaluate_conditional, matched_accuracy
from pygan.models import ConditionalGenerator, HeadedDiscriminator
from pygan.trainers import CGANConfig, CGANTrainer, InfoGANConfig, InfoGANTrainer
from pygan.trainers.labels import class_grid

QUIET = dict(progress=False, log_every=2, sample_every=0, checkpoint_every=0)
SMALL = dict(image_size=16, ngf=8, ndf=8, batch_size=16)


def labelled(n=96, k=4):
    """Images whose mean brightness encodes their class, so classes differ."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % k
    images = (torch.rand(n, 1, 16, 16, generator=gen) * 0.5 - 1) + labels[:, None, None, None] * 0.4
    return images.clamp(-1, 1), labels


def cgan(run_dir, data=None, meta=None, **override):
    config = CGANConfig(**{**QUIET, **SMALL, **override})
    return CGANTrainer(config, data or labelled(), run_dir, meta=meta)


def infogan(run_dir, **override):
    config = InfoGANConfig(**{**QUIET, **SMALL, "categories": 4, **override})
    return InfoGANTrainer(config, (labelled()[0],), run_dir)


def weights(trainer):
    return {f"{k}.{n}": t.clone() for k, m in trainer.models.items()
            for n, t in m.state_dict().items()}


def test_generator_and_discriminator_shapes():
    G = ConditionalGenerator(16, 1, z_dim=6, num_classes=3, ngf=4)
    labels = torch.tensor([0, 2, 1, 2, 0])
    x = G(torch.randn(5, 6), labels)
    assert x.shape == (5, 1, 16, 16) and x.abs().max() <= 1
    D = HeadedDiscriminator(16, 1, 4, "spectral", num_classes=3, projection=True)
    logits, aux = D(x, labels)
    assert logits.shape == (5,) and aux is None
    D = HeadedDiscriminator(16, 1, 4, "batch", num_classes=3, aux_outputs=3)
    logits, aux = D(x)
    assert logits.shape == (5,) and aux.shape == (5, 3)
    D = HeadedDiscriminator(16, 1, 4, "batch", aux_outputs=5, aux_hidden=7)
    assert D(x)[1].shape == (5, 5)


def test_projection_term_depends_on_the_label():
    torch.manual_seed(0)
    D = HeadedDiscriminator(16, 1, 4, "none", num_classes=3, projection=True)
    x = torch.randn(1, 1, 16, 16).expand(3, 1, 16, 16)
    logits, _ = D(x, torch.tensor([0, 1, 2]))
    h = D.body.features(x[:1]).flatten(1)
    want = D.body.net[-1](D.body.features(x[:1])).flatten() + D.embed.weight @ h[0]
    torch.testing.assert_close(logits, want)


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1, 2]), r"labels must be int64 \[5\]"),
    (torch.tensor([0, 1, 2, 3, 0]), r"labels must be in \[0, 3\), got values from 0 to 3"),
    (torch.tensor([0, -1, 2, 1, 0]), r"labels must be in \[0, 3\)"),
    (torch.zeros(5), r"labels must be int64 \[5\]"),
])
def test_bad_labels_are_refused(labels, message):
    G = ConditionalGenerator(16, 1, z_dim=6, num_classes=3, ngf=4)
    with pytest.raises(ValueError, match=message):
        G(torch.randn(5, 6), labels)
    D = HeadedDiscriminator(16, 1, 4, "batch", num_classes=3, projection=True)
    with pytest.raises(ValueError, match=message):
        D(torch.randn(5, 1, 16, 16), labels)


def test_projection_discriminator_needs_labels():
    D = HeadedDiscriminator(16, 1, 4, "batch", num_classes=3, projection=True)
    with pytest.raises(ValueError, match="needs labels"):
        D(torch.randn(2, 1, 16, 16))


@pytest.mark.parametrize("data, meta, message", [
    ((torch.zeros(4, 1, 16, 16), torch.tensor([0, 1, 0])), None, r"labels must be int64 \[4\]"),
    ((torch.zeros(4, 1, 16, 16), torch.tensor([0, 1, 5, 1])), {"num_classes": 3},
     r"labels must be in \[0, 3\)"),
    ((torch.zeros(4, 1, 16, 16), torch.zeros(4, dtype=torch.int64)), None, "at least 2 classes"),
    ((torch.zeros(4, 1, 16, 16),), None, r"takes data \(images"),
])
def test_trainer_refuses_bad_labelled_data(data, meta, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        cgan(tmp_path, data, meta)


@pytest.mark.parametrize("conditioning, d_norm", [("projection", "batch"), ("acgan", "batch"),
                                                  ("projection", "spectral")])
def test_cgan_smoke_run(conditioning, d_norm, tmp_path):
    trainer = cgan(tmp_path, conditioning=conditioning, d_norm=d_norm, steps=4, sample_every=2)
    out = trainer.fit()
    assert out["step"] == 4 and math.isfinite(out["loss_d"]) and math.isfinite(out["loss_g"])
    assert ("loss_d_class" in out) == (conditioning == "acgan")
    assert (tmp_path / "samples" / "final.png").is_file()
    assert trainer.meta["num_classes"] == 4
    x = trainer.sample(6, labels=torch.tensor([3, 3, 0, 1, 2, 3]))
    assert x.shape == (6, 1, 16, 16)
    assert class_grid(trainer, 2).shape == (8, 1, 16, 16)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\)"):
        trainer.sample(2, labels=torch.tensor([0, 4]))


def test_cgan_samples_follow_the_labels(tmp_path):
    # The same noise with different labels gives different images; the same label, the same.
    trainer = cgan(tmp_path, steps=2)
    trainer.fit()
    a = trainer.sample(4, seed=1, labels=torch.tensor([0, 0, 0, 0]))
    b = trainer.sample(4, seed=1, labels=torch.tensor([0, 1, 2, 3]))
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1:], b[1:])


@pytest.mark.parametrize("family", ["projection", "acgan", "infogan"])
def test_resume_is_exact(family, tmp_path):
    extra = dict(deterministic=True, ema=0.9, instance_noise=0.1, noise_anneal_steps=5)

    def make(run_dir, steps):
        if family == "infogan":
            return infogan(run_dir, steps=steps, **extra)
        return cgan(run_dir, conditioning=family, steps=steps, **extra)

    straight = make(tmp_path / "a", 6)
    straight.fit()
    make(tmp_path / "b", 4).fit()
    second = make(tmp_path / "b", 6)
    second.fit()
    want, got = weights(straight), weights(second)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k
    assert torch.equal(straight.sample(8), second.sample(8))


def test_fused_and_unfused_generators_give_the_same_step(tmp_path):
    # Same losses in the first step (D's on the initial G, G's after D's update) and the same
    # generator gradients; later weights drift apart through Adam's sign-like small updates.
    a, b = cgan(tmp_path / "a", deterministic=True), cgan(tmp_path / "b", deterministic=True,
                                                           fused=False)
    assert a.models["generator"].fused and not b.models["generator"].fused
    va, vb = a.train_step(), b.train_step()
    for k in va:
        torch.testing.assert_close(va[k], vb[k], rtol=1e-4, atol=1e-5, msg=k)


def test_infogan_smoke_run_and_codes(tmp_path):
    trainer = infogan(tmp_path, steps=4, sample_every=2)
    out = trainer.fit()
    assert out["step"] == 4 and math.isfinite(out["loss_info"])
    assert (tmp_path / "samples" / "step_0000002.png").is_file()
    images, labels = labelled()
    result = trainer.code_accuracy(images, labels)
    assert 0.25 <= result["code_accuracy"] <= 1.0  # a matching is at least as good as chance
    assert trainer.continuous_grid(1, steps=5).shape == (4 * 5, 1, 16, 16)
    assert trainer.sample(3, labels=torch.tensor([0, 1, 3])).shape == (3, 1, 16, 16)
    with pytest.raises(ValueError, match=r"code must be in \[0, 2\)"):
        trainer.continuous_grid(2)
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        trainer.continuous_grid(0, steps=1)
    with pytest.raises(ValueError, match="span must be a finite number > 0"):
        trainer.continuous_grid(0, span=float("nan"))
    with pytest.raises(ValueError, match="class_grid: per_class must be an int >= 1"):
        class_grid(trainer, 0)
    with pytest.raises(ValueError, match=r"continuous must be a float tensor \[2, 2\]"):
        trainer.sample(2, continuous=torch.zeros(2, 3))


def test_info_loss_matches_the_formula(tmp_path):
    trainer = infogan(tmp_path, info_weight=2.0, continuous_weight=0.5)
    q = torch.randn(5, 6)
    labels, cont = torch.tensor([0, 1, 2, 3, 0]), torch.rand(5, 2)
    ce = -torch.log_softmax(q[:, :4], 1)[torch.arange(5), labels].mean()
    want = 2.0 * ce + 0.5 * 0.5 * ((q[:, 4:] - cont) ** 2).sum(1).mean()
    torch.testing.assert_close(trainer.info_loss(q, labels, cont), want)


@pytest.mark.parametrize("override, message", [
    (dict(categories=1), "categories must be 0"), (dict(continuous=-1), "continuous must be >= 0"),
    (dict(categories=0, continuous=0), "needs a code"), (dict(info_weight=-1.0), "info_weight"),
])
def test_infogan_bad_configuration(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        infogan(tmp_path, **override)


def test_matched_accuracy_finds_the_best_matching():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert matched_accuracy(torch.tensor([2, 2, 0, 0, 1, 1]), labels) == (1.0, {0: 1, 1: 2, 2: 0})
    # Two clusters for class 0: one of them is left unmatched.
    acc, mapping = matched_accuracy(torch.tensor([0, 1, 2, 2, 2, 2]), labels)
    assert acc == pytest.approx(3 / 6) and len(mapping) == 3
    with pytest.raises(ValueError, match="predicted must be int64"):
        matched_accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))


def test_evaluate_conditional_on_real_images(tmp_path):
    images, labels = labelled(200)
    torch.manual_seed(0)
    model = train_classifier(images, labels, epochs=2)
    path = tmp_path / "classifier.pt"
    save_classifier(model, path, {"data": "test", "image_shape": [1, 16, 16]})
    by_class = {k: images[labels == k] for k in range(4)}
    # A "generator" that returns real images of the class asked for scores as the data does.
    sample = lambda y: torch.stack([by_class[int(k)][i % 50] for i, k in enumerate(y)])  # noqa
    result = evaluate_conditional(sample, 4, 20, images, labels, path)
    assert result["accuracy"] == pytest.approx(result["real_accuracy"], abs=0.1)
    assert set(result["intra_frechet"]) == {0, 1, 2, 3} and result["frechet"] >= 0
    with pytest.raises(ValueError, match="has 4 classes, the generator 5"):
        evaluate_conditional(sample, 5, 20, images, labels, path)
    with pytest.raises(ValueError, match="per_class must be an int >= 2"):
        evaluate_conditional(sample, 4, 1, images, labels, path)
    with pytest.raises(ValueError, match="every class"):
        evaluate_conditional(sample, 4, 20, images[:3], labels[:3], path)


def test_cli_trains_and_samples_by_class(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cgan", "--data", "digits", "--image-size", "16", "--ngf", "8",
                 "--ndf", "8", "--steps", "2", "--batch-size", "16", "--no-progress",
                 "--sample-every", "0", "--out", str(run)]) == 0
    assert main(["sample", str(run), "--class", "3", "-n", "4", "--out",
                 str(tmp_path / "three.png")]) == 0
    assert main(["sample", str(run), "-n", "20", "--out", str(tmp_path / "grid.png")]) == 0
    classifier = tmp_path / "classifier.pt"
    assert main(["classifier", "train", "--data", "digits", "--image-size", "16", "--epochs", "1",
                 "--out", str(classifier)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--classifier", str(classifier), "-n", "200"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert 0 <= result["accuracy"] <= 1 and len(result["intra_frechet"]) == 10
    assert result["per_class"] == 20 and result["frechet"] >= 0
    assert main(["sample", str(run), "--class", "10", "--out", str(tmp_path / "x.png")]) == 2
    assert "--class must be in [0, 10)" in capsys.readouterr().err
    dcgan = tmp_path / "dcgan"
    assert main(["train", "dcgan", "--data", "digits", "--image-size", "16", "--ngf", "8",
                 "--ndf", "8", "--steps", "1", "--batch-size", "16", "--no-progress",
                 "--out", str(dcgan)]) == 0
    capsys.readouterr()
    assert main(["sample", str(dcgan), "--class", "1", "--out", str(tmp_path / "y.png")]) == 2
    assert "--class needs a class-conditional run" in capsys.readouterr().err
