"""Sample images shipped inside the package, so demos run with no download.

``minicnn/assets/sample_images.npz`` holds one Fashion-MNIST *test* image per
class -- the first test image of each class -- made by
``scripts/make_sample_images.py``. They are also among the 2,000 test images of
`minicnn.data.shipped_test_subset`. Fashion-MNIST is by Zalando Research, MIT licence
(``minicnn/assets/FASHION_MNIST_LICENSE.txt``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_IMAGES_FILE = Path(__file__).resolve().parent.parent / "assets" / "sample_images.npz"


def sample_images(
    return_indices: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the 10 shipped Fashion-MNIST test images, one per class.

    Parameters
    ----------
    return_indices : bool, default False
        Also return each image's index in the Fashion-MNIST test set.

    Returns
    -------
    X : np.ndarray, float32, shape (10, 1, 28, 28)
        Images in [0, 1], scaled exactly as ``load_fashion_mnist`` scales them.
    y : np.ndarray, int64, shape (10,)
        Labels ``0, 1, ..., 9`` (image ``i`` is of class ``i``); names in
        ``FASHION_MNIST_CLASSES``.
    indices : np.ndarray, int64, shape (10,)
        Only if ``return_indices``: ``load_fashion_mnist("test")[0][indices]``
        equals ``X``.
    """
    return read_shipped_images(SAMPLE_IMAGES_FILE, return_indices)


def read_shipped_images(path: Path, return_indices: bool = False):
    """``(X, y)`` or ``(X, y, indices)`` from one of the package's image files: uint8
    ``images`` (N, 28, 28) scaled to float32 (N, 1, 28, 28) in [0, 1] exactly as
    ``load_fashion_mnist`` scales them, int64 ``labels`` and test-set ``indices``."""
    with np.load(path, allow_pickle=False) as npz:
        images, labels, indices = npz["images"], npz["labels"], npz["indices"]
    X = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    y = labels.astype(np.int64)
    if return_indices:
        return X, y, indices.astype(np.int64)
    return X, y
