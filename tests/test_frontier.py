"""Quality-diversity frontiers of SeqGAN runs: temperature lists, the sweep
against single-temperature evaluations, the written files, `pygan eval
--temperatures` and `pygan compare`."""
import dataclasses
import json
import math
import re
from types import SimpleNamespace

import pytest
import torch

from pygan.cli import main
from pygan.metrics import nll, oracle_nll
from pygan.models import OracleLSTM
from pygan.trainers import SeqGANConfig, SeqGANTrainer
from pygan.trainers.frontier import (HELD_OUT_SEED, MAX_TEMPERATURES, check_temperatures,
                                     compare, parse_temperatures, sweep, write_frontier)
from pygan.trainers.runs import open_run

from .test_seqgan import write_tiny_text

TINY = dict(batch_size=16, emb_dim=8, hidden_dim=8, d_emb_dim=8, d_widths="1,2,3",
            d_maps="4,4,4", d_samples=32, d_rounds=1, d_epochs=1, rollouts=2,
            eval_samples=60, progress=False, log_every=1, sample_every=0, checkpoint_every=0,
            eval_every=0)
CLI_TINY = ["--steps", "4", "--mle-steps", "2", "--d-pretrain-steps", "1", "--batch-size", "16",
            "--emb-dim", "8", "--hidden-dim", "8", "--d-emb-dim", "8", "--d-widths", "1,2,3",
            "--d-maps", "4,4,4", "--d-samples", "32", "--d-rounds", "1", "--d-epochs", "1",
            "--rollouts", "2", "--eval-samples", "50", "--eval-every", "0", "--no-progress",
            "--sample-every", "0"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    """A finished tiny oracle run (a few MLE steps, then one adversarial step)."""
    run = tmp_path_factory.mktemp("oracle") / "run"
    oracle = OracleLSTM.random(vocab_size=20, emb_dim=8, hidden_dim=8, seq_len=8, seed=1)
    config = SeqGANConfig(**TINY, steps=6, mle_steps=4, d_pretrain_steps=1)
    SeqGANTrainer(config, oracle.generate(128, seed=0), run, oracle=oracle).fit()
    return run


# -- temperature lists -------------------------------------------------------------
def test_ranges_include_stop_and_lists_are_sorted():
    assert parse_temperatures("0.6:1.4:0.1") == (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)
    assert parse_temperatures("1:1:0.5") == (1.0,)
    assert parse_temperatures("0.5:1.2:0.5") == (0.5, 1.0)  # stop not on the grid
    assert parse_temperatures("1.2, 0.8,1.0") == (0.8, 1.0, 1.2)
    assert parse_temperatures("0.01:1:0.01")[-1] == 1.0 and len(parse_temperatures(
        "0.01:1:0.01")) == MAX_TEMPERATURES
    assert check_temperatures([2, 0.5]) == (0.5, 2.0)


@pytest.mark.parametrize("spec, message", [
    ("", "--temperatures must be start:stop:step or a comma list"),
    ("  ", "--temperatures must be start:stop:step or a comma list"),
    ("0.8,", "--temperatures: '' in '0.8,' is not a number"),
    ("0.8,abc", "--temperatures: 'abc' in '0.8,abc' is not a number"),
    ("0,1", "--temperatures must be positive finite numbers, got 0.0"),
    ("-0.5,1", "--temperatures must be positive finite numbers, got -0.5"),
    ("nan", "--temperatures must be positive finite numbers, got nan"),
    ("1,inf", "--temperatures must be positive finite numbers, got inf"),
    ("1e400", "--temperatures must be positive finite numbers, got inf"),
    ("1,1.0", "--temperatures lists 1 twice"),
    ("0.5:1", "--temperatures range must be start:stop:step"),
    ("0.5:1:0.1:2", "--temperatures range must be start:stop:step"),
    ("0.5:1:0", "--temperatures range step must be > 0"),
    ("0.5:1:-0.1", "--temperatures range step must be > 0"),
    ("1.5:1:0.1", "--temperatures range start must be <= stop"),
    ("a:1:0.1", "--temperatures: 'a' in 'a:1:0.1' is not a number"),
    ("0.5:nan:0.1", "--temperatures range must be finite numbers"),
    ("0:1:0.5", "--temperatures must be positive finite numbers, got 0.0"),
    ("0.001:1:0.001", f"--temperatures must hold at most {MAX_TEMPERATURES} temperatures"),
    (",".join(str(1 + i / 1000) for i in range(101)),
     "--temperatures must hold at most 100 temperatures, got 101"),
], ids=lambda v: v if len(v) < 30 else v[:20] + "...")
def test_bad_temperature_specs_are_named(spec, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_temperatures(spec)


@pytest.mark.parametrize("values, message", [
    ([], "temperatures must hold at least one temperature"),
    ("0.8,1.0", "temperatures must be a sequence of positive numbers"),
    (1.0, "temperatures must be a sequence of positive numbers"),
    ([1.0, -1.0], "temperatures must be positive finite numbers, got -1.0"),
    ([math.nan], "temperatures must be positive finite numbers, got nan"),
    ([True], "temperatures must be positive finite numbers, got True"),
    (["1.0"], "temperatures must be positive finite numbers, got '1.0'"),
    ([1.0] * 101, "temperatures must hold at most 100"),
])
def test_bad_temperature_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        check_temperatures(values)


# -- the sweep -----------------------------------------------------------------------
def single(run, temperature, **args):
    """The existing one-temperature path: the reopened run with config.temperature set."""
    trainer = open_run(run)
    trainer.config = dataclasses.replace(trainer.config, temperature=temperature)
    return trainer, trainer.evaluate_run(SimpleNamespace(**{"n": 0, "test": None,
                                                            "reference": None, **args}))


def test_oracle_sweep_points_equal_single_temperature_evaluations(oracle_run):
    trainer = open_run(oracle_run)
    record = sweep(trainer, [1.3, 0.7, 1.0], n=80, held_out=150)
    assert [p["temperature"] for p in record["points"]] == [0.7, 1.0, 1.3]
    assert trainer.config.temperature == 1.0  # restored
    assert record["kind"] == "oracle" and (record["quality"], record["diversity"]) == (
        "nll_oracle", "nll_test")
    assert record["held_out"] == {"samples": 150, "seed": HELD_OUT_SEED}
    held_out = trainer.oracle.generate(150, seed=HELD_OUT_SEED)
    for point in record["points"]:
        t = point["temperature"]
        other, result = single(oracle_run, t, n=80)
        assert point["nll_oracle"] == result["nll_oracle"] and point["samples"] == 80
        G = other.sampler()
        samples = G.sample(80, t, torch.Generator().manual_seed(other.config.seed + 12345))
        assert point["nll_oracle"] == pytest.approx(oracle_nll(other.oracle, samples), rel=1e-6)
        assert point["nll_test"] == pytest.approx(nll(G, held_out, temperature=t), rel=1e-6)
        with torch.no_grad():
            by_hand = -torch.log_softmax(G(held_out) / t, -1).gather(
                2, held_out[..., None]).mean().item()
        assert point["nll_test"] == pytest.approx(by_hand, rel=1e-5)
    cool, _, hot = record["points"]
    assert cool["nll_oracle"] < hot["nll_oracle"]  # cooler samples are likelier under the oracle


def test_text_sweep_points_equal_single_temperature_evaluations(tmp_path):
    write_tiny_text(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "seqgan", "--data", str(tmp_path / "train.txt"), "--max-len", "8",
                 "--out", str(run)] + CLI_TINY) == 0
    test = str(tmp_path / "test.txt")
    record = sweep(open_run(run), [0.8, 1.2], n=30, test=test)
    assert record["kind"] == "text" and record["reference"] == test
    for point in record["points"]:
        _, result = single(run, point["temperature"], n=30, test=test)
        assert point == {"temperature": point["temperature"], **result}
        assert {"bleu5", "self_bleu5", "nll_test"} <= set(point)
    with pytest.raises(ValueError, match="needs --test or --reference"):
        sweep(open_run(run), [1.0])
    assert main(["eval", str(run), "-n", "30", "--test", test, "--temperatures", "1.2,0.8"]) == 0
    saved = json.loads((run / "frontier.json").read_text())
    assert saved["points"] == record["points"] and saved["quality"] == "bleu5"


def test_frontier_files_and_compare(oracle_run, tmp_path):
    record = sweep(open_run(oracle_run), [0.8, 1.2], n=40, held_out=50)
    a, b = tmp_path / "a", tmp_path / "b"
    for run in (a, b):
        run.mkdir()
        paths = write_frontier(record, run)
        assert [p.name for p in paths] == ["frontier.csv", "frontier.json", "frontier.png"]
    rows = (a / "frontier.csv").read_text().splitlines()
    assert rows[0] == "temperature,samples,nll_oracle,nll_test" and rows[1].startswith("0.8,40,")
    assert json.loads((a / "frontier.json").read_text())["points"] == record["points"]
    out = compare([a, b], tmp_path / "plots" / "both.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="has no frontier.json; run `pygan eval .*missing "
                                         "--temperatures ...` first"):
        compare([a, tmp_path / "missing"], tmp_path / "x.png")
    text = json.loads((b / "frontier.json").read_text())
    (b / "frontier.json").write_text(json.dumps({**text, "quality": "bleu5",
                                                 "diversity": "self_bleu5"}))
    with pytest.raises(ValueError, match="different metrics"):
        compare([a, b], tmp_path / "x.png")


# -- the command ---------------------------------------------------------------------
def test_cli_oracle_frontier_end_to_end(tmp_path, capsys):
    run = tmp_path / "seqgan"
    assert main(["train", "seqgan", "--data", "oracle", "--vocab-size", "20", "--oracle-emb", "8",
                 "--oracle-hidden", "8", "--max-len", "8", "--oracle-samples", "200",
                 "--oracle-seed", "3", "--out", str(run)] + CLI_TINY) == 0
    assert main(["eval", str(run), "-n", "50", "--temperatures", "0.8:1.2:0.2"]) == 0
    record = json.loads((run / "frontier.json").read_text())
    assert [p["temperature"] for p in record["points"]] == [0.8, 1.0, 1.2]
    assert all(p["nll_oracle"] > 0 and p["nll_test"] > 0 for p in record["points"])
    assert record["held_out"]["samples"] == 2000 and record["step"] == 4
    assert (run / "frontier.png").is_file() and (run / "frontier.csv").is_file()
    capsys.readouterr()
    assert main(["compare", str(run), str(tmp_path / "none"), "--out", str(tmp_path / "c.png")]) \
        == 2
    err = capsys.readouterr().err
    assert "pygan compare:" in err and "none has no frontier.json; run `pygan eval" in err
    assert main(["compare", str(run), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--temperatures", ""], "--temperatures must be start:stop:step"),
    (["--temperatures=-1,1"], "--temperatures must be positive finite numbers, got -1.0"),
    (["--temperatures", "1:0.5:0.1"], "--temperatures range start must be <= stop"),
    (["--temperatures", "1,2", "--drs"], "--drs does not apply"),
])
def test_cli_bad_temperatures_exit_with_the_flag_named(argv, message, tmp_path, capsys):
    # The spec is checked before the run is opened: no run directory is needed.
    assert main(["eval", str(tmp_path / "no-run"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_temperatures_refuse_other_families(tmp_path, capsys):
    run = tmp_path / "gan"
    assert main(["train", "gan", "--data", "ring", "--g-width", "8", "--d-width", "8",
                 "--steps", "1", "--no-progress", "--sample-every", "0", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--temperatures", "1"]) == 2
    assert "--temperatures needs a SeqGAN run; " in capsys.readouterr().err
