"""Visible tests of the cnn_layers assignment: run them with `python -m pytest`.

Each test checks one function you write, on an example small enough to check by
hand, or against a numerical gradient (in float64). Your code is reached through
the `student` fixture: `student.layers.ReLU()` is `minicnn.layers.ReLU()` of your
package, `student.get(...)` / `student.set(...)` read and write its values.
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_forward_by_hand(student):
    """conv2d_naive: a 2x2 filter of ones sums each window, plus the bias."""
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    out = student.layers.conv2d_naive(x, w, np.array([1.0]))
    np.testing.assert_allclose(out, [[[[9, 13], [21, 25]]]])


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_conv_forward_stride_and_padding(student):
    """conv2d_naive with stride=2, pad=1: each corner window sees four ones."""
    x = np.ones((1, 1, 3, 3))
    w = np.ones((2, 1, 3, 3))
    w[1] *= -1
    out = student.layers.conv2d_naive(x, w, np.array([0.0, 0.5]), stride=2, pad=1)
    assert out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[4, 4], [4, 4]])
    np.testing.assert_allclose(out[0, 1], [[-3.5, -3.5], [-3.5, -3.5]])


@pytest.mark.points(3)
@pytest.mark.usefixtures("naive_only")
def test_conv_backward_numerical(student, rng):
    """conv2d_naive_backward: dx, dw, db agree with numerical gradients of conv2d_naive."""
    conv = student.layers.conv2d_naive
    x = rng.standard_normal((2, 3, 5, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 5, 5))
    dx, dw, db = student.layers.conv2d_naive_backward(dout, x, w, stride=1, pad=1)
    assert_close_grad(dx, numerical_gradient(lambda v: conv(v, w, b, 1, 1), x, dout), "dx")
    assert_close_grad(dw, numerical_gradient(lambda v: conv(x, v, b, 1, 1), w, dout), "dw")
    assert_close_grad(db, numerical_gradient(lambda v: conv(x, w, v, 1, 1), b, dout), "db")


@pytest.mark.points(1)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_forward_by_hand(student):
    """maxpool_naive: the max of each 2x2 window."""
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(student.layers.maxpool_naive(x, 2), [[[[5, 7], [13, 15]]]])


@pytest.mark.points(2)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_backward_routes_to_argmax(student):
    """maxpool_naive_backward: each window's gradient goes to its maximum only."""
    x = np.array([[[[1.0, 3, 0, 0], [2, 0, 0, 5], [0, 0, 9, 0], [8, 0, 0, 0]]]])
    dout = np.array([[[[10.0, 20], [30, 40]]]])
    dx = student.layers.maxpool_naive_backward(dout, x, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1], expected[0, 0, 1, 3] = 10, 20
    expected[0, 0, 3, 0], expected[0, 0, 2, 2] = 30, 40
    np.testing.assert_allclose(dx, expected)


@pytest.mark.points(1)
@pytest.mark.usefixtures("naive_only")
def test_maxpool_backward_ties_go_to_the_first_maximum(student):
    """On a tie, the whole gradient goes to the first maximum in reading order (row by
    row, as np.argmax and PyTorch do), not to every tied maximum."""
    x = np.array([[[[4.0, 4, 1, 7], [4, 0, 7, 7], [2, 2, 5, 5], [2, 2, 5, 5]]]])
    dout = np.array([[[[1.0, 2], [3, 4]]]])
    dx = student.layers.maxpool_naive_backward(dout, x, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0], expected[0, 0, 0, 3] = 1, 2
    expected[0, 0, 2, 0], expected[0, 0, 2, 2] = 3, 4
    np.testing.assert_allclose(dx, expected)


@pytest.mark.points(1)
def test_relu_forward(student):
    """ReLU.forward is max(x, 0)."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_allclose(student.layers.ReLU().forward(x), [[0, 0, 0, 0.5, 2]])


@pytest.mark.points(1)
def test_relu_backward_standard(student):
    """ReLU.backward (standard mode) passes dout where the input was positive, and
    leaves dout unchanged."""
    relu = student.layers.ReLU()
    relu.forward(np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]]))
    dout = student.shared([[1.0, 2, 3, 4, 5]])  # your code sees this very array
    np.testing.assert_allclose(relu.backward(dout), [[0, 0, 0, 4, 5]])
    np.testing.assert_allclose(dout, [[1, 2, 3, 4, 5]], err_msg="backward changed dout")


@pytest.mark.points(1)
def test_dense_forward_by_hand(student):
    """Dense.forward is x @ W + b, with W shaped (in_features, out_features)."""
    layer = student.layers.Dense(3, 2, dtype=np.float64)
    student.set(layer.params["W"], np.array([[1.0, 0], [0, 1], [1, -1]]))
    student.set(layer.params["b"], np.array([0.5, -0.5]))
    out = layer.forward(np.array([[1.0, 2, 3], [0, 0, 1]]))
    np.testing.assert_allclose(out, [[4.5, -1.5], [1.5, -1.5]])


@pytest.mark.points(2)
def test_dense_backward_numerical(student, rng):
    """Dense.backward: dx, grads['W'], grads['b'] agree with numerical gradients."""
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x = rng.standard_normal((5, 4))
    dout = rng.standard_normal((5, 3))
    layer = student.layers.Dense(4, 3, dtype=np.float64)
    student.set(layer.params["W"], w)
    student.set(layer.params["b"], b)
    layer.forward(x)
    dx = layer.backward(dout)

    def dense(new_w, new_b, inputs):  # x @ W + b, the formula Dense.forward computes
        return inputs @ new_w + new_b

    assert_close_grad(dx, numerical_gradient(lambda v: dense(w, b, v), x, dout), "dx")
    assert_close_grad(student.get(layer.grads["W"]),
                      numerical_gradient(lambda v: dense(v, b, x), w, dout), "grads['W']")
    assert_close_grad(student.get(layer.grads["b"]),
                      numerical_gradient(lambda v: dense(w, v, x), b, dout), "grads['b']")


@pytest.mark.points(1)
def test_float32_stays_float32(student):
    """Layers compute in the dtype they are given: float32 in, float32 out (no silent
    upcast to float64, e.g. by multiplying with a float64 mask or array)."""
    x = np.array([[-1.0, 2.0, 3.0]], dtype=np.float32)
    relu = student.layers.ReLU()
    assert relu.forward(x).dtype == np.float32, "ReLU.forward"
    assert relu.backward(np.ones((1, 3), np.float32)).dtype == np.float32, "ReLU.backward"
    dense = student.layers.Dense(3, 2, dtype=np.float32)
    assert dense.forward(x).dtype == np.float32, "Dense.forward"
    assert dense.backward(np.ones((1, 2), np.float32)).dtype == np.float32, "Dense.backward"


@pytest.mark.points(1)
def test_softmax_cross_entropy_by_hand(student):
    """With all-zero scores over 3 classes the loss is log(3); the gradient is (1/3 - onehot)/N."""
    loss_fn = student.losses.SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.zeros((2, 3)), np.array([0, 2]))
    assert loss == pytest.approx(np.log(3))
    expected = np.full((2, 3), 1 / 3)
    expected[0, 0] -= 1
    expected[1, 2] -= 1
    np.testing.assert_allclose(loss_fn.backward(), expected / 2)


@pytest.mark.points(1)
def test_softmax_cross_entropy_large_scores(student):
    """Scores of 800 overflow exp() (e**800 is inf in float64): subtract each row's max
    first. The rows' losses are then ~0 (right class) and ~800 (wrong class)."""
    loss_fn = student.losses.SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[800.0, 0.0], [800.0, 0.0]]), np.array([0, 1]))
    assert np.isfinite(loss), f"the loss is {loss}: exp() overflowed"
    assert loss == pytest.approx(400.0)
    np.testing.assert_allclose(loss_fn.backward(), [[0, 0], [0.5, -0.5]], atol=1e-12)


@pytest.mark.points(2)
def test_softmax_cross_entropy_numerical(student, rng):
    """SoftmaxCrossEntropy.backward agrees with the numerical gradient of the loss."""
    scores = rng.standard_normal((4, 5))
    y = np.array([0, 4, 2, 2])
    loss_fn = student.losses.SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    dscores = loss_fn.backward()

    def loss(s):  # computed here: the definition, not your forward
        shifted = s - s.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(y)), y].mean()

    assert_close_grad(dscores, numerical_gradient(loss, scores), "dscores")
