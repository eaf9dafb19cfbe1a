"""One training epoch on Fashion-MNIST padded to 32x32 (batch 128, 469
batches): pygan's trainers (eager, and with ``compile=True``) against the
plain loop a user writes on the same models (bench/plain_loops.py) and that
loop with its models under torch.compile.

Families: dcgan (one D and one G step a batch; pygan's generator blocks are
the fused op) and wgan (weight clipping: 5 critic batches per generator
step, the critic on pygan's rmsprop_clip_ kernel; the paper's 100-critic-step
phases are left out of both sides so every step costs the same).

Each contender first runs ``--warmup`` steps (compilation happens there),
then the contenders take turns, ``--steps`` steps each per round, ``--reps``
rounds; the median round is scaled to an epoch. Absolute seconds on a shared
machine are noise; the ratios hold.

    python bench/bench_train_epoch.py [--device cuda] [--families dcgan wgan] [--steps 20]
"""
import argparse
import statistics
import sys
import tempfile
import time

import torch

from common import device_name, sync, write_results
from plain_loops import PlainDCGAN, PlainWGAN
from pygan.data import FASHION_MNIST_DIR, load_images
from pygan.trainers import DCGANConfig, DCGANTrainer, WGANConfig, WGANTrainer
from pygan.trainers.tricks import constant_d_steps

BATCH = 128
N_CRITIC = 5


def pygan_trainer(family: str, images, device, compile: bool, run_dir):
    common = dict(seed=0, device=str(device), image_size=32, batch_size=BATCH, progress=False,
                  sample_every=0, checkpoint_every=0, log_every=10**9, compile=compile)
    if family == "dcgan":
        return DCGANTrainer(DCGANConfig(**common), images, run_dir)
    trainer = WGANTrainer(WGANConfig(**common, n_critic=N_CRITIC), images, run_dir)
    trainer.d_steps = constant_d_steps(N_CRITIC)
    return trainer


def contenders(family: str, images, device, tmp: str) -> dict:
    """name -> (one generator step, data batches it consumes)"""
    plain_class = PlainDCGAN if family == "dcgan" else PlainWGAN
    out = {}
    for name, compile in (("pygan", False), ("pygan compile", True)):
        trainer = pygan_trainer(family, images, device, compile, f"{tmp}/{family}-{compile}")
        out[name] = (trainer.train_step, 1 if family == "dcgan" else N_CRITIC)
    for name, compile in (("plain", False), ("plain compile", True)):
        loop = plain_class(images, device, batch_size=BATCH)
        if compile:
            loop.compile()
        out[name] = (loop.step, loop.batches_per_step)
    return out


def timed(step, steps: int, device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION_MNIST_DIR, help="IDX directory (train split)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--families", nargs="+", default=["dcgan", "wgan"],
                        choices=["dcgan", "wgan"])
    parser.add_argument("--reps", type=int, default=3, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compiles)")
    parser.add_argument("--steps", type=int, default=10,
                        help="generator steps per contender per round, scaled to an epoch")
    args = parser.parse_args()
    if min(args.reps, args.steps) < 1 or args.warmup < 1:
        parser.error("--reps, --steps and --warmup must be >= 1")
    device = torch.device(args.device)
    images = load_images(args.data, "train", size=32).images
    epoch_batches = len(images) // BATCH
    lines = [f"$ python bench/bench_train_epoch.py {' '.join(sys.argv[1:])}",
             f"{device_name(device)}; torch {torch.__version__}; {len(images)} images "
             f"{list(images.shape[1:])}, batch {BATCH}: {epoch_batches} batches an epoch, "
             f"timed on {args.steps} generator steps x {args.reps} rounds, scaled", "",
             f"  {'family':<7}{'contender':<15}{'epoch s':>9}{'vs plain':>10}"
             f"{'vs plain compile':>18}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            runs = contenders(family, images, device, tmp)
            for step, _ in runs.values():
                timed(step, args.warmup, device)
            samples = {name: [] for name in runs}
            for _ in range(args.reps):
                for name, (step, batches) in runs.items():
                    scale = epoch_batches / (batches * args.steps)
                    samples[name].append(timed(step, args.steps, device) * scale)
            med = {name: statistics.median(s) for name, s in samples.items()}
            for name, t in med.items():
                lines.append(f"  {family:<7}{name:<15}{t:>9.2f}{med['plain'] / t:>9.2f}x"
                             f"{med['plain compile'] / t:>17.2f}x")
                rows.append({"family": family, "contender": name, "epoch_s": t,
                             "samples_s": samples[name], "speedup_vs_plain": med["plain"] / t,
                             "speedup_vs_plain_compile": med["plain compile"] / t})
    print("\n".join(lines))
    path = write_results("train_epoch", device, {"epoch_batches": epoch_batches,
                                                 "steps": args.steps, "reps": args.reps,
                                                 "rows": rows, "table": lines})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
