"""minicnn: a pure-NumPy convolutional network framework for teaching.

Layers live in `minicnn.layers`, `Sequential` in `minicnn.sequential`, ready-made
networks in `minicnn.models`, the gradient rules in `minicnn.layers.relu` and the
explanations built on them in `minicnn.explain`. docs/architecture.md maps the rest.
"""

from .layers import (
    AdaptiveAvgPool2D,
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
)
from .losses import SoftmaxCrossEntropy
from .models import pretrained
from .sequential import Sequential, load, relu_mode
from .torch_weights import load_torch_weights

__version__ = "0.1.0"

__all__ = [
    "Conv2D", "ReLU", "MaxPool2D", "AvgPool2D", "AdaptiveAvgPool2D", "Flatten", "Dense", "Dropout",
    "SoftmaxCrossEntropy", "Sequential", "relu_mode", "load", "pretrained",
    "load_torch_weights",
]
