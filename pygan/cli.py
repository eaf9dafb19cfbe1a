"""The `pygan` command."""
import argparse
import sys

import torch

from . import __version__
from .ops import has_kernel


def info(_args) -> int:
    """Prints the versions and which compiled kernels this build has."""
    print(f"pygan {__version__}, torch {torch.__version__} (CUDA {torch.version.cuda})")
    for device in ("cpu", "cuda"):
        print(f"  {device} kernels: {'yes' if has_kernel('rmsprop_clip_', device) else 'no'}")
    print(f"  CUDA device available: {torch.cuda.is_available()}")
    return 0


def demo(args) -> int:
    from .demo import wgan_ring

    wgan_ring(steps=args.steps, n_critic=args.n_critic, batch=args.batch, lr=args.lr,
              clip=args.clip, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pygan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pygan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and compiled kernels").set_defaults(run=info)
    p = sub.add_parser("demo", help="short WGAN run on the 8-mode ring (ClippedRMSprop)")
    p.add_argument("--steps", type=int, default=1500, help="generator steps")
    p.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--clip", type=float, default=0.01, help="critic weight clip value")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FloatingPointError) as exc:
        print(f"pygan {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
