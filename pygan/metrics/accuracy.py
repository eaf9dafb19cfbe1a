"""Classification accuracy of a model on a labelled set, in batches."""
from collections.abc import Callable

import torch
from torch import Tensor


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


@torch.no_grad()
def classification_accuracy(logits_fn: Callable[[Tensor], Tensor], inputs: Tensor,
                            labels: Tensor, batch_size: int = 500, device=None) -> float:
    """Fraction of ``inputs`` whose largest logit is at their label.

    Args:
        logits_fn: a batch [b, ...] on ``device`` -> logits [b, C] (put the
            model in eval mode first; this runs it without gradients).
        inputs: [N, ...] examples, N >= 1, any device.
        labels: [N] int64 classes in [0, C).
        batch_size: examples per call of logits_fn.
        device: where the batches go (None: where ``inputs`` is).
    """
    if not isinstance(inputs, Tensor) or inputs.dim() < 1 or len(inputs) == 0:
        raise ValueError(f"classification_accuracy: inputs must be a non-empty [N, ...] tensor, "
                         f"got {_describe(inputs)}")
    if (not isinstance(labels, Tensor) or labels.dtype != torch.int64
            or labels.shape != inputs.shape[:1]):
        raise ValueError(f"classification_accuracy: labels must be int64 [{len(inputs)}], "
                         f"got {_describe(labels)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"classification_accuracy: batch_size must be an int >= 1, "
                         f"got {batch_size!r}")
    device = inputs.device if device is None else torch.device(device)
    correct = 0
    for x, y in zip(inputs.split(batch_size), labels.split(batch_size)):
        logits = logits_fn(x.to(device))
        if logits.dim() != 2 or len(logits) != len(x):
            raise ValueError(f"classification_accuracy: logits_fn must return [b, C] logits "
                             f"for a batch of {len(x)}, got {list(logits.shape)}")
        correct += int((logits.argmax(1).cpu() == y.cpu()).sum())
    return correct / len(inputs)
