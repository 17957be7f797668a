"""Hidden tests of the cnn_layers assignment (only in the autograder, never in the release).

Random shapes, strides and paddings compared with an independent implementation
written here, plus the properties the handout asks for (no mutation, dtypes,
numerical stability, a whole network's gradient).
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient

from minicnn import Sequential
from minicnn.layers import (
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    conv2d_naive,
    conv2d_naive_backward,
    maxpool_naive,
    maxpool_naive_backward,
)
from minicnn.losses import SoftmaxCrossEntropy


def _windows(x, kh, kw, sh, sw):
    """(N, C, H_out, W_out, KH, KW) view of the windows of x."""
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return view[:, :, ::sh, ::sw]


def _conv(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    windows = _windows(x, w.shape[2], w.shape[3], *stride)
    return np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None]


@pytest.mark.points(2)
@pytest.mark.parametrize("stride, pad, kernel", [(1, 0, (3, 3)), (2, 1, (3, 3)),
                                                 ((2, 1), (1, 2), (2, 3))])
@pytest.mark.usefixtures("naive_only")
def test_conv_forward_random(rng, stride, pad, kernel):
    """conv2d_naive matches an independent convolution for several strides and paddings."""
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, *kernel))
    b = rng.standard_normal(4)
    s = stride if isinstance(stride, tuple) else (stride, stride)
    p = pad if isinstance(pad, tuple) else (pad, pad)
    out = conv2d_naive(x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(out, _conv(x, w, b, s, p), rtol=1e-10, atol=1e-10)


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_backward_stride_two(rng):
    """conv2d_naive_backward with stride 2 and padding 1 agrees with numerical gradients."""
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    dout = rng.standard_normal((1, 3, 3, 3))
    dx, dw, db = conv2d_naive_backward(dout, x, w, stride=2, pad=1)

    def conv(xx, ww, bb):
        return _conv(xx, ww, bb, (2, 2), (1, 1))

    assert_close_grad(dx, numerical_gradient(lambda v: conv(v, w, b), x, dout), "dx")
    assert_close_grad(dw, numerical_gradient(lambda v: conv(x, v, b), w, dout), "dw")
    assert_close_grad(db, numerical_gradient(lambda v: conv(x, w, v), b, dout), "db")


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_overlapping_windows(rng):
    """maxpool_naive and its backward with 3x3 windows and stride 2 (windows overlap)."""
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7).astype(np.float64)  # no ties
    expected = _windows(x, 3, 3, 2, 2).max(axis=(4, 5))
    np.testing.assert_allclose(maxpool_naive(x, 3, stride=2), expected)
    dout = rng.standard_normal(expected.shape)
    dx = maxpool_naive_backward(dout, x, 3, stride=2)
    numeric = numerical_gradient(lambda v: _windows(v, 3, 3, 2, 2).max(axis=(4, 5)), x, dout)
    assert_close_grad(dx, numeric, "dx")


@pytest.mark.points(1)
def test_layers_do_not_modify_their_inputs(rng):
    """ReLU and Dense never write into x or dout (the classic dout[mask] = 0 bug)."""
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    x0, dout0 = x.copy(), dout.copy()
    relu = ReLU()
    relu.forward(x)
    relu.backward(dout)
    dense = Dense(4, 4, rng=1, dtype=np.float64)
    dense.forward(x)
    dense.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)


@pytest.mark.points(1)
def test_float32_stays_float32(rng):
    """Layers compute in the dtype they are given: float32 in, float32 out."""
    x = rng.standard_normal((2, 3)).astype(np.float32)
    relu = ReLU()
    assert relu.forward(x).dtype == np.float32
    assert relu.backward(x).dtype == np.float32
    dense = Dense(3, 2, rng=0)
    assert dense.forward(x).dtype == np.float32
    assert dense.backward(np.ones((2, 2), np.float32)).dtype == np.float32


@pytest.mark.points(1)
def test_softmax_cross_entropy_is_stable():
    """Huge scores give a finite, correct loss (subtract the row max before exp)."""
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(500.0)
    np.testing.assert_allclose(loss_fn.backward(), [[0, 0], [-0.5, 0.5]], atol=1e-12)


@pytest.mark.points(2)
def test_small_network_gradient(rng):
    """conv -> relu -> pool -> flatten -> dense -> loss: the input gradient is right."""
    model = Sequential([Conv2D(1, 2, 3, padding=1, rng=0, name="conv"), ReLU(name="relu"),
                        MaxPool2D(2, name="pool"), Flatten(name="flat"),
                        Dense(8, 3, rng=1, name="fc")]).astype(np.float64)
    x = rng.standard_normal((2, 1, 4, 4))
    y = np.array([1, 2])

    def loss(inputs):
        return SoftmaxCrossEntropy().forward(model.forward(inputs), y)

    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), y)
    dx = model.backward(loss_fn.backward())
    assert_close_grad(dx, numerical_gradient(loss, x), "dL/dx", tol=1e-5)
