"""pygan.metrics: PacGAN mode statistics, Fréchet distance and KID against
independent formulas, precision/recall, and the feature classifier."""
import importlib
import math

import numpy as np
import pytest
import torch

from pygan.metrics import (FeatureClassifier, evaluate_images, extract_features,
                           frechet_distance, kid, load_classifier, mode_stats,
                           precision_recall, save_classifier, train_classifier)

# The function pygan.metrics.precision_recall shadows its module's name.
pr_module = importlib.import_module("pygan.metrics.precision_recall")

RING = torch.tensor([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)]
                     for i in range(8)])
GRID = torch.cartesian_prod(*[torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])] * 2)


# ---- mode_stats -------------------------------------------------------------

def test_all_modes_hit_equally(device):
    stats = mode_stats(RING.repeat(10, 1).to(device), RING.to(device), std=0.01)
    assert stats["modes"] == 8 and stats["high_quality"] == 100.0
    assert stats["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_full_collapse_onto_one_mode():
    stats = mode_stats(RING[3].repeat(50, 1), RING, std=0.01)
    assert stats == {"modes": 1, "high_quality": 100.0, "reverse_kl": pytest.approx(math.log(8))}


def test_samples_off_every_mode_score_zero_and_infinite_kl():
    stats = mode_stats(torch.full((20, 2), 0.5), RING, std=0.01)
    assert stats == {"modes": 0, "high_quality": 0.0, "reverse_kl": math.inf}


def test_known_mix_with_low_quality_samples():
    off = torch.tensor([[0.0, 0.0]]).repeat(4, 1)  # the ring's centre: 1 from every mode
    samples = torch.cat([RING[0].repeat(3, 1), RING[1:2], off])
    stats = mode_stats(samples, RING, std=0.01)
    # Only the 4 HQ samples count: q = (3/4, 1/4) over 8 modes.
    expected = 0.75 * math.log(0.75 * 8) + 0.25 * math.log(0.25 * 8)
    assert stats == {"modes": 2, "high_quality": 50.0, "reverse_kl": pytest.approx(expected)}
    half = mode_stats(torch.cat([RING[0].repeat(5, 1), RING[1].repeat(5, 1)]), RING, 0.01)
    assert half["reverse_kl"] == pytest.approx(math.log(4))


def test_high_quality_boundary_is_three_std():
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)  # unit length
    samples = GRID[12].double() + torch.stack([0.2999 * direction, 0.3001 * direction])
    stats = mode_stats(samples, GRID, std=0.1)
    assert stats["modes"] == 1 and stats["high_quality"] == 50.0


def test_pacgan_grid_protocol_on_true_samples():
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 25, (5000,), generator=gen)
    samples = GRID[idx] + 0.05 * torch.randn(5000, 2, generator=gen)
    stats = mode_stats(samples, GRID, std=0.05)
    # A 2-D Gaussian lies within 3 std with probability 1 - exp(-4.5) = 98.89%.
    assert stats["modes"] == 25 and abs(stats["high_quality"] - 98.89) < 0.6
    assert 0 < stats["reverse_kl"] < 0.01


@pytest.mark.parametrize("samples, centers, std, match", [
    (torch.zeros(2), RING, 0.1, "samples must be a 2-D"),
    (torch.zeros(4, 3), RING, 0.1, "samples and centers must have the same last dim.*3 and 2"),
    (torch.zeros(0, 2), RING, 0.1, "samples needs at least 1 row"),
    (torch.zeros(4, 2), [[0.0, 0.0]], 0.1, "centers must be a 2-D tensor.*got list"),
    (torch.zeros(4, 2), RING, 0.0, "std must be positive and finite, got 0.0"),
    (torch.zeros(4, 2), RING, -1.0, "std must be positive"),
])
def test_mode_stats_rejects_bad_inputs(samples, centers, std, match):
    with pytest.raises(ValueError, match="mode_stats: " + match):
        mode_stats(samples, centers, std)


# ---- Fréchet distance -------------------------------------------------------

def gaussian(n, mean, cov, seed):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(mean, cov, size=n)


def test_frechet_matches_closed_form_for_diagonal_covariances():
    # Whitening makes the *sample* moments exactly (mu, diag(s)), so the
    # closed form for commuting covariances applies: |dmu|^2 + sum (sqrt s1 - sqrt s2)^2.
    def exact_moments(n, mu, s, seed):
        z = np.random.default_rng(seed).standard_normal((n, len(mu)))
        z -= z.mean(0)
        z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T))).T
        return z * np.sqrt(s) + mu

    mu1, s1 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 4.0, 0.25])
    mu2, s2 = np.array([0.5, -1.0, 0.0]), np.array([2.0, 1.0, 0.09])
    a, b = exact_moments(400, mu1, s1, 1), exact_moments(300, mu2, s2, 2)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    assert frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(expected, rel=1e-6)


def test_frechet_matches_closed_form_for_rotated_covariance():
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                    [0, 0, 1]])
    cov2 = rot @ np.diag([3.0, 0.2, 1.5]) @ rot.T
    a = gaussian(500, [0.0, 0.0, 0.0], np.diag([1.0, 2.0, 0.5]), 3)
    b = gaussian(600, [1.0, -0.5, 2.0], cov2, 4)
    # Independent route: eigenvalues of S_a S_b (real, >= 0 for PSD factors).
    sa, sb = np.cov(a.T), np.cov(b.T)
    tr_sqrt = np.sqrt(np.linalg.eigvals(sa @ sb).real).sum()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb) - 2 * tr_sqrt
    ta, tb = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    got = frechet_distance(torch.tensor(a), torch.tensor(b))
    assert got == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(tb, ta) == pytest.approx(got, rel=1e-5)  # symmetric, float32 in


def test_frechet_of_a_set_with_itself_is_zero_and_distances_are_symmetric(device):
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(500, 32, generator=gen), torch.randn(400, 32, generator=gen) * 1.5 + 0.3
    assert abs(frechet_distance(x.to(device), x.to(device))) < 1e-8
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    assert frechet_distance(x, y) > 1.0
    # Fewer samples than dimensions: singular covariances still give ~0 and a finite value.
    assert abs(frechet_distance(x[:20], x[:20])) < 1e-6
    assert math.isfinite(frechet_distance(x[:20], y[:20]))


# ---- KID --------------------------------------------------------------------

def test_kid_matches_the_unbiased_mmd_formula():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 3)), rng.standard_normal((7, 3)) + 0.4
    k = lambda x, y: (x @ y / 3 + 1) ** 3  # noqa: E731
    m = len(a)
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m))
    expected = (xx + yy) / (m * (m - 1)) - 2 * xy / m**2
    # Subsets covering the whole sets are permutations, which MMD ignores.
    mean, std = kid(torch.tensor(a), torch.tensor(b), subsets=3, subset_size=50)
    assert mean == pytest.approx(expected, rel=1e-10) and std < 1e-12


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(1000, 16, generator=gen), torch.randn(1000, 16, generator=gen)
    same, _ = kid(a, b, subsets=20, subset_size=200, generator=torch.Generator().manual_seed(0))
    shifted, shifted_std = kid(a, b + 0.5, subsets=20, subset_size=200)
    assert shifted > 0.1 and shifted > 5 * shifted_std
    assert abs(same) < 0.02 * shifted


def test_kid_is_unbiased_even_on_small_subsets():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(2000, 8, generator=gen), torch.randn(2000, 8, generator=gen)
    mean, std = kid(a, b, subsets=400, subset_size=10, generator=torch.Generator().manual_seed(0))
    # Keeping the k(x, x) terms would add this much (the V-statistic's bias).
    k_xx = (a[:10].double().pow(2).sum(1) / 8 + 1).pow(3).mean().item()
    bias = 2 * (k_xx - 1) / 10
    assert abs(mean) < 0.1 * bias and std > 0


def test_kid_subsets_follow_the_generator():
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(300, 4, generator=gen), torch.randn(300, 4, generator=gen) + 0.2
    run = lambda seed: kid(a, b, subsets=5, subset_size=50,  # noqa: E731
                           generator=torch.Generator().manual_seed(seed))
    assert run(0) == run(0) and run(0) != run(1)


# ---- precision / recall -----------------------------------------------------

def test_identical_sets_have_full_precision_and_recall():
    x = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x.clone()) == {"precision": 1.0, "recall": 1.0}


def test_far_apart_sets_have_zero_precision_and_recall():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(x, x + 100.0) == {"precision": 0.0, "recall": 0.0}


def test_collapse_onto_one_cluster_keeps_precision_and_loses_recall():
    gen = torch.Generator().manual_seed(0)
    centres = 20.0 * torch.randn(10, 4, generator=gen)
    real = centres.repeat_interleave(200, 0) + torch.randn(2000, 4, generator=gen)
    fake = centres[0] + torch.randn(300, 4, generator=gen)
    scores = precision_recall(real, fake, k=3)
    # Only cluster 0, a tenth of the real set, can be recalled.
    assert scores["precision"] > 0.9 and 0.07 < scores["recall"] <= 0.1


def brute_force_precision_recall(real, fake, k):
    dist = lambda p, q: np.sqrt(((p[:, None] - q[None]) ** 2).sum(-1))  # noqa: E731
    r_real = np.sort(dist(real, real), 1)[:, k]
    r_fake = np.sort(dist(fake, fake), 1)[:, k]
    return {"precision": (dist(fake, real) <= r_real).any(1).mean(),
            "recall": (dist(real, fake) <= r_fake).any(1).mean()}


@pytest.mark.parametrize("block_entries", [64, 1 << 24])
@pytest.mark.parametrize("k", [1, 5])
def test_blocked_precision_recall_matches_brute_force(monkeypatch, block_entries, k):
    monkeypatch.setattr(pr_module, "_BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(k)
    real, fake = rng.standard_normal((230, 5)), rng.standard_normal((170, 5)) * 1.3 + 0.4
    got = precision_recall(torch.tensor(real), torch.tensor(fake), k=k)
    expected = brute_force_precision_recall(real, fake, k)
    assert 0 < expected["precision"] < 1 and 0 < expected["recall"] < 1
    assert got == pytest.approx(expected, abs=1e-12)


def test_precision_recall_same_on_every_device(device):
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(400, 32, generator=gen), torch.randn(300, 32, generator=gen) + 0.3
    assert precision_recall(real.to(device), fake.to(device)) == precision_recall(real, fake)


@pytest.mark.parametrize("k, match", [(0, "got 0"), (10, "min\\(N, M\\) = 10, got 10")])
def test_precision_recall_rejects_bad_k(k, match):
    with pytest.raises(ValueError, match="precision_recall: k must satisfy.*" + match):
        precision_recall(torch.randn(10, 3), torch.randn(12, 3), k=k)


@pytest.mark.parametrize("fn, names", [(frechet_distance, ("feats_a", "feats_b")),
                                       (kid, ("feats_a", "feats_b")),
                                       (precision_recall, ("real_feats", "fake_feats"))])
def test_feature_metrics_reject_bad_inputs(fn, names):
    good = torch.randn(10, 4)
    nan = good.clone()
    nan[3, 1] = float("nan")
    cases = [((torch.randn(10), good), f"{names[0]} must be a 2-D tensor"),
             ((good, torch.randn(10, 5)),
              f"{names[0]} and {names[1]} must have the same last dimension, got 4 and 5"),
             ((good, good[:1]), f"{names[1]} needs at least 2 row"),
             ((good, nan), f"{names[1]} contains NaN or inf")]
    for args, match in cases:
        with pytest.raises(ValueError, match=f"{fn.__name__}: {match}"):
            fn(*args)


@pytest.mark.parametrize("kwargs, match", [(dict(subsets=0), "subsets must be >= 1, got 0"),
                                           (dict(subset_size=1), "subset_size must be >= 2")])
def test_kid_rejects_bad_subsets(kwargs, match):
    with pytest.raises(ValueError, match="kid: " + match):
        kid(torch.randn(10, 4), torch.randn(10, 4), **kwargs)


# ---- feature classifier -----------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits in [-1, 1] as [N, 1, 8, 8], split 1400 / 397."""
    datasets = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn's digits")
    data = datasets.load_digits()
    images = torch.tensor(data.images, dtype=torch.float32)[:, None] / 8 - 1
    labels = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1400], perm[1400:]
    return images[train], labels[train], images[test], labels[test]


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """(model, path of its saved file, log lines) for a 2-epoch digits classifier."""
    lines = []
    model = train_classifier(digits[0], digits[1], epochs=2, batch_size=32, log=lines.append)
    path = tmp_path_factory.mktemp("clf") / "digits.pt"
    save_classifier(model, path, {"data": "digits", "image_shape": (1, 8, 8)})
    return model, path, lines


def test_classifier_learns_digits(digits, trained):
    model, _, lines = trained
    accuracy = (model(digits[2]).argmax(1) == digits[3]).float().mean().item()
    assert accuracy > 0.8
    assert len(lines) == 2 and lines[-1].startswith("classifier epoch 2/2: loss")
    assert extract_features(model, digits[2], batch_size=100).shape == (len(digits[2]), 128)


def test_training_is_deterministic_for_a_seed(digits):
    state = torch.get_rng_state()
    run = lambda seed: train_classifier(digits[0][:200], digits[1][:200], epochs=1,  # noqa: E731
                                        batch_size=64, seed=seed, log=lambda _: None)
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)
    assert not torch.equal(a.head.weight, c.head.weight)


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
def test_classifier_takes_every_supported_image_size(size):
    model = FeatureClassifier(in_channels=3, num_classes=5, feature_dim=16).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    assert model(x).shape == (2, 5) and model.features(x).shape == (2, 16)


def test_save_load_round_trip_gives_identical_features(digits, trained):
    model, path, _ = trained
    loaded, meta = load_classifier(path)
    assert meta == {"data": "digits", "image_shape": [1, 8, 8]}
    assert not loaded.training
    assert torch.equal(extract_features(loaded, digits[2]), extract_features(model, digits[2]))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_load_rejects_truncated_foreign_and_missing_files(trained, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(trained[1].read_bytes()[:2000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path in (truncated, foreign):
        with pytest.raises(ValueError, match=f"{path}.* not a .*pygan classifier file"):
            load_classifier(path)
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match=f"{missing}.*pygan classifier train --data"):
        load_classifier(missing)


def test_evaluate_images_separates_held_out_data_from_noise(digits, trained):
    real, held_out = digits[0][:700], digits[2]
    noise = torch.rand(held_out.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    good = evaluate_images(held_out, real, trained[1])
    bad = evaluate_images(noise, real, trained[1])
    assert good["classifier"] == str(trained[1])
    assert bad["frechet"] > 20 * good["frechet"] and bad["kid"] > 20 * abs(good["kid"])
    assert good["precision"] > 0.7 and good["recall"] > 0.7
    # Noise covers no digit; it lands in real points' balls more often than one would like
    # (outliers have wide balls: 0.70 against 0.90 with recalibrated batch-norm statistics).
    assert bad["precision"] < good["precision"] - 0.15 and bad["recall"] < 0.1


def test_evaluate_images_rejects_shape_mismatches(digits, trained):
    small, path = digits[2][:10], trained[1]
    big = torch.zeros(10, 1, 16, 16)
    with pytest.raises(ValueError, match=r"fake images are \[1, 16, 16\] but real images are "
                                         r"\[1, 8, 8\]"):
        evaluate_images(big, small, path)
    with pytest.raises(ValueError, match=r"images are \[1, 16, 16\].*trained on \[1, 8, 8\]"):
        evaluate_images(big, big, path)
    with pytest.raises(ValueError, match="evaluate_images: fake contains NaN"):
        evaluate_images(torch.full_like(small, float("nan")), small, path)
    with pytest.raises(ValueError, match="at least 4 fake and 4 real images, got 3 and 10"):
        evaluate_images(small[:3], small, path)


def test_classifier_functions_reject_bad_inputs(trained, tmp_path):
    model = trained[0]
    x, y = torch.full((4, 1, 8, 8), 0.5), torch.zeros(4, dtype=torch.int64)
    cases = [
        (lambda: train_classifier(x * 3, y), "train_classifier: images must lie in \\[-1, 1\\]"),
        (lambda: train_classifier(x[0], y), "train_classifier: images must be a floating"),
        (lambda: train_classifier(x, y.int()), "labels must be an int64 tensor of shape \\[4\\]"),
        (lambda: train_classifier(x, y[:3]), "labels must be an int64 tensor of shape \\[4\\]"),
        (lambda: train_classifier(x, y - 1), "labels must be >= 0, got -1"),
        (lambda: train_classifier(x, y, epochs=0), "epochs must be >= 1, got 0"),
        (lambda: train_classifier(x, y, lr=0.0), "lr must be > 0"),
        (lambda: extract_features(model, torch.zeros(4, 3, 8, 8)), "has 3 channels, the "
                                                                   "classifier takes 1"),
        (lambda: extract_features(model, x, batch_size=0), "batch_size must be >= 1"),
        (lambda: save_classifier(model, tmp_path / "a.pt", {"data": "digits"}),
         "meta\\['image_shape'\\] must be \\[C, H, W\\] with C = 1, got None"),
        (lambda: save_classifier(model, tmp_path / "a.pt",
                                 {"image_shape": (1, 8, 8), "acc": np.float32(0.9)}),
         "meta must be JSON-serialisable"),
        (lambda: save_classifier(torch.nn.Linear(2, 2), tmp_path / "a.pt", {}),
         "model must be a FeatureClassifier, got Linear"),
        (lambda: FeatureClassifier(num_classes=0), "num_classes must be >= 1, got 0"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    assert list(tmp_path.iterdir()) == []  # failed saves leave nothing behind


def test_recalibrated_batch_norm_holds_the_data_statistics():
    from pygan.metrics.classifier import recalibrate_batch_norm

    torch.manual_seed(0)
    model = FeatureClassifier(1, 3)
    images = torch.rand(40, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        model.body[1].running_mean.fill_(5.0)  # stale statistics
        recalibrate_batch_norm(model, images, batch_size=10)
        conv = model.body[0](images)
    assert not model.training and model.body[1].momentum == 0.1
    # The cumulative average of the four batch means is the mean over all 40 images.
    torch.testing.assert_close(model.body[1].running_mean, conv.mean((0, 2, 3)))


@pytest.mark.parametrize("images, batch_size, message", [
    (torch.zeros(0, 1, 8, 8), 10, "images is empty"),
    (torch.zeros(4, 8, 8), 10, r"images must be a floating \[N, C, H, W\] tensor"),
    (torch.full((4, 1, 8, 8), float("nan")), 10, "images contains NaN"),
    (torch.zeros(4, 1, 8, 8), 0, "batch_size must be an int >= 1"),
])
def test_recalibrate_batch_norm_rejects_bad_input(images, batch_size, message):
    from pygan.metrics.classifier import recalibrate_batch_norm

    with pytest.raises(ValueError, match=f"recalibrate_batch_norm: {message}"):
        recalibrate_batch_norm(FeatureClassifier(1, 3), images, batch_size)
