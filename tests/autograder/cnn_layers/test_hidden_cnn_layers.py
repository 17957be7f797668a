"""Hidden tests of the cnn_layers assignment (only in the autograder, never in the release).

Random shapes, strides and paddings compared with an independent implementation
written here, plus the properties the handout asks for (no mutation, dtypes,
numerical stability, a whole network's gradient).
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient


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
def test_conv_forward_random(student, rng, stride, pad, kernel):
    """conv2d_naive matches an independent convolution for several strides and paddings."""
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, *kernel))
    b = rng.standard_normal(4)
    s = stride if isinstance(stride, tuple) else (stride, stride)
    p = pad if isinstance(pad, tuple) else (pad, pad)
    out = student.layers.conv2d_naive(x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(out, _conv(x, w, b, s, p), rtol=1e-10, atol=1e-10)


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_backward_stride_two(student, rng):
    """conv2d_naive_backward with stride 2 and padding 1 agrees with numerical gradients."""
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    dout = rng.standard_normal((1, 3, 3, 3))
    dx, dw, db = student.layers.conv2d_naive_backward(dout, x, w, stride=2, pad=1)

    def conv(xx, ww, bb):
        return _conv(xx, ww, bb, (2, 2), (1, 1))

    assert_close_grad(dx, numerical_gradient(lambda v: conv(v, w, b), x, dout), "dx")
    assert_close_grad(dw, numerical_gradient(lambda v: conv(x, v, b), w, dout), "dw")
    assert_close_grad(db, numerical_gradient(lambda v: conv(x, w, v), b, dout), "db")


def _first_argmax_routing(x, dout, k, s):
    """Max-pool backward written here: each window's gradient to its first maximum."""
    dx = np.zeros_like(x)
    windows = _windows(x, k, k, s, s)
    n, c, h_out, w_out = dout.shape
    for i, j in np.ndindex(h_out, w_out):
        flat = windows[:, :, i, j].reshape(n, c, k * k).argmax(axis=2)  # first maximum
        for img, ch in np.ndindex(n, c):
            a, b = divmod(flat[img, ch], k)
            dx[img, ch, i * s + a, j * s + b] += dout[img, ch, i, j]
    return dx


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_overlapping_windows(student, rng):
    """maxpool_naive and its backward with 3x3 windows and stride 2 (windows overlap)."""
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7).astype(np.float64)  # no ties
    expected = _windows(x, 3, 3, 2, 2).max(axis=(4, 5))
    np.testing.assert_allclose(student.layers.maxpool_naive(x, 3, stride=2), expected)
    dout = rng.standard_normal(expected.shape)
    dx = student.layers.maxpool_naive_backward(dout, x, 3, stride=2)
    numeric = numerical_gradient(lambda v: _windows(v, 3, 3, 2, 2).max(axis=(4, 5)), x, dout)
    assert_close_grad(dx, numeric, "dx")


@pytest.mark.points(1)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_backward_with_many_ties(student, rng):
    """Small integers make many ties: each window's gradient goes to its first maximum."""
    x = rng.integers(0, 3, size=(2, 3, 6, 6)).astype(np.float64)
    dout = rng.standard_normal((2, 3, 2, 2))
    dx = student.layers.maxpool_naive_backward(dout, x, 3, stride=3)
    np.testing.assert_allclose(dx, _first_argmax_routing(x, dout, 3, 3), atol=1e-12)


@pytest.mark.points(1)
def test_layers_do_not_modify_their_inputs(student, rng):
    """ReLU and Dense never write into x or dout (the classic dout[mask] = 0 bug)."""
    x0, dout0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x, dout = student.shared(x0), student.shared(dout0)  # seen by reference
    relu = student.layers.ReLU()
    relu.forward(x)
    relu.backward(dout)
    dense = student.layers.Dense(4, 4, rng=1, dtype=np.float64)
    dense.forward(x)
    dense.backward(dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)


@pytest.mark.points(1)
def test_float32_stays_float32(student, rng):
    """Layers compute in the dtype they are given: float32 in, float32 out."""
    x = rng.standard_normal((2, 3)).astype(np.float32)
    relu = student.layers.ReLU()
    assert relu.forward(x).dtype == np.float32
    assert relu.backward(x).dtype == np.float32
    dense = student.layers.Dense(3, 2, rng=0)
    assert dense.forward(x).dtype == np.float32
    assert dense.backward(np.ones((2, 2), np.float32)).dtype == np.float32


@pytest.mark.points(1)
def test_softmax_cross_entropy_is_stable(student):
    """Huge scores give a finite, correct loss (subtract the row max before exp)."""
    loss_fn = student.losses.SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(500.0)
    np.testing.assert_allclose(loss_fn.backward(), [[0, 0], [-0.5, 0.5]], atol=1e-12)


def _network_loss(params, x, y):
    """conv(3x3, pad 1) -> relu -> maxpool 2 -> flatten -> dense -> softmax loss, here."""
    h = np.maximum(_conv(x, params["conv_W"], params["conv_b"], (1, 1), (1, 1)), 0)
    h = _windows(h, 2, 2, 2, 2).max(axis=(4, 5)).reshape(len(x), -1)
    scores = h @ params["fc_W"] + params["fc_b"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


@pytest.mark.points(2)
def test_small_network_gradient(student, rng):
    """conv -> relu -> pool -> flatten -> dense -> loss: the input gradient is right."""
    layers = student.layers
    params = {"conv_W": rng.standard_normal((2, 1, 3, 3)), "conv_b": rng.standard_normal(2),
              "fc_W": rng.standard_normal((8, 3)), "fc_b": rng.standard_normal(3)}
    model = student.Sequential([layers.Conv2D(1, 2, 3, padding=1, name="conv"),
                                layers.ReLU(name="relu"), layers.MaxPool2D(2, name="pool"),
                                layers.Flatten(name="flat"),
                                layers.Dense(8, 3, name="fc")]).astype(np.float64)
    for name, value in params.items():
        layer, key = name.split("_")
        student.set(model[layer].params[key], value)
    x = rng.standard_normal((2, 1, 4, 4))
    y = np.array([1, 2])
    loss_fn = student.losses.SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), y)
    dx = model.backward(loss_fn.backward())
    numeric = numerical_gradient(lambda v: _network_loss(params, v, y), x)
    assert_close_grad(dx, numeric, "dL/dx", tol=1e-5)
