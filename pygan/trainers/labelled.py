"""What the classifier families (semi-supervised GAN, adversarial text
training) share: their data is a LabelledSplit, whose labelled and
unlabelled examples come as batches from two sources, and they measure test
accuracy during training and log it to metrics.csv."""
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.semi_supervised import LabelledSplit
from ..metrics.accuracy import classification_accuracy
from .sources import TensorBatches, ZippedBatches


@dataclass
class EvalFields:
    """When the test accuracy is measured (needs a test set in the data)."""

    eval_every: int = 500  # steps between evaluations, and at the end; 0: at the end only

    def validate(self) -> None:
        super().validate()
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")


class LabelledSplitTrainer:
    """Mixin, listed before the Trainer class in a family's bases.

    ``data`` is a :class:`LabelledSplit`: batches are (inputs, labels) of
    min(batch_size, labelled examples) labelled examples, followed by
    (unlabelled,) of batch_size when ``uses_unlabelled`` and there are
    unlabelled examples. ``num_classes`` (and ``vocab_size`` for tokens)
    are recorded in the run's meta, so :func:`open_run` can rebuild the models
    from the placeholder data it passes. The family names its classifier
    (``classifier_name``, a key of ``models``) and gives its class logits
    (``class_logits``)."""

    classifier_name: str

    def __init__(self, config, data, run_dir, callbacks=(), meta: dict | None = None):
        meta = dict(meta or {})
        if isinstance(data, LabelledSplit):
            self.split = data
            meta["num_classes"] = data.num_classes
            if data.vocab_size is not None:
                meta["vocab_size"] = data.vocab_size
            train = (data.inputs, data.labels)
        elif callable(data) and "num_classes" in meta:  # open_run's stand-in: models only
            self.split, train = None, data
        else:
            raise ValueError(f"{type(self).__name__} takes a LabelledSplit "
                             f"(pygan.data.semi_supervised), got {type(data).__name__}")
        self.num_classes, self.vocab_size = meta["num_classes"], meta.get("vocab_size")
        super().__init__(config, train, run_dir, callbacks, meta)

    @property
    def uses_unlabelled(self) -> bool:
        """Whether batches carry unlabelled examples (a family may not need them)."""
        return True

    def class_logits(self, inputs: Tensor) -> Tensor:
        """[B, ...] inputs on the device -> [B, num_classes] logits."""
        raise NotImplementedError

    def _make_source(self, data):
        if self.split is None:
            return super()._make_source(data)
        c, s, rank, world = self.config, self.split, self.dist.rank, self.dist.world
        labelled = TensorBatches((s.inputs, s.labels), min(c.batch_size, len(s.inputs) // world),
                                 c.seed, rank, world, self.device)
        if not (self.uses_unlabelled and len(s.unlabelled)):
            return labelled
        return ZippedBatches(labelled, TensorBatches((s.unlabelled,), c.batch_size, c.seed + 1,
                                                     rank, world, self.device))

    def evaluate(self, inputs: Tensor | None = None,
                 labels: Tensor | None = None) -> dict[str, float]:
        """{"test_accuracy", "test_error"} of the classifier (in eval mode)
        on ``inputs`` [M, ...] with ``labels`` [M] int64, by default the
        data's test set."""
        if inputs is None:
            if self.split is None or self.split.test_inputs is None:
                raise ValueError(f"{type(self).__name__}.evaluate: the data has no test set")
            inputs, labels = self.split.test_inputs, self.split.test_labels
        model = self.models[self.classifier_name]
        was_training = model.training
        model.eval()
        try:
            accuracy = classification_accuracy(self.class_logits, inputs, labels,
                                               device=self.device)
        finally:
            model.train(was_training)
        return {"test_accuracy": accuracy, "test_error": 1.0 - accuracy}

    def eval_due(self, step: int) -> bool:
        c = self.config
        return step == c.steps or bool(c.eval_every and step % c.eval_every == 0)

    def log_due(self, step: int) -> bool:
        return super().log_due(step) or self.eval_due(step)

    def with_evaluation(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """``values`` plus the test metrics when the data has a test set:
        measured at every eval_every-th step and the last (those rows are
        logged), NaN in between (every logged row has the same columns)."""
        if self.split is None or self.split.test_inputs is None:
            return values
        if self.eval_due(self.step):
            metrics = self.evaluate()
        else:
            metrics = {"test_accuracy": math.nan, "test_error": math.nan}
        return {**values, **{k: torch.tensor(v) for k, v in metrics.items()}}

    def test_set(self) -> tuple[Tensor, Tensor]:
        """The test inputs and labels of the run's recorded data, loaded again
        (for `pygan eval` on a reopened run)."""
        raise NotImplementedError

    def evaluate_run(self, args) -> dict:
        """`pygan eval RUN_DIR`: the test accuracy and error on the recorded data."""
        inputs, labels = self.test_set()
        return {"test_examples": len(inputs), **self.evaluate(inputs, labels)}
