"""Adversarial text training on sentence polarity (rt-polarity): test
accuracy of the same CNN trained without perturbation, with AT, with VAT and
with both, on fixed 90/10 splits over several seeds.

    python bench/quality/adv_text.py [--seeds 5] [--steps 1000] [--workers 2]

Seed s draws the split and initialises the model; every method sees the same
splits, model, batches and step count. The accuracy is the final one on the
held-out 10% (no early stopping). Writes bench/quality/adv_text.md and
adv_text.json; runs go to bench/quality/runs/.
"""
import argparse
import json
import multiprocessing as mp
import shlex
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data" / "rt_polarity"
METHODS = ("none", "at", "vat", "at+vat")
PUBLISHED = 0.761  # Kim (2014), CNN-rand, 10-fold cross-validation


def run_one(job):
    import torch

    torch.set_num_threads(1)
    from pygan.trainers import AdvTextConfig, AdvTextTrainer

    method, seed, args = job
    config = AdvTextConfig(method=method, seed=seed, steps=args["steps"], progress=False,
                           checkpoint_every=0, log_every=100, eval_every=0, **args["config"])
    data = Path(args["data"])
    flags = argparse.Namespace(data_pos=str(data / "rt-polarity.pos"),
                               data_neg=str(data / "rt-polarity.neg"), data_unlabelled=None,
                               test_fraction=0.1, max_len=64, min_count=1)
    split, meta = AdvTextTrainer.data_from_args(flags, config)  # as `pygan train adv-text`
    trainer = AdvTextTrainer(config, split, HERE / "runs" / f"adv-text-{method}-{seed}", meta=meta)
    start = time.perf_counter()
    trainer.fit(resume=False)
    return {"method": method, "seed": seed, "seconds": time.perf_counter() - start,
            **trainer.evaluate()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA), help="folder with rt-polarity.pos/.neg")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", default="{}",
                        help="AdvTextConfig overrides for every run, as JSON")
    args = parser.parse_args()
    shared = {"data": args.data, "steps": args.steps, "config": json.loads(args.config)}
    jobs = [(m, seed, shared) for seed in range(args.seeds) for m in METHODS]
    results = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            results.append(r)
            print(f"{r['method']:7s} seed {r['seed']}: accuracy {r['test_accuracy']:.4f} "
                  f"({r['seconds']:.0f} s)", flush=True)
    results.sort(key=lambda r: (METHODS.index(r["method"]), r["seed"]))
    command = "python " + shlex.join(["bench/quality/adv_text.py"] + sys.argv[1:])
    (HERE / "adv_text.json").write_text(json.dumps(
        {"command": command, **shared, "results": results}, indent=1) + "\n")

    from pygan.trainers import AdvTextConfig

    c = AdvTextConfig(**shared["config"])
    accuracy = {m: [r["test_accuracy"] for r in results if r["method"] == m] for m in METHODS}
    base = statistics.mean(accuracy["none"])
    lines = ["# Adversarial text training: rt-polarity\n",
             f"Command: `{command}` (2 shared CPU cores, one thread per run). A fixed 90/10 "
             f"split per seed, {args.seeds} seeds; {args.steps} steps of {c.batch_size} "
             f"sentences (~{args.steps * c.batch_size / 9596:.1f} epochs), Adam {c.lr}. Model: "
             f"{c.encoder.upper()} widths {c.widths}, {c.maps} maps, dropout {c.dropout}, "
             f"random {c.embed_dim}-d embeddings"
             f"{' normalised by word frequency' if c.normalize_embeddings else ''}; "
             f"AT eps {c.eps}, VAT eps {c.vat_eps} "
             f"(xi {c.vat_xi}, {c.vat_iterations} power iteration). Final test accuracy "
             f"(no early stopping).\n",
             "| method | accuracy (mean ± sd) | vs none | per seed | minutes per run |",
             "|---|---|---|---|---|"]
    for m in METHODS:
        values = accuracy[m]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        minutes = statistics.mean(r["seconds"] for r in results if r["method"] == m) / 60
        lines.append(f"| {m} | {statistics.mean(values):.4f} ± {sd:.4f} | "
                     f"{100 * (statistics.mean(values) - base):+.2f} pts | "
                     f"{', '.join(f'{v:.4f}' for v in values)} | {minutes:.1f} |")
    lines.append(f"\nPublished: Kim (2014) CNN-rand {PUBLISHED:.1%} (10-fold cross-validation).")
    (HERE / "adv_text.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
