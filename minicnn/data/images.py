"""Load your own PNG/JPEG images through Pillow.

Images come back as float32 arrays ``(N, C, H, W)`` in [0, 1], like every other
dataset in ``minicnn.data``: ``C = 3`` (RGB) by default, ``C = 1`` with
``grayscale=True``. Alpha channels are dropped; palette images are converted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def _pair(size, name: str = "size") -> tuple[int, int]:
    """Turn ``28`` into ``(28, 28)``; check ``(H, W)`` is two positive ints."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else size
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in pair)
    ):
        raise TypeError(
            f"{name} must be an int or a pair of ints (H, W). Received: {name}={size!r}"
        )
    if min(pair) <= 0:
        raise ValueError(f"{name} must be positive. Received: {name}={size!r}")
    return int(pair[0]), int(pair[1])


def _is_16_bit_gray(img: Image.Image) -> bool:
    """16-bit grayscale: Pillow opens such PNGs as mode "I;16" (older versions: "I")."""
    return img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG")


def _read(path: Path, size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    """Read one image file into a float32 (C, H, W) array in [0, 1].

    8-bit images are divided by 255, 16-bit grayscale images by 65535 (converting
    them to 8 bits first would clip every value above 255 to white).
    """
    try:
        with Image.open(path) as img:
            if _is_16_bit_gray(img):
                img = Image.fromarray(np.asarray(img, dtype=np.float32) / np.float32(65535.0))
                scale = np.float32(1.0)                 # a float ("F") image, already in [0, 1]
            else:
                img = img.convert("L" if grayscale else "RGB")
                scale = np.float32(255.0)
    except Image.DecompressionBombError as err:
        raise ValueError(f"cannot read image file {path}: it declares more than "
                         f"{2 * Image.MAX_IMAGE_PIXELS:,} pixels, which Pillow refuses as a "
                         f"possible decompression bomb ({err})") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image file {path}: {err}") from err
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow wants (W, H)
    pixels = np.asarray(img, dtype=np.float32) / scale
    if pixels.ndim == 2 and not grayscale:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)          # gray -> equal R, G, B
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


def load_image(
    path: str | os.PathLike,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
) -> np.ndarray:
    """Load one image as a batch of one.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG or any other format Pillow reads.
    size : int or (H, W), optional
        Resize to this size (bilinear). ``28`` means ``(28, 28)``. ``None`` keeps
        the file's size.
    grayscale : bool, default False
        Convert to one luminance channel; otherwise to three RGB channels.

    Returns
    -------
    np.ndarray, float32, shape (1, C, H, W)
        Pixel values in [0, 1]; ``C`` is 1 if ``grayscale`` else 3.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read as an image (the message names the file), or
        ``size`` is not positive.
    TypeError
        If ``size`` is neither an int nor a pair of ints.
    """
    path = Path(path)
    size = None if size is None else _pair(size)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    return _read(path, size, grayscale)[None]


def _visible(folder: Path) -> list[Path]:
    """Entries of ``folder`` whose names do not start with '.', sorted by name."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def load_image_folder(
    root: str | os.PathLike,
    size: int | tuple[int, int],
    grayscale: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a dataset laid out as one subfolder per class.

    ::

        root/
            cat/  001.png  002.jpg ...
            dog/  001.png ...

    Class names are the subfolder names, sorted; hidden files and folders (names
    starting with '.') are skipped, and so are files whose extension Pillow does
    not know as an image format (e.g. ``README.txt``). Every image is resized to
    ``size`` so they stack into one array.

    Parameters
    ----------
    root : str or path-like
        The folder holding one subfolder per class.
    size : int or (H, W)
        Size every image is resized to.
    grayscale : bool, default False
        One luminance channel instead of three RGB channels.

    Returns
    -------
    X : np.ndarray, float32, shape (N, C, H, W)
        Images in [0, 1], class by class, files in sorted order within a class.
    y : np.ndarray, int64, shape (N,)
        Index of each image's class in ``class_names``.
    class_names : list of str
        The sorted subfolder names.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or is not a folder.
    ValueError
        If ``root`` has no class subfolders, a class subfolder has no images, or
        an image file cannot be read (the message names the file).
    """
    root = Path(root)
    size = _pair(size)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    class_dirs = [p for p in _visible(root) if p.is_dir()]
    if not class_dirs:
        raise ValueError(f"{root} has no class subfolders; expected root/<class_name>/<image>")

    image_exts = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        files = [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in image_exts]
        if not files:
            raise ValueError(f"class folder {folder} holds no image files")
        images += [_read(f, size, grayscale) for f in files]
        labels += [label] * len(files)
    return np.stack(images), np.array(labels, dtype=np.int64), [p.name for p in class_dirs]
