"""Adversarial and virtual adversarial training of a sentence classifier on
its word embeddings (Miyato et al. 2017)."""
import contextlib
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..losses.perturbation import at_perturbation, kl_with_logits, vat_perturbation
from ..models.text_classifier import TextClassifier
from .base import Trainer
from .config import TrainConfig
from .labelled import EvalFields, LabelledSplitTrainer

METHODS = ("none", "at", "vat", "at+vat")


@dataclass
class AdvTextConfig(EvalFields, TrainConfig):
    """Kim's CNN on random word vectors (widths 3,4,5, 100 maps, dropout 0.5,
    embeddings 300) with Adam. A step is one classifier update on batch_size
    labelled sentences.

    eps: a sentence's normalised embeddings have a norm of about sqrt(T * E)
    (~50 for 20 words of 128 dims). Miyato et al.'s eps 5 was set for IMDB
    reviews of ~240 words; on rt-polarity sentences eps 5 kept the CNN at
    chance and 2.5 hurt, so the default is 1 (measured on one split)."""

    steps: int = 2000
    batch_size: int = 50
    sample_every: int = 0  # a classifier has no samples
    method: Literal["none", "at", "vat", "at+vat"] = "at"
    encoder: Literal["cnn", "lstm"] = "cnn"
    embed_dim: int = 300
    widths: str = "3,4,5"  # CNN filter widths, comma-separated
    maps: int = 100  # CNN feature maps per width
    hidden: int = 512  # LSTM units
    dropout: float = 0.5
    normalize_embeddings: bool = True  # by word-frequency statistics (Miyato et al.)
    eps: float = 1.0  # norm of the AT perturbation of a sentence's embeddings
    vat_eps: float = 1.0  # norm of the VAT perturbation
    vat_xi: float = 0.1  # finite-difference step of VAT's power iteration
    vat_iterations: int = 1
    adv_weight: float = 1.0  # weight of the AT and VAT terms
    lr: float = 1e-3

    def validate(self) -> None:
        super().validate()
        for name in ("eps", "vat_eps", "vat_xi", "adv_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("embed_dim", "maps", "hidden", "vat_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        self.filter_widths()
        # The GAN stabilisers have nothing to act on in a classifier.
        for name, off in (("ema", 0.0), ("d_steps", 1), ("instance_noise", 0.0),
                          ("label_smoothing", 0.0)):
            if getattr(self, name) != off:
                raise ValueError(f"{name} does not apply to adversarial text training (it has "
                                 f"no generator or discriminator); got {getattr(self, name)}")

    def filter_widths(self) -> tuple[int, ...]:
        try:
            widths = tuple(int(w) for w in self.widths.split(","))
        except ValueError:
            widths = ()
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be comma-separated positive ints, got {self.widths!r}")
        return widths


@contextlib.contextmanager
def _eval_mode(module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class AdvTextTrainer(LabelledSplitTrainer, Trainer):
    """Adversarial text training: a sentence classifier, AT and/or VAT.

    Loss = cross-entropy on the clean embeddings, + (AT) the cross-entropy
    on embeddings perturbed by r = eps * g / ||g||_2 per sentence (g the
    gradient of the loss w.r.t. the embeddings, r held constant), + (VAT)
    KL(p(.|e) || p(.|e + r_v)) with r_v of norm vat_eps from power iteration,
    on the labelled and any unlabelled sentences. VAT runs with dropout off,
    so the KL measures the perturbation, not two dropout masks. Data: a
    LabelledSplit of token ids (pygan.data.labelled_text); test accuracy is logged."""

    family = "adv-text"
    config_class = AdvTextConfig
    classifier_name = "classifier"

    @classmethod
    def add_data_arguments(cls, parser) -> None:
        parser.add_argument("--data-pos", required=True, help="positive sentences, one a line")
        parser.add_argument("--data-neg", required=True, help="negative sentences, one a line")
        parser.add_argument("--data-unlabelled", help="sentences without labels (used by VAT)")
        parser.add_argument("--test-fraction", type=float, default=0.1,
                            help="sentences held out for testing, drawn with --seed (default 0.1)")
        parser.add_argument("--max-len", type=int, default=64, help="tokens kept a sentence")
        parser.add_argument("--min-count", type=int, default=1,
                            help="training occurrences a word needs to enter the vocabulary")

    @classmethod
    def data_from_args(cls, args, config):
        from ..data.labelled_text import load_labelled_text

        meta = {"data": [args.data_neg, args.data_pos], "data_unlabelled": args.data_unlabelled,
                "test_fraction": args.test_fraction, "max_len": args.max_len,
                "min_count": args.min_count}
        split, _ = load_labelled_text(meta["data"], args.test_fraction, config.seed,
                                      args.max_len, args.min_count, args.data_unlabelled)
        return split, meta

    def test_set(self):
        from ..data.labelled_text import load_labelled_text

        m = self.meta
        split, _ = load_labelled_text(m["data"], m["test_fraction"], self.config.seed,
                                      m["max_len"], m["min_count"], m["data_unlabelled"])
        if split.test_inputs is None:
            raise ValueError("the run was trained without a test split (test_fraction 0)")
        if split.vocab_size != self.vocab_size:
            raise ValueError(f"the text files changed since training: their vocabulary has "
                             f"{split.vocab_size} words, the model's {self.vocab_size}")
        return split.test_inputs, split.test_labels

    def sample(self, n: int, seed: int | None = None):
        raise ValueError("an adv-text run holds a classifier, not a generator: nothing to sample")

    @property
    def methods(self) -> set[str]:
        return set(self.config.method.split("+")) - {"none"}

    @property
    def uses_unlabelled(self) -> bool:
        return "vat" in self.methods

    def build(self) -> None:
        c = self.config
        if len(self.data_shape) != 1 or self.vocab_size is None:
            raise ValueError(f"AdvTextTrainer takes token ids [N, T] with a vocab_size; got "
                             f"examples of shape {list(self.data_shape)}")
        frequencies = None
        if c.normalize_embeddings:
            frequencies = torch.ones(self.vocab_size)  # open_run: the buffer is loaded after
            if self.split is not None:
                ids = torch.cat([self.split.inputs, self.split.unlabelled]).flatten()
                frequencies = torch.bincount(ids[ids != 0], minlength=self.vocab_size).float()
        self.models["classifier"] = TextClassifier(
            self.vocab_size, self.num_classes, c.embed_dim, c.encoder, c.filter_widths(), c.maps,
            c.hidden, c.dropout, frequencies)
        self.optimizers["classifier"] = torch.optim.Adam(self.models["classifier"].parameters(),
                                                         c.lr)

    def class_logits(self, inputs):
        return self.models["classifier"](inputs)

    def train_step(self):
        c, model = self.config, self.models["classifier"]
        batch = self.next_batch()
        ids, labels = model.trim(batch[0]), batch[1]
        mask = model.mask(ids)
        with self.autocast():
            embedded = model.embed(ids)
            loss = F.cross_entropy(model.classify(embedded, mask).float(), labels)
            values, total = {"loss": loss.detach()}, loss
            if "at" in self.methods:
                (gradient,) = torch.autograd.grad(loss, embedded, retain_graph=True)
                r = at_perturbation(gradient, c.eps)
                at = F.cross_entropy(model.classify(embedded + r, mask).float(), labels)
                values["loss_at"], total = at.detach(), total + c.adv_weight * at
            if "vat" in self.methods:
                if len(batch) > 2:  # unlabelled sentences too
                    both = model.trim(torch.cat([batch[0], batch[2]]))
                    embedded, mask = model.embed(both), model.mask(both)
                vat = self.vat_loss(embedded, mask)
                values["loss_vat"], total = vat.detach(), total + c.adv_weight * vat
        self.optimize("loss", total, self.optimizers["classifier"], model)
        self.step += 1
        return self.with_evaluation(values)

    def vat_loss(self, embedded, mask):
        """KL(p(.|e) || p(.|e + r)) for embeddings [B, T, E] with mask [B, T],
        r the virtual adversarial perturbation; dropout off throughout."""
        c, model = self.config, self.models["classifier"]

        def logits_fn(e):
            return model.classify(e, mask)

        with _eval_mode(model):
            clean = logits_fn(embedded)
            r = vat_perturbation(logits_fn, embedded, clean, c.vat_eps, c.vat_xi,
                                 c.vat_iterations, self.generator)
            return kl_with_logits(clean.detach().float(), logits_fn(embedded + r).float())

    def save_samples(self, path):
        """A classifier has no samples: nothing to write."""
        return None
