"""minicnn: a pure-NumPy convolutional network framework for teaching.

Layers live in `minicnn.layers`, the model in `minicnn.model`, the gradient rules
in `minicnn.layers.relu` and the explanations built on them in `minicnn.explain`.
"""

from .io import load, pretrained
from .layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from .losses import SoftmaxCrossEntropy
from .model import Sequential, relu_mode
from .torch_weights import load_torch_weights

__version__ = "0.1.0"

__all__ = [
    "Conv2D", "ReLU", "MaxPool2D", "AvgPool2D", "Flatten", "Dense", "Dropout",
    "SoftmaxCrossEntropy", "Sequential", "relu_mode", "load", "pretrained",
    "load_torch_weights",
]
