"""Metrics of conditional generators: how often a classifier recognises the
class a sample was asked for, the Fréchet distance within each class, and
(InfoGAN) how well an unsupervised code matches the true classes."""
from typing import Callable

import torch
from torch import Tensor

from .classifier import evaluate_images, extract_features, load_classifier
from .frechet import frechet_distance


def _check_labels(fn: str, name: str, labels, n: int) -> None:
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (n,):
        got = (f"{labels.dtype} {list(labels.shape)}" if isinstance(labels, Tensor)
               else type(labels).__name__)
        raise ValueError(f"{fn}: {name} must be int64 [{n}], got {got}")


def matched_accuracy(predicted: Tensor, labels: Tensor) -> tuple[float, dict[int, int]]:
    """Accuracy of cluster indices ``predicted`` [N] against ``labels`` [N]
    (both int64, >= 0) after the one-to-one matching of clusters to classes
    that maximises it (the Hungarian algorithm, scipy's
    ``linear_sum_assignment``, on the contingency table); clusters left
    unmatched count as wrong. Returns (accuracy, {cluster: class})."""
    from scipy.optimize import linear_sum_assignment

    _check_labels("matched_accuracy", "labels", labels, len(labels))
    _check_labels("matched_accuracy", "predicted", predicted, len(labels))
    if len(labels) == 0:
        raise ValueError("matched_accuracy: needs at least one example")
    if int(predicted.min()) < 0 or int(labels.min()) < 0:
        raise ValueError("matched_accuracy: predicted and labels must be >= 0")
    k_pred, k_true = int(predicted.max()) + 1, int(labels.max()) + 1
    table = torch.zeros(k_pred, k_true, dtype=torch.int64)
    table.index_put_((predicted.cpu(), labels.cpu()), torch.ones(len(labels), dtype=torch.int64),
                     accumulate=True)
    rows, cols = linear_sum_assignment(table.numpy(), maximize=True)
    matched = int(table[rows, cols].sum())
    return matched / len(labels), {int(r): int(c) for r, c in zip(rows, cols)}


def evaluate_conditional(sample: Callable[[Tensor], Tensor], num_classes: int, per_class: int,
                         real: Tensor, real_labels: Tensor, classifier_path) -> dict:
    """Class-wise scores of a conditional generator.

    Args:
        sample: labels int64 [M] -> images [M, C, H, W] in [-1, 1] of those
            classes (any device).
        num_classes: K; ``per_class`` samples of each class are drawn.
        real, real_labels: labelled real images [N, C, H, W] and int64 [N]
            (e.g. the test set); every class needs at least 2 of them.
        classifier_path: a feature classifier (``save_classifier``) trained on
            the real data's K classes.

    Returns {"accuracy": the classifier's accuracy on the samples against the
    classes asked for, "real_accuracy": its accuracy on ``real`` (the
    ceiling), "intra_frechet": {class: FD of that class's samples against
    its real images}, "intra_frechet_mean", and the unconditional
    ``evaluate_images`` scores of all the samples against all of ``real``}.
    """
    if not isinstance(per_class, int) or per_class < 2:
        raise ValueError(f"evaluate_conditional: per_class must be an int >= 2, got {per_class!r}")
    _check_labels("evaluate_conditional", "real_labels", real_labels, len(real))
    model, _ = load_classifier(classifier_path)
    if model.config["num_classes"] != num_classes:
        raise ValueError(f"evaluate_conditional: the classifier {classifier_path} has "
                         f"{model.config['num_classes']} classes, the generator {num_classes}")
    counts = torch.bincount(real_labels, minlength=num_classes)
    if len(counts) > num_classes or int(counts.min()) < 2:
        raise ValueError(f"evaluate_conditional: real_labels must hold every class in "
                         f"[0, {num_classes}) at least twice, got counts {counts.tolist()}")
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    fake = torch.cat([sample(part) for part in labels.split(1000)]).cpu()
    fake_feats, real_feats = extract_features(model, fake), extract_features(model, real)
    with torch.no_grad():
        fake_pred = model.head(fake_feats).argmax(1).cpu()
        real_pred = model.head(real_feats).argmax(1).cpu()
    intra = {k: frechet_distance(fake_feats[labels == k], real_feats[real_labels == k])
             for k in range(num_classes)}
    return {"accuracy": (fake_pred == labels).float().mean().item(),
            "real_accuracy": (real_pred == real_labels).float().mean().item(),
            "intra_frechet": intra, "intra_frechet_mean": sum(intra.values()) / num_classes,
            "per_class": per_class, **evaluate_images(fake, real, classifier_path)}
