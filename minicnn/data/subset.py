"""A fixed part of the Fashion-MNIST test set that ships inside the package.

``minicnn/assets/fashion_mnist_test_subset.npz`` holds the first 2,000 images of the
Fashion-MNIST *test* set (indices 0..1999) with their labels, made by
``scripts/make_test_subset.py``. It lets the demo, the notebooks and the tests run on
real test images on a machine without the dataset. Fashion-MNIST is by Zalando
Research, MIT licence (``minicnn/assets/FASHION_MNIST_LICENSE.txt``).

`fashion_mnist_test_set()` is what the demo, the notebooks and the tests call: the full
test set (10,000 images) when it is installed, else this subset, and which one it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from minicnn.data.fashion_mnist import (
    HIDE_DATA_VARIABLE,
    data_hidden,
    find_fashion_mnist,
    load_fashion_mnist,
)
from minicnn.data.samples import read_shipped_images

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TEST_SUBSET_FILE = ASSETS / "fashion_mnist_test_subset.npz"
TEST_SUBSET_SIZE = 2000   # the first 2,000 test images


def shipped_test_subset(
    return_indices: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the 2,000 Fashion-MNIST test images that ship with minicnn.

    Parameters
    ----------
    return_indices : bool, default False
        Also return each image's index in the Fashion-MNIST test set.

    Returns
    -------
    X : np.ndarray, float32, shape (2000, 1, 28, 28)
        Images in [0, 1], scaled exactly as ``load_fashion_mnist`` scales them.
    y : np.ndarray, int64, shape (2000,)
        Class indices in 0..9; names in ``FASHION_MNIST_CLASSES``.
    indices : np.ndarray, int64, shape (2000,)
        Only if ``return_indices``: ``0, 1, ..., 1999``, so
        ``load_fashion_mnist("test")[0][indices]`` equals ``X``.
    """
    return read_shipped_images(TEST_SUBSET_FILE, return_indices)


class FashionTestSet(NamedTuple):
    """What `fashion_mnist_test_set` returns; unpacks as ``X, y, source, description``."""

    X: np.ndarray         # float32 (N, 1, 28, 28) in [0, 1]
    y: np.ndarray         # int64 (N,)
    source: str           # "full" (N = 10,000) or "shipped" (N = 2,000)
    description: str      # one line for a printout or a figure title


def fashion_mnist_test_set(path: str | os.PathLike | None = None) -> FashionTestSet:
    """The full Fashion-MNIST test set if it is installed, else the shipped subset.

    Parameters
    ----------
    path : str or path-like, optional
        A folder searched first for the full test set (see `load_fashion_mnist`).

    Returns
    -------
    FashionTestSet
        ``X`` float32 ``(N, 1, 28, 28)``, ``y`` int64 ``(N,)``, ``source`` -- ``"full"``
        (N = 10,000, read from the folder named in ``description``) or ``"shipped"``
        (N = 2,000, the first 2,000 test images, from inside the package) -- and
        ``description``, one line saying which it is.

    Raises
    ------
    ValueError
        If the full test set is found but a file is corrupt: a broken download is
        reported, not silently replaced by the subset.
    """
    try:
        folder = find_fashion_mnist("test", path)
    except FileNotFoundError:
        X, y = shipped_test_subset()
        why = (f"{HIDE_DATA_VARIABLE} is set" if data_hidden()
               else "the full test set is not installed")
        description = (f"the shipped subset of the Fashion-MNIST test set (its first "
                       f"{len(X):,} images; {why}, see docs/data.md)")
        return FashionTestSet(X, y, "shipped", description)
    X, y = load_fashion_mnist("test", path=folder)
    description = f"the full Fashion-MNIST test set ({len(X):,} images from {folder})"
    return FashionTestSet(X, y, "full", description)
