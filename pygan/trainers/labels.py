"""What a class-conditional image family adds to the loop: labelled data
(images with their classes), the class count kept in the run's meta so a
reopened run rebuilds its models, and the class-wise evaluation."""
from pathlib import Path

import torch
from torch import Tensor

from ..models.conditional import check_labels


class ImageLabelsMixin:
    """Mixin, listed before the Trainer class in a family's bases.

    ``data`` is (images [N, C, H, W], labels int64 [N]); the class count K is
    ``meta["num_classes"]`` when given (a data set's own count: a class may
    be missing from the images), else the largest label + 1, and is recorded
    in the meta. :func:`~pygan.trainers.runs.open_run`'s placeholder data
    (a callable) is taken when the meta holds K."""

    num_classes: int

    def __init__(self, config, data, run_dir, callbacks=(), meta: dict | None = None):
        meta = dict(meta or {})
        name = type(self).__name__
        if callable(data) and "num_classes" in meta:  # open_run's stand-in: models only
            self.num_classes = meta["num_classes"]
        else:
            if not (isinstance(data, (tuple, list)) and len(data) == 2
                    and all(isinstance(t, Tensor) for t in data)):
                raise ValueError(f"{name} takes data (images [N, C, H, W], labels int64 [N]), "
                                 f"got {type(data).__name__}")
            images, labels = data
            if not isinstance(meta.get("num_classes", 0), int):
                raise ValueError(f"{name}: meta['num_classes'] must be an int, "
                                 f"got {meta['num_classes']!r}")
            k = meta.get("num_classes") or (int(labels.max()) + 1 if labels.numel() else 0)
            if k < 2:
                raise ValueError(f"{name}: labels must name at least 2 classes, got {k}")
            check_labels(name, labels, len(images), k)
            self.num_classes = meta["num_classes"] = k
            data = (images, labels)
        super().__init__(config, data, run_dir, callbacks, meta)

    @classmethod
    def add_data_arguments(cls, parser) -> None:
        parser.add_argument("--data", required=True, help="fashion-mnist, digits, or a directory "
                            "(IDX files with their label files, or images in one sub-folder "
                            "per class)")

    @classmethod
    def data_from_args(cls, args, config):
        from ..data import load_images

        train = load_images(args.data, "train", size=config.image_size)
        if train.labels is None:
            raise ValueError(f"{args.data} has no labels: a {cls.family} run needs IDX label "
                             f"files or one sub-folder per class")
        return (train.images, train.labels), {"data": args.data,
                                              "num_classes": train.num_classes}

    def evaluate_labelled(self, real: Tensor, real_labels: Tensor, classifier_path: Path,
                          per_class: int = 1000) -> dict:
        """:func:`~pygan.metrics.conditional.evaluate_conditional` of
        ``per_class`` samples of every class against labelled real images."""
        from ..metrics.conditional import evaluate_conditional

        return evaluate_conditional(lambda labels: self.sample(len(labels), labels=labels),
                                    self.num_classes, per_class, real, real_labels,
                                    classifier_path)


def class_grid(trainer, per_class: int, seed: int | None = None) -> Tensor:
    """[K * per_class, C, H, W] samples of a conditional trainer (K =
    ``trainer.num_classes``): ``per_class`` of class 0, then of class 1, ..."""
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"class_grid: per_class must be an int >= 1, got {per_class!r}")
    labels = torch.arange(trainer.num_classes).repeat_interleave(per_class)
    return trainer.sample(len(labels), seed=seed, labels=labels)
