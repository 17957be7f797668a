"""ImageNet preprocessing and class names (minicnn/data/imagenet.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minicnn.data.imagenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    imagenet_classes,
    load_imagenet_image,
    preprocess_imagenet,
    resized_size,
    unnormalize_imagenet,
)


def test_class_names():
    names = imagenet_classes()
    assert len(names) == len(set(names)) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[285] == "Egyptian cat"
    assert names[999] == "toilet tissue"
    licence = Path(__file__).parent.parent / "minicnn" / "assets" / \
        "imagenet_classes.LICENSE.txt"
    assert "BSD 3-Clause" in licence.read_text() and "torchvision" in licence.read_text()


@pytest.mark.parametrize("size, expected", [
    ((500, 333), (384, 256)), ((333, 500), (256, 384)), ((256, 256), (256, 256)),
    ((300, 200), (384, 256)), ((1000, 999), (256, 256)), ((64, 48), (341, 256)),
])
def test_shorter_side_becomes_256(size, expected):
    assert resized_size(*size) == expected


def test_centre_crop_and_normalization_exactly():
    # 320x256 needs no resizing: the result is the centre 224x224, normalized
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)   # (H, W, RGB)
    x = preprocess_imagenet(Image.fromarray(pixels))
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    top, left = 16, 48   # round((256 - 224) / 2), round((320 - 224) / 2)
    crop = pixels[top:top + 224, left:left + 224].transpose(2, 0, 1) / 255.0
    expected = (crop - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    np.testing.assert_allclose(x[0], expected, rtol=1e-6, atol=1e-6)


def test_a_plain_colour_stays_plain_through_the_resize():
    x = preprocess_imagenet(Image.new("RGB", (500, 333), (255, 0, 128)))
    expected = (np.array([1.0, 0.0, 128 / 255]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0].reshape(3, -1).T, np.broadcast_to(expected, (224 * 224, 3)),
                               rtol=1e-6, atol=1e-6)


def test_unnormalize_undoes_the_normalization():
    pixels = np.random.default_rng(1).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    x = preprocess_imagenet(Image.fromarray(pixels))
    np.testing.assert_allclose(unnormalize_imagenet(x)[0],
                               pixels[16:240, 16:240].transpose(2, 0, 1) / 255, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 3, H, W\)"):
        unnormalize_imagenet(x[0])


def test_load_imagenet_image(tmp_path):
    Image.new("L", (300, 400), 200).save(tmp_path / "gray.png")   # any mode becomes RGB
    x = load_imagenet_image(tmp_path / "gray.png")
    assert x.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(x[0, :, 100, 100], (200 / 255 - IMAGENET_MEAN) / IMAGENET_STD,
                               rtol=1e-6)
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read image file .*notes.jpg"):
        load_imagenet_image(tmp_path / "notes.jpg")
    with pytest.raises(FileNotFoundError, match="image file not found"):
        load_imagenet_image(tmp_path / "missing.jpg")


def test_bad_arguments():
    image = Image.new("RGB", (300, 300))
    with pytest.raises(TypeError, match="image must be a PIL.Image.Image"):
        preprocess_imagenet(np.zeros((300, 300, 3)))
    with pytest.raises(ValueError, match="crop must not exceed resize"):
        preprocess_imagenet(image, resize=200, crop=224)
    with pytest.raises(ValueError, match=r"resize must be a positive int. Received: resize=0"):
        preprocess_imagenet(image, resize=0)
