"""The fast Conv2D and MaxPool2D give the same numbers as the loop-based references.

Random configurations cover stride > 1, padding (also padding >= kernel, which takes
the general col2im path), non-square inputs and kernels, overlapping pooling, both
float dtypes, several images per chunk and chunks that do not divide the batch.
"""

import numpy as np
import pytest

from minicnn.layers import _fast
from minicnn.layers.conv import Conv2D, conv2d_naive, conv2d_naive_backward
from minicnn.layers.conv_im2col import conv_backward_im2col, conv_forward_im2col
from minicnn.layers.pooling import MaxPool2D, maxpool_naive, maxpool_naive_backward

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-4)}


def conv_config(seed):
    rng = np.random.default_rng(seed)
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2)) if seed % 3 else (1, 1)
    ph, pw = (int(v) for v in rng.integers(0, 4, size=2))
    h = max(kh - 2 * ph, 1) + int(rng.integers(0, 7))
    w = max(kw - 2 * pw, 1) + int(rng.integers(0, 7))
    n, c, f = (int(v) for v in rng.integers(1, 5, size=3))
    return rng, (n, c, h, w), f, (kh, kw), (sh, sw), (ph, pw)


def check_conv(seed, dtype, param_grads=True):
    rng, x_shape, f, k, s, p = conv_config(seed)
    layer = Conv2D(x_shape[1], f, k, stride=s, padding=p, rng=rng, dtype=dtype)
    layer.params["b"] = rng.standard_normal(f).astype(dtype)
    layer.param_grads = param_grads
    x = rng.standard_normal(x_shape).astype(dtype)
    x_copy = x.copy()
    w, b = layer.params["W"], layer.params["b"]

    out = layer.forward(x)
    assert out.dtype == dtype and out.shape == layer.output_shape(x_shape)
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, stride=s, pad=p), **TOL[dtype])

    dout = rng.standard_normal(out.shape).astype(dtype)
    dout_copy = dout.copy()
    dx = layer.backward(dout)
    dx_ref, dw_ref, db_ref = conv2d_naive_backward(dout, x, w, stride=s, pad=p)
    assert dx.dtype == dtype and dx.shape == x_shape and dx.flags.c_contiguous
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    if param_grads:
        assert layer.grads["W"].dtype == layer.grads["b"].dtype == dtype
        np.testing.assert_allclose(layer.grads["W"], dw_ref, **TOL[dtype])
        np.testing.assert_allclose(layer.grads["b"], db_ref, **TOL[dtype])
    else:
        assert not layer.grads["W"].any() and not layer.grads["b"].any()
    np.testing.assert_array_equal(x, x_copy)          # inputs are not mutated
    np.testing.assert_array_equal(dout, dout_copy)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(30))
def test_fast_conv_matches_naive(seed, dtype):
    check_conv(seed, dtype)


@pytest.mark.parametrize("seed", range(6))
def test_fast_conv_dx_without_param_grads(seed):
    check_conv(seed, np.float64, param_grads=False)


@pytest.mark.parametrize("chunk_bytes", [1, 200, 1000])
@pytest.mark.parametrize("seed", range(8))
def test_fast_conv_in_small_chunks(seed, chunk_bytes, monkeypatch):
    """One image per chunk, and chunks that do not divide the batch."""
    monkeypatch.setattr(_fast, "_CHUNK_BYTES", chunk_bytes)
    check_conv(seed, np.float64)


@pytest.mark.parametrize("seed", range(12))
def test_fast_conv_param_grads_without_input_grad(seed):
    """input_grad=False (a first layer in training): no dx, the same dW and db."""
    rng, x_shape, f, k, s, p = conv_config(seed)
    layer = Conv2D(x_shape[1], f, k, stride=s, padding=p, rng=rng, dtype=np.float64)
    x = rng.standard_normal(x_shape)
    dout = rng.standard_normal(layer.forward(x, train=seed % 2 == 0).shape)
    assert layer.backward(dout, input_grad=False) is None
    _, dw_ref, db_ref = conv2d_naive_backward(dout, x, layer.params["W"], stride=s, pad=p)
    np.testing.assert_allclose(layer.grads["W"], dw_ref, **TOL[np.float64])
    np.testing.assert_allclose(layer.grads["b"], db_ref, **TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_teaching_kernel_matches_naive_and_tuned(seed, dtype):
    """conv_im2col.py (one product per quantity), the loops and Conv2D agree."""
    rng, x_shape, f, k, s, p = conv_config(seed)
    layer = Conv2D(x_shape[1], f, k, stride=s, padding=p, rng=rng, dtype=dtype)
    w, b = layer.params["W"], rng.standard_normal(f).astype(dtype)
    layer.params["b"] = b
    x = rng.standard_normal(x_shape).astype(dtype)
    out, cache = conv_forward_im2col(x, w, b, stride=s, pad=p)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, conv2d_naive(x, w, b, stride=s, pad=p), **TOL[dtype])
    np.testing.assert_allclose(out, layer.forward(x), **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = conv_backward_im2col(dout, cache)
    dx_tuned = layer.backward(dout)
    for got, want, tuned in zip(grads, conv2d_naive_backward(dout, x, w, stride=s, pad=p),
                                (dx_tuned, layer.grads["W"], layer.grads["b"])):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **TOL[dtype])
        np.testing.assert_allclose(got, tuned, **TOL[dtype])


def test_conv_benchmark_shape_in_float32():
    """A (small) VGG-style block in float32, the dtype the benchmark measures."""
    rng = np.random.default_rng(5)
    layer = Conv2D(8, 6, 3, padding=1, rng=rng)
    x = rng.standard_normal((3, 8, 9, 7)).astype(np.float32)
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv2d_naive(x, layer.params["W"], layer.params["b"], 1, 1),
                               **TOL[np.float32])
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx_ref, dw_ref, _ = conv2d_naive_backward(dout, x, layer.params["W"], 1, 1)
    np.testing.assert_allclose(layer.backward(dout), dx_ref, **TOL[np.float32])
    np.testing.assert_allclose(layer.grads["W"], dw_ref, **TOL[np.float32])


def pool_config(seed):
    rng = np.random.default_rng(1000 + seed)
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    if seed % 4 == 0:
        sh, sw = kh, kw                                # the common non-overlapping case
    h, w = kh + int(rng.integers(0, 8)), kw + int(rng.integers(0, 8))
    return rng, (int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w), (kh, kw), (sh, sw)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(20))
def test_fast_maxpool_matches_naive(seed, dtype, ties):
    rng, x_shape, k, s = pool_config(seed)
    if ties:   # few distinct values: the first maximum in row-major window order wins
        x = rng.integers(0, 3, size=x_shape).astype(dtype)
    else:
        x = rng.standard_normal(x_shape).astype(dtype)
    x_copy = x.copy()
    layer = MaxPool2D(k, stride=s)
    out = layer.forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, maxpool_naive(x, k, s))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    assert dx.dtype == dtype and dx.shape == x_shape
    np.testing.assert_allclose(dx, maxpool_naive_backward(dout, x, k, s), **TOL[dtype])
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (2, 1), (3, 1), ((2, 3), (2, 3))])
def test_maxpool_ties_everywhere(k, s):
    """All-equal windows: every window's gradient goes to its top-left pixel."""
    x = np.ones((2, 3, 7, 9), dtype=np.float32)
    layer = MaxPool2D(k, stride=s)
    dout = np.arange(np.prod(layer.output_shape(x.shape)), dtype=np.float32)
    dout = dout.reshape(layer.output_shape(x.shape))
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dout), maxpool_naive_backward(dout, x, k, s))


def test_maxpool_handles_infinities_and_odd_sizes():
    x = np.full((1, 2, 5, 5), -np.inf, dtype=np.float32)
    x[0, 1, 3, 4] = np.inf
    layer = MaxPool2D(2)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, maxpool_naive(x, 2))
    dout = np.ones(out.shape, dtype=np.float32)
    np.testing.assert_array_equal(layer.backward(dout), maxpool_naive_backward(dout, x, 2))
