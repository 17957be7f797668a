"""Speed lives here: the im2col-style gathers that turn convolution into one GEMM.

Both helpers loop over the KH*KW kernel offsets (9 for a 3x3 kernel), never over
output positions: each step copies one strided slice of the whole batch, as in
"Deep Learning from Scratch". The column matrix is laid out as
``(C, KH, KW, N, H_out, W_out)`` so that a convolution is a single matrix
product ``W.reshape(F, C*KH*KW) @ cols.reshape(C*KH*KW, N*H_out*W_out)``.
"""

from __future__ import annotations

import numpy as np


def im2col(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           pad: tuple[int, int]) -> np.ndarray:
    """Gather every receptive field of ``x`` into columns.

    x: (N, C, H, W) -> cols: (C*KH*KW, N*H_out*W_out), a new array.
    """
    n, c, h, w = x.shape
    sh, sw = stride
    ph, pw = pad
    h_out = (h + 2 * ph - kh) // sh + 1
    w_out = (w + 2 * pw - kw) // sw + 1
    # Channels first, then pad: one copy that makes every slice below a fast copy.
    xt = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xt[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    cols = np.empty((c, kh, kw, n, h_out, w_out), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xt[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw]
    return cols.reshape(c * kh * kw, n * h_out * w_out)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kh: int, kw: int,
           stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    """Add columns back into an image: the adjoint (transpose) of ``im2col``.

    cols: (C*KH*KW, N*H_out*W_out) -> dx: (N, C, H, W). Overlapping receptive
    fields add up, which is exactly the gradient of the gather.
    """
    n, c, h, w = x_shape
    sh, sw = stride
    ph, pw = pad
    h_out = (h + 2 * ph - kh) // sh + 1
    w_out = (w + 2 * pw - kw) // sw + 1
    cols = cols.reshape(c, kh, kw, n, h_out, w_out)
    dxt = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxt[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw] += cols[:, i, j]
    return dxt[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3).copy()
