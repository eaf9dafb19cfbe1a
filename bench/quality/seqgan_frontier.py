"""SeqGAN against its MLE-only control on the quality-diversity frontier
(Caccia et al. 2018, "Language GANs falling short"), on the paper's oracle.

SeqGAN's NLL-oracle gain at temperature 1 (seqgan_oracle.md: 8.63 against
the control's 9.05) is matched by the control sampled at 0.8 (8.53): a cooler
MLE model buys quality too, at the cost of diversity. So both runs are
judged over a sweep of sampling temperatures: NLL-oracle of the samples
(quality) against NLL-test, the generator's NLL at that temperature of
2,000 held-out oracle sequences drawn with a fixed seed (diversity; see
pygan/trainers/frontier.py). If the MLE curve runs below SeqGAN's (lower
NLL-test at the same NLL-oracle), the GAN's gain is a temperature shift.

    python bench/quality/seqgan_frontier.py [--seeds 0,1] [--mle-epochs 50]
        [--d-pretrain-rounds 50] [--adv-steps 100] [--temperatures 0.6:1.4:0.1]

Each seed trains exactly what seqgan_oracle.py trains (its ``configs``: the
SeqGAN run, and the control continuing MLE from the same pre-trained
checkpoint; training data: 10,000 oracle sequences drawn with that seed)
into bench/quality/runs/seqgan-frontier/seed{S}/{seqgan,mle-only}. Runs
that already finished those settings are reused (open_finished_run); a seed
with an unfinished run is trained again from scratch. Every run's own
frontier goes to its directory (frontier.csv/.json/.png); the comparison to
bench/quality/seqgan_frontier.{md,json,png} (or --out-name).
"""
import argparse
import dataclasses
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from seqgan_oracle import ORACLE, TRAIN_SEQUENCES, configs  # noqa: E402

RUNS = HERE / "runs" / "seqgan-frontier"
NAMES = {"seqgan": "SeqGAN", "mle-only": "MLE only"}


def train(job):
    """Trains (or resumes) one run in its own process; returns its wall seconds."""
    import torch

    from pygan.models import OracleLSTM
    from pygan.trainers import SeqGANConfig, SeqGANTrainer

    run_dir, config, threads, oracle_path = job
    torch.set_num_threads(threads)
    config = SeqGANConfig(**config)
    oracle = OracleLSTM.from_npz(oracle_path)
    data = oracle.generate(TRAIN_SEQUENCES, seed=config.seed)
    start = time.perf_counter()
    SeqGANTrainer(config, data, run_dir, oracle=oracle).fit()
    return round(time.perf_counter() - start, 1)


def seed_args(args, seed):
    return argparse.Namespace(**{**vars(args), "seed": seed})


def train_seed(args, seed) -> dict:
    """The seed's two runs, trained unless both finished already; returns
    {"reused": bool, "seconds": {...}}."""
    from pygan.trainers.checkpoint import load_checkpoint, save_checkpoint
    from pygan.trainers.runs import open_finished_run

    seqgan, control = configs(seed_args(args, seed))
    root = Path(args.runs) / f"seed{seed}"
    if all(open_finished_run(root / name, cfg) is not None
           for name, cfg in (("seqgan", seqgan), ("mle-only", control))):
        return {"reused": True}
    shutil.rmtree(root, ignore_errors=True)
    ctx = mp.get_context("spawn")
    pre = dict(dataclasses.asdict(seqgan), steps=seqgan.mle_steps)
    with ctx.Pool(1) as pool:  # 1. MLE pre-training: the SeqGAN run up to its adversarial part
        pre_seconds = pool.apply(train, ((root / "seqgan", pre, args.threads, args.oracle),))
    # 2. The control is that checkpoint with a longer MLE phase (as in seqgan_oracle.py).
    ckpt = load_checkpoint(root / "seqgan" / "last.pt")
    save_checkpoint(root / "mle-only" / "last.pt", {**ckpt, "config": dataclasses.asdict(control)})
    shutil.copy(root / "seqgan" / "metrics.csv", root / "mle-only" / "metrics.csv")
    jobs = [(root / name, dataclasses.asdict(cfg), args.threads, args.oracle)
            for name, cfg in (("seqgan", seqgan), ("mle-only", control))]
    with ctx.Pool(2) as pool:  # 3. both continuations side by side
        adv_seconds, mle_seconds = pool.map(train, jobs)
    return {"reused": False, "seconds": {"pretraining": pre_seconds, "seqgan": adv_seconds,
                                         "mle-only": mle_seconds}}


def frontier(args, run_dir) -> dict:
    import torch

    from pygan.trainers.frontier import sweep, write_frontier
    from pygan.trainers.runs import open_run

    torch.set_num_threads(args.sweep_threads)
    record = sweep(open_run(run_dir), args.temps, n=args.samples, held_out=args.held_out)
    write_frontier(record, run_dir)
    return record


def at_quality(points, quality: float) -> float | None:
    """NLL-test of a curve interpolated at NLL-oracle ``quality``; None
    outside the swept range."""
    pts = sorted((p["nll_oracle"], p["nll_test"]) for p in points)
    xs, ys = zip(*pts)
    if not xs[0] <= quality <= xs[-1]:
        return None
    return float(np.interp(quality, xs, ys))


def summary(records: dict) -> dict:
    """For each SeqGAN point: the control's NLL-test at the same NLL-oracle
    (interpolated along its curve) and whether the control is lower there."""
    out = {}
    gan, mle = records["seqgan"]["points"], records["mle-only"]["points"]
    for p in gan:
        d = at_quality(mle, p["nll_oracle"])
        out[f"{p['temperature']:g}"] = {
            "seqgan_nll_oracle": p["nll_oracle"], "seqgan_nll_test": p["nll_test"],
            "mle_nll_test_at_same_quality": d,
            "mle_more_diverse": None if d is None else d < p["nll_test"]}
    return out


def plot(per_seed: dict, path: Path) -> None:
    from pygan.trainers.frontier import plot_frontiers

    curves = {f"{NAMES[name]}, seed {seed}": rec
              for seed, records in per_seed.items() for name, rec in records.items()}
    plot_frontiers(curves, path)


def report(result: dict) -> str:
    s = result["settings"]
    lines = [f"""# SeqGAN against MLE on the quality-diversity frontier (synthetic oracle)

Command: `{result['command']}` (wall time {result['wall_seconds'] / 60:.0f} min).
Training: as seqgan_oracle.py ({s['mle_epochs']} MLE epochs, {s['d_pretrain_rounds']} D
pre-training rounds, {s['adv_steps']} adversarial steps; the control continues MLE
for {s['adv_steps']} more epochs from the same checkpoint), seeds {s['seeds']}.
Each point: sampling temperature T; NLL-oracle of {s['samples']} samples at T
(quality, lower is better) and NLL-test, the generator's NLL at T of
{s['held_out']} held-out oracle sequences (seed {result['held_out_seed']}; diversity, lower is
better). Plot: `{result['png']}`.
"""]
    for seed, records in result["frontiers"].items():
        gan, mle = records["seqgan"]["points"], records["mle-only"]["points"]
        lines.append(f"\n## seed {seed}\n\n| T | SeqGAN NLL-oracle | SeqGAN NLL-test | "
                     "MLE NLL-oracle | MLE NLL-test | MLE NLL-test at SeqGAN's NLL-oracle |\n"
                     "|---|---|---|---|---|---|")
        for g, m in zip(gan, mle):
            d = result["summary"][seed][f"{g['temperature']:g}"]["mle_nll_test_at_same_quality"]
            lines.append(f"| {g['temperature']:g} | {g['nll_oracle']:.3f} | {g['nll_test']:.3f} "
                         f"| {m['nll_oracle']:.3f} | {m['nll_test']:.3f} | "
                         f"{'outside the sweep' if d is None else f'{d:.3f}'} |")
    verdicts = [v["mle_more_diverse"] for seed in result["summary"].values()
                for v in seed.values() if v["mle_more_diverse"] is not None]
    lines.append(f"\nOf the SeqGAN points whose NLL-oracle the MLE sweep reaches, "
                 f"{sum(verdicts)} of {len(verdicts)} have the MLE control more diverse "
                 "(lower NLL-test) at the same quality: there the GAN's gain is what a cooler "
                 "MLE model buys.\n")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", default=str(ORACLE))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--mle-epochs", type=int, default=50)
    parser.add_argument("--d-pretrain-rounds", type=int, default=50)
    parser.add_argument("--adv-steps", type=int, default=100)
    parser.add_argument("--curve-samples", type=int, default=2000,
                        help="NLL-oracle samples of the training curves (metrics.csv)")
    parser.add_argument("--temperatures", default="0.6:1.4:0.1")
    parser.add_argument("--samples", type=int, default=10000, help="samples a temperature")
    parser.add_argument("--held-out", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    parser.add_argument("--sweep-threads", type=int, default=2)
    parser.add_argument("--runs", default=str(RUNS),
                        help="where the runs live (default: %(default)s)")
    parser.add_argument("--out-name", default="seqgan_frontier",
                        help="writes bench/quality/NAME.{md,json,png}; a path puts them there")
    args = parser.parse_args()
    from pygan.trainers.frontier import HELD_OUT_SEED, parse_temperatures

    args.temps = parse_temperatures(args.temperatures)
    seeds = [int(s) for s in args.seeds.split(",")]
    begun = time.perf_counter()
    training, per_seed = {}, {}
    for seed in seeds:
        training[seed] = train_seed(args, seed)
        per_seed[seed] = {name: frontier(args, Path(args.runs) / f"seed{seed}" / name)
                          for name in NAMES}
    png = HERE / f"{args.out_name}.png"
    plot(per_seed, png)
    settings = {k: v for k, v in vars(args).items() if k != "temps"}
    command = "nice -n 10 python bench/quality/seqgan_frontier.py " + " ".join(sys.argv[1:])
    result = {"command": command.strip(), "wall_seconds": round(time.perf_counter() - begun),
              "settings": settings, "held_out_seed": HELD_OUT_SEED, "png": png.name,
              "training": training, "summary": {s: summary(r) for s, r in per_seed.items()},
              "frontiers": per_seed}
    result = json.loads(json.dumps(result))  # seed keys become strings, as in the file
    (HERE / f"{args.out_name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (HERE / f"{args.out_name}.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
