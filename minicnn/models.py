"""Ready-made networks: plain functions that return a `Sequential`, and the shipped
Fashion-MNIST model (`pretrained`).

Each takes ``rng`` (a seed or a ``np.random.Generator``) for the initial weights, so
the same seed gives the same network. Layers are left unnamed, so `Sequential`
names them ``conv1, relu1, pool1, conv2, ...`` in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from .sequential import Sequential, load
from .validation import as_generator, check_int

PRETRAINED_FILE = Path(__file__).parent / "assets" / "fashion_mnist_cnn.npz"


def fashion_cnn(rng=0) -> Sequential:
    """The shipped Fashion-MNIST model: three conv layers and two dense layers.

    ::

        (N, 1, 28, 28) conv1 3x3, 16 -> relu1 -> pool1 -> (N, 16, 14, 14)
                       conv2 3x3, 32 -> relu2 -> pool2 -> (N, 32, 7, 7)
                       conv3 3x3, 64 -> relu3          -> (N, 64, 7, 7)
                       flatten1 -> fc1 3136->128 -> relu4 -> fc2 128->10 -> (N, 10) scores

    All convolutions use padding 1, so only the pools shrink the image. conv3 has no
    pool after it: pooling 7x7 to 3x3 would drop a row and a column and cost about
    a point of test accuracy. 426,122 parameters (1.7 MB as float32).
    """
    rng = as_generator(rng)
    return Sequential([
        Conv2D(1, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(),
        Flatten(),
        Dense(64 * 7 * 7, 128, rng=rng), ReLU(),
        Dense(128, 10, rng=rng),
    ], input_shape=(1, 28, 28))


def shapes_cnn(rng=0, size: int = 32, num_classes: int = 4) -> Sequential:
    """A small CNN for the synthetic shapes set (``size`` x ``size`` gray images).

    ::

        (N, 1, S, S) conv1 3x3, 8 -> relu1 -> pool1 -> (N, 8, S/2, S/2)
                     conv2 3x3, 16 -> relu2 -> pool2 -> (N, 16, S/4, S/4)
                     conv3 3x3, 32 -> relu3 -> pool3 -> (N, 32, S/8, S/8)
                     flatten1 -> fc1 -> (N, num_classes) scores

    ``size`` must be a multiple of 8 (32 by default, as in `make_shapes`).
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8 \
            or size % 8:
        raise ValueError(f"size must be a positive multiple of 8. Received: size={size!r}")
    num_classes = check_int(num_classes, "num_classes")
    rng = as_generator(rng)
    side = size // 8
    return Sequential([
        Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(8, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(),
        Dense(32 * side * side, num_classes, rng=rng),
    ], input_shape=(1, size, size))


def benchmark_cnn(rng=0) -> Sequential:
    """The network of the speed benchmark (``benchmarks/train.py``), as in the
    PyTorch comparison: conv 1->32 and 32->64 (3x3, padding 1), each followed by
    ReLU and 2x2 max-pooling, then dense 3136->128, ReLU, dense 128->10."""
    rng = as_generator(rng)
    return Sequential([
        Conv2D(1, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(),
        Dense(64 * 7 * 7, 128, rng=rng), ReLU(),
        Dense(128, 10, rng=rng),
    ], input_shape=(1, 28, 28))


def pretrained() -> Sequential:
    """The `fashion_cnn` trained on Fashion-MNIST that ships with minicnn (see README)."""
    if not PRETRAINED_FILE.is_file():
        raise FileNotFoundError(f"the shipped model is missing from {str(PRETRAINED_FILE)!r}; "
                                "reinstall minicnn or run the training command in the README")
    return load(PRETRAINED_FILE)
