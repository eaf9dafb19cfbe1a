"""The `pygan` command: train a GAN family, sample from a run, evaluate it,
and train the feature classifier the image metrics use."""
import argparse
import json
import os
import sys
from pathlib import Path

import torch

from . import __version__
from .ops import has_kernel
from .trainers import TRAINERS
from .trainers.config import add_config_arguments, config_from_args

MIXTURE_EVAL_SAMPLES = 2500  # PacGAN's protocol
IMAGE_EVAL_SAMPLES = 10000
CONDITIONAL = ("cgan", "infogan")  # families whose samples take class labels


def info(_args) -> int:
    """Prints the versions and which compiled kernels this build has."""
    print(f"pygan {__version__}, torch {torch.__version__} (CUDA {torch.version.cuda})")
    for device in ("cpu", "cuda"):
        print(f"  {device} kernels: {'yes' if has_kernel('rmsprop_clip_', device) else 'no'}")
    print(f"  CUDA device available: {torch.cuda.is_available()}")
    return 0


def train(args) -> int:
    cls = TRAINERS[args.family]
    config = config_from_args(cls.config_class, args)
    data, meta = cls.data_from_args(args, config)
    trainer = cls(config, data, args.out, meta=meta)
    result = trainer.fit(resume=not args.restart)
    print(json.dumps(result))
    print(f"run directory: {args.out} (last.pt, metrics.csv, samples/, losses.png)")
    return trainer.stop.exit_code  # 130 after Ctrl-C, 143 after SIGTERM, as shells expect


def drs_options(args) -> dict | None:
    """The ``rejection_sample`` settings that --drs and its options ask for;
    None without --drs."""
    if not args.drs:
        if args.drs_calibrate or args.drs_quantile is not None:
            raise ValueError("--drs-calibrate and --drs-quantile set up --drs; give --drs")
        return None
    if args.drs_calibrate < 0:
        raise ValueError(f"--drs-calibrate must be >= 0 steps, got {args.drs_calibrate}")
    from .trainers.rejection import QUANTILE

    quantile = QUANTILE if args.drs_quantile is None else args.drs_quantile
    return {"quantile": quantile, "calibrate_steps": args.drs_calibrate}


def open_for_sampling(args):
    """(the run's trainer, its drs_options); with calibration the trainer
    holds the run's training data, which D trains on."""
    from .trainers.runs import open_run

    trainer, drs = open_run(args.run_dir, args.device), drs_options(args)
    if drs is None:
        return trainer, drs
    if not hasattr(trainer, "rejection_sample"):
        raise ValueError(f"--drs needs a discriminator whose logit estimates log p_data/p_g "
                         f"(gan, dcgan); {args.run_dir} is a {trainer.family} run")
    if drs["calibrate_steps"]:
        from .data import load_named

        shape = tuple(trainer.data_shape)
        image = (shape[-1], shape[0]) if len(shape) == 3 else (None, None)
        data = load_named(trainer.meta.get("data"), "train", *image)[0]
        trainer = open_run(args.run_dir, args.device, data=data)
    return trainer, drs


def draw(trainer, n: int, seed, drs: dict | None):
    """n samples from the run's generator; by discriminator rejection
    sampling with the ``drs`` settings when given."""
    if drs is None:
        return trainer.sample(n, seed=seed)
    return trainer.rejection_sample(n, seed=seed, **drs)


def sample(args) -> int:
    from .data import MIXTURES, mixture
    from .trainers.labels import class_grid
    from .trainers.runlog import save_image_grid, save_scatter

    trainer, drs = open_for_sampling(args)
    classes = getattr(trainer, "num_classes", 0) if trainer.family in CONDITIONAL else 0
    if args.label is not None and not classes:
        raise ValueError(f"--class needs a class-conditional run ({', '.join(CONDITIONAL)} "
                         f"with a categorical code); {args.run_dir} is a {trainer.family} run")
    if args.label is not None and not 0 <= args.label < classes:
        raise ValueError(f"--class must be in [0, {classes}) for {args.run_dir}, got {args.label}")
    if hasattr(trainer, "write_samples"):  # families whose samples are not images or points
        trainer.write_samples(args.n, args.out, seed=args.seed)
    elif args.label is not None:
        labels = torch.full((args.n,), args.label, dtype=torch.int64)
        save_image_grid(trainer.sample(args.n, seed=args.seed, labels=labels), args.out)
    elif classes:  # one row per class
        per_class = max(1, args.n // classes)
        save_image_grid(class_grid(trainer, per_class, args.seed), args.out, nrow=per_class)
    elif (out := draw(trainer, args.n, args.seed, drs)).dim() == 4:
        save_image_grid(out, args.out)
    else:
        data = trainer.meta.get("data")
        save_scatter(out, args.out, mixture(data).centers if data in MIXTURES else None)
    print(f"wrote {args.n} samples from {args.run_dir} (step {trainer.step}) to {args.out}")
    return 0


def default_classifier_path(data: str, image_shape) -> Path:
    """Where `pygan classifier train` caches the feature network of a data set."""
    cache = Path(os.environ.get("PYGAN_CACHE", "~/.cache/pygan")).expanduser()
    tag = Path(data).name or "data"
    return cache / f"classifier-{tag}-{'x'.join(map(str, image_shape))}.pt"


def evaluate(args) -> int:
    from .data import load_images, load_named
    from .metrics import evaluate_images, mode_stats

    if args.temperatures is not None:  # SeqGAN: the quality-diversity frontier
        from .trainers.frontier import evaluate_frontier

        print(json.dumps(evaluate_frontier(args), indent=2))
        return 0
    trainer, drs = open_for_sampling(args)
    data = trainer.meta.get("data")
    if data is None:
        raise ValueError(f"{args.run_dir} does not record its data set; was it made by pygan train?")
    shape = tuple(trainer.data_shape)
    if hasattr(trainer, "evaluate_run"):  # families with their own metrics (text)
        result = trainer.evaluate_run(args)
    elif len(shape) == 1:
        _, m = load_named(data, "train", None)
        if m is None:
            raise ValueError(f"evaluation of vector data needs a mixture (ring, grid), got {data}")
        result = mode_stats(draw(trainer, args.n or MIXTURE_EVAL_SAMPLES, None, drs).cpu(),
                            m.centers, m.std)
    else:
        test = load_images(data, "test", size=shape[-1], channels=shape[0])
        real, labels = test.images[:args.n or IMAGE_EVAL_SAMPLES], test.labels
        classifier = Path(args.classifier) if args.classifier else default_classifier_path(data, shape)
        if hasattr(trainer, "evaluate_labelled"):  # class-conditional runs
            result = trainer.evaluate_labelled(real, labels[:len(real)], classifier,
                                               per_class=max(2, len(real) // trainer.num_classes))
        else:
            result = evaluate_images(draw(trainer, len(real), None, drs).cpu(), real, classifier)
        if hasattr(trainer, "code_accuracy") and trainer.num_classes and labels is not None:
            result.update(trainer.code_accuracy(test.images, labels))
    result = {"step": trainer.step, "data": data, **result}
    if drs is not None:
        result["drs"] = drs
    (Path(args.run_dir) / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def compare(args) -> int:
    from .trainers.frontier import compare as compare_frontiers

    out = compare_frontiers(args.runs, args.out)
    print(f"wrote the frontiers of {len(args.runs)} runs to {out}")
    return 0


def classifier_train(args) -> int:
    from .data import load_images
    from .metrics.classifier import save_classifier, train_classifier

    train_set = load_images(args.data, "train", size=args.image_size)
    test_set = load_images(args.data, "test", size=args.image_size)
    if train_set.labels is None:
        raise ValueError(f"{args.data} has no labels; the feature classifier needs classes")
    torch.manual_seed(args.seed)
    model = train_classifier(train_set.images, train_set.labels, epochs=args.epochs,
                             seed=args.seed)
    with torch.no_grad():
        model.eval()
        pred = torch.cat([model(x).argmax(1) for x in test_set.images.split(500)])
    accuracy = (pred == test_set.labels).float().mean().item()
    shape = tuple(train_set.images.shape[1:])
    out = Path(args.out) if args.out else default_classifier_path(args.data, shape)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_classifier(model, out, {"data": args.data, "image_shape": list(shape),
                                 "test_accuracy": accuracy})
    print(f"test accuracy {accuracy:.4f}; wrote {out}")
    return 0


def add_drs_argument(p) -> None:
    p.add_argument("--drs", action="store_true",
                   help="discriminator rejection sampling (gan, dcgan; Azadi et al. 2019)")
    p.add_argument("--drs-quantile", type=float, default=None, metavar="Q",
                   help="with --drs: shift the acceptance logit by the Q-quantile of the burn-in "
                   "scores (the paper's gamma; lower keeps more; default: 0.99)")
    p.add_argument("--drs-calibrate", type=int, default=0, metavar="STEPS",
                   help="with --drs: first train a copy of D this many more batches of the "
                   "run's data against the frozen generator (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pygan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pygan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and compiled kernels").set_defaults(run=info)

    p_train = sub.add_parser("train", help="train a GAN family")
    families = p_train.add_subparsers(dest="family", required=True)
    for name, cls in TRAINERS.items():
        p = families.add_parser(name, help=cls.__doc__.splitlines()[0])
        cls.add_data_arguments(p)
        p.add_argument("--out", required=True, help="run directory")
        p.add_argument("--restart", action="store_true",
                       help="start over even if the run directory holds a checkpoint")
        add_config_arguments(p, cls.config_class)
        p.set_defaults(run=train)

    p = sub.add_parser("sample", help="sample from a run's generator")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("--out", required=True, help="PNG file (text runs: a .txt file)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="cgan: N samples of class K; infogan: of categorical code value K "
                   "(default for both: a grid with one row per class of N / classes images)")
    p.add_argument("--device", default="cpu")
    add_drs_argument(p)
    p.set_defaults(run=sample)

    p = sub.add_parser("eval", help="evaluate a run (mode coverage, FD/KID/precision/recall, "
                       "NLL-oracle or BLEU)")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=0, help="samples (default: 2500 points, 10000 images, "
                   "SeqGAN's eval_samples)")
    p.add_argument("--classifier", help="feature classifier file (default: the cached one)")
    p.add_argument("--test", help="text runs: held-out text file, scored by the generator's NLL")
    p.add_argument("--reference", help="text runs: reference sentences for BLEU "
                   "(default: --test)")
    p.add_argument("--temperatures", metavar="SPEC", help="SeqGAN: evaluate at each sampling "
                   "temperature, START:STOP:STEP or a comma list (0.6:1.4:0.1, 0.8,1.0,1.2), "
                   "and write the quality-diversity frontier to the run directory "
                   "(frontier.csv, .json, .png)")
    p.add_argument("--device", default="cpu")
    add_drs_argument(p)
    p.set_defaults(run=evaluate)

    p = sub.add_parser("compare", help="draw several runs' frontiers (pygan eval --temperatures) "
                       "on one plot")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories holding frontier.json")
    p.add_argument("--out", required=True, help="PNG file")
    p.set_defaults(run=compare)

    p_cls = sub.add_parser("classifier", help="the feature classifier of the image metrics")
    cls_sub = p_cls.add_subparsers(dest="action", required=True)
    p = cls_sub.add_parser("train", help="train it on a labelled data set and cache it")
    p.add_argument("--data", required=True)
    p.add_argument("--image-size", type=int, default=None, help="pad/resize images to this size")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="file to write (default: under $PYGAN_CACHE or ~/.cache/pygan)")
    p.set_defaults(run=classifier_train)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError, FloatingPointError) as exc:
        print(f"pygan {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a second Ctrl-C / SIGTERM while stopping, or one outside
        # training: no traceback, the files are as the last completed write left them.
        print(f"\npygan {args.command}: aborted ({exc or 'Ctrl-C'}); files written before "
              f"are intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
