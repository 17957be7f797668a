"""Adaptive average pooling: `AdaptiveAvgPool2D`, any input size to a fixed output size.

Shape:
    x:   (N, C, H, W), any H, W >= 1
    out: (N, C, OH, OW), ``output_size = (OH, OW)``

Where an ordinary pool has one window size, this one chooses the windows from the
input size, as ``torch.nn.AdaptiveAvgPool2d`` does. Along one axis, output cell ``i``
averages the input rows ::

    start = floor(i * H / OH),   end = ceil((i + 1) * H / OH)     (end exclusive)

so the windows cover the input from the first row to the last. They can differ in
size by one and can overlap (H = 10, OH = 4: rows 0-2, 2-4, 5-7, 7-9). When
H = OH every window is one row and the layer changes nothing; when H is a multiple
of OH they are the plain ``H / OH`` windows of `AvgPool2D`; when H < OH rows repeat.

torchvision's VGG puts ``AdaptiveAvgPool2d((7, 7))`` between its convolutions and
its classifier (AlexNet: ``(6, 6)``), so the classifier gets a 7x7 map whatever the
image size: at 224x224 the map is already 7x7 and the pooling is the identity.

Backward: each output cell's gradient is shared equally among the pixels of its
window (``dout / window area``); a pixel in two windows gets both shares. Average
pooling has no ReLU, so the three gradient rules all use this.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_dout, pair
from .base import Layer


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """The ``out`` windows ``(start, end)`` (end exclusive) that cover ``size`` inputs:
    ``start = floor(i * size / out)``, ``end = ceil((i + 1) * size / out)``.

    >>> adaptive_windows(10, 4)
    [(0, 3), (2, 5), (5, 8), (7, 10)]
    """
    # -(-a // b) is ceil(a / b) in integers, exact for any size
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


class AdaptiveAvgPool2D(Layer):
    """Average-pool (N, C, H, W) to (N, C, OH, OW) for any H and W (see the module
    docstring for the windows); ``output_size`` is an int (square) or (OH, OW)."""

    def __init__(self, output_size, *, name: str | None = None):
        super().__init__(name)
        self.output_size = pair(output_size, "output_size")

    def config(self) -> dict:
        return {"output_size": self.output_size}

    def output_shape(self, input_shape):
        n, c, _, _ = input_shape
        return (n, c, *self.output_size)

    def _windows(self, h: int, w: int):
        """Yield (i, j, window slice): ``x[window]`` is (N, C, h_i, w_j), the pixels
        averaged into output cell (i, j)."""
        rows = adaptive_windows(h, self.output_size[0])
        cols = adaptive_windows(w, self.output_size[1])
        for i, (top, bottom) in enumerate(rows):
            for j, (left, right) in enumerate(cols):
                yield i, j, (Ellipsis, slice(top, bottom), slice(left, right))

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        check_array(x, self._label(), ndim=4)
        n, c, h, w = x.shape
        if h < 1 or w < 1:
            raise ValueError(f"{self._label()}: input must be at least 1x1. "
                             f"Received: input of shape {list(x.shape)}")
        self.cache = (x.shape, x.dtype)
        if (h, w) == self.output_size:   # every window is one pixel: nothing to average
            return x
        out = np.empty((n, c, *self.output_size), dtype=x.dtype)
        for i, j, window in self._windows(h, w):
            out[:, :, i, j] = x[window].mean(axis=(2, 3))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype = self._cached()
        check_dout(dout, self.output_shape(x_shape), self._label(), dtype)
        h, w = x_shape[2:]
        if (h, w) == self.output_size:
            return dout
        dx = np.zeros(x_shape, dtype=dout.dtype)
        for i, j, window in self._windows(h, w):
            patch = dx[window]                           # a view into dx
            area = patch.shape[2] * patch.shape[3]
            patch += (dout[:, :, i, j] / np.asarray(area, dtype=dout.dtype))[:, :, None, None]
        return dx
