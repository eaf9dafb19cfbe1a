"""IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic (0, 0, type code, number of dimensions), one
big-endian uint32 per dimension, then the values in C order (big-endian for
multi-byte types) and nothing else.
"""
import gzip
import math
import struct
import zlib
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` package installs the four .gz files."""

# type code -> big-endian numpy dtype, as listed in the IDX specification.
_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_HOW_TO_GET = (f"For Fashion-MNIST, `apt-get install dataset-fashion-mnist` installs it under "
               f"{FASHION_MNIST_DIR}; for MNIST or another copy, pass --data DIR with DIR "
               f"holding the four IDX files")

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a valid gzip file ({exc})") from exc


def read_idx(path: str | PathLike) -> Tensor:
    """Reads one IDX file (gzipped when the name ends in ``.gz``).

    Returns:
        a CPU tensor with the file's shape and type: uint8 for type 0x08 (the
        MNIST files), int8, int16, int32, float32 or float64 for the others.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, when it is empty, not IDX (bad magic or
            type code), truncated, or followed by trailing bytes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such IDX file")
    raw = _read_bytes(path)
    if not raw:
        raise ValueError(f"{path}: empty file")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file: magic bytes {raw[:4].hex(' ')}, "
                         f"expected 00 00 <type code> <number of dimensions>")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        known = ", ".join(f"0x{c:02x} ({t.name})" for c, t in _TYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}; known: {known}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _TYPES[code]
    expected, found = math.prod(shape) * dtype.itemsize, len(raw) - header
    if found < expected:
        raise ValueError(f"{path}: truncated: header says {expected} bytes of data for shape "
                         f"{list(shape)}, found {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} trailing bytes after the {expected} bytes "
                         f"of data that the header declares for shape {list(shape)}")
    data = np.frombuffer(raw, dtype, count=math.prod(shape), offset=header)
    # astype copies into native byte order, and the copy is writable, which torch needs.
    return torch.from_numpy(data.astype(dtype.newbyteorder("="))).reshape(shape)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root}: found neither {name} nor {name}.gz. {_HOW_TO_GET}.")


def load_mnist_like(root: str | PathLike, split: str = "train") -> tuple[Tensor, Tensor]:
    """Loads one split of an MNIST-format data set from the directory ``root``.

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` for
    ``split="train"``, the ``t10k-`` files for ``split="test"``, each plain
    or with ``.gz``.

    Returns:
        images: uint8 [N, H, W] CPU tensor (28 x 28 for MNIST and Fashion-MNIST).
        labels: int64 [N] CPU tensor with values in 0..9.

    Raises:
        ValueError: a bad ``split``, or files that are not an image/label pair.
        FileNotFoundError: a missing directory or file, saying where to get the data.
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be one of {', '.join(_SPLIT_PREFIX)}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory. {_HOW_TO_GET}.")
    prefix = _SPLIT_PREFIX[split]
    images_path = _find(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise ValueError(f"{images_path}: expected uint8 images [N, H, W], "
                         f"got {images.dtype} {list(images.shape)}")
    if labels.dim() != 1 or labels.dtype != torch.uint8:
        raise ValueError(f"{labels_path}: expected uint8 labels [N], "
                         f"got {labels.dtype} {list(labels.shape)}")
    if len(images) == 0 or 0 in images.shape[1:]:
        raise ValueError(f"{images_path}: holds {len(images)} images of "
                         f"{images.shape[1]}x{images.shape[2]} pixels; expected at least one "
                         f"image of at least 1x1")
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} images in {images_path.name} but "
                         f"{len(labels)} labels in {labels_path.name}")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be in 0..9, found {int(labels.max())}")
    return images, labels.long()
