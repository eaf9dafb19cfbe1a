"""Runs under faults: divergence, damaged or foreign checkpoints, failed
writes, signals, and command-line misuse. Each case checks that nothing
crashes, nothing wrong is saved or loaded silently, and the message names
what went wrong."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from pygan.trainers import TRAINERS, TrainingDiverged
from pygan.trainers.checkpoint import load_checkpoint, save_checkpoint

from .test_trainers import make

PY = [sys.executable, "-c"]


def poison_after(trainer, calls: int):
    """Makes the discriminator's input NaN from its ``calls``-th forward on."""
    seen = []

    def hook(module, args):
        seen.append(1)
        return (args[0] * float("nan"),) if len(seen) >= calls else None

    trainer.models["discriminator"].register_forward_pre_hook(hook)


# -- divergence ----------------------------------------------------------------
def test_nan_in_batchnorm_statistics_saves_nothing_and_keeps_the_last_checkpoint(tmp_path):
    trainer = make("dcgan", tmp_path, steps=10, checkpoint_every=2)
    poison_after(trainer, 9)  # D runs 3 times a step: step 3 diverges
    with pytest.raises(TrainingDiverged, match=r"step 3: loss_g = nan; saved nothing "
                       r"\(models\.discriminator\..*running_mean is NaN or infinite\); "
                       r".*last\.pt still holds step 2"):
        trainer.fit()
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(t).all() for m in ckpt["models"].values() for t in m.values()
               if t.is_floating_point())


def test_nan_before_any_checkpoint_says_none_was_written(tmp_path):
    trainer = make("dcgan", tmp_path, steps=10)
    poison_after(trainer, 1)
    with pytest.raises(TrainingDiverged, match="saved nothing .*; no checkpoint was written"):
        trainer.fit()
    assert not (tmp_path / "last.pt").exists()


def test_an_overflowing_update_is_a_divergence_not_a_traceback(tmp_path):
    trainer = make("gan", tmp_path, steps=3, lr=3e38)  # Adam's lr / bias correction > fp32 max
    with pytest.raises(TrainingDiverged, match=r"step 1: the optimizer update from loss_d "
                       r"overflowed .*lower the learning rate; saved nothing \(an optimizer "
                       r"update stopped part-way\)"):
        trainer.fit()


@pytest.mark.parametrize("family", sorted(TRAINERS))
@pytest.mark.parametrize("value", [0.0, -1e-3, float("inf"), float("nan")])
def test_learning_rates_must_be_finite_and_positive(family, value):
    config_class = TRAINERS[family].config_class
    names = [n for n in config_class.__dataclass_fields__ if n == "lr" or n.endswith("_lr")]
    assert names, family
    for name in names:
        with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
            config_class(**{name: value}).validate()


# -- checkpoints -----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    make("gan", run, steps=2, g_width=8, d_width=8).fit()
    return run / "last.pt"


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b


FLIPS = textwrap.dedent("""
    import random, sys, torch
    from pygan.trainers.checkpoint import load_checkpoint
    good, out = open(sys.argv[1], "rb").read(), sys.argv[2]
    original, rng = load_checkpoint(sys.argv[1]), random.Random(0)
    refused = same = 0
    for i in range(200):
        pos = rng.randrange(len(good))
        bad = bytearray(good); bad[pos] ^= 1 << rng.randrange(8)
        open(out, "wb").write(bad)
        try:
            loaded = load_checkpoint(out)
        except ValueError as exc:
            assert out in str(exc), exc
            refused += 1
            continue
        from tests.test_run_faults import same as equal
        assert equal(original, loaded), f"flip at byte {pos} of {len(good)} loaded altered data"
        same += 1
    print(refused, same)
""")


def test_bit_flips_are_refused_or_harmless(small_checkpoint, tmp_path):
    run = subprocess.run([*PY, FLIPS, str(small_checkpoint), str(tmp_path / "bad.pt")],
                         capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert run.returncode == 0, run.stderr[-3000:]
    refused, harmless = map(int, run.stdout.split())
    assert refused + harmless == 200 and refused >= 150  # data bytes dominate the file


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("models"), "checkpoint has no 'models' entry"),
    (lambda c: c.update(step="12"), "checkpoint entry 'step' must be a int, got str"),
    (lambda c: c.update(step=-3), "checkpoint step must be >= 0, got -3"),
    (lambda c: c.update(step=True), "checkpoint entry 'step' must be a int"),
    (lambda c: c["models"].pop("generator"), r"models\['generator'\] does not fit"),
    (lambda c: c["models"]["discriminator"].update(
        {k: torch.zeros(3) for k in list(c["models"]["discriminator"])[:1]}),
     r"models\['discriminator'\] does not fit this trainer \(Error"),
    (lambda c: c["optimizers"]["generator"].update(param_groups=[]),
     r"optimizers\['generator'\] does not fit"),
    (lambda c: c["rng"].pop("torch"), "checkpoint rng has no 'torch' state tensor"),
    (lambda c: c.update(data_shape=[0]), "data_shape must hold positive ints"),
])
def test_edited_checkpoints_are_refused_naming_the_file(edit, message, small_checkpoint,
                                                        tmp_path):
    ckpt = load_checkpoint(small_checkpoint)
    edit(ckpt)
    path = save_checkpoint(tmp_path / "last.pt", {k: v for k, v in ckpt.items()
                                                  if k not in ("format", "version")})
    with pytest.raises(ValueError, match=message) as info:
        make("gan", tmp_path, steps=4, g_width=8, d_width=8).fit()
    assert str(path) in str(info.value)


def test_temporaries_of_killed_writes_are_removed(tmp_path):
    stale = [tmp_path / f".last.pt.{i}abc.tmp" for i in range(3)]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.x.tmp"
    other.write_bytes(b"")
    save_checkpoint(tmp_path / "last.pt", {"step": 1})
    assert not any(p.exists() for p in stale) and other.exists()


FULL_DISK = textwrap.dedent("""
    import resource, sys, torch
    from pygan.trainers.checkpoint import save_checkpoint
    path = sys.argv[1]
    save_checkpoint(path, {"w": torch.ones(10)})
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # writes past 20 kB fail (EFBIG)
    try:
        save_checkpoint(path, {"w": torch.randn(100000)})
    except OSError as exc:
        print(type(exc).__name__, exc)
""")


def test_a_failed_write_says_so_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "last.pt"
    run = subprocess.run([*PY, FULL_DISK, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(f"WriteFailed could not write {path}"), run.stdout
    assert "the previous last.pt is intact" in run.stdout
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(10))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_resuming_with_other_data_is_refused(tmp_path):
    from pygan.trainers import GANConfig, GANTrainer
    from pygan.data import mixture

    cfg = dict(steps=2, progress=False, sample_every=0, g_width=8, d_width=8, batch_size=16)
    GANTrainer(GANConfig(**cfg), mixture("ring").sample, tmp_path, meta={"data": "ring"}).fit()
    again = GANTrainer(GANConfig(**{**cfg, "steps": 4}), mixture("grid").sample, tmp_path,
                       meta={"data": "grid"})
    with pytest.raises(ValueError, match=r"cannot resume .* with different data \(data: "
                       r"'ring' -> 'grid'\); use another run directory or --restart"):
        again.fit()


# -- the command line --------------------------------------------------------------
def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pygan.cli", *args], capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_cli_refuses_a_changed_data_source(tmp_path):
    common = ["train", "gan", "--steps", "2", "--g-width", "8", "--d-width", "8",
              "--no-progress", "--sample-every", "0", "--out", str(tmp_path)]
    assert cli(*common, "--data", "ring").returncode == 0
    run = cli(*common, "--data", "grid", "--steps", "4")
    assert run.returncode == 2 and "with different data (data: 'ring' -> 'grid')" in run.stderr
    assert load_checkpoint(tmp_path / "last.pt")["meta"]["data"] == "ring"


@pytest.mark.parametrize("args, message", [
    (["train", "gan", "--data", "ring", "--device", "bogus"],
     "device must be auto, cpu, cuda or cuda:N, got 'bogus'"),
    (["train", "dcgan", "--data", "digits", "--lr", "inf"], "lr must be a finite number > 0"),
    (["train", "seqgan", "--data", "oracle", "--max-len", "1"], "--max-len must be >= 2"),
])
def test_cli_misuse_gets_a_message_not_a_traceback(args, message, tmp_path):
    run = cli(*args, "--out", str(tmp_path / "run"))
    assert run.returncode == 2, run.stderr[-2000:]
    assert message in run.stderr and "Traceback" not in run.stderr


def long_cli_run(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "pygan.cli", "train", "gan", "--data", "ring",
                             "--steps", "1000000", "--g-width", "8", "--d-width", "8",
                             "--no-progress", "--log-every", "1", "--sample-every", "0",
                             "--checkpoint-every", "0", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "metrics.csv").exists():  # training has started
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_saves_and_exits_with_the_shell_code(signum, code, tmp_path):
    proc = long_cli_run(tmp_path)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert f"stopped by {signal.Signals(signum).name} at step" in out
    assert 0 < load_checkpoint(tmp_path / "last.pt")["step"] < 1000000


def test_a_second_ctrl_c_aborts_without_a_traceback(tmp_path):
    proc = long_cli_run(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]


# -- data files ---------------------------------------------------------------------
def test_idx_images_of_zero_pixels_are_refused(tmp_path):
    from pygan.data import load_mnist_like

    header = lambda *dims: bytes([0, 0, 8, len(dims)]) + b"".join(  # noqa: E731
        d.to_bytes(4, "big") for d in dims)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(header(2, 0, 0))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(header(2) + bytes([1, 2]))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: holds 2 images of 0x0 "):
        load_mnist_like(tmp_path)


def test_oracle_npz_with_a_string_array_is_refused(tmp_path):
    from pygan.models.oracle import OracleLSTM

    path = tmp_path / "oracle.npz"
    np.savez(path, embedding=np.array([["a", "b"]]), U_i=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"oracle\.npz: array 'embedding' holds <U1 values"):
        OracleLSTM.from_npz(path)

