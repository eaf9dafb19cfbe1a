"""Image sets as float tensors in [-1, 1] (the range of a Tanh generator).

``load_images`` is the entry point the ``pygan`` command uses; it dispatches
to Fashion-MNIST/MNIST IDX files, scikit-learn's 8x8 digits, or an image
folder, picks the split, and brings the images to the size and channel count
a model expects.
"""
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .idx import FASHION_MNIST_DIR, load_mnist_like

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SPLITS = ("train", "test")
NAMED_SETS = ("fashion-mnist", "mnist", "digits")

# Sets without an official test split hold out every k-th image (index % k == k - 1):
# fixed, independent of any seed, and spread over a folder sorted by class.
_DIGITS_TEST_EVERY = 5   # 20%
_FOLDER_TEST_EVERY = 10  # 10%


@dataclass
class ImageSet:
    """Images with optional class labels.

    Attributes:
        images: [N, C, H, W] float32 CPU tensor with values in [-1, 1].
        labels: [N] int64 CPU tensor of class indices, or None for an unlabelled set.
        name: where the images came from ("fashion-mnist", "digits", a folder name).
        classes: class names indexed by label (an image folder's sub-folders), or None.
    """

    images: Tensor
    labels: Tensor | None
    name: str
    classes: list[str] | None = None

    def __post_init__(self):
        if not isinstance(self.images, Tensor) or self.images.dim() != 4 \
                or self.images.dtype != torch.float32:
            raise ValueError(f"ImageSet: images must be float32 [N, C, H, W], "
                             f"got {_describe(self.images)}")
        if self.labels is not None and (not isinstance(self.labels, Tensor)
                                        or self.labels.dtype != torch.int64
                                        or self.labels.shape != self.images.shape[:1]):
            raise ValueError(f"ImageSet: labels must be None or int64 [{len(self.images)}], "
                             f"got {_describe(self.labels)}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int | None:
        """len(classes) when the names are known, else max label + 1; None without labels."""
        if self.labels is None:
            return None
        if self.classes is not None:
            return len(self.classes)
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def _check_size(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_channels(value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {value!r}")


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


def _check_images(images) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a floating-point [N, C, H, W] tensor, "
                         f"got {_describe(images)}")


def _to_unit_range(pixels: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1]."""
    return pixels.float().div_(127.5).sub_(1.0)


def pad_to(images: Tensor, size: int) -> Tensor:
    """Pads [N, C, H, W] images with -1 (black background) to [N, C, size, size],
    centred; an odd border puts the extra row/column at the bottom/right.
    Same dtype and device as ``images``."""
    _check_images(images)
    _check_size("size", size)
    h, w = images.shape[-2:]
    if h > size or w > size:
        raise ValueError(f"pad_to: images are {h}x{w}, larger than size={size}")
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(images, (left, size - w - left, top, size - h - top), value=-1.0)


def resize(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of [N, C, H, W] images to [N, C, size, size], with
    antialiasing when shrinking. The aspect ratio is not kept: crop first.
    Same dtype and device; values stay within the input range, up to rounding."""
    _check_images(images)
    _check_size("size", size)
    h, w = images.shape[-2:]
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < h or size < w)


def _fit_size(images: Tensor, size: int) -> Tensor:
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    # A thin even border (28 -> 32 for DCGAN) keeps the pixels as they are;
    # anything larger (8 -> 16 digits) would leave a tiny image in a frame, so resize.
    if all(0 <= size - d <= d // 4 and (size - d) % 2 == 0 for d in (h, w)):
        return pad_to(images, size)
    return resize(images, size)


def load_digits() -> ImageSet:
    """scikit-learn's bundled 8x8 digits, all 1797: images [1797, 1, 8, 8]
    float32 in [-1, 1] (from values 0..16), labels int64 0..9."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise ImportError("pygan.data.load_digits needs scikit-learn: "
                          "pip install scikit-learn") from exc
    digits = sklearn_digits()
    images = torch.from_numpy(digits.images).float().div_(8.0).sub_(1.0).unsqueeze(1)
    return ImageSet(images, torch.from_numpy(digits.target).long(), "digits")


def _image_files(root: Path) -> list[Path]:
    # Sorted by path so the order, and so the labels and splits, do not depend on the
    # file system; hidden entries (.ipynb_checkpoints, .cache) are not data.
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def load_image_folder(root: str | PathLike, size: int, channels: int = 3) -> ImageSet:
    """Every image file under ``root`` (recursively; extensions in
    ``IMAGE_EXTENSIONS``, any case), in sorted path order, centre-cropped to a
    square and resized to ``size`` x ``size`` with Lanczos filtering.

    Images in sub-folders are labelled by their top-level sub-folder, the
    classes in sorted order; files directly in ``root`` give an unlabelled set.
    Hidden files and folders (name starting with ".") are skipped.

    Returns:
        an ImageSet with images [N, channels, size, size] float32 in [-1, 1]
        (``channels`` 3 = RGB, 1 = grey).

    Raises:
        FileNotFoundError: ``root`` is not a directory.
        ValueError: bad arguments, no image files, images both directly in
            ``root`` and in sub-folders, or a file Pillow cannot read (named).
        ImportError: Pillow is not installed.
    """
    _check_size("size", size)
    _check_channels(channels)
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise ImportError("pygan.data.load_image_folder needs Pillow: pip install pillow") from exc
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    files = _image_files(root)
    if not files:
        raise ValueError(f"{root}: no image files found (looked recursively for "
                         f"{', '.join(IMAGE_EXTENSIONS)}, any case)")
    parts = [p.relative_to(root).parts for p in files]
    folders = [part[0] if len(part) > 1 else None for part in parts]
    if None in folders and any(folders):
        loose = files[folders.index(None)]
        raise ValueError(f"{root}: images are both in class sub-folders and directly in the "
                         f"folder (e.g. {loose.name}); put all of them in one or the other")

    pixels = torch.empty(len(files), size, size, channels, dtype=torch.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                image = ImageOps.fit(image.convert("RGB" if channels == 3 else "L"),
                                     (size, size), method=Image.Resampling.LANCZOS)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ValueError(f"{path}: cannot read image ({exc})") from exc
        # np.array, not asarray: torch warns about the read-only view of Pillow's buffer.
        pixels[i] = torch.from_numpy(np.array(image, dtype=np.uint8).reshape(size, size, -1))
    images = _to_unit_range(pixels.permute(0, 3, 1, 2).contiguous())

    name = root.resolve().name
    if folders[0] is None:
        return ImageSet(images, None, name)
    classes = sorted(set(folders))
    index = {name: i for i, name in enumerate(classes)}
    labels = torch.tensor([index[f] for f in folders], dtype=torch.int64)
    return ImageSet(images, labels, name, classes)


def _split(data: ImageSet, split: str, test_every: int) -> ImageSet:
    """Every ``test_every``-th image is "test", the rest "train"."""
    is_test = torch.arange(len(data)) % test_every == test_every - 1
    keep = is_test if split == "test" else ~is_test
    labels = None if data.labels is None else data.labels[keep]
    return ImageSet(data.images[keep], labels, data.name, data.classes)


def _is_idx_dir(root: Path) -> bool:
    return any((root / f"train-images-idx3-ubyte{gz}").is_file() for gz in ("", ".gz"))


def _idx_set(root: Path, split: str, name: str) -> ImageSet:
    images, labels = load_mnist_like(root, split)
    return ImageSet(_to_unit_range(images.unsqueeze(1)), labels, name)


def _load(data: str | PathLike, split: str, size: int | None, channels: int | None) -> ImageSet:
    """The set ``data`` names, before any size or channel conversion."""
    if data == "mnist":
        raise FileNotFoundError("MNIST has no default location: pass the directory holding its "
                                "IDX files (train-images-idx3-ubyte[.gz] and the others), "
                                "e.g. --data DIR")
    if data == "digits":
        return _split(load_digits(), split, _DIGITS_TEST_EVERY)
    if data == "fashion-mnist":
        return _idx_set(Path(FASHION_MNIST_DIR), split, "fashion-mnist")
    root = Path(data).expanduser()
    if not root.is_dir():
        raise ValueError(f"data={str(data)!r} is neither one of {', '.join(NAMED_SETS)} "
                         f"nor a directory")
    if _is_idx_dir(root):
        return _idx_set(root, split, root.resolve().name)
    if size is None:
        raise ValueError(f"{root}: an image folder needs a size (e.g. 32 or 64) to crop "
                         f"and resize its images to")
    return _split(load_image_folder(root, size, channels or 3), split, _FOLDER_TEST_EVERY)


def load_images(data: str | PathLike, split: str = "train", size: int | None = None,
                channels: int | None = None) -> ImageSet:
    """Loads an image set by name or path, as the ``pygan`` command's ``--data``.

    Args:
        data: "fashion-mnist" (IDX files under ``FASHION_MNIST_DIR``), "mnist"
            (has no default location: pass its directory instead), "digits"
            (scikit-learn's 8x8 digits), or a directory: one holding
            ``train-images-idx3-ubyte[.gz]`` is read as MNIST-format IDX
            files, any other as an image folder (see ``load_image_folder``).
        split: "train" or "test". IDX sets use their own files. "digits" and
            image folders have no test split, so a fixed one is held out by
            index: every 5th digit (index % 5 == 4, 20%) and every 10th image
            of a folder (index % 10 == 9, 10%) are "test", the rest "train".
        size: output height and width; None keeps IDX and digits sizes and is
            an error for an image folder. Images a little smaller (an even
            border of at most a quarter of the side in all, e.g. 28 -> 32) are
            padded with -1; others are resized (``resize``).
        channels: 1 (grey) or 3 (RGB): grey sets become RGB by copying the
            channel, image folders load in that mode; None keeps the set's
            own (RGB for an image folder).

    Returns:
        an ImageSet, images [N, C, H, W] float32 in [-1, 1] on the CPU.

    Raises:
        ValueError: bad arguments, an unknown name, or unreadable data.
        FileNotFoundError: "mnist", or a missing IDX directory or file.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if size is not None:
        _check_size("size", size)
    if channels is not None:
        _check_channels(channels)
    if not isinstance(data, (str, PathLike)):
        raise ValueError(f"data must be a data set name or a directory, got {data!r}")
    result = _load(data, split, size, channels)
    images = result.images
    # Image folders load with `channels` already, so the only conversion left is grey -> RGB.
    if channels is not None and images.shape[1] != channels:
        images = images.repeat(1, channels, 1, 1)
    return replace(result, images=images if size is None else _fit_size(images, size))
