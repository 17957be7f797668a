"""Visible tests of the cnn_layers assignment: run them with `python -m pytest`.

Each test checks one function you write, on an example small enough to check by
hand, or against a numerical gradient (in float64).
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient

from minicnn.layers import (
    Dense,
    ReLU,
    conv2d_naive,
    conv2d_naive_backward,
    maxpool_naive,
    maxpool_naive_backward,
)
from minicnn.losses import SoftmaxCrossEntropy


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_forward_by_hand():
    """conv2d_naive: a 2x2 filter of ones sums each window, plus the bias."""
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    out = conv2d_naive(x, w, np.array([1.0]))
    np.testing.assert_allclose(out, [[[[9, 13], [21, 25]]]])


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_forward_stride_and_padding():
    """conv2d_naive with stride=2, pad=1: each corner window sees four ones."""
    x = np.ones((1, 1, 3, 3))
    w = np.ones((2, 1, 3, 3))
    w[1] *= -1
    out = conv2d_naive(x, w, np.array([0.0, 0.5]), stride=2, pad=1)
    assert out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[4, 4], [4, 4]])
    np.testing.assert_allclose(out[0, 1], [[-3.5, -3.5], [-3.5, -3.5]])


@pytest.mark.points(3)
@pytest.mark.usefixtures("naive_only")
def test_conv_backward_numerical(rng):
    """conv2d_naive_backward: dx, dw, db agree with numerical gradients."""
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 5, 5))
    dx, dw, db = conv2d_naive_backward(dout, x, w, stride=1, pad=1)
    assert_close_grad(dx, numerical_gradient(lambda v: conv2d_naive(v, w, b, 1, 1), x, dout),
                      "dx")
    assert_close_grad(dw, numerical_gradient(lambda v: conv2d_naive(x, v, b, 1, 1), w, dout),
                      "dw")
    assert_close_grad(db, numerical_gradient(lambda v: conv2d_naive(x, w, v, 1, 1), b, dout),
                      "db")


@pytest.mark.points(1)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_forward_by_hand():
    """maxpool_naive: the max of each 2x2 window."""
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(maxpool_naive(x, 2), [[[[5, 7], [13, 15]]]])


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_backward_routes_to_argmax():
    """maxpool_naive_backward: each window's gradient goes to its maximum only."""
    x = np.array([[[[1.0, 3, 0, 0], [2, 0, 0, 5], [0, 0, 9, 0], [8, 0, 0, 0]]]])
    dout = np.array([[[[10.0, 20], [30, 40]]]])
    dx = maxpool_naive_backward(dout, x, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1], expected[0, 0, 1, 3] = 10, 20
    expected[0, 0, 3, 0], expected[0, 0, 2, 2] = 30, 40
    np.testing.assert_allclose(dx, expected)


@pytest.mark.points(1)
def test_relu_forward():
    """ReLU.forward is max(x, 0)."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_allclose(ReLU().forward(x), [[0, 0, 0, 0.5, 2]])


@pytest.mark.points(1)
def test_relu_backward_standard():
    """ReLU.backward (standard mode) passes dout where the input was positive."""
    relu = ReLU()
    relu.forward(np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]]))
    dout = np.array([[1.0, 2, 3, 4, 5]])
    np.testing.assert_allclose(relu.backward(dout), [[0, 0, 0, 4, 5]])
    np.testing.assert_allclose(dout, [[1, 2, 3, 4, 5]], err_msg="backward changed dout")


@pytest.mark.points(1)
def test_dense_forward_by_hand():
    """Dense.forward is x @ W + b, with W shaped (in_features, out_features)."""
    layer = Dense(3, 2, dtype=np.float64)
    layer.params["W"] = np.array([[1.0, 0], [0, 1], [1, -1]])
    layer.params["b"] = np.array([0.5, -0.5])
    out = layer.forward(np.array([[1.0, 2, 3], [0, 0, 1]]))
    np.testing.assert_allclose(out, [[4.5, -1.5], [1.5, -1.5]])


@pytest.mark.points(2)
def test_dense_backward_numerical(rng):
    """Dense.backward: dx, grads['W'], grads['b'] agree with numerical gradients."""
    layer = Dense(4, 3, rng=0, dtype=np.float64)
    x = rng.standard_normal((5, 4))
    dout = rng.standard_normal((5, 3))
    w, b = layer.params["W"].copy(), layer.params["b"].copy()
    layer.forward(x)
    dx = layer.backward(dout)

    def dense(new_w, new_b, inputs):
        probe = Dense(4, 3, dtype=np.float64)
        probe.params["W"], probe.params["b"] = new_w, new_b
        return probe.forward(inputs)

    assert_close_grad(dx, numerical_gradient(lambda v: dense(w, b, v), x, dout), "dx")
    assert_close_grad(layer.grads["W"], numerical_gradient(lambda v: dense(v, b, x), w, dout),
                      "grads['W']")
    assert_close_grad(layer.grads["b"], numerical_gradient(lambda v: dense(w, v, x), b, dout),
                      "grads['b']")


@pytest.mark.points(1)
def test_softmax_cross_entropy_by_hand():
    """With all-zero scores over 3 classes the loss is log(3); the gradient is (1/3 - onehot)/N."""
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.zeros((2, 3)), np.array([0, 2]))
    assert loss == pytest.approx(np.log(3))
    expected = np.full((2, 3), 1 / 3)
    expected[0, 0] -= 1
    expected[1, 2] -= 1
    np.testing.assert_allclose(loss_fn.backward(), expected / 2)


@pytest.mark.points(2)
def test_softmax_cross_entropy_numerical(rng):
    """SoftmaxCrossEntropy.backward agrees with the numerical gradient of the loss."""
    scores = rng.standard_normal((4, 5))
    y = np.array([0, 4, 2, 2])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    dscores = loss_fn.backward()
    numeric = numerical_gradient(lambda s: SoftmaxCrossEntropy().forward(s, y), scores)
    assert_close_grad(dscores, numeric, "dscores")
