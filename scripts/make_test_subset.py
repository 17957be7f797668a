"""Write minicnn/assets/fashion_mnist_test_subset.npz: the first 2,000 Fashion-MNIST test images.

Run from the repository root (needs the full test set, see docs/data.md)::

    python scripts/make_test_subset.py [--path FOLDER] [--out FILE]

The file holds ``images`` (uint8, 2000 x 28 x 28, the original bytes), ``labels``
(int64), ``indices`` (int64, their places in the test set: 0..1999) and ``notice``
(the source and licence, one string). The output is deterministic: the same dataset
always gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from minicnn.data.fashion_mnist import find_fashion_mnist, load_fashion_mnist
from minicnn.data.subset import TEST_SUBSET_FILE, TEST_SUBSET_SIZE

NOTICE = (
    "Fashion-MNIST test images and labels, indices 0..1999 of t10k-images-idx3-ubyte / "
    "t10k-labels-idx1-ubyte. Copyright (c) 2017 Zalando SE, "
    "https://github.com/zalandoresearch/fashion-mnist, MIT licence "
    "(full text: FASHION_MNIST_LICENSE.txt beside this file)."
)


def main(path: str | None = None, out: Path = TEST_SUBSET_FILE) -> Path:
    folder = find_fashion_mnist("test", path)
    X, y = load_fashion_mnist("test", path=folder)
    if len(X) != 10000:
        raise ValueError(f"{folder}: expected the 10,000-image Fashion-MNIST test set, "
                         f"got {len(X)} images")
    indices = np.arange(TEST_SUBSET_SIZE, dtype=np.int64)
    images = np.round(X[indices, 0] * 255).astype(np.uint8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, images=images, labels=y[indices].astype(np.int64),
                        indices=indices, notice=np.array(NOTICE))
    tmp.replace(out)   # atomic: a crash never leaves half a file
    print(f"wrote {out} ({out.stat().st_size:,} bytes) from {folder}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", help="folder with the Fashion-MNIST test files "
                                       "(default: the usual search, see docs/data.md)")
    parser.add_argument("--out", type=Path, default=TEST_SUBSET_FILE,
                        help="output file (default: %(default)s)")
    args = parser.parse_args()
    main(args.path, args.out)
