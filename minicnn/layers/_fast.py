"""Speed lives here: convolution as matrix products (GEMM) over gathered windows.

The idea (im2col): copy every receptive field of the padded input into the columns
of a matrix, so that a convolution becomes one matrix product with the filters.
For one image the column matrix is laid out as

    cols[n] : (C, KH, KW, H_out, W_out) = (C*KH*KW, H_out*W_out)

so ``W.reshape(F, C*KH*KW) @ cols[n]`` is already ``out[n]`` in (F, H_out*W_out)
order: no transpose afterwards. Three choices make this fast on a CPU:

* The gathers loop over the KH*KW kernel offsets (9 for a 3x3 kernel), never over
  output positions: each step copies one strided slice of many images at once.
* Images are processed a few at a time (``_chunk_size``), so the column buffer (a
  few MB) stays in the CPU cache between the gather and the matrix product, instead
  of a huge matrix (75 MB for a 32x64x32x32 batch) making trips through main
  memory. ``backward`` gathers the columns again rather than storing them.
* For stride 1, the input gradient is itself a convolution -- of ``dout`` with the
  filters flipped and their in/out channels swapped ("full" convolution) -- so it
  reuses the forward code. Other strides scatter the columns back (``col2im``).

``conv2d_naive`` in ``conv.py`` computes the same numbers with plain loops, and
``tests/test_fast_paths.py`` checks that the two agree.
"""

from __future__ import annotations

import numpy as np

# Bytes of gathered columns per chunk: small enough to stay in the CPU's cache.
_CHUNK_BYTES = 8 * 2**20


def pad_images(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """A zero-padded copy of x: (N, C, H, W) -> (N, C, H + 2*pad_h, W + 2*pad_w)."""
    n, c, h, w = x.shape
    ph, pw = pad
    x_pad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    x_pad[:, :, ph:ph + h, pw:pw + w] = x
    return x_pad


def im2col(x_pad: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           cols: np.ndarray) -> None:
    """Gather every (KH, KW) window of the padded images into ``cols`` (in place).

    x_pad: (n, C, H_pad, W_pad); cols: (n, C, KH, KW, H_out, W_out), where
    ``cols[n, c, i, j, y, x] = x_pad[n, c, y*sh + i, x*sw + j]``.
    """
    sh, sw = stride
    h_out, w_out = cols.shape[-2:]
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x_pad[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw]


def col2im(cols: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           dx_pad: np.ndarray) -> None:
    """Add the columns back into the padded images: the adjoint of ``im2col``.

    cols: (n, C, KH, KW, H_out, W_out) is added into dx_pad: (n, C, H_pad, W_pad) in
    place. Where windows overlap their contributions add up, which is exactly the
    gradient of the gather.
    """
    sh, sw = stride
    h_out, w_out = cols.shape[-2:]
    for i in range(kh):
        for j in range(kw):
            dx_pad[:, :, i:i + sh * h_out:sh, j:j + sw * w_out:sw] += cols[:, :, i, j]


def _chunk_size(n: int, cols_shape: tuple[int, ...], dtype) -> int:
    """How many images' columns fit in ``_CHUNK_BYTES`` (at least 1, at most n)."""
    per_image = int(np.prod(cols_shape)) * np.dtype(dtype).itemsize
    return max(1, min(n, _CHUNK_BYTES // max(per_image, 1)))


def _output_size(x_pad_shape, kh, kw, stride) -> tuple[int, int]:
    return ((x_pad_shape[2] - kh) // stride[0] + 1, (x_pad_shape[3] - kw) // stride[1] + 1)


def conv_forward(x_pad: np.ndarray, w: np.ndarray, b: np.ndarray,
                 stride: tuple[int, int]) -> np.ndarray:
    """Convolution of already padded images: (N, C, H_pad, W_pad) -> (N, F, H_out, W_out).

    Per chunk of images: gather the columns, then one batched matrix product
    ``(F, C*KH*KW) @ (n, C*KH*KW, H_out*W_out)`` written straight into ``out``.
    """
    n, c = x_pad.shape[:2]
    f, _, kh, kw = w.shape
    h_out, w_out = _output_size(x_pad.shape, kh, kw, stride)
    w_2d = w.reshape(f, c * kh * kw)
    out = np.empty((n, f, h_out * w_out), dtype=x_pad.dtype)
    step = _chunk_size(n, (c, kh, kw, h_out, w_out), x_pad.dtype)
    cols = np.empty((step, c, kh, kw, h_out, w_out), dtype=x_pad.dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = cols[:stop - start]
        im2col(x_pad[start:stop], kh, kw, stride, chunk)
        np.matmul(w_2d, chunk.reshape(stop - start, c * kh * kw, h_out * w_out),
                  out=out[start:stop])
        out[start:stop] += b[:, None]
    return out.reshape(n, f, h_out, w_out)


def conv_backward(dout: np.ndarray, x_pad: np.ndarray, w: np.ndarray,
                  stride: tuple[int, int], pad: tuple[int, int], param_grads: bool = True):
    """Gradients of `conv_forward`. Returns ``(dx, dw, db)``; dw, db are None if not
    ``param_grads``.

    dout: (N, F, H_out, W_out), x_pad: (N, C, H_pad, W_pad) -> dx: (N, C, H, W).
    """
    n, c, hp, wp = x_pad.shape
    f, _, kh, kw = w.shape
    ph, pw = pad
    h, wd = hp - 2 * ph, wp - 2 * pw
    dw = db = None
    if param_grads:
        dw = _weight_grad(dout, x_pad, kh, kw, stride)
        db = dout.sum(axis=(0, 2, 3))
    if stride == (1, 1) and ph < kh and pw < kw:
        # Full convolution: pad dout by K-1-pad, flip the kernels, swap F and C.
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        dout_pad = pad_images(dout, (kh - 1 - ph, kw - 1 - pw))
        dx = conv_forward(dout_pad, w_flip, np.zeros(c, dtype=dout.dtype), (1, 1))
    else:
        dx = _input_grad_col2im(dout, w, x_pad.shape, stride)[:, :, ph:ph + h, pw:pw + wd]
    return np.ascontiguousarray(dx), dw, db


def _weight_grad(dout: np.ndarray, x_pad: np.ndarray, kh: int, kw: int,
                 stride: tuple[int, int]) -> np.ndarray:
    """dW = sum over images of dout[n] (F, H_out*W_out) @ cols[n].T, chunk by chunk."""
    n, c = x_pad.shape[:2]
    f, h_out, w_out = dout.shape[1:]
    dout_3d = dout.reshape(n, f, h_out * w_out)
    dw = np.zeros((f, c * kh * kw), dtype=dout.dtype)
    step = _chunk_size(n, (c, kh, kw, h_out, w_out), x_pad.dtype)
    cols = np.empty((step, c, kh, kw, h_out, w_out), dtype=x_pad.dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = cols[:stop - start]
        im2col(x_pad[start:stop], kh, kw, stride, chunk)
        chunk_t = chunk.reshape(stop - start, c * kh * kw, h_out * w_out).transpose(0, 2, 1)
        dw += np.matmul(dout_3d[start:stop], chunk_t).sum(axis=0)
    return dw.reshape(f, c, kh, kw)


def _input_grad_col2im(dout: np.ndarray, w: np.ndarray, x_pad_shape,
                       stride: tuple[int, int]) -> np.ndarray:
    """d(x_pad) = col2im(W_2d.T @ dout), chunk by chunk: the general path (any stride)."""
    n, c = x_pad_shape[:2]
    f, _, kh, kw = w.shape
    h_out, w_out = dout.shape[2:]
    w_2d_t = w.reshape(f, c * kh * kw).T
    dout_3d = dout.reshape(n, f, h_out * w_out)
    dtype = np.result_type(dout, w)
    dx_pad = np.zeros(x_pad_shape, dtype=dtype)
    step = _chunk_size(n, (c, kh, kw, h_out, w_out), dtype)
    dcols = np.empty((step, c, kh, kw, h_out, w_out), dtype=dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        chunk = dcols[:stop - start]
        np.matmul(w_2d_t, dout_3d[start:stop],
                  out=chunk.reshape(stop - start, c * kh * kw, h_out * w_out))
        col2im(chunk, kh, kw, stride, dx_pad[start:stop])
    return dx_pad
