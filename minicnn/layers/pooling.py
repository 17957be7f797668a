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
from ._threads import image_parts, parallel_map
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


def _max_and_first(arrays: list[np.ndarray], best: np.ndarray | None = None,
                   which: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise maximum of equally shaped arrays, and which array held it first.

    Returns ``(best, which)``: ``best`` is a contiguous array (written into the given
    one, if any), ``which`` the index of the first array equal to ``best`` there
    (strictly greater values replace, so ties keep the earlier index). Each array is
    first copied contiguous: NumPy's arithmetic on strided views is much slower than a
    strided copy.
    """
    if best is None:
        best = np.empty(arrays[0].shape, dtype=arrays[0].dtype)
    if which is None:
        which = np.empty(best.shape, dtype=_index_dtype(len(arrays)))
    best[...] = arrays[0]
    which[...] = 0
    better = np.empty(best.shape, dtype=bool)
    for k, a in enumerate(arrays[1:], start=1):
        a = np.ascontiguousarray(a)
        np.greater(a, best, out=better)          # strict: the first maximum wins ties
        np.maximum(best, a, out=best)
        # Indices grow from array to array, so this sets `which` to k where `a` is
        # better and keeps it elsewhere (faster than which[better] = k).
        np.maximum(which, better * which.dtype.type(k), out=which)
    return best, which


def _index_dtype(count: int) -> np.dtype:
    """The smallest unsigned integer type for indices 0 .. count - 1."""
    return np.min_scalar_type(count - 1)


def _send_back(grad: np.ndarray, which: np.ndarray, views: list[np.ndarray],
               overlapping: bool) -> None:
    """The adjoint of `_max_and_first`: ``grad`` goes to view ``which`` (in place)."""
    won = np.empty(which.shape, dtype=bool)
    for k, view in enumerate(views):
        np.equal(which, k, out=won)
        if overlapping and k > 0:   # an element can be in several windows: add up
            view += grad * won
        else:      # the first view, or windows that do not overlap: write directly
            np.multiply(grad, won, out=view)


class MaxPool2D(_Pool2D):
    """Max-pooling over ``kernel_size`` windows; see the module docstring for shapes.

    The fast path is separable. First the maximum over the KW columns of every
    window row, for all rows: ``rowmax`` (N, C, H, W_out). Then the maximum of KH
    rows of ``rowmax``: the output. Each step also records which column (``col``)
    and which row (``row``) held the maximum first, so ties go to the first maximum
    in row-major window order, like ``maxpool_naive``: the first row that holds it,
    and the first column in that row. Backward sends ``dout`` back through the two
    steps in reverse. A step is KW (or KH) element-wise operations on whole arrays,
    so a 3x3 window costs 3 + 3 of them, not 9.

    Images are independent, so a large batch is cut into one part per kernel thread
    (``_threads.py``), each part written into its own slice of the results.
    """

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self._check_input(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        out = np.empty(self.output_shape(x.shape), dtype=x.dtype)
        n, c, h_out, w_out = out.shape
        col = np.empty((n, c, x.shape[2], w_out), dtype=_index_dtype(kw))
        row = np.empty(out.shape, dtype=_index_dtype(kh))

        def part(images):
            rowmax, _ = _max_and_first([x[images, ..., j:j + sw * w_out:sw]
                                        for j in range(kw)], which=col[images])
            _max_and_first([rowmax[:, :, i:i + sh * h_out:sh] for i in range(kh)],
                           best=out[images], which=row[images])

        list(parallel_map(part, image_parts(n, x.nbytes)))
        self.cache = (x.shape, x.dtype, col, row)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype, col, row = self._cached()
        check_dout(dout, row.shape, self._label(), dtype)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        _, _, h_out, w_out = row.shape
        h, w = x_shape[2:]
        # Rows (columns) no window reads must be zero, and so must everything when
        # windows overlap (the steps add up); otherwise every element is written.
        covered_h, covered_w = kh == sh and kh * h_out == h, kw == sw and kw * w_out == w
        d_rowmax = (np.empty if covered_h else np.zeros)(col.shape, dtype=dout.dtype)
        dx = (np.empty if covered_w else np.zeros)(x_shape, dtype=dout.dtype)

        def part(images):
            _send_back(dout[images], row[images],
                       [d_rowmax[images, :, i:i + sh * h_out:sh] for i in range(kh)],
                       overlapping=kh > sh)
            _send_back(d_rowmax[images], col[images],
                       [dx[images, ..., j:j + sw * w_out:sw] for j in range(kw)],
                       overlapping=kw > sw)

        list(parallel_map(part, image_parts(len(dout), dx.nbytes)))
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
