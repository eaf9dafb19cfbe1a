"""Discriminator rejection sampling: the sampler against a known density
ratio, its arguments, and the GAN trainer's use of it."""
import dataclasses

import pytest
import torch

from pygan import losses
from pygan.data import mixture
from pygan.trainers import TRAINERS
from pygan.trainers.rejection import rejection_sample
from pygan.trainers.runs import open_finished_run, open_run


def normal_proposals(seen=None):
    """propose(i, k): [k, 1] draws of N(0, 1), a fixed stream per batch index."""
    def propose(i, k):
        if seen is not None:
            seen.append(k)
        return torch.randn(k, 1, generator=torch.Generator().manual_seed(1000 + i))
    return propose


def shift_by_one(x):
    return x[:, 0] - 0.5  # log N(x; 1, 1) / N(x; 0, 1)


def test_exact_ratio_turns_the_proposal_into_the_target():
    out = rejection_sample(normal_proposals(), shift_by_one, 20_000, quantile=None,
                           generator=torch.Generator().manual_seed(0))
    assert out.shape == (20_000, 1)
    # N(0, 1) proposals thinned by the exact ratio are N(1, 1); 4 standard errors of slack.
    assert out.mean().item() == pytest.approx(1.0, abs=4 / 20_000 ** 0.5)
    assert out.std().item() == pytest.approx(1.0, abs=0.03)


def test_a_quantile_keeps_more_and_moves_less():
    seen_plain, seen_q = [], []
    plain = rejection_sample(normal_proposals(seen_plain), shift_by_one, 5000, quantile=None,
                             batch=1000, generator=torch.Generator().manual_seed(0))
    lenient = rejection_sample(normal_proposals(seen_q), shift_by_one, 5000, quantile=0.5,
                               batch=1000, generator=torch.Generator().manual_seed(0))
    assert sum(seen_q) < sum(seen_plain)
    assert 0.1 < lenient.mean().item() < plain.mean().item()


def test_same_generator_same_samples_and_samples_are_proposals():
    kwargs = dict(quantile=0.8, batch=500, burn_in=500)
    a = rejection_sample(normal_proposals(), shift_by_one, 300,
                         generator=torch.Generator().manual_seed(3), **kwargs)
    b = rejection_sample(normal_proposals(), shift_by_one, 300,
                         generator=torch.Generator().manual_seed(3), **kwargs)
    assert torch.equal(a, b)
    pool = torch.cat([normal_proposals()(i, 500) for i in range(1, 20)])
    assert torch.isin(a, pool).all()


def test_an_outlying_logit_after_the_burn_in_does_not_stall_a_quantile():
    def propose(i, k):
        x = normal_proposals()(i, k)
        if i == 1:
            x[0] = 1000.0  # D's logit there is ~1000: M jumps far above every other logit
        return x

    out = rejection_sample(propose, shift_by_one, 2000, quantile=0.99, batch=1000, burn_in=1000,
                           max_proposals=100_000, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2000, 1)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n=0), ValueError, "n must be an int >= 1"),
    (dict(n=10, quantile=1.5), ValueError, "quantile must be in [0, 1]"),
    (dict(n=10, burn_in=0), ValueError, "burn_in must be"),
    (dict(n=10, batch=2.5), ValueError, "batch must be"),
    (dict(n=10, max_proposals=5), ValueError, "max_proposals must be an int >= 10"),
    (dict(n=10, log_ratio=lambda x: x), ValueError, "log_ratio must return [10000] logits"),
    (dict(n=10, log_ratio=lambda x: x[:, 0] / 0), FloatingPointError, "NaN or inf"),
    # Only proposals near 0 are kept, and 1,000 proposals hold too few of them.
    (dict(n=500, log_ratio=lambda x: -1e4 * x[:, 0] ** 2, max_proposals=1000, quantile=None),
     RuntimeError, "kept"),
])
def test_bad_arguments(kwargs, error, message):
    kwargs = {"log_ratio": shift_by_one, **kwargs}
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        rejection_sample(normal_proposals(), kwargs.pop("log_ratio"), kwargs.pop("n"), **kwargs)


def small_gan(tmp_path, **overrides):
    cls = TRAINERS["gan"]
    config = cls.config_class(steps=20, batch_size=20, g_width=16, d_width=16, progress=False,
                              sample_every=0, checkpoint_every=0, log_every=10, **overrides)
    trainer = cls(config, mixture("ring").sample, tmp_path)
    trainer.fit(resume=False)
    return trainer


def test_gan_trainer_rejection_sample(tmp_path):
    trainer = small_gan(tmp_path)
    a = trainer.rejection_sample(100, seed=5, quantile=0.9, batch=500, burn_in=500)
    b = trainer.rejection_sample(100, seed=5, quantile=0.9, batch=500, burn_in=500)
    assert a.shape == (100, 2) and a.dtype == torch.float32 and torch.equal(a, b)
    assert trainer.models["discriminator"].training  # its mode is restored


def test_packed_discriminator_is_refused(tmp_path):
    trainer = small_gan(tmp_path, pack=2)
    with pytest.raises(ValueError, match="packed discriminator"):
        trainer.rejection_sample(10)


def d_loss_on_fresh_batches(trainer, D):
    g = torch.Generator().manual_seed(99)
    real = mixture("ring").sample(2000, g)
    with torch.no_grad():
        fake = trainer.sampler().eval()(torch.randn(2000, 2, generator=g))
        return losses.d_loss_bce(D(real), D(fake)).item()


def test_calibration_trains_a_copy_and_leaves_the_trainer_as_it_was(tmp_path):
    trainer = small_gan(tmp_path)
    before = {k: v.clone() for k, v in trainer.models["discriminator"].state_dict().items()}
    rng, source = trainer.generator.get_state(), trainer.source.state_dict()
    D = trainer.calibrated_discriminator(300, lr=1e-3)
    for k, v in trainer.models["discriminator"].state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(trainer.generator.get_state(), rng)
    assert torch.equal(trainer.source.state_dict()["generator"], source["generator"])
    assert not D.training
    # 20 GAN steps leave D near chance; 300 more against a frozen G separate the two.
    assert d_loss_on_fresh_batches(trainer, D) < d_loss_on_fresh_batches(
        trainer, trainer.models["discriminator"]) - 0.05
    a = trainer.rejection_sample(50, seed=1, calibrate_steps=20, batch=500, burn_in=500)
    b = trainer.rejection_sample(50, seed=1, calibrate_steps=20, batch=500, burn_in=500)
    assert torch.equal(a, b)


def test_calibration_needs_the_data(tmp_path):
    small_gan(tmp_path)
    with pytest.raises(ValueError, match="reopen the run with open_run"):
        open_run(tmp_path).rejection_sample(10, calibrate_steps=5)
    reopened = open_run(tmp_path, data=mixture("ring").sample)
    assert reopened.rejection_sample(10, calibrate_steps=5).shape == (10, 2)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        reopened.calibrated_discriminator(0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        reopened.calibrated_discriminator(5, lr=0.0)
    # Bad sampling arguments are refused before a calibration that could take minutes.
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        reopened.rejection_sample(0, calibrate_steps=10 ** 9)


def test_open_finished_run_only_reopens_the_same_finished_configuration(tmp_path):
    trainer = small_gan(tmp_path)
    assert open_finished_run(tmp_path / "none", trainer.config) is None
    again = open_finished_run(tmp_path, trainer.config, data=mixture("ring").sample)
    assert again is not None and again.step == 20 and again.has_data
    assert open_finished_run(tmp_path, dataclasses.replace(trainer.config, steps=40)) is None
    assert open_finished_run(tmp_path, dataclasses.replace(trainer.config, lr=1e-3)) is None
