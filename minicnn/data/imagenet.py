"""Photographs for ImageNet networks: torchvision's preprocessing and the 1000 class names.

Networks trained on ImageNet (``minicnn.models.vgg16`` with torchvision's weights)
expect images prepared exactly as in training. torchvision's recipe for its
pretrained classifiers (``ImageClassification(crop_size=224)``) is:

1. resize so that the *shorter* side is 256 pixels (bilinear, with Pillow's
   antialiasing), keeping the aspect ratio: the longer side becomes
   ``int(256 * long / short)``;
2. cut out the central 224x224 square (top-left corner at
   ``round((H - 224) / 2), round((W - 224) / 2)``);
3. scale the pixels from 0..255 to [0, 1];
4. normalize each channel with ImageNet's mean and standard deviation:
   ``(x - IMAGENET_MEAN) / IMAGENET_STD``.

`preprocess_imagenet` does these steps with Pillow and NumPy, the same Pillow calls
torchvision makes for a PIL image. `imagenet_classes()` returns the class names in
the order of the network's 1000 outputs (``minicnn/assets/imagenet_classes.txt``,
from torchvision, BSD-3 licence: see ``imagenet_classes.LICENSE.txt`` beside it).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)   # R, G, B
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_CLASSES = Path(__file__).resolve().parent.parent / "assets" / "imagenet_classes.txt"


@lru_cache(maxsize=1)
def _read_classes() -> tuple[str, ...]:
    names = tuple(_CLASSES.read_text(encoding="utf-8").splitlines())
    if len(names) != 1000:
        raise ValueError(f"{_CLASSES} should list 1000 class names, but lists {len(names)}; "
                         f"reinstall minicnn")
    return names


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names; ``imagenet_classes()[i]`` is output ``i``
    (e.g. 281 is ``"tabby"``, 285 ``"Egyptian cat"``)."""
    return list(_read_classes())


def resized_size(width: int, height: int, short: int = 256) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to ``short``, as torchvision does."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def preprocess_imagenet(image: Image.Image, resize: int = 256, crop: int = 224) -> np.ndarray:
    """Resize, centre-crop, scale and normalize one Pillow image (steps 1-4 above).

    Returns a float32 array (1, 3, crop, crop): a batch of one, ready for
    ``model.forward``. Any Pillow mode is converted to RGB first.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, but got {type(image).__name__}; "
                        f"use load_imagenet_image(path) for a file")
    for name, value in (("resize", resize), ("crop", crop)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    if crop > resize:
        raise ValueError(f"crop must not exceed resize. Received: crop={crop}, resize={resize}")
    image = image.convert("RGB")
    width, height = resized_size(*image.size, short=resize)
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
    pixels = np.asarray(image, dtype=np.uint8)[top:top + crop, left:left + crop]
    x = pixels.astype(np.float32) / np.float32(255)             # (crop, crop, 3) in [0, 1]
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])     # (1, 3, crop, crop)


def load_imagenet_image(path: str | os.PathLike, resize: int = 256,
                        crop: int = 224) -> np.ndarray:
    """Read a photograph (PNG, JPEG, ... through Pillow) and `preprocess_imagenet` it.

    Returns float32 (1, 3, crop, crop). FileNotFoundError for a missing file,
    ValueError (naming the file) for one Pillow cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return preprocess_imagenet(image, resize, crop)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image file {path}: {err}") from err


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_imagenet_folder(folder: str | os.PathLike, resize: int = 256,
                         crop: int = 224) -> tuple[np.ndarray, list[str]]:
    """Every photograph in ``folder`` (files ending in one of ``IMAGE_SUFFIXES``, any
    case; not its sub-folders), sorted by name and prepared by `load_imagenet_image`.

    Returns (X, names): float32 (N, 3, crop, crop) and the N file names.
    FileNotFoundError if ``folder`` is not a folder, ValueError if it holds no image
    or an image Pillow cannot read (naming the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder at {str(folder)!r} (expected a folder of "
                                f"photographs)")
    paths = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"the folder {str(folder)!r} holds no image: expected files ending "
                         f"in {', '.join(IMAGE_SUFFIXES)}")
    X = np.concatenate([load_imagenet_image(p, resize, crop) for p in paths])
    return X, [p.name for p in paths]


def unnormalize_imagenet(x: np.ndarray) -> np.ndarray:
    """Undo step 4 for display: (N, 3, H, W) normalized -> the same in [0, 1] (clipped)."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected x of shape (N, 3, H, W), but got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    mean, std = IMAGENET_MEAN[:, None, None], IMAGENET_STD[:, None, None]
    return np.clip(x * std + mean, 0, 1).astype(x.dtype, copy=False)
