"""The trainer core through the three families: smoke runs, exact resume,
NaN detection, checkpoints, schedules and the stabilisers."""
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from pygan.models import MLP, DCGANDiscriminator, DCGANGenerator
from pygan.models.mlp import Maxout
from pygan.trainers import (DCGANConfig, DCGANTrainer, GANConfig, GANTrainer, TrainingDiverged,
                            WGANConfig, WGANTrainer)
from pygan.trainers.checkpoint import load_checkpoint, save_checkpoint
from pygan.trainers.runlog import save_image_grid, save_scatter
from pygan.trainers.sources import TensorBatches
from pygan.trainers.tricks import EMA, instance_noise_std, wgan_d_steps

QUIET = dict(progress=False, log_every=2, sample_every=0, checkpoint_every=0)


def ring(n, gen):
    angle = torch.randint(8, (n,), generator=gen) * (2 * math.pi / 8)
    return torch.stack([angle.cos(), angle.sin()], 1) + 0.01 * torch.randn(n, 2, generator=gen)


def images(n=96, size=16, channels=1):
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(n, channels, size, size, generator=gen) * 2 - 1,)


SMALL_MLP = dict(g_width=16, g_depth=2, d_width=16, d_depth=2, batch_size=16)
SMALL_DCGAN = dict(image_size=16, ngf=8, ndf=8, batch_size=16)
FAMILIES = {
    "gan": (GANTrainer, GANConfig, SMALL_MLP, ring),
    "gan-minimax-k2": (GANTrainer, GANConfig, dict(SMALL_MLP, loss="minimax", d_steps=2), ring),
    "gan-pack4": (GANTrainer, GANConfig, dict(SMALL_MLP, pack=4), ring),
    "dcgan": (DCGANTrainer, DCGANConfig, SMALL_DCGAN, images()),
    "wgan-mlp": (WGANTrainer, WGANConfig, SMALL_MLP, ring),
    "wgan-gp-dcgan": (WGANTrainer, WGANConfig, dict(SMALL_DCGAN, gradient_penalty=True,
                                                    n_critic=2), images()),
}


def make(name, run_dir, **override):
    trainer, config, kwargs, data = FAMILIES[name]
    return trainer(config(**{**QUIET, **kwargs, **override}), data, run_dir)


def weights(trainer):
    return {f"{k}.{n}": t.clone() for k, m in trainer.models.items()
            for n, t in m.state_dict().items()}


@pytest.mark.parametrize("name", FAMILIES)
def test_smoke_run_leaves_its_files(name, tmp_path):
    out = make(name, tmp_path, steps=4, sample_every=2).fit()
    assert out["step"] == 4 and math.isfinite(out["loss_d"]) and math.isfinite(out["loss_g"])
    for f in ("last.pt", "metrics.csv", "config.json", "losses.png", "samples/step_0000002.png",
              "samples/final.png"):
        assert (tmp_path / f).is_file(), f
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("step,loss_d")


@pytest.mark.parametrize("name", ["gan", "dcgan", "wgan-mlp", "wgan-gp-dcgan"])
def test_resume_is_exact(name, tmp_path):
    # noise_anneal_steps fixed: by default the annealing follows `steps`, which differs here.
    extra = dict(deterministic=True, ema=0.9, instance_noise=0.1, noise_anneal_steps=5,
                 label_smoothing=0.1)
    if name.startswith("wgan"):
        extra.pop("label_smoothing")
    straight = make(name, tmp_path / "a", steps=6, **extra)
    straight.fit()
    first = make(name, tmp_path / "b", steps=4, **extra)
    first.fit()
    second = make(name, tmp_path / "b", steps=6, **extra)
    second.fit()
    assert second.step == 6
    want, got = weights(straight), weights(second)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k
    assert torch.equal(straight.sample(8), second.sample(8))  # EMA restored too
    assert len((tmp_path / "b" / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_learning_rates_fall_linearly_and_resume_exactly(tmp_path):
    def lrs(trainer):
        return [g["lr"] for o in trainer.optimizers.values() for g in o.param_groups]

    straight = make("gan", tmp_path / "a", steps=6, lr_decay_start=0.5, deterministic=True)
    seen = []
    straight.callbacks.append(lambda t, values: seen.append(lrs(t)))
    straight.fit()
    # Steps 0-3 at the built rate, then (6 - step) / 3 of it.
    assert seen == [[1e-4, 1e-4]] * 4 + [[pytest.approx(2e-4 / 3)] * 2,
                                         [pytest.approx(1e-4 / 3)] * 2]
    # Ctrl-C after step 4, then resume: the schedule and the weights match.
    first = make("gan", tmp_path / "b", steps=6, lr_decay_start=0.5, deterministic=True)
    first.callbacks.append(lambda t, values: t.step == 4 and os.kill(os.getpid(), signal.SIGINT))
    first.fit()
    assert first.step == 4
    second = make("gan", tmp_path / "b", steps=6, lr_decay_start=0.5, deterministic=True)
    second.fit()
    want, got = weights(straight), weights(second)
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_resume_refuses_a_different_configuration(tmp_path):
    make("gan", tmp_path, steps=2).fit()
    with pytest.raises(ValueError, match="different configuration.*lr: 0.0001 -> 0.001"):
        make("gan", tmp_path, steps=4, lr=1e-3).fit()
    # A checkpoint from before a config field existed resumes when the field is at its default.
    ckpt = load_checkpoint(tmp_path / "last.pt")
    del ckpt["config"]["lr_decay_start"]
    save_checkpoint(tmp_path / "last.pt", ckpt)
    assert make("gan", tmp_path, steps=3).fit()["step"] == 3
    with pytest.raises(ValueError, match="lr_decay_start: 1.0 -> 0.5"):
        make("gan", tmp_path, steps=4, lr_decay_start=0.5).fit()


def test_nan_stops_with_step_and_loss_and_saves(tmp_path):
    calls = []

    def poisoned(n, gen):
        calls.extend([n] if n > 1 else [])  # n == 1: the trainer probing the data's shape
        x = ring(n, gen)
        return x * float("nan") if len(calls) > 3 else x

    trainer = GANTrainer(GANConfig(steps=10, **QUIET, **SMALL_MLP), poisoned, tmp_path)
    with pytest.raises(TrainingDiverged, match=r"step 4: loss_d = nan; saved the last finite "):
        trainer.fit()
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.isfinite(t).all() for m in ckpt["models"].values() for t in m.values()
               if t.is_floating_point())


def test_inf_gradient_is_caught_before_the_update(tmp_path):
    trainer = make("gan", tmp_path, steps=3)
    params = lambda: {f"{k}.{n}": p.detach().clone() for k, m in trainer.models.items()  # noqa: E731
                      for n, p in m.named_parameters()}
    before = params()
    D = trainer.models["discriminator"]
    D[0].weight.register_hook(lambda g: g * float("inf"))
    with pytest.raises(TrainingDiverged, match="step 1: gradient of loss_d"):
        trainer.fit()
    for k, v in params().items():  # (BatchNorm running statistics move in the forward pass)
        assert torch.equal(v, before[k]), k


def test_checkpoint_is_atomic_and_bad_files_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"step": 3})
    assert load_checkpoint(path)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind
    data = path.read_bytes()
    (tmp_path / "torn.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="torn.pt is not a readable pygan checkpoint"):
        load_checkpoint(tmp_path / "torn.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="foreign.pt is not a pygan checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_crash_while_saving_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", {"step": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1 and len(list(tmp_path.iterdir())) == 1


def test_loading_another_familys_checkpoint_fails(tmp_path):
    make("gan", tmp_path, steps=1).fit()
    with pytest.raises(ValueError, match="is a 'gan' checkpoint, not 'wgan'"):
        make("wgan-mlp", tmp_path, steps=2).fit()


def test_wgan_schedule_and_clipping(tmp_path):
    schedule = wgan_d_steps(5)
    assert [schedule(s) for s in (0, 24, 25, 26, 499, 500, 501)] == [100, 100, 5, 5, 5, 100, 5]
    counted = []
    trainer = make("wgan-mlp", tmp_path, steps=2)
    inner = trainer.d_step
    trainer.d_step = lambda batch: counted.append(1) or inner(batch)
    trainer.fit()
    assert len(counted) == 200
    assert all(p.abs().max() <= 0.01 for p in trainer.models["discriminator"].parameters())


def test_gan_takes_k_d_steps(tmp_path):
    trainer = make("gan-minimax-k2", tmp_path, steps=3)
    counted = []
    inner = trainer.d_step
    trainer.d_step = lambda batch: counted.append(1) or inner(batch)
    trainer.fit()
    assert len(counted) == 6


def test_instance_noise_anneals_linearly():
    assert [instance_noise_std(0.2, s, 4) for s in range(6)] == pytest.approx(
        [0.2, 0.15, 0.1, 0.05, 0.0, 0.0])
    assert instance_noise_std(0.0, 0, 4) == 0.0


def test_maxout_takes_the_largest_piece_per_unit(tmp_path):
    layer = Maxout(3, 4, 5)
    x = torch.randn(6, 3)
    pieces = layer.linear(x).view(6, 4, 5)
    torch.testing.assert_close(layer(x), pieces.max(2).values)
    trainer = make("gan", tmp_path, d_maxout=5)
    assert trainer.models["discriminator"](torch.randn(7, 2)).shape == (7, 1)


def test_pacgan_discriminator_judges_packed_samples(tmp_path):
    trainer = make("gan", tmp_path, pack=4, batch_size=8)
    assert trainer.models["discriminator"][0].in_features == 8  # 4 samples of 2 dims
    x = torch.arange(16.0).view(8, 2)
    packed = trainer.d_input(x)
    assert packed.shape == (2, 8)
    assert torch.equal(packed[1], torch.cat(list(x[4:8])))  # samples 4..7, concatenated
    with pytest.raises(ValueError, match="a batch of 6 samples cannot be packed in groups of 4"):
        trainer.d_input(x[:6])


@pytest.mark.parametrize("override, message", [
    (dict(pack=0), "pack must be an int >= 1, got 0"),
    (dict(pack=3, batch_size=16), r"batch_size \(16\) must be a multiple of pack \(3\)"),
])
def test_bad_pack(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make("gan", tmp_path, **override)


def test_ema_tracks_the_average():
    m = torch.nn.Linear(2, 1)
    ema = EMA(m, 0.5)
    start = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(2.0)
    ema.update(m)
    torch.testing.assert_close(ema.shadow.weight, start + 1.0)
    with pytest.raises(ValueError, match="decay must be in"):
        EMA(m, 1.0)


def test_bf16_autocast_runs(tmp_path):
    out = make("dcgan", tmp_path, steps=2, amp="bf16").fit()
    assert math.isfinite(out["loss_d"])


@pytest.mark.parametrize("override, message", [
    (dict(steps=0), "steps must be >= 1"),
    (dict(amp="fp8"), "amp must be one of"),
    (dict(ema=1.0), r"ema must be in \[0, 1\)"),
    (dict(label_smoothing=-0.1), "label_smoothing must be in"),
    (dict(lr_decay_start=1.5), r"lr_decay_start must be in \[0, 1\]"),
    (dict(amp="fp16", device="cpu"), "amp='fp16' needs a CUDA device"),
    (dict(image_size=32), "image_size is 32 but the images are 16x16"),
])
def test_bad_configuration(override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make("dcgan", tmp_path, **override)


def test_families_refuse_the_wrong_data(tmp_path):
    with pytest.raises(ValueError, match="GANTrainer takes vectors"):
        GANTrainer(GANConfig(**QUIET, batch_size=16), images(), tmp_path)
    with pytest.raises(ValueError, match="DCGANTrainer takes images"):
        DCGANTrainer(DCGANConfig(**QUIET, batch_size=16), (torch.randn(100, 2),), tmp_path)
    with pytest.raises(ValueError, match="data must be a tensor or a tuple of tensors"):
        GANTrainer(GANConfig(**QUIET), ["not", "tensors"], tmp_path)
    with pytest.raises(ValueError, match="sample: n must be a positive int"):
        make("gan", tmp_path).sample(0)
    with pytest.raises(ValueError, match="batch_size 128 is larger than"):
        DCGANTrainer(DCGANConfig(**QUIET, image_size=16), images(), tmp_path)


SCRIPT = textwrap.dedent("""
    import math, sys, torch
    from pygan.trainers import GANConfig, GANTrainer
    def ring(n, gen):
        a = torch.randint(8, (n,), generator=gen) * (2 * math.pi / 8)
        return torch.stack([a.cos(), a.sin()], 1)
    data = (ring(512, torch.Generator().manual_seed(0)),)
    cfg = GANConfig(steps=int(sys.argv[2]), progress=False, log_every=1, sample_every=0,
                    checkpoint_every=0, g_width=16, d_width=16, batch_size=16, device="cpu")
    t = GANTrainer(cfg, data, sys.argv[1])
    print("ready", flush=True)
    t.fit()
    w = torch.cat([p.detach().flatten() for m in t.models.values() for p in m.parameters()])
    torch.save(w, f"{sys.argv[1]}/weights-{t.dist.rank}.pt")
""")


def test_ddp_two_processes_on_gloo(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                          "--standalone", str(script), str(tmp_path), "3"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    w0, w1 = torch.load(tmp_path / "weights-0.pt"), torch.load(tmp_path / "weights-1.pt")
    assert torch.equal(w0, w1)  # averaged gradients keep the replicas identical
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 3  # written by rank 0


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 120
    while not (tmp_path / "metrics.csv").exists():  # training has started
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "stopped by SIGINT at step" in out
    step = load_checkpoint(tmp_path / "last.pt")["step"]
    assert 0 < step < 1000000


@pytest.mark.parametrize("call, message", [
    (lambda: save_image_grid(torch.zeros(2, 2, 8, 8), "x.png"),
     r"images must have shape \[N, 1 or 3, H, W\]"),
    (lambda: save_scatter(torch.zeros(5, 3), "x.png"), r"points must have shape \[N, 2\]"),
    (lambda: TensorBatches((torch.zeros(4), torch.zeros(5)), 2, 0),
     "tensors must have the same length"),
    (lambda: MLP(2, 0), "d_out must be a positive int"),
    (lambda: MLP(2, 1, maxout=0), "maxout must be a positive int"),
    (lambda: MLP(2, 1, maxout=3, batchnorm=True), "maxout layers take no BatchNorm"),
    (lambda: Maxout(2, 4, 0), "Maxout: pieces must be a positive int"),
    (lambda: DCGANGenerator(28), "image_size must be one of"),
    (lambda: DCGANDiscriminator(32, norm="group"), "norm must be one of"),
])
def test_helpers_reject_bad_input(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_device_without_cuda_is_refused(tmp_path):
    with pytest.raises(ValueError, match="device 'cuda' asked for, but CUDA is not available"):
        make("gan", tmp_path, device="cuda")
