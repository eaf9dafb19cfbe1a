"""The `pygan` command and the demo run behind the main job."""
import subprocess
import sys

import pytest
import torch

from pygan import demo
from pygan.cli import main


def test_info(capsys):
    assert main(["info"]) == 0
    assert "cpu kernels: yes" in capsys.readouterr().out


def test_demo_short_run(capsys):
    assert main(["demo", "--steps", "20", "--n-critic", "2", "--batch", "32"]) == 0
    out = capsys.readouterr().out
    assert "step     20" in out and "done: 20 generator steps" in out


def test_demo_is_deterministic_for_a_seed():
    run = lambda: demo.wgan_ring(steps=5, n_critic=2, batch=16, seed=3, out=lambda _: None)  # noqa: E731
    a, b = run(), run()
    assert a["w_estimate"] == b["w_estimate"] and a["radius_error"] == b["radius_error"]


def test_demo_stops_on_nan_with_step_and_loss(capsys):
    def poisoned(n, gen):
        return torch.full((n, 2), float("nan"))

    with pytest.raises(FloatingPointError, match="step 1: critic loss = nan"):
        demo.wgan_ring(steps=3, sample=poisoned, out=lambda _: None)


def test_bad_arguments_exit_with_a_message(capsys):
    assert main(["demo", "--steps", "0"]) == 2
    assert "steps, n_critic and batch must be >= 1" in capsys.readouterr().err


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "pygan.cli", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("pygan ")
