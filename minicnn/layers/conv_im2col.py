"""Convolution as three matrix products: the teaching version of the fast path.

``Conv2D`` runs a tuned version of the same idea (``_fast.py``: chunks that stay in
the CPU cache, kept columns, a full convolution for dx). This file shows the idea
alone, one matrix product per quantity:

    cols  = im2col(x_pad)                    (C*KH*KW, N*H_out*W_out)
    out   = W_2d @ cols + b                  (F, N*H_out*W_out), W_2d = W.reshape(F, -1)
    dW    = dout_2d @ cols.T                 (F, C*KH*KW)
    dcols = W_2d.T @ dout_2d                 (C*KH*KW, N*H_out*W_out)
    dx    = col2im(dcols)                    overlapping windows add up

``tests/test_fast_paths.py`` checks that the loops in ``conv.py``, this version and
the tuned one give the same numbers.
"""

from __future__ import annotations

import numpy as np

from ..validation import pair
from ._fast import col2im, im2col, pad_images


def conv_forward_im2col(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=1, pad=0):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> (out: (N, F, H_out, W_out), cache)."""
    stride, pad = pair(stride, "stride"), pair(pad, "pad", minimum=0)
    f, c, kh, kw = w.shape
    x_pad = pad_images(x, pad)
    h_out = (x_pad.shape[2] - kh) // stride[0] + 1
    w_out = (x_pad.shape[3] - kw) // stride[1] + 1
    cols = im2col(x_pad, kh, kw, stride, h_out, w_out).reshape(c * kh * kw, -1)
    out = w.reshape(f, -1) @ cols + b[:, None]                 # (F, N*H_out*W_out)
    out = out.reshape(f, x.shape[0], h_out, w_out).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out), (x.shape, x_pad.shape, cols, w, stride, pad)


def conv_backward_im2col(dout: np.ndarray, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout: (N, F, H_out, W_out) and the forward cache -> (dx, dw, db)."""
    x_shape, x_pad_shape, cols, w, stride, (ph, pw) = cache
    f, c, kh, kw = w.shape
    n, _, h_out, w_out = dout.shape
    dout_2d = dout.transpose(1, 0, 2, 3).reshape(f, -1)         # (F, N*H_out*W_out)
    db = dout_2d.sum(axis=1)
    dw = (dout_2d @ cols.T).reshape(w.shape)
    dcols = w.reshape(f, -1).T @ dout_2d                        # (C*KH*KW, N*H_out*W_out)
    dx_pad = np.zeros(x_pad_shape, dtype=dout.dtype)
    col2im(dcols.reshape(c, kh, kw, n, h_out, w_out), kh, kw, stride, dx_pad)
    dx = dx_pad[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]
    return np.ascontiguousarray(dx), dw, db
