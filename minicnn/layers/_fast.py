"""Speed lives here: convolution as matrix products (GEMM) over gathered windows.

The idea (im2col): copy every receptive field of the padded input into the columns
of a matrix, so that a convolution becomes one matrix product with the filters.
For a chunk of ``m`` images the column matrix is laid out as

    cols : (C, KH, KW, m, H_out, W_out) = (C*KH*KW, m*H_out*W_out)

Its rows are ordered like ``W.reshape(F, C*KH*KW)``, so the convolution of the chunk
is ``W.reshape(F, -1) @ cols``, of shape (F, m*H_out*W_out). Three choices make this
fast on a CPU:

* The gathers loop over the KH*KW kernel offsets (9 for a 3x3 kernel), never over
  output positions: each step copies one strided slice of the whole chunk.
* Images are processed a few at a time (``_blocks``), so the column matrix (a
  few MB) is still in the CPU cache when the matrix product reads it, instead of a
  huge matrix (75 MB for a 32x64x32x32 batch) making trips through main memory.
  An image too large for one chunk (64 channels at 224x224: 115 MB of columns) is
  cut into bands of output rows instead.
  ``backward`` gathers the columns again rather than storing them. Each chunk is
  still one large product (thousands of columns): many small products are slow
  when the BLAS runs on several threads.
* For stride 1, the input gradient is itself a convolution -- of ``dout`` with the
  filters flipped and their in/out channels swapped ("full" convolution) -- so it
  reuses the forward code. That is faster than scattering columns back (``col2im``)
  when there are no more filters than input channels; the other cases use col2im.

``conv2d_naive`` in ``conv.py`` computes the same numbers with plain loops, and
``tests/test_fast_paths.py`` checks that the two agree.
"""

from __future__ import annotations

import numpy as np

# Bytes of gathered columns per chunk: enough for large matrix products, small
# enough to stay in the CPU's last-level cache (32 MB on the benchmark machine).
_CHUNK_BYTES = 16 * 2**20


def pad_images(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """A zero-padded copy of x: (N, C, H, W) -> (N, C, H + 2*pad_h, W + 2*pad_w)."""
    n, c, h, w = x.shape
    ph, pw = pad
    x_pad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    x_pad[:, :, ph:ph + h, pw:pw + w] = x
    return x_pad


def im2col(x_pad: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           h_out: int, w_out: int) -> np.ndarray:
    """Gather every (KH, KW) window of the padded images into columns.

    x_pad: (m, C, H_pad, W_pad) -> cols: (C, KH, KW, m, H_out, W_out), where
    ``cols[c, i, j, n, y, x] = x_pad[n, c, y*sh + i, x*sw + j]``.
    """
    m, c = x_pad.shape[:2]
    sh, sw = stride
    x_t = x_pad.transpose(1, 0, 2, 3)                       # (C, m, H_pad, W_pad) view
    cols = np.empty((c, kh, kw, m, h_out, w_out), dtype=x_pad.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = x_t[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw]
    return cols


def col2im(cols: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           dx_pad: np.ndarray) -> None:
    """Add the columns back into the padded images: the adjoint of ``im2col``.

    cols: (C, KH, KW, m, H_out, W_out) is added into dx_pad: (m, C, H_pad, W_pad) in
    place. Where windows overlap their contributions add up, which is exactly the
    gradient of the gather.
    """
    sh, sw = stride
    h_out, w_out = cols.shape[-2:]
    dx_t = dx_pad.transpose(1, 0, 2, 3)                     # (C, m, H_pad, W_pad) view
    for i in range(kh):
        for j in range(kw):
            dx_t[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw] += cols[:, i, j]


def _blocks(n: int, c: int, kh: int, kw: int, h_out: int, w_out: int, dtype):
    """Yield ``(images, rows)`` slices with about ``_CHUNK_BYTES`` of columns each.

    Several whole images per block when an image's columns fit; otherwise one image
    at a time, cut into bands of output rows (``rows`` slices H_out).
    """
    per_row = c * kh * kw * w_out * np.dtype(dtype).itemsize
    rows = max(1, min(h_out, _CHUNK_BYTES // max(per_row, 1)))
    if rows < h_out:
        for i in range(n):
            for top in range(0, h_out, rows):
                yield slice(i, i + 1), slice(top, min(top + rows, h_out))
        return
    step = max(1, min(n, _CHUNK_BYTES // max(per_row * h_out, 1)))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n)), slice(0, h_out)


def _input_rows(rows: slice, sh: int, kh: int) -> slice:
    """The rows of the padded input that output rows ``rows`` read (their windows)."""
    return slice(rows.start * sh, (rows.stop - 1) * sh + kh)


def _filters_first(a: np.ndarray) -> np.ndarray:
    """(m, F, H, W) -> (F, m*H*W): the layout of ``W_2d @ cols`` (a copy)."""
    return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def conv_forward(x_pad: np.ndarray, w: np.ndarray, b: np.ndarray,
                 stride: tuple[int, int]) -> np.ndarray:
    """Convolution of already padded images: (N, C, H_pad, W_pad) -> (N, F, H_out, W_out).

    Per chunk of m images: gather the columns, one matrix product
    ``(F, C*KH*KW) @ (C*KH*KW, m*H_out*W_out)``, and the result plus the bias copied
    into ``out`` as (m, F, H_out, W_out).
    """
    n, c, hp, wp = x_pad.shape
    f, _, kh, kw = w.shape
    h_out, w_out = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    w_2d = w.reshape(f, c * kh * kw)
    out = np.empty((n, f, h_out, w_out), dtype=np.result_type(x_pad, w))
    for images, rows in _blocks(n, c, kh, kw, h_out, w_out, x_pad.dtype):
        h_rows = rows.stop - rows.start
        x_rows = x_pad[images, :, _input_rows(rows, stride[0], kh)]
        cols = im2col(x_rows, kh, kw, stride, h_rows, w_out)
        y = w_2d @ cols.reshape(c * kh * kw, -1)             # (F, m*H_rows*W_out)
        y = y.reshape(f, -1, h_rows, w_out).transpose(1, 0, 2, 3)
        np.add(y, b[:, None, None], out=out[images, :, rows])   # bias added while copying
    return out


def conv_backward(dout: np.ndarray, x_pad: np.ndarray, w: np.ndarray,
                  stride: tuple[int, int], pad: tuple[int, int], param_grads: bool = True):
    """Gradients of `conv_forward`. Returns ``(dx, dw, db)``; dw, db are None if not
    ``param_grads``.

    dout: (N, F, H_out, W_out), x_pad: (N, C, H_pad, W_pad) -> dx: (N, C, H, W).
    """
    n, c, hp, wp = x_pad.shape
    f, _, kh, kw = w.shape
    ph, pw = pad
    dw = db = None
    if param_grads:
        dw = _weight_grad(dout, x_pad, kh, kw, stride)
        db = dout.sum(axis=(0, 2, 3))
    if stride == (1, 1) and ph < kh and pw < kw and f <= c:
        # Full convolution: pad dout by K-1-pad, flip the kernels, swap F and C. It
        # gathers dout's F channels; col2im scatters C*KH*KW rows: cheaper if F <= C.
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        dout_pad = pad_images(dout, (kh - 1 - ph, kw - 1 - pw))
        return conv_forward(dout_pad, w_flip, np.zeros(c, dtype=w.dtype), (1, 1)), dw, db
    dx_pad = _input_grad_col2im(dout, w, x_pad.shape, stride)
    return np.ascontiguousarray(dx_pad[:, :, ph:hp - ph, pw:wp - pw]), dw, db


def _weight_grad(dout: np.ndarray, x_pad: np.ndarray, kh: int, kw: int,
                 stride: tuple[int, int]) -> np.ndarray:
    """dW = sum over chunks of dout (F, m*H_out*W_out) @ cols.T (m*H_out*W_out, C*KH*KW)."""
    n, c = x_pad.shape[:2]
    f, h_out, w_out = dout.shape[1:]
    dw = np.zeros((f, c * kh * kw), dtype=np.result_type(dout, x_pad))
    for images, rows in _blocks(n, c, kh, kw, h_out, w_out, x_pad.dtype):
        x_rows = x_pad[images, :, _input_rows(rows, stride[0], kh)]
        cols = im2col(x_rows, kh, kw, stride, rows.stop - rows.start, w_out)
        dw += _filters_first(dout[images, :, rows]) @ cols.reshape(c * kh * kw, -1).T
    return dw.reshape(f, c, kh, kw)


def _input_grad_col2im(dout: np.ndarray, w: np.ndarray, x_pad_shape,
                       stride: tuple[int, int]) -> np.ndarray:
    """d(x_pad) = col2im(W_2d.T @ dout), chunk by chunk: the general path (any stride)."""
    n, c = x_pad_shape[:2]
    f, _, kh, kw = w.shape
    h_out, w_out = dout.shape[2:]
    w_2d_t = w.reshape(f, c * kh * kw).T
    dx_pad = np.zeros(x_pad_shape, dtype=np.result_type(dout, w))
    for images, rows in _blocks(n, c, kh, kw, h_out, w_out, dx_pad.dtype):
        dcols = w_2d_t @ _filters_first(dout[images, :, rows])   # (C*KH*KW, m*H_rows*W_out)
        dcols = dcols.reshape(c, kh, kw, -1, rows.stop - rows.start, w_out)
        # Neighbouring bands' windows share input rows; col2im adds, so both count.
        col2im(dcols, kh, kw, stride, dx_pad[images, :, _input_rows(rows, stride[0], kh)])
    return dx_pad
