"""Sample-quality and mode-collapse metrics.

Mixtures: :func:`mode_stats` (PacGAN's modes captured, % high quality,
reverse KL). Features: :func:`frechet_distance`, :func:`kid`,
:func:`precision_recall`. Images: those three in the feature space of a
:class:`FeatureClassifier` trained on the real data (:func:`train_classifier`,
:func:`save_classifier`, :func:`load_classifier`), all at once by
:func:`evaluate_images`.
Text: :func:`bleu` (BLEU-2..5 against references) and :func:`self_bleu`;
sequence models: :func:`nll` and :func:`oracle_nll` (SeqGAN's NLL-oracle).
Classifiers: :func:`classification_accuracy`.
"""
from .accuracy import classification_accuracy
from .bleu import bleu, self_bleu
from .classifier import (FeatureClassifier, evaluate_images, extract_features,
                         load_classifier, save_classifier, train_classifier)
from .frechet import frechet_distance, kid
from .modes import mode_stats
from .precision_recall import precision_recall
from .text import nll, oracle_nll

__all__ = ["FeatureClassifier", "bleu", "classification_accuracy", "evaluate_images",
           "extract_features", "frechet_distance", "kid", "load_classifier", "mode_stats", "nll",
           "oracle_nll", "precision_recall", "save_classifier", "self_bleu", "train_classifier"]
