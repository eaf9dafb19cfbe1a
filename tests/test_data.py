"""pygan.data: mixture geometry and sampling, IDX parsing and its error
messages, digits, image folders, pad/resize, and load_images dispatch."""
import gzip
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pygan.data import (FASHION_MNIST_DIR, ImageSet, Mixture, grid, load_digits,
                        load_image_folder, load_images, load_mnist_like, mixture, pad_to,
                        read_idx, resize, ring)
from pygan.data import images as images_module

# ---------------------------------------------------------------- mixtures


def test_ring_has_evenly_spaced_modes_on_the_unit_circle():
    m = ring()
    assert m.name == "ring" and m.num_modes == 8 and m.std == 0.01
    assert m.centers.dtype == torch.float32 and m.centers.shape == (8, 2)
    torch.testing.assert_close(m.centers.norm(dim=1), torch.ones(8))
    angles = torch.atan2(m.centers[:, 1], m.centers[:, 0]).remainder(2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8) * (math.pi / 4))


def test_grid_has_25_modes_on_the_even_lattice_around_the_origin():
    m = grid()
    assert m.name == "grid" and m.num_modes == 25 and m.std == 0.05
    got = {tuple(c) for c in m.centers.tolist()}
    assert got == {(x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)}


@pytest.mark.parametrize("m", [ring(), grid(), ring(modes=3, radius=2.0, std=0.1),
                               grid(side=2, spacing=1.0, std=0.02)], ids=lambda m: m.name)
def test_samples_spread_around_every_centre_with_the_nominal_std(m):
    x = m.sample(40_000, torch.Generator().manual_seed(0))
    assert x.shape == (40_000, 2) and x.dtype == torch.float32
    nearest = torch.cdist(x, m.centers).argmin(dim=1)
    counts = nearest.bincount(minlength=m.num_modes).float()
    assert counts.min() > 0.8 * len(x) / m.num_modes  # uniform choice of mode
    residual = x - m.centers[nearest]
    assert residual.std(dim=0).sub(m.std).abs().max() < 0.03 * m.std
    assert residual.mean(dim=0).abs().max() < 0.05 * m.std


def test_sampling_is_deterministic_for_a_seed():
    m = grid()
    a = m.sample(100, torch.Generator().manual_seed(7))
    b = m.sample(100, torch.Generator().manual_seed(7))
    c = m.sample(100, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert m.sample(0).shape == (0, 2)


def test_mixture_by_name():
    assert mixture("ring").num_modes == 8 and mixture("grid").num_modes == 25
    with pytest.raises(ValueError, match=r"'spiral'.*ring, grid"):
        mixture("spiral")


@pytest.mark.parametrize("call, message", [
    (lambda: ring(modes=0), "modes must be an int >= 1, got 0"),
    (lambda: ring(modes=2.0), "modes must be an int >= 1, got 2.0"),
    (lambda: ring(radius=-1.0), "radius must be a positive finite number, got -1.0"),
    (lambda: ring(std=0.0), "std must be a positive finite number, got 0.0"),
    (lambda: grid(side=True), "side must be an int >= 1, got True"),
    (lambda: grid(spacing=math.inf), "spacing must be a positive finite number, got inf"),
    (lambda: grid().sample(-1), "n must be an int >= 0, got -1"),
    (lambda: grid().sample(2.5), "n must be an int >= 0, got 2.5"),
    (lambda: Mixture("m", torch.zeros(3, 3), 0.1), r"centers must be a \[K, 2\].*\(3, 3\)"),
    (lambda: Mixture("m", torch.zeros(3, 2), -0.1), "std must be a positive.*-0.1"),
])
def test_mixture_argument_checks(call, message):
    with pytest.raises(ValueError, match=message):
        call()

# ---------------------------------------------------------------- IDX files

_CODES = {np.uint8: 0x08, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, _CODES[array.dtype.type], array.ndim])
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + struct.pack(f">{array.ndim}I", *array.shape) + big_endian.tobytes()


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return path


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_idx_round_trip(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 5) * 37 % 251 - 100).reshape(2, 3, 5)
    array = (array + 100 if dtype == np.uint8 else array).astype(dtype)
    got = read_idx(write(tmp_path / name, idx_bytes(array)))
    assert got.dtype == torch.from_numpy(array).dtype
    assert torch.equal(got, torch.from_numpy(array))


IMAGES = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4)
GOOD = idx_bytes(IMAGES)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\x00\x00", r"not an IDX file: magic bytes 00 00"),
    (b"\x1f\x8b" + GOOD[2:], r"not an IDX file: magic bytes 1f 8b 08 03"),
    (b"\x00\x00\x07\x03" + GOOD[4:], "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (GOOD[:10], r"truncated header: 3 dimensions need 16 bytes, the file has 10"),
    (GOOD[:-1], r"truncated: header says 96 bytes of data for shape \[6, 4, 4\], found 95"),
    (GOOD + b"junk", r"4 trailing bytes after the 96 bytes"),
])
@pytest.mark.parametrize("name", ["bad-idx3-ubyte", "bad-idx3-ubyte.gz"])
def test_bad_idx_files_are_named_and_explained(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_and_missing_file(tmp_path):
    not_gzipped = tmp_path / "plain-idx3-ubyte.gz"
    not_gzipped.write_bytes(GOOD)
    with pytest.raises(ValueError, match=rf"{re.escape(str(not_gzipped))}: not a valid gzip"):
        read_idx(not_gzipped)
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(gzip.compress(GOOD)[:-12])
    with pytest.raises(ValueError, match=rf"{re.escape(str(cut))}: not a valid gzip file"):
        read_idx(cut)
    with pytest.raises(FileNotFoundError, match="no such IDX file") as info:
        read_idx(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def mnist_dir(root: Path, n_train=6, n_test=4, gz=True) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write(root / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images))
        write(root / f"{prefix}-labels-idx1-ubyte", idx_bytes(np.arange(n, dtype=np.uint8) % 10))
    return root


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_like(tmp_path, gz):
    root = mnist_dir(tmp_path / "mnist", gz=gz)
    for split, n in (("train", 6), ("test", 4)):
        images, labels = load_mnist_like(root, split)
        assert images.dtype == torch.uint8 and images.shape == (n, 28, 28)
        assert labels.dtype == torch.int64 and labels.tolist() == list(range(n))
        prefix = "train" if split == "train" else "t10k"
        assert torch.equal(images, read_idx(next(root.glob(f"{prefix}-images*"))))


def test_load_mnist_like_checks_the_pair(tmp_path):
    root = mnist_dir(tmp_path / "d")
    with pytest.raises(ValueError, match="split must be one of train, test, got 'val'"):
        load_mnist_like(root, "val")
    write(root / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="4 images in t10k-images-idx3-ubyte.gz but 5 labels"):
        load_mnist_like(root, "test")
    write(root / "t10k-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 10, 2], np.uint8)))
    with pytest.raises(ValueError, match="labels must be in 0..9, found 10"):
        load_mnist_like(root, "test")
    write(root / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros((4, 1), np.uint8)))
    with pytest.raises(ValueError, match=r"expected uint8 labels \[N\], got torch.uint8 \[4, 1\]"):
        load_mnist_like(root, "test")
    write(root / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((6, 784), np.uint8)))
    with pytest.raises(ValueError, match=r"expected uint8 images \[N, H, W\].*\[6, 784\]"):
        load_mnist_like(root, "train")


def test_load_mnist_like_says_where_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory") as info:
        load_mnist_like(tmp_path / "absent")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "--data DIR" in str(info.value)
    root = mnist_dir(tmp_path / "d")
    (root / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError,
                       match="neither train-labels-idx1-ubyte nor train-labels-idx1-ubyte.gz"):
        load_mnist_like(root)

# ---------------------------------------------------------------- digits, pad, resize


def test_digits():
    d = load_digits()
    assert d.images.shape == (1797, 1, 8, 8) and d.images.dtype == torch.float32
    assert d.images.min() == -1 and d.images.max() == 1
    assert d.labels.dtype == torch.int64 and d.labels.unique().tolist() == list(range(10))
    assert d.num_classes == 10 and len(d) == 1797 and d.name == "digits"


def test_pad_to_centres_on_a_minus_one_background():
    x = torch.rand(2, 3, 28, 28)
    y = pad_to(x, 32)
    assert y.shape == (2, 3, 32, 32)
    assert torch.equal(y[:, :, 2:30, 2:30], x)
    y[:, :, 2:30, 2:30] = -1
    assert (y == -1).all()
    odd = pad_to(torch.ones(1, 1, 3, 3), 6)
    assert odd[0, 0, :, 0].tolist() == [-1] * 6 and odd[0, 0, 1:4, 1:4].eq(1).all()
    with pytest.raises(ValueError, match="images are 28x28, larger than size=16"):
        pad_to(x, 16)


def test_resize():
    x = torch.full((2, 1, 8, 8), 0.25)
    assert torch.allclose(resize(x, 16), torch.full((2, 1, 16, 16), 0.25))
    # Shrinking averages: a single bright pixel survives, where plain
    # bilinear sampling at scale 4 would skip it entirely.
    dot = torch.full((1, 1, 16, 16), -1.0)
    dot[..., 0, 0] = 1.0
    small = resize(dot, 4)
    assert small.shape == (1, 1, 4, 4) and small[0, 0, 0, 0] > -0.95
    assert small.min() >= -1 - 1e-6 and small.max() <= 1 + 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: pad_to(torch.zeros(1, 8, 8), 10), r"images must be .*\[N, C, H, W\].*\[1, 8, 8\]"),
    (lambda: resize(np.zeros((1, 1, 8, 8)), 4), "images must be .*got ndarray"),
    (lambda: resize(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 4), "torch.uint8"),
    (lambda: resize(torch.zeros(1, 1, 8, 8), 0), "size must be a positive int, got 0"),
    (lambda: ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.int64), "x"),
     r"labels must be None or int64 \[2\], got torch.int64 \[3\]"),
])
def test_tensor_argument_checks(call, message):
    with pytest.raises(ValueError, match=message):
        call()

# ---------------------------------------------------------------- image folders

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def save(path: Path, colour, size=(12, 12)):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def striped(path: Path):
    """50 wide x 10 high: blue | red | green, with the centre square and a
    margin around it (which Lanczos reads) red, the outer 10 columns not."""
    from PIL import Image
    image = Image.new("RGB", (50, 10), BLUE)
    image.paste(RED, (10, 0, 40, 10))
    image.paste(GREEN, (40, 0, 50, 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def unit(rgb):
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


def test_image_folder_with_class_subfolders(tmp_path):
    striped(tmp_path / "b_dog" / "x.PNG")
    save(tmp_path / "a_cat" / "2.jpg", GREEN, (40, 20))
    save(tmp_path / "a_cat" / "1.png", BLUE)
    save(tmp_path / "b_dog" / "deeper" / "y.bmp", GREEN)
    (tmp_path / "a_cat" / "notes.txt").write_text("not an image")
    save(tmp_path / ".ipynb_checkpoints" / "z.png", RED)
    data = load_image_folder(tmp_path, size=5)
    assert data.images.shape == (4, 3, 5, 5) and data.images.dtype == torch.float32
    assert data.classes == ["a_cat", "b_dog"] and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 1, 1]  # a_cat/1, a_cat/2, b_dog/deeper/y, b_dog/x
    expected = [BLUE, GREEN, GREEN, RED]  # x.PNG is cropped to its red middle, not squashed
    for image, rgb in zip(data.images, expected):
        assert torch.allclose(image, unit(rgb).view(3, 1, 1).expand(3, 5, 5), atol=0.03)


def test_flat_image_folder_in_grey(tmp_path):
    save(tmp_path / "b.webp", RED, (16, 16))
    save(tmp_path / "a.png", (255, 255, 255), (7, 9))
    data = load_image_folder(tmp_path, size=8, channels=1)
    assert data.labels is None and data.num_classes is None and data.name == tmp_path.name
    assert data.images.shape == (2, 1, 8, 8)
    assert torch.allclose(data.images[0], torch.ones(1, 8, 8))
    assert torch.allclose(data.images[1], torch.full((1, 8, 8), 76 / 127.5 - 1), atol=0.02)


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match=r"no image files found .*\.png.*\.webp") as info:
        load_image_folder(tmp_path, 8)
    assert str(info.value).startswith(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_image_folder(tmp_path / "absent", 8)
    save(tmp_path / "cls" / "ok.png", RED)
    bad = tmp_path / "cls" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}: cannot read image"):
        load_image_folder(tmp_path, 8)
    bad.unlink()
    save(tmp_path / "loose.png", RED)
    with pytest.raises(ValueError, match="both in class sub-folders and directly.*loose.png"):
        load_image_folder(tmp_path, 8)
    with pytest.raises(ValueError, match="channels must be 1 .grey. or 3 .RGB., got 2"):
        load_image_folder(tmp_path, 8, channels=2)
    with pytest.raises(ValueError, match="size must be a positive int, got 8.0"):
        load_image_folder(tmp_path, 8.0)

# ---------------------------------------------------------------- load_images


def test_load_images_digits_split_and_conversions():
    full = load_digits()
    train, test = load_images("digits"), load_images("digits", "test")
    assert (len(train), len(test)) == (1438, 359)
    held_out = torch.arange(1797) % 5 == 4
    assert torch.equal(test.images, full.images[held_out])
    assert torch.equal(train.labels, full.labels[~held_out])
    big = load_images("digits", "test", size=16, channels=3)
    assert big.images.shape == (359, 3, 16, 16)
    assert torch.equal(big.images, resize(test.images, 16).repeat(1, 3, 1, 1))


def test_load_images_from_an_idx_directory_pads_28_to_32(tmp_path):
    root = mnist_dir(tmp_path / "fmnist")
    data = load_images(str(root), "test", size=32)
    raw, labels = load_mnist_like(root, "test")
    assert data.images.shape == (4, 1, 32, 32) and data.name == "fmnist"
    assert torch.equal(data.images[:, 0, 2:30, 2:30], raw.float() / 127.5 - 1)
    assert torch.equal(data.labels, labels) and data.num_classes == 4


def test_load_images_from_an_image_folder_holds_out_every_tenth(tmp_path):
    for i in range(12):
        save(tmp_path / ("a" if i < 6 else "b") / f"{i:02d}.png", (i * 20, 0, 0))
    train = load_images(str(tmp_path), size=4)
    test = load_images(str(tmp_path), "test", size=4, channels=1)
    assert train.images.shape == (11, 3, 4, 4) and test.images.shape == (1, 1, 4, 4)
    assert test.labels.tolist() == [1] and test.num_classes == 2
    red = (train.images[:, 0, 0, 0] + 1) * 127.5
    assert torch.allclose(red, torch.tensor([i * 20.0 for i in range(12) if i != 9]), atol=0.5)
    with pytest.raises(ValueError, match="an image folder needs a size"):
        load_images(str(tmp_path))


def test_load_images_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="MNIST has no default location.*--data DIR"):
        load_images("mnist")
    with pytest.raises(ValueError, match="'cifar' is neither one of fashion-mnist, mnist, digits"):
        load_images("cifar")
    with pytest.raises(ValueError, match="split must be one of train, test, got 'valid'"):
        load_images("digits", "valid")
    with pytest.raises(ValueError, match="size must be a positive int, got -4"):
        load_images("digits", size=-4)
    with pytest.raises(ValueError, match="channels must be 1 .grey. or 3 .RGB., got 4"):
        load_images("digits", channels=4)
    monkeypatch.setattr(images_module, "FASHION_MNIST_DIR", str(tmp_path / "fm"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist")


def test_importing_pygan_data_loads_neither_pillow_nor_sklearn():
    code = ("import sys, pygan.data; "
            "print(sorted(m for m in ('PIL', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(),
                    reason=f"{FASHION_MNIST_DIR} absent (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_test_split():
    data = load_images("fashion-mnist", "test")
    assert data.images.shape == (10000, 1, 28, 28) and data.name == "fashion-mnist"
    assert data.images.min() == -1 and data.images.max() == 1
    assert data.labels.bincount().tolist() == [1000] * 10
