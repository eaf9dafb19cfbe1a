"""DCGAN and WGAN on Fashion-MNIST (28x28 padded to 32): sample grids and
Fréchet distance, KID and precision/recall against the test set, in the
feature space of pygan's classifier; beside the same metrics for real
training images (the floor a perfect generator would reach).

    python bench/quality/images.py [--steps 2000] [--wgan-steps 500] [--ngf 32]

Writes bench/quality/images.md and images.json, and grids under
bench/quality/grids/.
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from pygan.data import load_images
from pygan.metrics import evaluate_images, save_classifier, train_classifier
from pygan.trainers import DCGANConfig, DCGANTrainer, WGANConfig, WGANTrainer

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=2000, help="DCGAN generator steps")
    parser.add_argument("--wgan-steps", type=int, default=500,
                        help="WGAN generator steps (each takes 5 critic steps, 100 early on)")
    parser.add_argument("--ngf", type=int, default=32, help="generator/critic width")
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    train = load_images(args.data, "train", size=32)
    test = load_images(args.data, "test", size=32).images[:args.samples]
    out, grids = HERE / "runs", HERE / "grids"
    grids.mkdir(exist_ok=True)
    classifier = out / f"classifier-{args.data}-32.pt"
    if not classifier.exists():
        model = train_classifier(train.images, train.labels, epochs=args.classifier_epochs)
        save_classifier(model, classifier, {"data": args.data, "image_shape": [1, 32, 32]})
    # The floor: real training images the generator never has to imitate beat.
    half = len(train.images) // 2
    results = {"real train (held-out half)": evaluate_images(
        train.images[half:half + len(test)], test, classifier)}
    common = dict(image_size=32, ngf=args.ngf, ndf=args.ngf, progress=False,
                  sample_every=0, checkpoint_every=500, log_every=100)
    wgan = dict(common, steps=args.wgan_steps, batch_size=64)
    runs = {"DCGAN": (DCGANTrainer, DCGANConfig(**common, steps=args.steps, batch_size=64)),
            "WGAN (clip)": (WGANTrainer, WGANConfig(**wgan)),
            "WGAN-GP": (WGANTrainer, WGANConfig(**wgan, gradient_penalty=True))}
    seconds = {}
    for name, (cls, config) in runs.items():
        slug = name.lower().replace(" ", "-").replace("(", "").replace(")", "")
        trainer = cls(config, (train.images[:half],), out / slug, meta={"data": args.data})
        start = time.perf_counter()
        trainer.fit()
        seconds[name] = time.perf_counter() - start
        results[name] = evaluate_images(trainer.sample(len(test)).cpu(), test, classifier)
        shutil.copy(out / slug / "samples" / "final.png", grids / f"{slug}.png")
    (HERE / "images.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# {args.data}: DCGAN and WGAN, 32x32\n",
             f"Command: `python bench/quality/images.py --steps {args.steps} --wgan-steps "
             f"{args.wgan_steps} --ngf {args.ngf}` "
             f"(2 CPU cores). Generators trained on the first half of the training set; "
             f"{len(test)} generated images scored against {len(test)} test images in the "
             f"feature space of pygan's classifier ({classifier.name}, "
             f"{args.classifier_epochs} epochs). The first row scores real training images "
             f"from the other half: the floor.\n",
             "| samples | Fréchet distance | KID | precision | recall | training time |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        t = f"{seconds[name] / 60:.0f} min" if name in seconds else "-"
        lines.append(f"| {name} | {r['frechet']:.2f} | {r['kid']:.4f} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {t} |")
    lines.append("\nGrids: " + ", ".join(f"`grids/{p.name}`" for p in sorted(grids.glob("*.png"))))
    (HERE / "images.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
