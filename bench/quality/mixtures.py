"""Mode collapse on the 2-D ring (8 modes) and grid (25 modes), PacGAN's
protocol: for each configuration and seed, train, draw 2500 samples (directly,
or by discriminator rejection sampling in the DRS rows) and count captured
modes, % high-quality samples and the reverse KL.

    python bench/quality/mixtures.py [--seeds 10] [--workers 2] [--scale 1.0]

Writes bench/quality/mixtures.json and mixtures.md (means over seeds beside
PacGAN's published rows). Each worker runs one training at a time on one
thread; --scale multiplies every configuration's step count. Runs already
recorded in mixtures.json are kept and not repeated, so more seeds can be
added later.
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRS = {"calibrate_steps": 20000, "quantile": 0.99}  # D trained 20k more batches first
CONFIGS = {  # name: (trainer, config overrides, generator steps, rejection_sample kwargs or None)
    "GAN (non-saturating)": ("gan", {}, 10000, None),
    "GAN + instance noise 0.1": ("gan", {"instance_noise": 0.1}, 10000, None),
    "GAN + lr decay from half-way": ("gan", {"lr_decay_start": 0.5}, 10000, None),
    "GAN + lr decay from half-way, 30k steps": ("gan", {"lr_decay_start": 0.5}, 30000, None),
    # The same runs as the two rows above, sampled by discriminator rejection sampling.
    "GAN + lr decay from half-way, DRS": ("gan", {"lr_decay_start": 0.5}, 10000, DRS),
    "GAN + lr decay from half-way, 30k steps, DRS": ("gan", {"lr_decay_start": 0.5}, 30000, DRS),
    "WGAN (clip 0.01)": ("wgan", {}, 3000, None),
    "WGAN-GP": ("wgan", {"gradient_penalty": True}, 3000, None),
}
PUBLISHED = [  # PacGAN (Lin et al. 2018) table, means of 10 trials: modes, % high quality
    ("PacGAN paper: GAN", {"ring": (6.3, 98.2), "grid": (17.3, 94.8)}),
    ("PacGAN paper: PacGAN4", {"ring": (7.8, 95.9), "grid": (24.8, 93.6)}),
]


def run_one(job):
    import torch

    torch.set_num_threads(1)
    from pygan.data import mixture
    from pygan.metrics import mode_stats
    from pygan.trainers import TRAINERS
    from pygan.trainers.runs import open_finished_run

    name, data, seed, steps = job
    family, overrides, _, drs = CONFIGS[name]
    cls = TRAINERS[family]
    config = cls.config_class(steps=steps, seed=seed, batch_size=100, progress=False,
                              sample_every=0, checkpoint_every=0, log_every=500, **overrides)
    m = mixture(data)
    slug = f"{family}-{'-'.join(f'{k}{v}' for k, v in overrides.items())}-{steps}-{data}-{seed}"
    run_dir = HERE / "runs" / slug
    start = time.perf_counter()
    # Rows that differ only in how they sample share a run: a finished one of the
    # same configuration is reused, not trained again.
    trainer = open_finished_run(run_dir, config, data=m.sample)
    if trainer is None:
        trainer = cls(config, m.sample, run_dir)
        trainer.fit(resume=False)
    if drs is None:
        samples = trainer.sample(2500, seed=10_000 + seed)
    else:
        samples = trainer.rejection_sample(2500, seed=10_000 + seed, **drs)
    stats = mode_stats(samples.cpu(), m.centers, m.std)
    return {"config": name, "data": data, "seed": seed, "steps": steps,
            "seconds": time.perf_counter() - start, **stats}


def table(results) -> str:
    lines = ["| configuration | ring modes (of 8) | ring % HQ | ring reverse KL | grid modes (of 25) "
             "| grid % HQ | grid reverse KL | steps | seeds |", "|---" * 9 + "|"]
    for name in CONFIGS:
        cells, seeds, steps = [], 0, 0
        for data in ("ring", "grid"):
            rows = [r for r in results if r["config"] == name and r["data"] == data]
            seeds, steps = len(rows), rows[0]["steps"] if rows else 0
            if not rows:
                cells += ["-"] * 3
                continue
            for key in ("modes", "high_quality", "reverse_kl"):
                values = [r[key] for r in rows]
                sd = statistics.pstdev(values) if all(v != float("inf") for v in values) else 0
                cells.append(f"{statistics.mean(values):.2f} ± {sd:.2f}")
        lines.append(f"| pygan {name} | " + " | ".join(cells) + f" | {steps} | {seeds} |")
    for label, figures in PUBLISHED:
        lines.append(f"| {label} | {figures['ring'][0]} | {figures['ring'][1]} | - | "
                     f"{figures['grid'][0]} | {figures['grid'][1]} | - | - | 10 |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the step counts")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    jobs = [(name, data, seed, max(1, int(CONFIGS[name][2] * args.scale)))
            for name in args.configs for data in ("ring", "grid") for seed in range(args.seeds)]
    out_json = HERE / "mixtures.json"
    # Results already in mixtures.json are kept, and their runs not repeated.
    results = json.loads(out_json.read_text()) if out_json.exists() else []
    done = {(r["config"], r["data"], r["seed"], r["steps"]) for r in results}
    jobs = [job for job in jobs if job not in done]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            results.append(r)
            print(f"{r['config']:28s} {r['data']} seed {r['seed']}: {r['modes']} modes, "
                  f"{r['high_quality']:.1f}% HQ, KL {r['reverse_kl']:.3f} ({r['seconds']:.0f} s)",
                  flush=True)
            out_json.write_text(json.dumps(results, indent=1) + "\n")
    (HERE / "mixtures.md").write_text(
        "# Mode coverage on the 2-D mixtures\n\nCommand: `python bench/quality/mixtures.py "
        f"--seeds {args.seeds} --scale {args.scale}` (2 CPU cores, one thread per run), "
        "adding to the runs already in mixtures.json; the seeds column counts each row's.\n"
        "2500 samples per trained generator; a sample is high quality within 3 std of its "
        "nearest mode; mean ± std over seeds. DRS rows: the runs of the row without DRS, "
        "sampled by discriminator rejection sampling with a copy of D trained "
        f"{DRS['calibrate_steps']} more batches against the frozen generator, gamma at the "
        f"{DRS['quantile']} quantile.\n\n" + table(results) + "\n")


if __name__ == "__main__":
    main()
