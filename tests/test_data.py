"""Tests for minicnn.data: IDX reader, Fashion-MNIST, the shipped test subset, shapes,
image files, samples.

The tests that need the full Fashion-MNIST files skip when they are absent, unless the
environment variable MINICNN_REQUIRE_DATA is set (CI's run with the dataset sets it to
1): then they fail instead. Everything else runs on every machine, on the test images
shipped in the package.
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minicnn.data import (
    FASHION_MNIST_CLASSES,
    SHAPES_CLASSES,
    fashion_mnist_test_set,
    load_fashion_mnist,
    load_idx,
    load_image,
    load_image_folder,
    make_shapes,
    sample_images,
    shipped_test_subset,
)
from minicnn.data.fashion_mnist import data_hidden, find_fashion_mnist, search_dirs
from minicnn.data.subset import TEST_SUBSET_FILE

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- IDX reader
def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


@pytest.fixture
def small_images() -> np.ndarray:
    return np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_reads_raw_and_gzip(tmp_path, small_images, compress):
    data = idx_bytes(small_images)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = load_idx(path)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, small_images)
    out[0, 0, 0] = 7  # a writable copy, not a view of a read-only buffer


def test_load_idx_reads_big_endian_int32(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    path = tmp_path / "b.idx"
    path.write_bytes(idx_bytes(values, code=0x0C))
    out = load_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[1, -2], [70000, 3]])


def test_load_idx_truncated_payload_names_file_and_sizes(tmp_path, small_images):
    path = tmp_path / "short.idx.gz"
    path.write_bytes(gzip.compress(idx_bytes(small_images)[:-10]))
    with pytest.raises(ValueError, match=r"short\.idx\.gz.*expected 60 bytes of data.*got 50"):
        load_idx(path)


def test_load_idx_too_long_payload(tmp_path, small_images):
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(small_images) + b"\x00")
    with pytest.raises(ValueError, match="expected 60 bytes of data.*got 61"):
        load_idx(path)


def test_load_idx_truncated_gzip_stream(tmp_path, small_images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(small_images))[:-12])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        load_idx(path)


def test_load_idx_wrong_magic(tmp_path, small_images):
    path = tmp_path / "magic.idx"
    path.write_bytes(b"\x01\x00" + idx_bytes(small_images)[2:])
    with pytest.raises(ValueError, match=r"magic\.idx.*magic number"):
        load_idx(path)


def test_load_idx_unknown_dtype_code(tmp_path, small_images):
    path = tmp_path / "code.idx"
    path.write_bytes(idx_bytes(small_images, code=0x07))
    with pytest.raises(ValueError, match="dtype code 0x07"):
        load_idx(path)


def test_load_idx_wrong_dims(tmp_path, small_images):
    # The header claims 4 dimensions but holds only 3 sizes before the data:
    # the sizes read are wrong, so the payload length cannot match.
    data = bytearray(idx_bytes(small_images))
    data[3] = 4
    path = tmp_path / "dims.idx"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"dims\.idx.*expected \d+ bytes of data"):
        load_idx(path)
    # A header cut inside the dimension sizes.
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 3))
    with pytest.raises(ValueError, match="header cut short"):
        load_idx(path)
    # A zero-size dimension.
    path.write_bytes(bytes([0, 0, 8, 2]) + struct.pack(">2I", 0, 5))
    with pytest.raises(ValueError, match="size 0"):
        load_idx(path)


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_idx(tmp_path / "nothere.gz")


# ---------------------------------------------------------------- Fashion-MNIST
def _require_dataset() -> None:
    """Skip if the full dataset is missing, or fail if MINICNN_REQUIRE_DATA is set."""
    try:
        for split in ("train", "test"):
            find_fashion_mnist(split)
    except FileNotFoundError as err:
        if os.environ.get("MINICNN_REQUIRE_DATA", "") not in ("", "0"):
            pytest.fail(f"MINICNN_REQUIRE_DATA is set but Fashion-MNIST is missing:\n{err}")
        hidden = " (hidden by MINICNN_HIDE_DATA)" if data_hidden() else ""
        pytest.skip(f"needs the full Fashion-MNIST files, not installed{hidden}: "
                    "apt-get install dataset-fashion-mnist, see docs/data.md")


@pytest.fixture
def fashion_available() -> bool:
    """Whether the full test files are found (no skip: both answers are tested)."""
    try:
        find_fashion_mnist("test")
        return True
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def fashion():
    _require_dataset()
    return {split: load_fashion_mnist(split) for split in ("train", "test")}


@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_shapes_dtypes_ranges(fashion, split, n):
    X, y = fashion[split]
    assert X.shape == (n, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [n // 10] * 10)
    assert len(FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_class_names():
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_fashion_mnist_bad_split():
    with pytest.raises(ValueError, match=r"'train', 'test'.*Received: split='validation'"):
        load_fashion_mnist("validation")


def _isolate(monkeypatch, tmp_path, system_dir: Path) -> None:
    """Point every search location at empty folders under tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("minicnn.data.fashion_mnist.SYSTEM_DIR", system_dir)
    monkeypatch.delenv("MINICNN_HIDE_DATA", raising=False)
    monkeypatch.delenv("MINICNN_DATA", raising=False)


def test_fashion_mnist_missing_lists_every_folder(monkeypatch, tmp_path):
    system = tmp_path / "system"
    _isolate(monkeypatch, tmp_path, system)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    for folder in (
        tmp_path / "env",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "data" / "fashion-mnist",
        system,
    ):
        assert str(folder) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "zalandoresearch/fashion-mnist" in message
    assert "train-images-idx3-ubyte.gz" in message


def test_an_explicit_path_is_the_only_place_looked_in(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "data" / "fashion-mnist", 10)   # a copy on the search path
    given = tmp_path / "given"
    given.mkdir()
    with pytest.raises(FileNotFoundError, match=r"path '.*given' lacks the Fashion-MNIST test "
                                                r"file\(s\) t10k-images-idx3-ubyte\.gz, "
                                                r"t10k-labels-idx1-ubyte\.gz"):
        load_fashion_mnist("test", path=given)
    _write_fake_split(given, 5)
    (given / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks the Fashion-MNIST test file\(s\) "
                                                r"t10k-labels-idx1-ubyte\.gz \("):
        load_fashion_mnist("test", path=given)
    with pytest.raises(FileNotFoundError, match=r"path must be a folder .* is missing"):
        load_fashion_mnist("test", path=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"path must be a folder .* is a file"):
        load_fashion_mnist("test", path=given / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(TypeError, match=r"path must be a folder \(a str or pathlib\.Path\)\. "
                                        r"Received: path=3"):
        load_fashion_mnist("test", path=3)


@pytest.mark.parametrize("bad", [-1, 10])
def test_fashion_mnist_labels_out_of_range(monkeypatch, tmp_path, bad):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    folder = tmp_path / "data" / "fashion-mnist"
    _write_fake_split(folder, 10)
    labels = (np.arange(10) % 10).astype(np.int8)
    labels[3] = bad
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 0x09)))
    with pytest.raises(ValueError, match=rf"labels must be in 0\.\.9, found {bad}"):
        load_fashion_mnist("test")


def test_fashion_mnist_search_order(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    assert search_dirs() == [tmp_path / "data" / "fashion-mnist", tmp_path / "system"]
    monkeypatch.setenv("MINICNN_DATA", "/e")
    assert search_dirs("/p")[:3] == [Path("/p"), Path("/e"), Path("/e/fashion-mnist")]


def _write_fake_split(folder: Path, n: int, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_found_via_env_subfolder(monkeypatch, tmp_path, gz):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    images, labels = _write_fake_split(tmp_path / "env" / "fashion-mnist", 20, gz=gz)
    X, y = load_fashion_mnist("test")
    np.testing.assert_array_equal(X[:, 0], images / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_fashion_mnist_path_comes_first(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "data" / "fashion-mnist", 10)
    images, _ = _write_fake_split(tmp_path / "mine", 30)
    X, _ = load_fashion_mnist("test", path=tmp_path / "mine")
    assert len(X) == 30
    X, _ = load_fashion_mnist("test")  # falls back to ./data/fashion-mnist
    assert len(X) == 10


@pytest.mark.parametrize("value", ["1", "yes"])
def test_hide_data_leaves_only_the_path_argument(monkeypatch, tmp_path, value):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "system", 10)
    _write_fake_split(tmp_path / "data" / "fashion-mnist", 10)
    _write_fake_split(tmp_path / "env", 10)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert find_fashion_mnist("test") == tmp_path / "env"
    monkeypatch.setenv("MINICNN_HIDE_DATA", value)
    assert search_dirs() == []
    assert search_dirs(tmp_path / "mine") == [tmp_path / "mine"]
    with pytest.raises(FileNotFoundError, match="MINICNN_HIDE_DATA is set") as info:
        load_fashion_mnist("test")
    assert "(no folder)" in str(info.value)
    images, _ = _write_fake_split(tmp_path / "mine", 30)
    X, _ = load_fashion_mnist("test", path=tmp_path / "mine")   # an explicit path still works
    np.testing.assert_array_equal(X[:, 0], images / np.float32(255))


def test_hide_data_zero_or_empty_hides_nothing(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    for value in ("0", ""):
        monkeypatch.setenv("MINICNN_HIDE_DATA", value)
        assert search_dirs() == [tmp_path / "data" / "fashion-mnist", tmp_path / "system"]


def test_find_fashion_mnist_returns_the_first_folder_with_both_files(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "system", 10)
    half = tmp_path / "data" / "fashion-mnist"       # only the images: skipped
    _write_fake_split(half, 10)
    (half / "t10k-labels-idx1-ubyte.gz").unlink()
    assert find_fashion_mnist("test") == tmp_path / "system"
    assert find_fashion_mnist("test").is_absolute()
    with pytest.raises(ValueError, match="Received: split='val'"):
        find_fashion_mnist("val")


def test_fashion_mnist_mismatched_labels(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    folder = tmp_path / "data" / "fashion-mnist"
    _write_fake_split(folder, 10)
    labels = np.zeros(9, dtype=np.uint8)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(ValueError, match="expected 10 labels"):
        load_fashion_mnist("test")


# ---------------------------------------------------------------- shapes
def test_make_shapes_shapes_dtypes_ranges():
    X, y, masks = make_shapes(40, size=24, seed=3)
    assert X.shape == (40, 1, 24, 24) and X.dtype == np.float32
    assert y.shape == (40,) and y.dtype == np.int64
    assert masks.shape == (40, 24, 24) and masks.dtype == bool
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert set(y.tolist()) == set(range(len(SHAPES_CLASSES)))
    assert SHAPES_CLASSES[:4] == ("circle", "square", "triangle", "cross")


def test_make_shapes_deterministic():
    a = make_shapes(50, seed=7)
    b = make_shapes(50, seed=7)
    c = make_shapes(50, seed=8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[2], c[2])


def test_make_shapes_deterministic_across_chunks():
    # More images than one rendering chunk: still the same for the same seed.
    a = make_shapes(1100, size=16, seed=1)
    b = make_shapes(1100, size=16, seed=1)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("n", [4, 10, 401])
def test_make_shapes_class_balance(n):
    _, y, _ = make_shapes(n, size=16, seed=0)
    counts = np.bincount(y, minlength=len(SHAPES_CLASSES))
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_make_shapes_mask_brighter_without_noise():
    # Noise-free and clutter-free: the background is flat, the shape is brighter.
    X, y, masks = make_shapes(200, seed=2, noise=0.0, clutter=0)
    for image, mask in zip(X[:, 0], masks):
        background = image[~mask]
        assert np.ptp(background) < 1e-6
        assert image[mask].min() >= background.max() + 0.3 - 1e-6


def test_make_shapes_mask_brighter_with_clutter():
    X, _, masks = make_shapes(300, seed=4)
    inside = (X[:, 0] * masks).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    outside = (X[:, 0] * ~masks).sum(axis=(1, 2)) / (~masks).sum(axis=(1, 2))
    assert np.all(inside > outside + 0.15)


def test_make_shapes_masks_inside_image_and_plausible_area():
    size = 32
    _, y, masks = make_shapes(2000, size=size, seed=5)
    # Nothing touches the border: every shape is fully inside its image.
    edges = (masks[:, 0], masks[:, -1], masks[:, :, 0], masks[:, :, -1])
    assert not any(edge.any() for edge in edges)
    # Every class has the same area, 1.299 * radius**2 with radius ~ U(0.25, 0.4) * size,
    # so the mean area is 1.299 * E[U(0.25, 0.4)**2] * size**2 ~ 139 pixels for size 32.
    area = masks.sum(axis=(1, 2))
    unit_area, lo, hi = 3 * np.sqrt(3) / 4, 0.25, 0.4
    expected = unit_area * (hi**3 - lo**3) / (3 * (hi - lo)) * size**2
    for c in range(len(SHAPES_CLASSES)):
        assert abs(area[y == c].mean() - expected) < 0.1 * expected, SHAPES_CLASSES[c]
    assert area.min() >= 0.7 * unit_area * (lo * size) ** 2


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"n": 0}, ValueError, "Received: n=0"),
        ({"n": 2.5}, TypeError, "n must be an int. Received: n=2.5"),
        ({"n": 4, "size": 15}, ValueError, "at least 16 pixels. Received: size=15"),
        ({"n": 4, "noise": -0.1}, ValueError, "Received: noise=-0.1"),
        ({"n": 4, "clutter": -1}, ValueError, "Received: clutter=-1"),
        ({"n": 4, "scale": (0.3, 0.2)}, ValueError, r"Received: scale=\(0.3, 0.2\)"),
        ({"n": 4, "noise": "a"}, TypeError, r"noise must be a number .* Received: noise='a'"),
        ({"n": 4, "noise": None}, TypeError, r"noise must be a number .* Received: noise=None"),
        ({"n": 4, "noise": float("nan")}, ValueError, r"finite .* Received: noise=nan"),
        ({"n": 4, "scale": 0.3}, TypeError, r"scale must be a pair of numbers \(low, high\)\. "
                                            r"Received: scale=0\.3"),
        ({"n": 4, "scale": ("a", "b")}, TypeError, r"scale must be a pair of numbers"),
        ({"n": 4, "scale": (0.2, float("nan"))}, ValueError, r"Received: scale=\(0\.2, nan\)"),
        ({"n": 4, "size": 10**6}, ValueError, r"make_shapes: the images would take [\d,]+ GiB"),
        ({"n": 10**12}, ValueError, r"make_shapes: the images would take [\d,]+ GiB"),
        ({"n": 4, "seed": -1}, ValueError, r"make_shapes: seed must be an int >= 0\. "
                                           r"Received: seed=-1"),
        ({"n": 4, "seed": "seed"}, TypeError, r"Received: seed='seed'"),
        ({"n": 4, "seed": 1.5}, TypeError, r"Received: seed=1\.5"),
    ],
)
def test_make_shapes_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_shapes(**kwargs)


# ---------------------------------------------------------------- image files
@pytest.fixture
def rgb_array() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # H=6, W=8


def test_load_image_png_exact(tmp_path, rgb_array):
    path = tmp_path / "a.png"
    Image.fromarray(rgb_array).save(path)
    x = load_image(path)
    assert x.shape == (1, 3, 6, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], rgb_array.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_load_image_grayscale_and_resize(tmp_path, rgb_array):
    path = tmp_path / "a.png"
    Image.fromarray(rgb_array).save(path)
    gray = load_image(path, grayscale=True)
    assert gray.shape == (1, 1, 6, 8)
    expected = np.asarray(Image.fromarray(rgb_array).convert("L")) / 255.0
    np.testing.assert_allclose(gray[0, 0], expected, atol=1e-7)
    assert load_image(path, size=4).shape == (1, 3, 4, 4)
    assert load_image(path, size=(3, 10), grayscale=True).shape == (1, 1, 3, 10)


def test_load_image_jpeg_and_rgba(tmp_path, rgb_array):
    Image.fromarray(rgb_array).save(tmp_path / "a.jpg", quality=95)
    x = load_image(tmp_path / "a.jpg")
    assert x.shape == (1, 3, 6, 8) and 0.0 <= x.min() and x.max() <= 1.0
    Image.fromarray(np.zeros((5, 5, 4), np.uint8)).save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").shape == (1, 3, 5, 5)


def test_load_image_bad_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"broken\.png"):
        load_image(path)


def test_load_image_16_bit_grayscale_png(tmp_path):
    # Values across the whole 16-bit range; divided by 65535, not clipped at 255.
    values = np.array([[0, 255, 256, 1000], [32768, 40000, 65280, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")              # really stored as 16 bits
    gray = load_image(path, grayscale=True)
    assert gray.dtype == np.float32
    np.testing.assert_allclose(gray[0, 0], values / 65535.0, rtol=1e-6)
    rgb = load_image(path)
    assert rgb.shape == (1, 3, 2, 4)
    for channel in rgb[0]:
        np.testing.assert_array_equal(channel, gray[0, 0])
    # Resizing keeps the scale: a uniform mid-gray image stays mid-gray.
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(path)
    np.testing.assert_allclose(load_image(path, size=2, grayscale=True), 32768 / 65535, rtol=1e-6)


def test_load_image_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(path)
    # Pillow refuses images over 2 * MAX_IMAGE_PIXELS; lower the limit instead of
    # writing a real bomb (a few KB of PNG that would decode to gigabytes).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match=r"cannot read image file .*bomb\.png: it declares more "
                                         r"than 200 pixels.*decompression bomb"):
        load_image(path)


def test_load_image_truncated_jpeg(tmp_path, rgb_array):
    path = tmp_path / "cut.jpg"
    Image.fromarray(np.tile(rgb_array, (20, 20, 1))).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.jpg"):
        load_image(path)


def test_load_image_missing_and_bad_size(tmp_path, rgb_array):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    Image.fromarray(rgb_array).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="Received: size=0"):
        load_image(tmp_path / "a.png", size=0)
    with pytest.raises(TypeError, match=r"Received: size=\(3, 4, 5\)"):
        load_image(tmp_path / "a.png", size=(3, 4, 5))


def test_load_image_folder(tmp_path):
    root = tmp_path / "ds"
    for name, value, count in (("dog", 200, 2), ("cat", 50, 3)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.full((10 + i, 12, 3), value, np.uint8)  # sizes differ: resized
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    (root / "cat" / ".hidden.png").write_bytes(b"junk")
    (root / "cat" / "README.txt").write_text("not an image")
    (root / ".git").mkdir()
    X, y, names = load_image_folder(root, size=8, grayscale=True)
    assert names == ["cat", "dog"]
    assert X.shape == (5, 1, 8, 8) and X.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1])
    np.testing.assert_allclose(X[y == 0], 50 / 255, atol=1e-6)
    np.testing.assert_allclose(X[y == 1], 200 / 255, atol=1e-6)
    assert load_image_folder(root, size=(4, 6))[0].shape == (5, 3, 4, 6)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path / "missing", size=8)
    with pytest.raises(ValueError, match="no class subfolders"):
        load_image_folder(tmp_path, size=8)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        load_image_folder(tmp_path, size=8)
    (tmp_path / "a" / "bad.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"bad\.png"):
        load_image_folder(tmp_path, size=8)


# ---------------------------------------------------------------- sample images
def test_sample_images_format():
    X, y = sample_images()
    assert X.shape == (10, 1, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(y, np.arange(10))
    assert y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_sample_images_equal_real_test_images(fashion):
    X, y, indices = sample_images(return_indices=True)
    X_test, y_test = fashion["test"]
    np.testing.assert_array_equal(X, X_test[indices])
    np.testing.assert_array_equal(y, y_test[indices])
    # The first test image of each class, as scripts/make_sample_images.py promises.
    for c in range(10):
        assert indices[c] == np.flatnonzero(y_test == c)[0]


def test_load_idx_dimensions_whose_product_overflows_int64(tmp_path):
    # 2**32 - 1 per dimension, four dimensions: the product is about 3.4e38, which
    # wraps around in int64 (np.prod); the header must still be refused, not read.
    header = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *[2**32 - 1] * 4)
    path = tmp_path / "huge.idx"
    path.write_bytes(header + bytes(16))
    with pytest.raises(ValueError, match=r"expected \d{30,} bytes of data for shape "
                                         r"\(4294967295, 4294967295, 4294967295, 4294967295\)"):
        load_idx(path)
    # 2**31 * 2**31 * 4 = 2**64 wraps to exactly 0 in int64: "0 bytes expected, 0 stored"
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**31, 2**31, 4)
    path.write_bytes(header)
    with pytest.raises(ValueError, match=r"expected 18446744073709551616 bytes of data for "
                                         r"shape \(2147483648, 2147483648, 4\) and dtype uint8, "
                                         r"got 0"):
        load_idx(path)


# ---------------------------------------------------------------- shipped test subset
def test_shipped_test_subset_format():
    X, y, indices = shipped_test_subset(return_indices=True)
    assert X.shape == (2000, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (2000,) and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(indices, np.arange(2000))    # the first 2,000 test images
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.min() >= 150              # every class, roughly balanced
    # Stored as the original bytes: every pixel is a multiple of 1/255.
    np.testing.assert_array_equal(np.round(X * 255) / np.float32(255), X)
    assert len(np.unique(X.reshape(2000, -1), axis=0)) == 2000    # 2,000 different images


def test_shipped_test_subset_is_small_and_licensed():
    assert TEST_SUBSET_FILE.stat().st_size < 1_200_000
    with np.load(TEST_SUBSET_FILE, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["images", "indices", "labels", "notice"]
        notice = str(npz["notice"])
    assert "Zalando" in notice and "MIT" in notice and "0..1999" in notice
    licence = (TEST_SUBSET_FILE.parent / "FASHION_MNIST_LICENSE.txt").read_text()
    assert "Copyright (c) 2017 Zalando SE" in licence and "MIT License" in licence
    assert "fashion_mnist_test_subset.npz" in licence and "sample_images.npz" in licence


def test_shipped_assets_are_package_data():
    """pyproject's package-data globs cover every file in minicnn/assets, so a
    non-editable install (a wheel) carries the subset, its licence and the model."""
    tomllib = pytest.importorskip("tomllib")   # Python >= 3.11
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["minicnn"]
    assets = sorted(p.relative_to(REPO / "minicnn").as_posix()
                    for p in (REPO / "minicnn" / "assets").iterdir())
    assert "assets/fashion_mnist_test_subset.npz" in assets
    for name in assets:
        assert any(fnmatch(name, pattern) for pattern in patterns), name


def test_sample_images_are_in_the_shipped_subset():
    X, y, indices = sample_images(return_indices=True)
    X_sub, y_sub = shipped_test_subset()
    np.testing.assert_array_equal(X, X_sub[indices])
    np.testing.assert_array_equal(y, y_sub[indices])
    for c in range(10):   # the first test image of each class
        assert indices[c] == np.flatnonzero(y_sub == c)[0]


def test_shipped_subset_equals_the_real_test_images(fashion):
    X, y, indices = shipped_test_subset(return_indices=True)
    X_test, y_test = fashion["test"]
    np.testing.assert_array_equal(X, X_test[indices])
    np.testing.assert_array_equal(y, y_test[indices])


def test_make_test_subset_script_reproduces_the_asset(fashion, tmp_path):
    out = tmp_path / "subset.npz"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_test_subset.py"),
                             "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == TEST_SUBSET_FILE.read_bytes()


# ---------------------------------------------------------------- full set or subset
def test_test_set_falls_back_to_the_shipped_subset(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    X, y, source, description = fashion_mnist_test_set()
    assert source == "shipped" and X.shape == (2000, 1, 28, 28)
    X_sub, y_sub = shipped_test_subset()
    np.testing.assert_array_equal(X, X_sub)
    np.testing.assert_array_equal(y, y_sub)
    assert "shipped subset" in description and "not installed" in description


def test_test_set_says_when_hidden(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "system", 10)
    monkeypatch.setenv("MINICNN_HIDE_DATA", "1")
    test = fashion_mnist_test_set()
    assert test.source == "shipped" and len(test.X) == 2000
    assert "MINICNN_HIDE_DATA is set" in test.description


def test_test_set_prefers_the_installed_files_and_names_the_folder(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    images, labels = _write_fake_split(tmp_path / "system", 40)
    test = fashion_mnist_test_set()
    assert test.source == "full"
    np.testing.assert_array_equal(test.X[:, 0], images / np.float32(255))
    np.testing.assert_array_equal(test.y, labels)
    assert str(tmp_path / "system") in test.description and "40 images" in test.description
    # ./data/fashion-mnist comes before the system folder, and is named by its full path.
    _write_fake_split(tmp_path / "data" / "fashion-mnist", 20)
    test = fashion_mnist_test_set()
    assert len(test.X) == 20 and str(tmp_path / "data" / "fashion-mnist") in test.description
    # An explicit path comes first; a relative one is named by its absolute path.
    _write_fake_split(tmp_path / "mine", 30)
    test = fashion_mnist_test_set(path="mine")
    assert len(test.X) == 30 and f"from {tmp_path / 'mine'})" in test.description


def test_test_set_reports_a_corrupt_download(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path, tmp_path / "system")
    _write_fake_split(tmp_path / "system", 10)
    (tmp_path / "system" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        fashion_mnist_test_set()


def test_test_set_on_this_machine(fashion_available):
    """Whatever this machine has: the full set (10,000) if installed, else the subset."""
    test = fashion_mnist_test_set()
    assert test.source == ("full" if fashion_available else "shipped")
    assert len(test.X) == (10000 if fashion_available else 2000)
    np.testing.assert_array_equal(test.X[:2000], shipped_test_subset()[0])
