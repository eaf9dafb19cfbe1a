"""Quality-diversity frontiers of SeqGAN runs (Caccia et al. 2018, "Language
GANs falling short"): a run evaluated at a sweep of sampling temperatures,
since a cooler MLE model buys sample quality at the cost of diversity and a
text GAN's gain at one temperature may be no more than that.

At temperature T the generator samples from, and is scored by,
softmax(logits / T). Oracle runs: quality is NLL-oracle of the samples,
diversity NLL-test, the generator's NLL at T of ``HELD_OUT_SAMPLES`` oracle
sequences drawn with the fixed seed ``HELD_OUT_SEED`` (not one the training
data uses; the same set for every run of an oracle, so their curves compare).
Text runs: quality is BLEU-5 against the reference sentences, diversity
self-BLEU-5, and NLL-test (the NLL at T of the test file) comes with them.
Every point is what ``evaluate_run`` reports for the run with
``config.temperature`` = T (the same sampling seed at every T).
"""
import csv
import dataclasses
import json
import math
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

MAX_TEMPERATURES = 100
HELD_OUT_SAMPLES = 2000
HELD_OUT_SEED = 20181105
FILES = ("frontier.csv", "frontier.json", "frontier.png")
# kind -> (quality metric, diversity metric), plotted x against y
AXES = {"oracle": ("nll_oracle", "nll_test"), "text": ("bleu5", "self_bleu5")}
LABELS = {"nll_oracle": "NLL-oracle of the samples (quality; lower is better)",
          "nll_test": "NLL-test of held-out sequences (diversity; lower is better)",
          "bleu5": "BLEU-5 against the reference (quality; higher is better)",
          "self_bleu5": "self-BLEU-5 (diversity; lower is better)"}


def check_temperatures(values, name: str = "temperatures") -> tuple[float, ...]:
    """``values`` (a sequence of numbers) as a sorted tuple of floats; raises
    ValueError naming ``name`` when it is empty, longer than
    ``MAX_TEMPERATURES``, holds a value twice, or holds anything but positive
    finite numbers."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive numbers, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one temperature, got none")
    if len(values) > MAX_TEMPERATURES:
        raise ValueError(f"{name} must hold at most {MAX_TEMPERATURES} temperatures, "
                         f"got {len(values)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ValueError(f"{name} must be positive finite numbers, got {v!r}")
    out = sorted(float(v) for v in values)
    twice = [a for a, b in zip(out, out[1:]) if math.isclose(a, b, rel_tol=1e-9)]
    if twice:
        raise ValueError(f"{name} lists {twice[0]:g} twice")
    return tuple(out)


def _number(name: str, text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}: {text.strip()!r} in {spec!r} is not a number") from None


def parse_temperatures(spec: str, name: str = "--temperatures") -> tuple[float, ...]:
    """The temperatures of ``spec``: ``start:stop:step`` (stop included when
    a whole number of steps from start, to 1e-9 of a step) or a comma list
    ``0.8,1.0,1.2``; sorted, each value rounded to 10 decimals. Raises
    ValueError naming ``name`` for anything else (see check_temperatures)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{name} must be start:stop:step or a comma list such as 0.8,1.0,1.2; "
                         f"got {spec!r}")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValueError(f"{name} range must be start:stop:step, got {spec!r}")
        start, stop, step = (_number(name, p, spec) for p in parts)
        if not all(math.isfinite(v) for v in (start, stop, step)):
            raise ValueError(f"{name} range must be finite numbers, got {spec!r}")
        if step <= 0:
            raise ValueError(f"{name} range step must be > 0, got {step:g} in {spec!r}")
        if start > stop:
            raise ValueError(f"{name} range start must be <= stop, got {spec!r}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_TEMPERATURES:
            raise ValueError(f"{name} must hold at most {MAX_TEMPERATURES} temperatures, "
                             f"{spec!r} holds {count}")
        values = [round(start + i * step, 10) for i in range(count)]
    else:
        values = [_number(name, p, spec) for p in spec.split(",")]
    return check_temperatures(values, name)


@contextmanager
def at_temperature(trainer, temperature: float):
    """The block runs with ``trainer.config.temperature`` = ``temperature``."""
    saved = trainer.config
    trainer.config = dataclasses.replace(saved, temperature=float(temperature))
    try:
        yield trainer
    finally:
        trainer.config = saved


def held_out_oracle(trainer, n: int = HELD_OUT_SAMPLES, seed: int = HELD_OUT_SEED):
    """``n`` sequences of the run's oracle drawn with ``seed``: the held-out
    set that NLL-test scores on oracle runs."""
    if trainer.oracle is None:
        raise ValueError("held-out oracle samples need an oracle run; this one is text")
    if trainer.meta.get("oracle_seed") == seed:
        raise ValueError(f"the run's training sequences were drawn with seed {seed}, the "
                         "held-out seed; they would not be held out")
    return trainer.oracle.generate(n, seed=seed)


def sweep(trainer, temperatures, n: int = 0, test=None, reference=None,
          held_out: int = HELD_OUT_SAMPLES) -> dict:
    """The frontier of a SeqGAN ``trainer`` (e.g. ``open_run(RUN)``): for each
    temperature (see check_temperatures) what ``trainer.evaluate_run`` gives
    at that temperature with ``n`` samples (0: ``eval_samples``), ``test``
    and ``reference`` (text runs: files, one needed), plus NLL-test of
    ``held_out`` oracle sequences (oracle runs). Returns the frontier.json
    record: ``points`` (one dict a temperature, ascending), ``kind``,
    ``quality`` and ``diversity`` (the metric names it plots) and settings."""
    from ..metrics.text import nll

    if not hasattr(trainer, "evaluate_run") or not hasattr(trainer, "oracle"):
        raise ValueError(f"a temperature sweep needs a SeqGAN run, got a "
                         f"{getattr(trainer, 'family', type(trainer).__name__)} run")
    temperatures = check_temperatures(temperatures)
    kind = "oracle" if trainer.oracle is not None else "text"
    if kind == "text" and not (test or reference):
        raise ValueError("the frontier of a text run needs --test or --reference (BLEU)")
    if not isinstance(held_out, int) or held_out < 1:
        raise ValueError(f"held_out must be a positive int, got {held_out!r}")
    args = SimpleNamespace(n=n, test=test, reference=reference)
    tokens = held_out_oracle(trainer, held_out) if kind == "oracle" else None
    points = []
    for t in temperatures:
        with at_temperature(trainer, t):
            point = {"temperature": t, **trainer.evaluate_run(args)}
            if tokens is not None:
                point["nll_test"] = nll(trainer.sampler(), tokens, temperature=t)
        points.append(point)
    quality, diversity = AXES[kind]
    record = {"run": str(trainer.run_dir), "family": trainer.family, "step": trainer.step,
              "data": trainer.meta.get("data"), "kind": kind, "quality": quality,
              "diversity": diversity, "samples": points[0]["samples"],
              "trained_temperature": trainer.config.temperature}
    if kind == "oracle":
        record["held_out"] = {"samples": held_out, "seed": HELD_OUT_SEED}
    else:
        record.update(test=None if test is None else str(test),
                      reference=str(reference or test))
    return {**record, "points": points}


def write_frontier(record: dict, run_dir) -> list[Path]:
    """frontier.csv, frontier.json and frontier.png of ``record`` (see sweep)
    in ``run_dir``; returns their paths."""
    run_dir = Path(run_dir)
    csv_path, json_path, png_path = (run_dir / f for f in FILES)
    names = list(dict.fromkeys(k for p in record["points"] for k in p))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, names)
        writer.writeheader()
        writer.writerows(record["points"])
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    plot_frontiers({run_dir.name: record}, png_path)
    return [csv_path, json_path, png_path]


def load_frontier(run_dir) -> dict:
    """The frontier.json of ``run_dir``; ValueError naming the run when it has none."""
    path = Path(run_dir) / "frontier.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no frontier.json; run `pygan eval {run_dir} "
                         "--temperatures ...` first")
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    missing = [k for k in ("quality", "diversity", "points")
               if not isinstance(record, dict) or k not in record]
    if missing:
        raise ValueError(f"{path} is not a frontier written by `pygan eval --temperatures` "
                         f"(no {', '.join(missing)})")
    return record


def plot_frontiers(frontiers: dict, out) -> Path:
    """One curve a ``{label: frontier record}`` entry (quality on x,
    diversity on y, each point labelled by its temperature) to ``out``.
    The records must plot the same two metrics."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = {(r["quality"], r["diversity"]) for r in frontiers.values()}
    if len(axes) != 1:
        raise ValueError("these frontiers plot different metrics ("
                         + "; ".join(f"{label}: {r['quality']} against {r['diversity']}"
                                     for label, r in frontiers.items()) + ")")
    (x, y), = axes
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, record in frontiers.items():
        pts = [p for p in record["points"] if x in p and y in p]
        line, = ax.plot([p[x] for p in pts], [p[y] for p in pts], marker="o", markersize=3,
                        linewidth=1.2, label=label)
        for p in pts:
            ax.annotate(f"{p['temperature']:g}", (p[x], p[y]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points", color=line.get_color())
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.set_title("quality-diversity frontier (points: sampling temperature)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run_labels(run_dirs) -> list[str]:
    """Each run's directory name; the parent's too where two names coincide."""
    paths = [Path(r).resolve() for r in run_dirs]
    names = [p.name for p in paths]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]


def compare(run_dirs, out) -> Path:
    """Draws the saved frontiers (frontier.json) of ``run_dirs`` on one plot
    at ``out``, each labelled by its run directory's name."""
    run_dirs = list(run_dirs)
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    labels = run_labels(run_dirs)
    if len(set(labels)) != len(labels):
        raise ValueError(f"compare was given a run twice: {[str(r) for r in run_dirs]}")
    return plot_frontiers({label: load_frontier(r) for label, r in zip(labels, run_dirs)}, out)


def evaluate_frontier(args) -> dict:
    """`pygan eval RUN --temperatures SPEC`: the sweep of the run, written to
    its directory (FILES). The spec is checked before the run is opened."""
    from .runs import open_run

    temperatures = parse_temperatures(args.temperatures)
    if getattr(args, "drs", False):
        raise ValueError("--temperatures sweeps a SeqGAN run's sampling; --drs does not apply")
    trainer = open_run(args.run_dir, args.device)
    if trainer.family != "seqgan":
        raise ValueError(f"--temperatures needs a SeqGAN run; {args.run_dir} is a "
                         f"{trainer.family} run")
    record = sweep(trainer, temperatures, args.n, args.test, args.reference)
    paths = write_frontier(record, args.run_dir)
    return {**record, "wrote": [str(p) for p in paths]}
