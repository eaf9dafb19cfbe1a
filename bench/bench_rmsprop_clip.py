"""One WGAN-critic optimizer step (RMSprop + clamp to [-c, c]): pygan's
ClippedRMSprop against what a user would otherwise write:
  (a) RMSprop(foreach=False) and a clamp_ loop,
  (b) RMSprop(foreach=True) and torch._foreach_clamp_min_/max_,
  (c) torch.compile of (b).
Floor: 20 bytes per fp32 parameter (read p, g, square_avg; write p,
square_avg) at the measured copy bandwidth.

Two timings per contender: one step alone (the host's work before its first
launch leaves the GPU idle, as an optimizer step right after a synchronising
call would) and --burst steps back to back divided by their number (host
work overlaps the previous step's kernels, as in a training loop; what the
kernels sustain).

    python bench/bench_rmsprop_clip.py [--device cpu|cuda] [--workloads ...] [--burst K]
"""
import argparse
import random

import torch

import pygan
from common import copy_bandwidth, device_name, median_times, write_results

BYTES_PER_PARAM = 20  # fp32, no momentum, not centered
CLIP, LR = 0.01, 5e-5


def dcgan64_critic():
    """The DCGAN 64x64 discriminator's parameters (ndf 64, BN affine): ~2.8M."""
    return [(64, 3, 4, 4), (128, 64, 4, 4), (128,), (128,), (256, 128, 4, 4), (256,), (256,),
            (512, 256, 4, 4), (512,), (512,), (1, 512, 4, 4)]


def mixed(total: int, seed: int):
    """Conv weights and biases of random widths until `total` parameters."""
    rng, shapes, n = random.Random(seed), [], 0
    while n < total:
        c_in, c_out = rng.choice([32, 64, 128, 256, 512]), rng.choice([64, 128, 256, 512, 1024])
        k = rng.choice([1, 3, 4]) if total < 50_000_000 else rng.choice([3, 4, 5])
        shapes += [(c_out, c_in, k, k), (c_out,)]
        n += c_out * c_in * k * k + c_out
    return shapes


WORKLOADS = {"dcgan64-critic": dcgan64_critic, "mixed-10M": lambda: mixed(10_000_000, 0),
             "mixed-100M": lambda: mixed(100_000_000, 1),
             # 120 tiny tensors: the step's host time alone (what a GPU waits on)
             "host-bound": lambda: [(8, 8)] * 120}


def make_params(shapes, device, seed=0):
    gen = torch.Generator(device=device).manual_seed(seed)
    params = [torch.nn.Parameter(0.01 * torch.randn(s, device=device, generator=gen)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, device=device, generator=gen)
    return params


def contenders(shapes, device, with_compile):
    fns = {}
    params = make_params(shapes, device)
    opt = pygan.optim.ClippedRMSprop(params, lr=LR, clip_value=CLIP)
    fns["pygan"] = opt.step

    params_a = make_params(shapes, device)
    opt_a = torch.optim.RMSprop(params_a, lr=LR, foreach=False)

    @torch.no_grad()
    def loop_step():
        opt_a.step()
        for p in params_a:
            p.clamp_(-CLIP, CLIP)
    fns["(a) loop"] = loop_step

    def foreach_step(opt, ps):
        opt.step()
        with torch.no_grad():
            torch._foreach_clamp_min_(ps, -CLIP)
            torch._foreach_clamp_max_(ps, CLIP)

    params_b = make_params(shapes, device)
    opt_b = torch.optim.RMSprop(params_b, lr=LR, foreach=True)
    fns["(b) foreach"] = lambda: foreach_step(opt_b, params_b)
    if with_compile:
        params_c = make_params(shapes, device)
        opt_c = torch.optim.RMSprop(params_c, lr=LR, foreach=True)
        compiled = torch.compile(lambda: foreach_step(opt_c, params_c))
        fns["(c) compile(b)"] = compiled
    return fns


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--reps", type=int, default=0, help="timed rounds (default by size)")
    parser.add_argument("--no-compile", action="store_true", help="skip baseline (c)")
    parser.add_argument("--burst", type=int, default=10, help="steps per back-to-back timing")
    args = parser.parse_args()
    if args.burst < 1:
        parser.error(f"--burst must be >= 1, got {args.burst}")
    device = torch.device(args.device)
    bw = copy_bandwidth(device)
    print(f"{device_name(device)}; torch {torch.__version__}; copy bandwidth {bw / 1e9:.1f} GB/s")
    rows = []
    for name in args.workloads:
        shapes = WORKLOADS[name]()
        n = sum(torch.Size(s).numel() for s in shapes)
        reps = args.reps or (50 if n < 20e6 else 15)
        if device.type == "cuda":
            reps *= 4
        fns = contenders(shapes, device, not args.no_compile)
        times = median_times(fns, device, reps)
        bursts = {who: (lambda f=f: [f() for _ in range(args.burst)]) for who, f in fns.items()}
        b2b = {who: t / args.burst for who, t in
               median_times(bursts, device, max(reps // args.burst, 5)).items()}
        floor = BYTES_PER_PARAM * n / bw
        print(f"\n{name}: {n / 1e6:.2f}M parameters in {len(shapes)} tensors; "
              f"floor {floor * 1e3:.3f} ms ({BYTES_PER_PARAM} B/param at copy bandwidth)")
        print(f"  {'':16s} {'one step alone':>38s}   {f'{args.burst} back to back':>38s}")
        head = f"{'ms':>8s} {'pygan speedup':>14s} {'% of copy bw':>13s}"
        print(f"  {'contender':16s} {head}   {head}")
        for who in fns:
            cells = [f"{t[who] * 1e3:8.3f} {t[who] / t['pygan']:13.2f}x "
                     f"{100 * BYTES_PER_PARAM * n / t[who] / bw:12.1f}%" for t in (times, b2b)]
            print(f"  {who:16s} {cells[0]}   {cells[1]}")
        rows.append({"workload": name, "params": n, "tensors": len(shapes), "reps": reps,
                     "floor_ms": floor * 1e3, "median_ms": {k: v * 1e3 for k, v in times.items()},
                     "speedup_vs": {k: v / times["pygan"] for k, v in times.items() if k != "pygan"},
                     "pygan_fraction_of_copy_bw": BYTES_PER_PARAM * n / times["pygan"] / bw,
                     "burst": args.burst,
                     "back_to_back_ms": {k: v * 1e3 for k, v in b2b.items()},
                     "back_to_back_speedup_vs": {k: v / b2b["pygan"] for k, v in b2b.items()
                                                 if k != "pygan"},
                     "back_to_back_pygan_fraction_of_copy_bw":
                         BYTES_PER_PARAM * n / b2b["pygan"] / bw})
    path = write_results("rmsprop_clip", device, {"copy_bandwidth_GBps": bw / 1e9, "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
