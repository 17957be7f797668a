"""Visible tests of the guided_backprop assignment: run them with `python -m pytest`.

The three ReLU backward rules on a hand-checkable example, and the lecture's
recipe for one neuron (keep it, zero every other neuron of its layer, backprop
to the image). Your code is reached through the `student` fixture:
`student.layers.relu_backward(...)` is `minicnn.layers.relu_backward(...)` of your
package.
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def x_and_g():
    """x is the ReLU's forward input, g the gradient arriving from above."""
    return np.array([[-1.0, 2.0, 3.0, -4.0, 0.0]]), np.array([[1.0, -1.0, 2.0, 3.0, 5.0]])


@pytest.mark.points(1)
def test_standard_rule(student):
    """standard (backprop): g * (x > 0)."""
    np.testing.assert_allclose(student.layers.relu_backward(*x_and_g(), "standard"),
                               [[0, -1, 2, 0, 0]])


@pytest.mark.points(1)
def test_deconvnet_rule(student):
    """deconvnet: g * (g > 0), whatever x was."""
    np.testing.assert_allclose(student.layers.relu_backward(*x_and_g(), "deconvnet"),
                               [[1, 0, 2, 3, 5]])


@pytest.mark.points(1)
def test_guided_rule(student):
    """guided backprop: g * (x > 0) * (g > 0)."""
    np.testing.assert_allclose(student.layers.relu_backward(*x_and_g(), "guided"),
                               [[0, 0, 2, 0, 0]])


@pytest.mark.points(1)
def test_relu_layer_uses_its_mode(student):
    """ReLU(mode=...).backward applies that mode's rule and leaves dout unchanged."""
    x, g = x_and_g()
    expected = {"standard": [[0, -1, 2, 0, 0]], "deconvnet": [[1, 0, 2, 3, 5]],
                "guided": [[0, 0, 2, 0, 0]]}
    for mode, want in expected.items():
        layer = student.layers.ReLU(mode=mode)
        layer.forward(x)
        dout = student.shared(g)  # your code sees this very array
        np.testing.assert_allclose(layer.backward(dout), want, err_msg=f"mode={mode}")
        np.testing.assert_array_equal(dout, g, err_msg=f"mode={mode} changed dout")


def _conv_model(student, w, b):
    """conv1 (2 filters 3x3, padding 1) -> relu1, with the weights given here."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(1, 2, 3, padding=1, name="conv1"),
                                layers.ReLU(name="relu1")]).astype(np.float64)
    student.set(model["conv1"].params["W"], w)
    student.set(model["conv1"].params["b"], b)
    return model


@pytest.mark.points(3)
@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_neuron_of_a_conv_layer_is_its_filter(student, rng, mode):
    """The gradient of one conv neuron on the image is its filter, at its window."""
    w = rng.standard_normal((2, 1, 3, 3))
    model = _conv_model(student, w, rng.standard_normal(2))
    x = rng.standard_normal((1, 1, 5, 5))
    neuron = student.explain.Neuron("conv1", 1, 2, 3)
    grad = student.explain.gradient(model, x, neuron, mode=mode)
    expected = np.zeros_like(x)
    expected[0, :, 1:4, 2:5] = w[1]  # rows 2-1..2+1, cols 3-1..3+1
    np.testing.assert_allclose(grad, expected, atol=1e-12)


def _conv_relu(x, w, b):
    """conv1 -> relu1 of _conv_model, written here (padding 1, stride 1)."""
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))
    return np.maximum(np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None], 0)


@pytest.mark.points(2)
def test_neuron_gradient_matches_numerical(student, rng):
    """Standard mode: the gradient of an active ReLU neuron is the true gradient."""
    w, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    model = _conv_model(student, w, b)
    x = rng.standard_normal((1, 1, 5, 5))
    out = _conv_relu(x, w, b)
    channel, y, x_pos = np.unravel_index(np.argmax(out[0]), out[0].shape)  # fires
    neuron = student.explain.Neuron("relu1", int(channel), int(y), int(x_pos))
    grad = student.explain.gradient(model, x, neuron, mode="standard")
    numeric = numerical_gradient(lambda v: _conv_relu(v, w, b)[0, channel, y, x_pos], x)
    assert_close_grad(grad, numeric, "gradient of the neuron")
