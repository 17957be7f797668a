"""Datasets for minicnn: Fashion-MNIST, synthetic shapes, your own images.

Everything returns images as float32 ``(N, C, H, W)`` arrays in [0, 1] and labels
as int64 ``(N,)`` arrays. This package needs only NumPy, Pillow and the standard
library. See docs/data.md.
"""

from minicnn.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from minicnn.data.idx import load_idx
from minicnn.data.images import load_image, load_image_folder
from minicnn.data.samples import sample_images
from minicnn.data.shapes import SHAPES_CLASSES, make_shapes

__all__ = [
    "FASHION_MNIST_CLASSES",
    "SHAPES_CLASSES",
    "load_fashion_mnist",
    "load_idx",
    "load_image",
    "load_image_folder",
    "make_shapes",
    "sample_images",
]
