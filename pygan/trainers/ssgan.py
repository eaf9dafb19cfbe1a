"""Semi-supervised GAN (Salimans et al. 2016): the discriminator is a
K-class classifier, trained on a few labelled images and on unlabelled and
generated ones; the generator matches its features."""
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from .. import losses
from ..models.ssgan import ImageMLPGenerator, SSGANDiscriminator
from .adversarial import AdversarialTrainer
from .config import TrainConfig
from .distributed import broadcast_module
from .labelled import EvalFields, LabelledSplitTrainer


@dataclass
class SSGANConfig(EvalFields, TrainConfig):
    """Salimans et al.'s MNIST recipe (MLP D with Gaussian noise layers and
    weight normalisation, MLP G 500-500 with BatchNorm, feature matching,
    batch 100, Adam with beta1 0.5 and a linear decay), at 24,000 steps (40
    epochs of Fashion-MNIST's unlabelled images; at 6,000 the error was 3
    points higher). The "conv" D was slower and, at 3,000 steps, worse on
    Fashion-MNIST with 100 labels (35% error supervised, against 28% for the
    MLP)."""

    steps: int = 24000
    batch_size: int = 100  # unlabelled and generated images a step; labelled: up to this many
    fake_class: Literal["implicit", "explicit"] = "implicit"  # K logits, or K + 1
    g_loss: Literal["feature-matching", "nonsaturating"] = "feature-matching"
    unsupervised_weight: float = 1.0  # 0: the supervised baseline (labelled images only, no G)
    entropy_weight: float = 0.0  # Dai et al.'s entropy of D's classes on unlabelled images
    d_arch: Literal["mlp", "conv"] = "mlp"
    d_width: int = 64
    d_noise: float = 0.3  # std of the Gaussian noise on D's input (training only)
    d_dropout: float = 0.5
    d_weight_norm: bool = True  # weight normalisation on D's layers (Salimans et al.)
    d_data_init: bool = False  # their data-dependent init of those layers, on the first batch
    z_dim: int = 100
    g_width: int = 500
    g_depth: int = 2
    lr: float = 1e-3
    lr_decay_start: float = 0.5
    beta1: float = 0.5
    beta2: float = 0.999

    def validate(self) -> None:
        super().validate()
        if not self.unsupervised_weight >= 0:
            raise ValueError(f"unsupervised_weight must be >= 0, got {self.unsupervised_weight}")
        if not self.entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, got {self.entropy_weight}")
        if not 0 <= self.d_dropout < 1:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")
        if not self.d_noise >= 0:
            raise ValueError(f"d_noise must be >= 0, got {self.d_noise}")
        if self.d_data_init and not self.d_weight_norm:
            raise ValueError("d_data_init initialises weight-normalised layers: it needs "
                             "d_weight_norm=True")


class SSGANTrainer(LabelledSplitTrainer, AdversarialTrainer):
    """Semi-supervised GAN: a K-class discriminator, feature matching.

    D's loss is the cross-entropy on the labelled images plus
    ``unsupervised_weight`` times the real/fake loss on unlabelled and
    generated images, with D(x) = Z/(Z+1), Z = sum_k exp(logit_k) (or a
    K+1-th fake class); G matches the mean of D's last hidden layer on real
    images (or takes the non-saturating loss). Data: a LabelledSplit of
    images [N, C, H, W] in [-1, 1]; the test accuracy is logged.
    ``entropy_weight`` adds the mean entropy of D's class predictions on the
    unlabelled images to D's loss (Dai et al. 2017)."""

    family = "ssgan"
    config_class = SSGANConfig
    classifier_name = "discriminator"

    @classmethod
    def add_data_arguments(cls, parser) -> None:
        parser.add_argument("--data", required=True, help="fashion-mnist, digits, or a directory "
                            "(IDX files, or images in one sub-folder per class)")
        parser.add_argument("--labels-per-class", type=int, default=10,
                            help="labelled training images of each class, drawn with --seed; "
                                 "the rest are used unlabelled (default: 10)")
        parser.add_argument("--image-size", type=int, default=None,
                            help="resize or pad the images (needed for an image folder)")

    @classmethod
    def data_from_args(cls, args, config):
        from ..data import load_images
        from ..data.semi_supervised import LabelledSplit, split_labels_per_class

        train = load_images(args.data, "train", size=args.image_size)
        test = load_images(args.data, "test", size=args.image_size)
        k = train.num_classes
        labelled, rest = split_labels_per_class(train.images, train.labels, args.labels_per_class,
                                                config.seed, k)
        split = LabelledSplit(train.images[labelled], train.labels[labelled], train.images[rest],
                              k, test.images, test.labels)
        return split, {"data": args.data, "labels_per_class": args.labels_per_class,
                       "image_size": args.image_size}

    def test_set(self):
        from ..data import load_images

        test = load_images(self.meta["data"], "test", size=self.meta.get("image_size"))
        if test.labels is None:
            raise ValueError(f"{self.meta['data']} has no labelled test images")
        return test.images, test.labels

    @property
    def supervised_only(self) -> bool:
        return self.config.unsupervised_weight == 0

    @property
    def uses_unlabelled(self) -> bool:
        return not self.supervised_only

    def build(self) -> None:
        c = self.config
        if len(self.data_shape) != 3:
            raise ValueError(f"SSGANTrainer takes images [N, C, H, W]; got examples of shape "
                             f"{list(self.data_shape)}")
        self.z_dim = c.z_dim
        outputs = self.num_classes + (c.fake_class == "explicit")
        self.models["discriminator"] = SSGANDiscriminator(self.data_shape, outputs, c.d_arch,
                                                          c.d_width, c.d_noise, c.d_dropout,
                                                          c.d_weight_norm)
        self.models["generator"] = ImageMLPGenerator(c.z_dim, self.data_shape, c.g_width,
                                                     c.g_depth)
        for name, model in self.models.items():
            self.optimizers[name] = torch.optim.Adam(model.parameters(), c.lr, (c.beta1, c.beta2))

    def class_logits(self, inputs):
        return self.models["discriminator"](inputs)[0][:, :self.num_classes]

    def real_logit(self, logits):
        return losses.ssgan_real_logit(logits.float(), self.config.fake_class == "explicit")

    def d_step(self, batch):
        D = self.models["discriminator"]
        images, labels = batch[0], batch[1]
        n = len(images)
        if not self.supervised_only:
            self._real = batch[2]  # the images the generator's features are matched to
            with torch.no_grad(), self.autocast():
                fake = self.models["generator"](self.noise(len(self._real), self.z_dim))
            # One forward for all three: D has no BatchNorm, so nothing is shared between them.
            images = torch.cat([images, self.d_input(self._real), self.d_input(fake)])
        with self.autocast():
            logits = D(images)[0].float()
        supervised = F.cross_entropy(logits[:n], labels)
        values = {"loss_d_sup": supervised.detach()}
        total = supervised
        if not self.supervised_only:
            real_logits, fake_logits = logits[n:].chunk(2)
            unsupervised = losses.d_loss_bce(self.real_logit(real_logits),
                                             self.real_logit(fake_logits), self.real_label)
            total = supervised + self.config.unsupervised_weight * unsupervised
            values["loss_d_unsup"] = unsupervised.detach()
            if self.config.entropy_weight:
                entropy = losses.conditional_entropy(real_logits[:, :self.num_classes])
                total = total + self.config.entropy_weight * entropy
                values["loss_d_entropy"] = entropy.detach()
        self.optimize("loss_d", total, self.optimizers["discriminator"], D)
        return {"loss_d": total.detach(), **values}

    def g_step(self):
        if self.supervised_only:
            return {}
        G, D = self.models["generator"], self.models["discriminator"]
        with self.autocast():
            logits, features = D(self.d_input(G(self.noise(self.config.batch_size, self.z_dim))))
            if self.config.g_loss == "feature-matching":
                with torch.no_grad():
                    real_features = D(self.d_input(self._real))[1]
                loss = losses.feature_matching_loss(real_features.float(), features.float())
            else:
                loss = losses.g_loss_nonsaturating(self.real_logit(logits))
        self.optimize("loss_g", loss, self.optimizers["generator"], G)
        return {"loss_g": loss.detach()}

    def train_step(self):
        if self.step == 0 and self.config.d_data_init:
            # The images D trains on: unlabelled ones, or the labelled for the baseline.
            batch, D = self.next_batch(), self.models["discriminator"]
            D.init_from_data(batch[0 if self.supervised_only else 2])
            broadcast_module(D, self.dist.world)  # every rank starts from rank 0's
        return self.with_evaluation(super().train_step())

    def save_samples(self, path):
        # The supervised baseline trains no generator: its samples would be noise.
        return None if self.supervised_only else super().save_samples(path)
