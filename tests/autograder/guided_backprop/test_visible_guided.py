"""Visible tests of the guided_backprop assignment: run them with `python -m pytest`.

The three ReLU backward rules on a hand-checkable example, and the lecture's
recipe for one neuron (keep it, zero every other neuron of its layer, backprop
to the image).
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, numerical_gradient

from minicnn import Sequential
from minicnn.explain import Neuron, gradient
from minicnn.layers import Conv2D, ReLU, relu_backward

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# x is the ReLU's forward input, g the gradient arriving from above.
X = np.array([[-1.0, 2.0, 3.0, -4.0, 0.0]])
G = np.array([[1.0, -1.0, 2.0, 3.0, 5.0]])


@pytest.mark.points(1)
def test_standard_rule():
    """standard (backprop): g * (x > 0)."""
    np.testing.assert_allclose(relu_backward(X, G, "standard"), [[0, -1, 2, 0, 0]])


@pytest.mark.points(1)
def test_deconvnet_rule():
    """deconvnet: g * (g > 0), whatever x was."""
    np.testing.assert_allclose(relu_backward(X, G, "deconvnet"), [[1, 0, 2, 3, 5]])


@pytest.mark.points(1)
def test_guided_rule():
    """guided backprop: g * (x > 0) * (g > 0)."""
    np.testing.assert_allclose(relu_backward(X, G, "guided"), [[0, 0, 2, 0, 0]])


@pytest.mark.points(1)
def test_relu_layer_uses_its_mode():
    """ReLU(mode=...).backward applies that mode's rule and leaves dout unchanged."""
    expected = {"standard": [[0, -1, 2, 0, 0]], "deconvnet": [[1, 0, 2, 3, 5]],
                "guided": [[0, 0, 2, 0, 0]]}
    for mode, want in expected.items():
        layer = ReLU(mode=mode)
        layer.forward(X)
        dout = G.copy()
        np.testing.assert_allclose(layer.backward(dout), want, err_msg=f"mode={mode}")
        np.testing.assert_array_equal(dout, G, err_msg=f"mode={mode} changed dout")


def _conv_model():
    model = Sequential([Conv2D(1, 2, 3, padding=1, rng=0, name="conv1"), ReLU(name="relu1")])
    return model.astype(np.float64)


@pytest.mark.points(3)
@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_neuron_of_a_conv_layer_is_its_filter(rng, mode):
    """The gradient of one conv neuron on the image is its filter, at its window."""
    model = _conv_model()
    x = rng.standard_normal((1, 1, 5, 5))
    grad = gradient(model, x, Neuron("conv1", 1, 2, 3), mode=mode)
    expected = np.zeros_like(x)
    expected[0, :, 1:4, 2:5] = model["conv1"].params["W"][1]  # rows 2-1..2+1, cols 3-1..3+1
    np.testing.assert_allclose(grad, expected, atol=1e-12)


@pytest.mark.points(2)
def test_neuron_gradient_matches_numerical(rng):
    """Standard mode: the gradient of an active ReLU neuron is the true gradient."""
    model = _conv_model()
    x = rng.standard_normal((1, 1, 5, 5))
    out = model.forward(x)
    channel, y, x_pos = np.unravel_index(np.argmax(out[0]), out[0].shape)  # fires
    neuron = Neuron("relu1", int(channel), int(y), int(x_pos))
    grad = gradient(model, x, neuron, mode="standard")
    numeric = numerical_gradient(lambda v: model.forward(v)[0, channel, y, x_pos], x)
    assert_close_grad(grad, numeric, "gradient of the neuron")
