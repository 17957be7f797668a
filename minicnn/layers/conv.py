"""2-D convolution: the layer `Conv2D` and the loop-based reference `conv2d_naive`.

Like PyTorch's ``conv2d`` this is *cross-correlation*: the filter is not flipped.

Shape:
    x:   (N, C, H, W)        input images
    w:   (F, C, KH, KW)      F filters
    b:   (F,)
    out: (N, F, H_out, W_out) with
         H_out = floor((H + 2*pad_h - KH) / stride_h) + 1
         W_out = floor((W + 2*pad_w - KW) / stride_w) + 1
"""

from __future__ import annotations

import numpy as np

from ..validation import (
    as_generator,
    check_array,
    check_dout,
    check_dtype,
    check_int,
    check_param_dtype,
    check_size,
    pair,
)
from ._fast import columns_are_small, conv_backward, conv_forward, pad_images
from .base import Layer


def conv_output_size(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                     pad: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of a convolution or pooling window (formula above)."""
    return ((h + 2 * pad[0] - kernel[0]) // stride[0] + 1,
            (w + 2 * pad[1] - kernel[1]) // stride[1] + 1)


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=1, pad=0) -> np.ndarray:
    """Reference convolution with explicit loops: slow, but every step is visible.

    Parameters
    ----------
    x : (N, C, H, W) array
    w : (F, C, KH, KW) array
    b : (F,) array
    stride, pad : int or (int, int)

    Returns
    -------
    out : (N, F, H_out, W_out) array, ``out[n, f, i, j] =
        sum(x_pad[n, :, i*sh : i*sh+KH, j*sw : j*sw+KW] * w[f]) + b[f]``
    """
    sh, sw = pair(stride, "stride")
    ph, pw = pair(pad, "pad", minimum=0)
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    h_out, w_out = conv_output_size(h, wd, (kh, kw), (sh, sw), (ph, pw))
    # BEGIN SOLUTION cnn_layers
    # HINT: pad x with np.pad, then loop over n, f, i, j and sum window * w[f], plus b[f].
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, f, h_out, w_out), dtype=x.dtype)
    for img in range(n):
        for filt in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    window = x_pad[img, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[img, filt, i, j] = np.sum(window * w[filt]) + b[filt]
    return out
    # END SOLUTION


def conv2d_naive_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride=1,
                          pad=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference backward pass of `conv2d_naive`.

    Returns ``(dx, dw, db)`` shaped like ``x``, ``w`` and ``(F,)``: every output
    position sends ``dout[n, f, i, j] * w[f]`` back to its input window and adds
    ``dout[n, f, i, j] * window`` to ``dw[f]``.
    """
    sh, sw = pair(stride, "stride")
    ph, pw = pair(pad, "pad", minimum=0)
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    _, _, h_out, w_out = dout.shape
    # BEGIN SOLUTION cnn_layers
    # HINT: loop as in forward; dx_pad window += dout[n,f,i,j]*w[f]; dw[f] += dout*window.
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for img in range(n):
        for filt in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * sh, i * sh + kh)
                    cols = slice(j * sw, j * sw + kw)
                    dx_pad[img, :, rows, cols] += dout[img, filt, i, j] * w[filt]
                    dw[filt] += dout[img, filt, i, j] * x_pad[img, :, rows, cols]
    dx = dx_pad[:, :, ph:ph + h, pw:pw + wd]
    return dx, dw, db
    # END SOLUTION


class Conv2D(Layer):
    """2-D convolution (cross-correlation) over a batch of images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding : int or (int, int)
        ``padding`` adds that many zeros on each side.
    rng : np.random.Generator or int, optional
        Source of the He-normal initial weights ``N(0, 2 / (C*KH*KW))``; biases
        start at zero. Pass a seed or generator for reproducible runs.
    dtype : float32 (default) or float64
    name : str, optional

    Shape: see the module docstring. ``params = {"W": (F, C, KH, KW), "b": (F,)}``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 *, rng=None, dtype=np.float32, name: str | None = None):
        super().__init__(name)
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding", minimum=0)
        dtype = check_dtype(dtype)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        rng = as_generator(rng)
        shape = (self.out_channels, self.in_channels, kh, kw)
        check_size(shape, np.float64, "W", "Conv2D")     # drawn in float64 first
        w = rng.standard_normal(shape)
        w *= np.sqrt(2.0 / fan_in)              # in place: no second float64 copy
        self.params = {"W": w.astype(dtype, copy=False),
                       "b": np.zeros(self.out_channels, dtype=dtype)}
        self.zero_grad()

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding}

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        return (n, self.out_channels,
                *conv_output_size(h, w, self.kernel_size, self.stride, self.padding))

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x: (N, C, H, W) -> (N, F, H_out, W_out)."""
        self._check_input(x)
        w = self.params["W"]
        x_pad = pad_images(x, self.padding)           # (N, C, H + 2*pad_h, W + 2*pad_w)
        # Training on small inputs: keep the gathered columns, so backward need not
        # gather them again for dW. Otherwise (explanations, big inputs such as
        # 224x224) keep only x_pad, to save memory.
        keep = train and self.param_grads and columns_are_small(x_pad, w, self.stride)
        columns = [] if keep else None
        out = conv_forward(x_pad, w, self.params["b"], self.stride, keep=columns)
        self.cache = (x.shape, x_pad, columns)
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W); fills grads W and b.

        ``input_grad=False`` skips dx and returns None: in training, the first layer's
        input is the data, whose gradient nobody needs (PyTorch skips it too).
        """
        x_shape, x_pad, columns = self._cached()
        check_dout(dout, self.output_shape(x_shape), self._label(), self.params["W"].dtype)
        dx, dw, db = conv_backward(dout, x_pad, self.params["W"], self.stride, self.padding,
                                   param_grads=self.param_grads, columns=columns,
                                   input_grad=input_grad)
        if self.param_grads:
            self.grads["W"], self.grads["b"] = dw, db
        return dx

    def _check_input(self, x) -> None:
        label = self._label()
        check_array(x, label, ndim=4)
        check_param_dtype(x, self.params["W"].dtype, label)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{label}: input must have {self.in_channels} channels "
                             f"(dimension 1). Received: input of shape {list(x.shape)}")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        check_size((*x.shape[:2], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), x.dtype,
                   "the padded input", label)
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(f"{label}: input plus padding {self.padding} must be at least "
                             f"the kernel {self.kernel_size}. Received: input of shape "
                             f"{list(x.shape)}")
