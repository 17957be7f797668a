"""Pooling: `MaxPool2D`, `AvgPool2D`, and the loop-based reference `maxpool_naive`.

Shape:
    x:   (N, C, H, W)
    out: (N, C, H_out, W_out), H_out = floor((H - KH) / stride_h) + 1 (same for W)

``stride`` defaults to ``kernel_size`` (non-overlapping windows); a smaller
stride gives overlapping windows. Max-pooling sends each window's gradient to
its argmax (the first one on ties) in every ReLU mode: these are the
deconvnet's "switches".
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_dout, pair
from .base import Layer
from .conv import conv_output_size


def maxpool_naive(x: np.ndarray, kernel_size, stride=None) -> np.ndarray:
    """Reference max-pooling with explicit loops. x: (N, C, H, W) -> (N, C, H_out, W_out)."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(stride if stride is not None else (kh, kw), "stride")
    n, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, w, (kh, kw), (sh, sw), (0, 0))
    # BEGIN SOLUTION cnn_layers
    # HINT: out[n, c, i, j] is the max of the window x[n, c, i*sh:i*sh+kh, j*sw:j*sw+kw].
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out
    # END SOLUTION


def maxpool_naive_backward(dout: np.ndarray, x: np.ndarray, kernel_size,
                           stride=None) -> np.ndarray:
    """Reference backward of `maxpool_naive`: each window's gradient goes to its
    (first) argmax. Returns dx shaped like x; overlapping windows add up."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(stride if stride is not None else (kh, kw), "stride")
    n, c, h_out, w_out = dout.shape
    # BEGIN SOLUTION cnn_layers
    # HINT: for each window, find the argmax with np.unravel_index and add dout there.
    dx = np.zeros_like(x)
    for img in range(n):
        for ch in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[img, ch, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[img, ch, i * sh + a, j * sw + b] += dout[img, ch, i, j]
    return dx
    # END SOLUTION


class _Pool2D(Layer):
    """What max- and average-pooling share: window sizes, shapes and checks."""

    def __init__(self, kernel_size, stride=None, *, name: str | None = None):
        super().__init__(name)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")

    def config(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        return (n, c, *conv_output_size(h, w, self.kernel_size, self.stride, (0, 0)))

    def _offsets(self, out_shape):
        """Yield (i, j, window slice) for each of the KH*KW offsets inside a window:
        ``x[window]`` is then the (N, C, H_out, W_out) array of that offset's pixels."""
        _, _, h_out, w_out = out_shape
        sh, sw = self.stride
        for i in range(self.kernel_size[0]):
            for j in range(self.kernel_size[1]):
                yield i, j, (Ellipsis, slice(i, i + sh * h_out, sh), slice(j, j + sw * w_out, sw))

    def _check_input(self, x) -> None:
        check_array(x, self._label(), ndim=4)
        kh, kw = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"{self._label()}: input must be at least the pooling window "
                             f"{self.kernel_size}. Received: input of shape {list(x.shape)}")


class MaxPool2D(_Pool2D):
    """Max-pooling over ``kernel_size`` windows; see the module docstring for shapes.

    The fast path loops over the KH*KW offsets inside a window (4 for 2x2) and keeps
    the running maximum and which offset gave it, updating both in place.
    """

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self._check_input(x)
        kw = self.kernel_size[1]
        (_, _, first), *rest = self._offsets(self.output_shape(x.shape))
        out = x[first].copy()                               # running maximum
        argmax = np.zeros(out.shape, dtype=np.min_scalar_type(kw * self.kernel_size[0] - 1))
        better = np.empty(out.shape, dtype=bool)            # which offset won: i*KW + j
        for i, j, window in rest:
            np.greater(x[window], out, out=better)          # strict: the first max wins ties
            np.maximum(out, x[window], out=out)
            # Codes grow from offset to offset, so this sets argmax to this offset's
            # code where it is better and keeps it elsewhere (faster than argmax[better]).
            np.maximum(argmax, better * argmax.dtype.type(i * kw + j), out=argmax)
        self.cache = (x.shape, x.dtype, argmax)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype, argmax = self._cached()
        check_dout(dout, argmax.shape, self._label(), dtype)
        overlapping = any(k > s for k, s in zip(self.kernel_size, self.stride))
        dx = np.zeros(x_shape, dtype=dout.dtype)
        won = np.empty(argmax.shape, dtype=bool)
        routed = np.empty(argmax.shape, dtype=dx.dtype)
        for i, j, window in self._offsets(argmax.shape):
            np.equal(argmax, i * self.kernel_size[1] + j, out=won)
            if overlapping:    # a pixel can be the max of several windows: add up
                np.multiply(dout, won, out=routed)
                dx[window] += routed
            else:              # each pixel is in at most one window: write directly
                np.multiply(dout, won, out=dx[window])
        return dx


class AvgPool2D(_Pool2D):
    """Average-pooling over ``kernel_size`` windows; see the module docstring for shapes."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self._check_input(x)
        out_shape = self.output_shape(x.shape)
        out = np.zeros(out_shape, dtype=x.dtype)
        for _, _, window in self._offsets(out_shape):
            out += x[window]
        self.cache = (x.shape, x.dtype)
        return out / np.asarray(self.kernel_size[0] * self.kernel_size[1], dtype=x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype = self._cached()
        check_dout(dout, self.output_shape(x_shape), self._label(), dtype)
        share = dout / np.asarray(self.kernel_size[0] * self.kernel_size[1], dtype=dout.dtype)
        dx = np.zeros(x_shape, dtype=dout.dtype)
        for _, _, window in self._offsets(dout.shape):
            dx[window] += share
        return dx
