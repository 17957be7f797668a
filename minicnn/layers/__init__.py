"""Layers, one family a file. Each has ``params``/``grads`` dicts,
``forward(x, train=False)`` and ``backward(dout)`` (which returns dL/dx)."""

from .adaptive_pool import AdaptiveAvgPool2D, adaptive_windows
from .base import Layer
from .conv import Conv2D, conv2d_naive, conv2d_naive_backward, conv_output_size
from .dense import Dense, Flatten
from .dropout import Dropout
from .pooling import AvgPool2D, MaxPool2D, maxpool_naive, maxpool_naive_backward
from .relu import RELU_MODES, ReLU, relu_backward

__all__ = [
    "Layer", "Conv2D", "conv2d_naive", "conv2d_naive_backward", "conv_output_size",
    "Dense", "Flatten", "Dropout", "MaxPool2D", "AvgPool2D", "maxpool_naive",
    "maxpool_naive_backward", "AdaptiveAvgPool2D", "adaptive_windows", "ReLU", "RELU_MODES",
    "relu_backward",
]
