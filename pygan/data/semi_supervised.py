"""Labelled, unlabelled and test examples for the classifier families
(semi-supervised GAN, adversarial text training): ``LabelledSplit`` holds
them, ``split_labels_per_class`` keeps a few labels per class of a labelled
set and turns the rest into unlabelled examples."""
from dataclasses import dataclass

import torch
from torch import Tensor


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


def _check_labels(name: str, labels, n: int, num_classes: int) -> None:
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (n,):
        raise ValueError(f"LabelledSplit: {name} must be int64 [{n}], got {_describe(labels)}")
    if n and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise ValueError(f"LabelledSplit: {name} must lie in [0, {num_classes}), got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")


@dataclass
class LabelledSplit:
    """Training and test examples of a classification task, on the CPU.

    Attributes:
        inputs: [N, ...] labelled training examples (float images, or int64
            token ids [N, T]), N >= 1.
        labels: [N] int64 classes in [0, num_classes).
        unlabelled: [U, ...] examples without labels, same per-example shape
            and dtype as ``inputs``; U may be 0.
        num_classes: K >= 2.
        test_inputs, test_labels: a labelled test set ([M, ...], [M]), or None.
        vocab_size: for token ids, the id range [0, vocab_size); None for images.
    """

    inputs: Tensor
    labels: Tensor
    unlabelled: Tensor
    num_classes: int
    test_inputs: Tensor | None = None
    test_labels: Tensor | None = None
    vocab_size: int | None = None

    def __post_init__(self):
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"LabelledSplit: num_classes must be an int >= 2 (a classifier "
                             f"needs two classes), got {self.num_classes!r}")
        if not isinstance(self.inputs, Tensor) or self.inputs.dim() < 2 or len(self.inputs) == 0:
            raise ValueError(f"LabelledSplit: inputs must be a non-empty [N, ...] tensor, "
                             f"got {_describe(self.inputs)}")
        shape, dtype = self.inputs.shape[1:], self.inputs.dtype
        _check_labels("labels", self.labels, len(self.inputs), self.num_classes)
        examples = [("unlabelled", self.unlabelled)]
        if (self.test_inputs is None) != (self.test_labels is None):
            raise ValueError("LabelledSplit: test_inputs and test_labels come together; "
                             "got only one of them")
        if self.test_inputs is not None:
            examples.append(("test_inputs", self.test_inputs))
        for name, x in examples:
            if not isinstance(x, Tensor) or x.shape[1:] != shape or x.dtype != dtype:
                raise ValueError(f"LabelledSplit: {name} must be {dtype} [*, "
                                 f"{', '.join(map(str, shape))}] like inputs, got {_describe(x)}")
        if self.test_inputs is not None:
            _check_labels("test_labels", self.test_labels, len(self.test_inputs),
                          self.num_classes)
        if self.vocab_size is not None:
            ids = [self.inputs] + [x for _, x in examples if x.numel()]
            low, top = min(int(x.min()) for x in ids), max(int(x.max()) for x in ids)
            if dtype != torch.int64 or low < 0 or top >= self.vocab_size:
                raise ValueError(f"LabelledSplit: with vocab_size={self.vocab_size} the inputs "
                                 f"must be int64 ids in [0, {self.vocab_size}), got {dtype} "
                                 f"in [{low}, {top}]")

def split_labels_per_class(inputs: Tensor, labels: Tensor | None, per_class: int, seed: int,
                           num_classes: int | None = None) -> tuple[Tensor, Tensor]:
    """Draws ``per_class`` labelled examples of every class at random.

    Args:
        inputs: [N, ...] examples (only their count is used).
        labels: [N] int64 classes; None (an unlabelled set) is an error.
        per_class: labelled examples to keep of each class, >= 1.
        seed: the draw; the same seed gives the same examples.
        num_classes: K (default: labels.max() + 1); every class must have
            at least ``per_class`` examples.

    Returns:
        (labelled, unlabelled): int64 index tensors into ``inputs``; labelled
        holds K * per_class indices ordered by class, unlabelled all the others
        in their original order.
    """
    if labels is None:
        raise ValueError("split_labels_per_class: the data set has no labels; semi-supervised "
                         "training needs a labelled set (e.g. fashion-mnist, or a folder with "
                         "one sub-folder per class)")
    if (not isinstance(labels, Tensor) or labels.dtype != torch.int64
            or labels.shape != (len(inputs),)):
        raise ValueError(f"split_labels_per_class: labels must be int64 [{len(inputs)}], "
                         f"got {_describe(labels)}")
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
        raise ValueError(f"split_labels_per_class: per_class must be an int >= 1, "
                         f"got {per_class!r}")
    k = num_classes if num_classes is not None else int(labels.max()) + 1 if len(labels) else 0
    if k < 2:
        raise ValueError(f"split_labels_per_class: the labels name {k} class(es); a classifier "
                         f"needs at least 2")
    counts = torch.bincount(labels, minlength=k)
    short = [c for c in range(k) if counts[c] < per_class]
    if short:
        c = short[0]
        raise ValueError(f"split_labels_per_class: per_class={per_class} is more than the "
                         f"{int(counts[c])} examples of class {c}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(labels), generator=gen)
    labelled = torch.cat([perm[labels[perm] == c][:per_class] for c in range(k)])
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[labelled] = False
    return labelled, keep.nonzero().flatten()
