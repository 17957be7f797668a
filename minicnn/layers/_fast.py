"""Speed lives here: convolution as matrix products (GEMM) over gathered windows.

The idea (im2col): copy every receptive field of the padded input into the columns
of a matrix, so that a convolution becomes one matrix product with the filters.
For a chunk of ``m`` images the column matrix is laid out as

    cols : (C, KH, KW, m, H_out, W_out) = (C*KH*KW, m*H_out*W_out)

Its rows are ordered like ``W.reshape(F, C*KH*KW)``, so the convolution of the chunk
is ``W.reshape(F, -1) @ cols``, of shape (F, m*H_out*W_out). These choices make it
fast on a CPU:

* The gathers loop over the KH*KW kernel offsets (9 for a 3x3 kernel), never over
  output positions: each step copies one strided slice of the whole chunk.
* Images are processed a few at a time (``_blocks``), so the column matrix (a
  few MB) is still in the CPU cache when the matrix product reads it, instead of a
  huge matrix (75 MB for a 32x64x32x32 batch) making trips through main memory.
  An image too large for one chunk (64 channels at 224x224: 115 MB of columns) is
  cut into bands of output rows instead.
  Each chunk is still one large product (thousands of columns): many small
  products are slow when the BLAS runs on several threads.
* ``backward`` needs the columns again for the weight gradient. In training, when
  all of them are small (``_KEEP_BYTES``: a batch of small images), ``conv_forward``
  hands them back for ``Conv2D`` to cache. Otherwise (explanations, big inputs)
  ``backward`` gathers them again from the padded input: memory stays at one chunk
  per thread.
* The chunks run on a few threads of minicnn's own (``_threads.py``), each with a
  one-thread BLAS, so the gathers use every core as well as the products. With
  several threads the work is cut into at least one chunk per thread.
* For stride 1, the input gradient is itself a convolution -- of ``dout`` with the
  filters flipped and their in/out channels swapped ("full" convolution) -- so it
  reuses the forward code. That is faster than scattering columns back (``col2im``)
  when there are no more filters than input channels; the other cases use col2im.

``conv2d_naive`` in ``conv.py`` computes the same numbers with plain loops, and
``tests/test_fast_paths.py`` checks that the two agree.
"""

from __future__ import annotations

import numpy as np

from ._threads import SPLIT_BYTES, kernel_threads, parallel_map

# Bytes of gathered columns per chunk: enough for large matrix products, small
# enough to stay in the CPU's last-level cache (32 MB on the benchmark machine).
_CHUNK_BYTES = 16 * 2**20
# Keep a layer's columns from forward to backward when all of them take at most this.
_KEEP_BYTES = 32 * 2**20


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


def _blocks(n: int, c: int, kh: int, kw: int, h_out: int, w_out: int, dtype,
            parts: int = 1) -> list[tuple[slice, slice]]:
    """``(images, rows)`` slices with about ``_CHUNK_BYTES`` of columns each, and at
    least ``parts`` of them when the work is worth splitting (one per thread).

    Several whole images per block when an image's columns fit; otherwise one image
    at a time, cut into bands of output rows (``rows`` slices H_out).
    """
    per_row = c * kh * kw * w_out * np.dtype(dtype).itemsize
    if per_row * h_out * n < SPLIT_BYTES:
        parts = 1
    rows = max(1, min(h_out, _CHUNK_BYTES // max(per_row, 1)))
    if n < parts:                                  # too few images: cut them into bands
        rows = min(rows, -(-h_out // parts))
    if rows < h_out:
        return [(slice(i, i + 1), slice(top, min(top + rows, h_out)))
                for i in range(n) for top in range(0, h_out, rows)]
    step = max(1, min(n, _CHUNK_BYTES // max(per_row * h_out, 1), -(-n // parts)))
    return [(slice(start, min(start + step, n)), slice(0, h_out))
            for start in range(0, n, step)]


def _input_rows(rows: slice, sh: int, kh: int) -> slice:
    """The rows of the padded input that output rows ``rows`` read (their windows)."""
    return slice(rows.start * sh, (rows.stop - 1) * sh + kh)


def columns_are_small(x_pad: np.ndarray, w: np.ndarray, stride: tuple[int, int]) -> bool:
    """Whether the whole batch's columns (C*KH*KW * N*H_out*W_out values) fit in
    ``_KEEP_BYTES``, so that a layer may keep them from forward to backward."""
    n, c, hp, wp = x_pad.shape
    kh, kw = w.shape[2:]
    h_out, w_out = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    return c * kh * kw * n * h_out * w_out * x_pad.dtype.itemsize <= _KEEP_BYTES


def _per_image(a: np.ndarray, m: int) -> np.ndarray:
    """(K, m*L) -> (m, K, L): a view with one (K, L) matrix per image."""
    return a.reshape(a.shape[0], m, -1).transpose(1, 0, 2)


def _filters_first(d: np.ndarray) -> np.ndarray:
    """(m, F, L) -> (F, m*L): the layout of ``W_2d @ cols`` (a copy)."""
    return d.transpose(1, 0, 2).reshape(d.shape[1], -1)


# The three matrix products of a convolution, for a chunk of m images with L output
# positions each. With few column rows (C*KH*KW < _THIN_ROWS, e.g. 9 for a first
# layer on grey images) one product per image is faster than one long thin product,
# and its result needs no transpose; otherwise one large product per chunk.
_THIN_ROWS = 32


def _output(w_2d: np.ndarray, cols_2d: np.ndarray, m: int) -> np.ndarray:
    """out = W_2d (F, K) @ cols (K, m*L), returned as (m, F, L) (maybe a view)."""
    if cols_2d.shape[0] < _THIN_ROWS:
        return np.matmul(w_2d, _per_image(cols_2d, m))
    return _per_image(w_2d @ cols_2d, m)


def _weight_grad_t(d: np.ndarray, d_2d: np.ndarray | None, cols_2d: np.ndarray) -> np.ndarray:
    """dW.T = cols (K, m*L) @ dout.T (m*L, F) with d = dout as (m, F, L): (K, F).
    ``d_2d`` is the same dout as (F, m*L) for one large product, or None for one
    product per image (few column rows, see `_THIN_ROWS`).

    Transposed, because the BLAS is faster with the long m*L axis contiguous in both."""
    if d_2d is None:
        return np.matmul(_per_image(cols_2d, d.shape[0]), d.transpose(0, 2, 1)).sum(axis=0)
    return cols_2d @ d_2d.T


def _column_grad(w_2d: np.ndarray, d: np.ndarray, d_2d: np.ndarray | None) -> np.ndarray:
    """dcols = W_2d.T (K, F) @ dout (F, m*L) with d, d_2d as in `_weight_grad_t`:
    (K, m, L)."""
    if d_2d is None:
        return np.matmul(w_2d.T, d).transpose(1, 0, 2)
    return (w_2d.T @ d_2d).reshape(w_2d.shape[1], d.shape[0], -1)


def conv_forward(x_pad: np.ndarray, w: np.ndarray, b: np.ndarray,
                 stride: tuple[int, int], keep: list | None = None) -> np.ndarray:
    """Convolution of already padded images: (N, C, H_pad, W_pad) -> (N, F, H_out, W_out).

    Per chunk of m images: gather the columns, one matrix product
    ``(F, C*KH*KW) @ (C*KH*KW, m*H_out*W_out)``, and the result plus the bias copied
    into ``out`` as (m, F, H_out, W_out). The chunks run on the kernel threads
    (``_threads.py``); each writes its own part of ``out``. If ``keep`` is a list,
    each chunk's ``(block, columns)`` is appended to it, for
    ``conv_backward(..., columns=keep)``.
    """
    n, c, hp, wp = x_pad.shape
    f, _, kh, kw = w.shape
    h_out, w_out = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    w_2d = w.reshape(f, c * kh * kw)
    out = np.empty((n, f, h_out, w_out), dtype=np.result_type(x_pad, w))

    def chunk(block):
        images, rows = block
        h_rows = rows.stop - rows.start
        x_rows = x_pad[images, :, _input_rows(rows, stride[0], kh)]
        cols = im2col(x_rows, kh, kw, stride, h_rows, w_out)
        y = _output(w_2d, cols.reshape(c * kh * kw, -1), x_rows.shape[0])  # (m, F, L)
        y = y.reshape(-1, f, h_rows, w_out)
        np.add(y, b[:, None, None], out=out[images, :, rows])   # bias added while copying
        return cols if keep is not None else None

    blocks = _blocks(n, c, kh, kw, h_out, w_out, x_pad.dtype, kernel_threads())
    columns = list(parallel_map(chunk, blocks))
    if keep is not None:
        keep.extend(zip(blocks, columns))
    return out


def conv_backward(dout: np.ndarray, x_pad: np.ndarray, w: np.ndarray,
                  stride: tuple[int, int], pad: tuple[int, int], param_grads: bool = True,
                  columns: list | None = None, input_grad: bool = True):
    """Gradients of `conv_forward`. Returns ``(dx, dw, db)``; dw, db are None if not
    ``param_grads``, dx is None if not ``input_grad``. ``columns``: the chunks and
    their columns kept by forward, if any (then backward uses the same chunks).

    dout: (N, F, H_out, W_out), x_pad: (N, C, H_pad, W_pad) -> dx: (N, C, H, W).
    Per chunk: dW += dout @ cols.T and, in the general case, d(x_pad) += col2im(W_2d.T
    @ dout). For stride 1 with no more filters than input channels, dx is instead
    the full convolution of dout with the flipped filters.

    The chunks run on the kernel threads. Each returns its share of dW and db, added
    up in chunk order. Chunks of whole images scatter into their own images of
    d(x_pad). Bands of one image share input rows: with several threads each band
    scatters into a buffer of its own, which this thread adds into d(x_pad), in band
    order, as soon as the band is done.
    """
    n, c, hp, wp = x_pad.shape
    f, _, kh, kw = w.shape
    ph, pw = pad
    h_out, w_out = dout.shape[2:]
    w_2d = w.reshape(f, c * kh * kw)
    # Full convolution: pad dout by K-1-pad, flip the kernels, swap F and C. It
    # gathers dout's F channels; col2im scatters C*KH*KW rows: cheaper if F <= C.
    full_conv = stride == (1, 1) and ph < kh and pw < kw and f <= c
    scatter = input_grad and not full_conv          # dx by col2im, chunk by chunk
    dtype = np.result_type(dout, x_pad, w)
    dx_pad = np.zeros(x_pad.shape, dtype=dtype) if scatter else None
    threads = kernel_threads()
    if columns:
        blocks = [block for block, _ in columns]
    else:
        blocks = _blocks(n, c, kh, kw, h_out, w_out, x_pad.dtype, threads)
    # Large products (many column rows) want dout as (F, m*L): copy it once for both.
    large = c * kh * kw >= _THIN_ROWS and (param_grads or scatter)

    def chunk(k):
        images, rows = blocks[k]
        h_rows = rows.stop - rows.start
        x_rows = _input_rows(rows, stride[0], kh)
        d = dout[images, :, rows].reshape(-1, f, h_rows * w_out)        # (m, F, L)
        d_2d = _filters_first(d) if large else None
        dw_t = db = band = None
        if param_grads:
            if columns:
                cols = columns[k][1]
            else:
                cols = im2col(x_pad[images, :, x_rows], kh, kw, stride, h_rows, w_out)
            dw_t = _weight_grad_t(d, d_2d, cols.reshape(c * kh * kw, -1))
            db = d_2d.sum(axis=1) if d_2d is not None else d.sum(axis=(0, 2))
        if scatter:
            dcols = _column_grad(w_2d, d, d_2d).reshape(c, kh, kw, -1, h_rows, w_out)
            target = dx_pad[images, :, x_rows]
            if threads > 1 and h_rows < h_out:      # a band: rows shared with neighbours
                target = band = np.zeros_like(target)
            col2im(dcols, kh, kw, stride, target)
        return dw_t, db, band

    dw_t = np.zeros((c * kh * kw, f), dtype=dtype) if param_grads else None
    db = np.zeros(f, dtype=dtype) if param_grads else None
    for (images, rows), (chunk_dw_t, chunk_db, band) in zip(
            blocks, parallel_map(chunk, range(len(blocks)))):
        if param_grads:
            dw_t += chunk_dw_t
            db += chunk_db
        if band is not None:         # neighbouring bands' windows overlap: both count
            dx_pad[images, :, _input_rows(rows, stride[0], kh)] += band
    dw = np.ascontiguousarray(dw_t.T).reshape(f, c, kh, kw) if param_grads else None
    if not input_grad:
        return None, dw, db
    if full_conv:
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        dout_pad = pad_images(dout, (kh - 1 - ph, kw - 1 - pw))
        return conv_forward(dout_pad, w_flip, np.zeros(c, dtype=w.dtype), (1, 1)), dw, db
    return np.ascontiguousarray(dx_pad[:, :, ph:hp - ph, pw:wp - pw]), dw, db
