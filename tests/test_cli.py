"""The `pygan` command end to end on small runs: train, sample, eval, and
the feature classifier."""
import json
import subprocess
import sys

import pytest

from pygan.cli import main


def test_info(capsys):
    assert main(["info"]) == 0
    assert "cpu kernels: yes" in capsys.readouterr().out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


QUIET = ["--no-progress", "--log-every", "2", "--sample-every", "2"]


def test_dcgan_on_digits_train_sample_eval(tmp_path, cache, capsys):
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--data", "digits", "--image-size", "16", "--steps", "4",
                 "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--out", str(run)] + QUIET) == 0
    assert (run / "samples" / "step_0000004.png").is_file() and (run / "losses.png").is_file()
    assert main(["sample", str(run), "-n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file()
    # eval needs the cached classifier and says how to make it
    assert main(["eval", str(run)]) == 2
    assert "pygan classifier train" in capsys.readouterr().err
    assert main(["classifier", "train", "--data", "digits", "--image-size", "16",
                 "--epochs", "1"]) == 0
    assert (cache / "classifier-digits-1x16x16.pt").is_file()
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 4 and result["frechet"] > 0 and 0 <= result["precision"] <= 1


@pytest.mark.parametrize("family, extra", [("gan", []), ("wgan", ["--gradient-penalty"])])
def test_mixture_runs_resume_and_eval(family, extra, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", family, "--data", "ring", "--g-width", "16", "--d-width", "16",
            "--out", str(run)] + QUIET + extra
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "4"]) == 0  # resumes from last.pt
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 4 and set(result) >= {"modes", "high_quality", "reverse_kl"}
    assert main(["sample", str(run), "-n", "100", "--out", str(tmp_path / "s.png")]) == 0
    drs = ["eval", str(run), "--drs", "--drs-quantile", "0.9", "-n", "200"]
    if family == "gan":  # its D's logit estimates the density ratio that DRS needs
        assert main(drs) == 0
        assert json.loads((run / "eval.json").read_text())["drs"] == {"quantile": 0.9,
                                                                      "calibrate_steps": 0}
        assert main(["sample", str(run), "--drs", "--drs-calibrate", "10", "-n", "50",
                     "--out", str(tmp_path / "d.png")]) == 0
        assert main(["eval", str(run), "--drs-calibrate", "10"]) == 2
        assert "give --drs" in capsys.readouterr().err
        assert main(["eval", str(run), "--drs", "--drs-calibrate", "-3"]) == 2
        assert "--drs-calibrate must be >= 0" in capsys.readouterr().err
        assert main(["eval", str(run), "--drs", "--drs-quantile", "1.5"]) == 2
        assert "quantile must be in [0, 1]" in capsys.readouterr().err
    else:
        assert main(drs) == 2
        assert "--drs needs a discriminator" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    run = ["train", "gan", "--data", "grid", "--g-width", "8", "--d-width", "8",
           "--out", str(tmp_path)] + QUIET
    assert main(run + ["--steps", "1"]) == 0
    assert main(run + ["--steps", "2", "--lr", "0.01"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert main(run + ["--steps", "2", "--lr", "0.01", "--restart"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["train", "gan", "--data", "nope", "--out", "x"], "nope"),
    (["train", "dcgan", "--data", "ring", "--out", "x"], "DCGANTrainer takes images"),
    (["train", "gan", "--data", "ring", "--steps", "0", "--out", "x"], "steps must be >= 1"),
    (["eval", "/nonexistent/run"], "no checkpoint at /nonexistent/run/last.pt"),
    (["train", "dcgan", "--data", "/nonexistent/dir", "--out", "x"], "nonexistent"),
])
def test_bad_arguments_exit_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "pygan.cli", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("pygan ")
