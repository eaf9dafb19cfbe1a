"""Semi-supervised GAN on Fashion-MNIST with a few labels per class: test
error of the SSGAN discriminator beside the same network trained on the
labelled images alone (the supervised baseline), over several seeds.

    python bench/quality/ssgan.py [--seeds 3] [--steps 24000] [--workers 2] [--config JSON]
                                  [--name ssgan]

Seed s draws the labelled images and initialises both runs, which have the
same architecture, optimizer, schedule and number of steps; the error is the
final one on the 10,000 test images (no early stopping). Writes
bench/quality/<name>.md and <name>.json; runs go to bench/quality/runs/.
"""
import argparse
import json
import multiprocessing as mp
import shlex
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIM = 0.75  # the aim: SSGAN error at most this times the baseline's
ROWS = {"ssgan": "SSGAN", "baseline": "supervised baseline (same D, labelled images only)"}


def run_one(job):
    import torch

    torch.set_num_threads(1)
    from pygan.trainers import SSGANConfig, SSGANTrainer
    from pygan.trainers.runlog import read_metrics
    from pygan.trainers.runs import open_finished_run

    name, seed, args = job
    overrides = {**args["config"], **({"unsupervised_weight": 0.0} if name == "baseline" else {})}
    config = SSGANConfig(steps=args["steps"], seed=seed, progress=False, sample_every=0,
                         checkpoint_every=0, log_every=500, eval_every=1000, **overrides)
    flags = argparse.Namespace(data=args["data"], labels_per_class=args["labels_per_class"],
                               image_size=None)
    split, meta = SSGANTrainer.data_from_args(flags, config)  # as `pygan train ssgan`
    run_dir = HERE / "runs" / f"{args['name']}-{name}-{seed}"
    # A finished run of the same configuration is scored again, not retrained.
    trainer = open_finished_run(run_dir, config, data=split)
    if trainer is None:
        trainer = SSGANTrainer(config, split, run_dir, meta=meta)
        trainer.fit(resume=False)
    logged = read_metrics(trainer.run_dir / "metrics.csv")
    seconds = logged["seconds"][-1]  # training time, also for a reused run
    best = min(e for e in logged["test_error"] if e == e)  # NaN between evaluations
    return {"run": name, "seed": seed, "seconds": seconds, "best_test_error": best,
            **trainer.evaluate()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=24000)
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", default="{}",
                        help="SSGANConfig overrides for both runs, as JSON")
    parser.add_argument("--name", default="ssgan", help="output stem: <name>.{md,json}")
    args = parser.parse_args()
    shared = {"data": args.data, "steps": args.steps, "labels_per_class": args.labels_per_class,
              "config": json.loads(args.config), "name": args.name}
    jobs = [(name, seed, shared) for seed in range(args.seeds) for name in ROWS]
    results = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            results.append(r)
            print(f"{r['run']:8s} seed {r['seed']}: test error {r['test_error']:.4f} "
                  f"({r['seconds']:.0f} s)", flush=True)
    results.sort(key=lambda r: (list(ROWS).index(r["run"]), r["seed"]))
    command = "python " + shlex.join(["bench/quality/ssgan.py"] + sys.argv[1:])
    (HERE / f"{args.name}.json").write_text(json.dumps(
        {"command": command, **shared, "results": results}, indent=1) + "\n")

    from pygan.trainers import SSGANConfig

    c = SSGANConfig(**shared["config"])
    errors = {name: [r["test_error"] for r in results if r["run"] == name] for name in ROWS}
    lines = [f"# Semi-supervised GAN: {args.data}, {args.labels_per_class} labels per class\n",
             f"Command: `{command}` (2 shared CPU cores, one thread per run). {args.seeds} "
             f"seeds; each draws its own labelled images, and both rows train for "
             f"{args.steps} steps (batch {c.batch_size}, Adam {c.lr} falling linearly to 0 "
             f"after {c.lr_decay_start:.0%} of the steps, D `{c.d_arch}` width {c.d_width}"
             f"{' with weight normalisation' if c.d_weight_norm else ''}, "
             f"G MLP {c.g_width}x{c.g_depth}, {c.g_loss}, {c.fake_class} fake class). Test "
             f"error on all test images at the last step (no early stopping); beside it the "
             f"lowest of the errors measured every 1,000 steps, an optimistic figure (chosen "
             f"on the test set) that favours the baseline, whose error rises as it overfits "
             f"its 100 images.\n",
             "| run | test error, last step (mean ± sd) | per seed | lowest during training "
             "(mean) | minutes per run |", "|---|---|---|---|---|"]
    for name, label in ROWS.items():
        sd = statistics.stdev(errors[name]) if len(errors[name]) > 1 else 0.0
        rows = [r for r in results if r["run"] == name]
        minutes = statistics.mean(r["seconds"] for r in rows) / 60
        best = statistics.mean(r["best_test_error"] for r in rows)
        lines.append(f"| {label} | {statistics.mean(errors[name]):.4f} ± {sd:.4f} | "
                     f"{', '.join(f'{e:.4f}' for e in errors[name])} | {best:.4f} | "
                     f"{minutes:.1f} |")
    ratio = statistics.mean(errors["ssgan"]) / statistics.mean(errors["baseline"])
    best = [statistics.mean(r["best_test_error"] for r in results if r["run"] == name)
            for name in ROWS]
    lines.append(f"\nSSGAN error / baseline error at the last step: {ratio:.3f}; lowest / "
                 f"lowest: {best[0] / best[1]:.3f} (aim: at most {AIM}; "
                 f"{'met' if max(ratio, best[0] / best[1]) <= AIM else 'not met'}).")
    (HERE / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
