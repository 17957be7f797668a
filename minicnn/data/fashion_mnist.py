"""Fashion-MNIST: 70,000 grayscale 28x28 images of clothing in 10 classes.

Fashion-MNIST is by Zalando Research, released under the MIT licence:
https://github.com/zalandoresearch/fashion-mnist

The four IDX files are looked for in the ``path`` argument if it is given, and
only there. Without it they are looked for, in order, in:

1. ``$MINICNN_DATA`` and ``$MINICNN_DATA/fashion-mnist``, if the variable is set;
2. ``./data/fashion-mnist`` (relative to the current working directory);
3. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package).

The first folder that holds both files of the requested split wins. Each file may
be gzip-compressed (``.gz``, as downloaded) or not.

Setting ``MINICNN_HIDE_DATA=1`` removes folders 1-3 from the search: only a
``path`` argument is searched, so the code runs as on a machine without the
dataset (CI runs the tests once this way).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minicnn.data.idx import load_idx

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

FASHION_MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
HIDE_DATA_VARIABLE = "MINICNN_HIDE_DATA"

_HOW_TO_GET = (
    "To get the data, either\n"
    "  - install Debian's package:  sudo apt-get install dataset-fashion-mnist\n"
    "  - or download the four .gz files (train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)\n"
    "    from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)\n"
    "    into ./data/fashion-mnist, or into a folder named by $MINICNN_DATA or path=."
)


def data_hidden() -> bool:
    """True when ``$MINICNN_HIDE_DATA`` hides the default folders (see `search_dirs`)."""
    return os.environ.get(HIDE_DATA_VARIABLE, "") not in ("", "0")


def search_dirs(path: str | os.PathLike | None = None) -> list[Path]:
    """Return the folders searched for Fashion-MNIST, in search order.

    Parameters
    ----------
    path : str or path-like, optional
        A folder given by the caller; it comes first.

    Returns
    -------
    list of Path
        Candidate folders (they need not exist). When ``$MINICNN_HIDE_DATA`` is set
        (to anything but ``""`` or ``"0"``), only ``path``.
    """
    dirs = []
    if path is not None:
        dirs.append(Path(path))
    if data_hidden():
        return dirs
    env = os.environ.get("MINICNN_DATA")
    if env:
        dirs += [Path(env), Path(env) / "fashion-mnist"]
    dirs += [Path.cwd() / "data" / "fashion-mnist", SYSTEM_DIR]
    return dirs


def _find_file(folder: Path, name: str) -> Path | None:
    """Return ``folder/name``, or its uncompressed twin, if either exists."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _check_folder(path) -> Path:
    """``path`` as a Path to an existing folder, or a clear error naming it."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or path == "":
        raise TypeError(f"path must be a folder (a str or pathlib.Path). "
                        f"Received: path={path!r}")
    folder = Path(path)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "missing"
        raise FileNotFoundError(f"path must be a folder holding the Fashion-MNIST files, but "
                                f"{str(folder)!r} is {what}. Received: path={str(path)!r}")
    return folder


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) in [0, 255] -> float32 (N, 1, H, W) in [0, 1]."""
    return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def find_fashion_mnist(split: str = "test", path: str | os.PathLike | None = None) -> Path:
    """Return the first searched folder that holds both IDX files of ``split``.

    Parameters
    ----------
    split : {"train", "test"}
    path : str or path-like, optional
        The folder holding the IDX files. When given, it is the only place looked
        in: a missing file is an error, not a reason to use another copy from the
        default folders.

    Returns
    -------
    Path
        The folder, as an absolute path (``./data/fashion-mnist`` is resolved
        against the current working directory).

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``.
    FileNotFoundError
        If no searched folder holds both files. The message lists every folder
        searched and how to get the data.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be one of 'train', 'test'. Received: split={split!r}")
    image_name, label_name = FASHION_MNIST_FILES[split]
    if path is not None:
        folder = _check_folder(path)
        missing = [name for name in (image_name, label_name) if _find_file(folder, name) is None]
        if missing:
            raise FileNotFoundError(
                f"path {str(folder)!r} lacks the Fashion-MNIST {split} file(s) "
                f"{', '.join(missing)} (or the same without .gz); it is the only folder "
                f"searched when path= is given. Received: path={str(path)!r}\n{_HOW_TO_GET}"
            )
        return folder.absolute()
    searched = search_dirs()
    for folder in searched:
        if _find_file(folder, image_name) and _find_file(folder, label_name):
            return folder.absolute()
    folders = "\n".join(f"  - {folder}" for folder in searched) or "  (no folder)"
    hidden = (
        f"{HIDE_DATA_VARIABLE} is set: only a path= argument is searched.\n"
        if data_hidden() else ""
    )
    raise FileNotFoundError(
        f"Fashion-MNIST {split} files ({image_name}, {label_name}) not found. "
        f"Searched:\n{folders}\n{hidden}{_HOW_TO_GET}"
    )


def load_fashion_mnist(
    split: str = "train", path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load the Fashion-MNIST training or test set.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"`` gives 60,000 images, ``"test"`` gives 10,000.
    path : str or path-like, optional
        The folder holding the IDX files. When given, it is the only place looked
        in: a missing file is an error, not a reason to load another copy from the
        default folders (see the module docstring).

    Returns
    -------
    X : np.ndarray, float32, shape (N, 1, 28, 28)
        Pixel values in [0, 1] (the stored bytes divided by 255).
    y : np.ndarray, int64, shape (N,)
        Class indices in 0..9; names in ``FASHION_MNIST_CLASSES``.

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``, or a file is corrupt.
    FileNotFoundError
        If no searched folder holds the split's files. The message lists every
        folder searched and how to get the data.
    """
    folder = find_fashion_mnist(split, path)
    image_file = _find_file(folder, FASHION_MNIST_FILES[split][0])
    label_file = _find_file(folder, FASHION_MNIST_FILES[split][1])
    images = load_idx(image_file)
    labels = load_idx(label_file)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{image_file}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{label_file}: expected {len(images)} labels to match {image_file}, "
            f"got shape {labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{label_file}: labels must be integers, found dtype {labels.dtype}")
    bad = labels[(labels < 0) | (labels >= len(FASHION_MNIST_CLASSES))]
    if bad.size:
        raise ValueError(f"{label_file}: labels must be in 0..9, found {bad[0]}")
    return _to_float(images), labels.astype(np.int64)
