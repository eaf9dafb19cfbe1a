"""Data sets: 2-D Gaussian mixtures, MNIST-format IDX files, image folders,
scikit-learn's 8x8 digits, text, and labelled/unlabelled/test splits for
the classifier families. Everything is returned as CPU tensors; Pillow and
scikit-learn are imported only by the loaders that need them."""
from .idx import FASHION_MNIST_DIR, load_mnist_like, read_idx
from .images import (IMAGE_EXTENSIONS, ImageSet, load_digits, load_image_folder, load_images,
                     pad_to, resize)
from .labelled_text import load_labelled_text
from .mixtures import MIXTURES, Mixture, grid, mixture, ring
from .semi_supervised import LabelledSplit, split_labels_per_class
from .text import TextSet, Vocab, encode_sentences, load_text, read_sentences, tokenize


def load_named(name: str, split: str, image_size: int | None, channels: int | None = None):
    """A data set as the ``pygan`` command's ``--data`` names it, for the
    image and 2-D families: (a mixture's ``sample`` function, the Mixture) for
    "ring"/"grid", else ((images [N, C, S, S],), None) via ``load_images``."""
    if name in MIXTURES:
        m = mixture(name)
        return m.sample, m
    return (load_images(name, split, size=image_size, channels=channels).images,), None


__all__ = [
    "FASHION_MNIST_DIR", "IMAGE_EXTENSIONS", "MIXTURES", "ImageSet", "LabelledSplit", "Mixture",
    "TextSet", "Vocab", "encode_sentences", "grid", "load_digits", "load_image_folder",
    "load_images", "load_labelled_text", "load_mnist_like", "load_named", "load_text", "mixture",
    "pad_to", "read_idx", "read_sentences", "resize", "ring", "split_labels_per_class",
    "tokenize",
]
