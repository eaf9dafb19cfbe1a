"""The feature network of pygan's image metrics: a small CNN classifier
trained on the real data (Inception weights cannot be downloaded here), and
evaluate_images, which scores generated images in its feature space."""
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..serialization import load_tagged, save_tagged
from .frechet import frechet_distance, kid
from .precision_recall import precision_recall

_FORMAT = "pygan.FeatureClassifier"
_VERSION = 1


class FeatureClassifier(nn.Module):
    """Small CNN for [B, C, H, W] images in [-1, 1], any H and W (8 to 64 in
    practice): conv 32 -> conv 64 (stride 2) -> conv 128 (stride 2), each
    3x3 with BatchNorm and ReLU, global average pooling, a ``feature_dim``-wide
    ReLU layer (the features), then ``num_classes`` logits."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, feature_dim: int = 128):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("feature_dim", feature_dim)):
            if value < 1:
                raise ValueError(f"FeatureClassifier: {name} must be >= 1, got {value}")
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           feature_dim=feature_dim)

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(in_channels, 32, 1), *block(32, 64, 2),
                                  *block(64, 128, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(128, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, feature_dim] penultimate activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, num_classes] logits."""
        return self.head(self.body(x))


def _check_images(fn: str, name: str, images: Tensor, channels: int | None = None) -> None:
    """ValueError naming ``fn`` and ``name`` unless images is a non-empty,
    finite, floating [N, C, H, W] tensor (with C == channels when given)."""
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = (f"{images.dtype} tensor of shape {tuple(images.shape)}"
               if isinstance(images, Tensor) else type(images).__name__)
        raise ValueError(f"{fn}: {name} must be a floating [N, C, H, W] tensor, got {got}")
    if len(images) == 0:
        raise ValueError(f"{fn}: {name} is empty")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"{fn}: {name} has {images.shape[1]} channels, the classifier "
                         f"takes {channels}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{fn}: {name} contains NaN or inf")


def train_classifier(images: Tensor, labels: Tensor, epochs: int = 5, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0,
                     log: Callable[[str], object] = print) -> FeatureClassifier:
    """Trains a FeatureClassifier with Adam and cross-entropy.

    Args:
        images: [N, C, H, W] floating tensor with values in [-1, 1]; training
            runs on its device.
        labels: [N] int64 class indices >= 0, same device; the class count is
            labels.max() + 1.
        epochs, batch_size, lr: training length, minibatch size, Adam rate.
        seed: seeds the weights and the shuffling. Torch's global RNG state is
            left as it was. Same seed, same result on CPU.
        log: called with one line per epoch (mean loss, training accuracy).

    Returns the trained model in eval mode.
    """
    fn = "train_classifier"
    _check_images(fn, "images", images)
    if images.abs().max() > 1:
        raise ValueError(f"{fn}: images must lie in [-1, 1], got values in "
                         f"[{images.min().item():.3g}, {images.max().item():.3g}]")
    if (not isinstance(labels, Tensor) or labels.dtype != torch.int64
            or labels.shape != images.shape[:1]):
        got = (f"{labels.dtype} tensor of shape {tuple(labels.shape)}"
               if isinstance(labels, Tensor) else type(labels).__name__)
        raise ValueError(f"{fn}: labels must be an int64 tensor of shape [{len(images)}], "
                         f"got {got}")
    if labels.min() < 0:
        raise ValueError(f"{fn}: labels must be >= 0, got {labels.min().item()}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{fn}: {name} must be >= 1, got {value}")
    if not lr > 0:
        raise ValueError(f"{fn}: lr must be > 0, got {lr}")

    labels = labels.to(images.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(images.shape[1], int(labels.max()) + 1).to(images.device)
    shuffle = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(1, epochs + 1):
        total_loss, correct = 0.0, 0
        for idx in torch.randperm(len(images), generator=shuffle).split(batch_size):
            idx = idx.to(images.device)
            logits = model(images[idx])
            loss = nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == labels[idx]).sum())
        log(f"classifier epoch {epoch}/{epochs}: loss {total_loss / len(images):.4f}, "
            f"train accuracy {correct / len(images):.2%}")
    return recalibrate_batch_norm(model, images)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, images: Tensor, batch_size: int = 500) -> nn.Module:
    """Sets every BatchNorm layer's running statistics to their average over
    ``images`` [N, C, H, W] (on the model's device) at the current weights,
    and returns the model in eval mode. Running averages trail weights that
    Adam still moves: a classifier trained 10 epochs on Fashion-MNIST scored
    78.5% on its own training images in eval mode against 93.2% with batch
    statistics, and its eval-mode test accuracy was 77.4%, 89.4% once
    its statistics were re-estimated."""
    _check_images("recalibrate_batch_norm", "images", images)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"recalibrate_batch_norm: batch_size must be an int >= 1, "
                         f"got {batch_size!r}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    try:
        for batch in images.split(batch_size):
            model(batch)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return model.eval()


def save_classifier(model: FeatureClassifier, path, meta: dict) -> None:
    """Writes model (weights and constructor arguments) and meta to ``path``.

    meta must be JSON-serialisable and hold "image_shape": [C, H, W] of the
    training images (evaluate_images checks images against it); data name,
    test accuracy and the like may go beside it. The file is written to a
    temporary file in the same directory, then renamed over ``path``, so a
    crash never leaves a torn file.
    """
    if not isinstance(model, FeatureClassifier):
        raise ValueError(f"save_classifier: model must be a FeatureClassifier, "
                         f"got {type(model).__name__}")
    if not isinstance(meta, dict):
        raise ValueError(f"save_classifier: meta must be a dict, got {type(meta).__name__}")
    shape = meta.get("image_shape")
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or shape[0] != model.config["in_channels"]):
        raise ValueError(f"save_classifier: meta['image_shape'] must be [C, H, W] with "
                         f"C = {model.config['in_channels']}, got {shape!r}")
    try:
        # A JSON round trip keeps meta to plain types that torch.load(weights_only=True) accepts.
        meta = json.loads(json.dumps({**meta, "image_shape": [int(s) for s in shape]}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save_classifier: meta must be JSON-serialisable ({exc})") from None
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_tagged(path, _FORMAT, _VERSION, {"config": model.config, "state_dict": state,
                                          "meta": meta})


def load_classifier(path) -> tuple[FeatureClassifier, dict]:
    """Reads a file written by save_classifier.

    Returns (model on CPU in eval mode, meta dict). Raises FileNotFoundError
    when path does not exist, ValueError naming the path when the file is not
    a complete pygan classifier file.
    """
    payload = load_tagged(path, _FORMAT, _VERSION, "classifier file",
                          "; make one with `pygan classifier train --data ...`")
    try:
        model = FeatureClassifier(**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: damaged pygan classifier file: {exc}") from None
    return model.eval(), payload["meta"]


def extract_features(model: FeatureClassifier, images: Tensor, batch_size: int = 500,
                     device=None) -> Tensor:
    """[N, C, H, W] images -> [N, feature_dim] float32 features on ``device``.

    device: where the model runs (and the features end up); None means the
    model's current device. The model is moved there, run in eval mode
    without gradients, and left in the train/eval mode it had.
    """
    if not isinstance(model, FeatureClassifier):
        raise ValueError(f"extract_features: model must be a FeatureClassifier, "
                         f"got {type(model).__name__}")
    _check_images("extract_features", "images", images, model.config["in_channels"])
    if batch_size < 1:
        raise ValueError(f"extract_features: batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            return torch.cat([model.features(b.to(device, torch.float32))
                              for b in images.split(batch_size)])
    finally:
        model.train(was_training)


def evaluate_images(fake: Tensor, real: Tensor, classifier_path) -> dict:
    """Fréchet distance, KID and precision/recall of generated images against
    real ones, in the feature space of the classifier saved at classifier_path.

    Args:
        fake: [M, C, H, W] generated images in [-1, 1], M >= 4, finite; the
            classifier runs on fake's device.
        real: [N, C, H, W] real images, N >= 4, same [C, H, W] as fake and as
            the classifier's training images (meta["image_shape"]).
        classifier_path: a file written by save_classifier.

    KID uses 100 subsets of min(1000, N, M) drawn with a fixed seed, so equal
    inputs give equal scores; precision/recall use k = 3.

    Returns {"frechet", "kid", "kid_std", "precision", "recall"} as floats and
    "classifier": str(classifier_path).
    """
    _check_images("evaluate_images", "fake", fake)
    _check_images("evaluate_images", "real", real)
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"evaluate_images: fake images are {list(fake.shape[1:])} "
                         f"but real images are {list(real.shape[1:])} ([C, H, W])")
    model, meta = load_classifier(classifier_path)
    trained = meta.get("image_shape")
    if trained is None or list(trained) != list(real.shape[1:]):
        raise ValueError(f"evaluate_images: images are {list(real.shape[1:])} ([C, H, W]) but "
                         f"the classifier {classifier_path} was trained on {trained}")
    if min(len(fake), len(real)) < 4:
        raise ValueError(f"evaluate_images: need at least 4 fake and 4 real images, got "
                         f"{len(fake)} and {len(real)}")
    fake_feats = extract_features(model, fake, device=fake.device)
    real_feats = extract_features(model, real, device=fake.device)
    kid_mean, kid_std = kid(fake_feats, real_feats, generator=torch.Generator().manual_seed(0))
    return {"frechet": frechet_distance(fake_feats, real_feats), "kid": kid_mean,
            "kid_std": kid_std, **precision_recall(real_feats, fake_feats, k=3),
            "classifier": str(classifier_path)}
