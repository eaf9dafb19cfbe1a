"""One DCGAN training epoch end to end (DCGANTrainer.train_step over the
whole training set: batch 128, one D and one G step each) with pygan's fused
generator blocks against the same trainer with the plain torch modules
(fused=False), on Fashion-MNIST padded to 32x32. Epochs alternate between the
two (warm-up steps first); the median epoch of each is reported.

    python bench/bench_dcgan_epoch.py [--device cuda] [--amp none bf16] [--data DIR]
    python bench/bench_dcgan_epoch.py --steps 20   # time 20 steps, scale to an epoch
"""
import argparse
import statistics
import sys
import tempfile
import time

import torch

from common import device_name, sync, write_results
from pygan.data import FASHION_MNIST_DIR, load_images
from pygan.trainers import DCGANConfig, DCGANTrainer


def make_trainer(data, device, fused: bool, amp: str, run_dir) -> DCGANTrainer:
    config = DCGANConfig(seed=0, device=str(device), fused=fused, amp=amp, image_size=32,
                         progress=False, sample_every=0, checkpoint_every=0)
    return DCGANTrainer(config, data.images, run_dir)


def timed_steps(trainer: DCGANTrainer, steps: int, device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION_MNIST_DIR, help="IDX directory (train split)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", nargs="+", default=["none"], choices=["none", "bf16"])
    parser.add_argument("--reps", type=int, default=3, help="timed epochs of each contender")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=0,
                        help="time this many steps per rep and scale to an epoch (0: whole epoch)")
    args = parser.parse_args()
    if args.reps < 1 or args.warmup < 0 or args.steps < 0:
        parser.error(f"--reps must be >= 1 and --warmup, --steps >= 0; got {args.reps}, "
                     f"{args.warmup}, {args.steps}")
    device = torch.device(args.device)
    data = load_images(args.data, "train", size=32)
    epoch_steps = -(-len(data) // DCGANConfig.batch_size)
    steps = args.steps or epoch_steps
    lines = [f"$ python bench/bench_dcgan_epoch.py {' '.join(sys.argv[1:])}",
             f"{device_name(device)}; torch {torch.__version__}; {len(data)} images "
             f"{list(data.images.shape[1:])}, batch {DCGANConfig.batch_size}: {epoch_steps} "
             f"steps an epoch" + (f" (timed on {steps}, scaled)" if steps != epoch_steps else ""),
             "", f"  {'amp':<6}{'contender':<10}{'epoch s':>9}{'pygan speedup':>15}"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for amp in args.amp:
            trainers = {name: make_trainer(data, device, fused, amp, f"{tmp}/{amp}-{name}")
                        for name, fused in (("pygan", True), ("eager", False))}
            for trainer in trainers.values():
                timed_steps(trainer, args.warmup, device)
            samples = {name: [] for name in trainers}
            for _ in range(args.reps):
                for name, trainer in trainers.items():
                    samples[name].append(timed_steps(trainer, steps, device) * epoch_steps / steps)
            med = {name: statistics.median(s) for name, s in samples.items()}
            for name, t in med.items():
                lines.append(f"  {amp:<6}{name:<10}{t:>9.2f}{t / med['pygan']:>14.2f}x")
                rows.append({"amp": amp, "contender": name, "epoch_s": t,
                             "samples_s": samples[name], "speedup_of_pygan": t / med["pygan"]})
    print("\n".join(lines))
    path = write_results("dcgan_epoch", device, {"epoch_steps": epoch_steps, "timed_steps": steps,
                                                 "reps": args.reps, "rows": rows, "table": lines})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
