"""Write minicnn/assets/sample_images.npz: the first Fashion-MNIST test image of each class.

Run from the repository root (needs the dataset, see docs/data.md)::

    python scripts/make_sample_images.py

The output is deterministic: the same dataset always gives the same file contents.
The images are stored as the original uint8 bytes, so nothing is lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from minicnn.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from minicnn.data.samples import SAMPLE_IMAGES_FILE


def main() -> Path:
    X, y = load_fashion_mnist("test")
    indices = np.array([np.flatnonzero(y == c)[0] for c in range(len(FASHION_MNIST_CLASSES))])
    images = np.round(X[indices, 0] * 255).astype(np.uint8)
    SAMPLE_IMAGES_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        SAMPLE_IMAGES_FILE,
        images=images,
        labels=y[indices].astype(np.int64),
        indices=indices.astype(np.int64),
    )
    return SAMPLE_IMAGES_FILE


if __name__ == "__main__":
    print(f"wrote {main()}")
