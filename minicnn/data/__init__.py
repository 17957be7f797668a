"""Datasets for minicnn: Fashion-MNIST, synthetic shapes, your own images.

Everything returns images as float32 ``(N, C, H, W)`` arrays in [0, 1] and labels
as int64 ``(N,)`` arrays. This package needs only NumPy, Pillow and the standard
library. See docs/data.md.

For test images on any machine, call `fashion_mnist_test_set()`: the full Fashion-MNIST
test set when it is installed, else the 2,000 test images shipped in the package
(`shipped_test_subset()`), and which one it is.
"""

from minicnn.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    find_fashion_mnist,
    load_fashion_mnist,
)
from minicnn.data.idx import load_idx
from minicnn.data.imagenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    imagenet_classes,
    load_imagenet_folder,
    load_imagenet_image,
    preprocess_imagenet,
    unnormalize_imagenet,
)
from minicnn.data.images import load_image, load_image_folder
from minicnn.data.samples import sample_images
from minicnn.data.shapes import SHAPES_CLASSES, make_shapes
from minicnn.data.subset import FashionTestSet, fashion_mnist_test_set, shipped_test_subset

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "imagenet_classes",
    "load_imagenet_folder",
    "load_imagenet_image",
    "preprocess_imagenet",
    "unnormalize_imagenet",
    "FASHION_MNIST_CLASSES",
    "SHAPES_CLASSES",
    "FashionTestSet",
    "fashion_mnist_test_set",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "load_idx",
    "load_image",
    "load_image_folder",
    "make_shapes",
    "sample_images",
    "shipped_test_subset",
]
