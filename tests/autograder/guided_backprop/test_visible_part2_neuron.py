"""Part 2, visible tests: the lecture's recipe for one neuron.

`backprop` carries a seed (the gradient on one layer's output) down to the image, or
to the output of layer `stop`; `neuron_gradient` keeps one neuron, zeroes every other
neuron of its layer, and backpropagates that. Run them with
`python -m pytest tests/test_visible_part2_neuron.py`.
"""

import numpy as np
import pytest
from autograde_helpers import assert_close_grad, conv_relu, numerical_gradient

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _conv_model(student, w, b):
    """conv1 (2 filters 3x3, padding 1) -> relu1, with the weights given here."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(1, 2, 3, padding=1, name="conv1"),
                                layers.ReLU(name="relu1")]).astype(np.float64)
    student.set(model["conv1"].params["W"], w)
    student.set(model["conv1"].params["b"], b)
    return model


@pytest.mark.points(2)
@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_neuron_of_a_conv_layer_is_its_filter(student, rng, mode):
    """The gradient of one conv neuron on the image is its filter, at its window."""
    w = rng.standard_normal((2, 1, 3, 3))
    model = _conv_model(student, w, rng.standard_normal(2))
    x = rng.standard_normal((1, 1, 5, 5))
    neuron = student.explain.Neuron("conv1", 1, 2, 3)
    grad = student.explain.neuron_gradient(model, x, neuron, mode)
    expected = np.zeros_like(x)
    expected[0, :, 1:4, 2:5] = w[1]  # rows 2-1..2+1, cols 3-1..3+1
    np.testing.assert_allclose(grad, expected, atol=1e-12)


@pytest.mark.points(2)
def test_neuron_gradient_matches_numerical(student, rng):
    """Standard mode: the gradient of an active ReLU neuron is the true gradient."""
    w, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    model = _conv_model(student, w, b)
    x = rng.standard_normal((1, 1, 5, 5))
    out = conv_relu(x, w, b)
    channel, y, x_pos = np.unravel_index(np.argmax(out[0]), out[0].shape)  # fires
    neuron = student.explain.Neuron("relu1", int(channel), int(y), int(x_pos))
    grad = student.explain.gradient(model, x, neuron, mode="standard")
    numeric = numerical_gradient(lambda v: conv_relu(v, w, b)[0, channel, y, x_pos], x)
    assert_close_grad(grad, numeric, "gradient of the neuron")


@pytest.mark.points(2)
def test_backprop_stops_at_a_layer(student, rng):
    """backprop(model, seed, start, mode, stop) returns the gradient on stop's output."""
    w1, w2 = rng.standard_normal((6, 5)), rng.standard_normal((5, 3))
    layers = student.layers
    model = student.Sequential([layers.Flatten(name="flat"), layers.Dense(6, 5, name="fc1"),
                                layers.Dense(5, 3, name="fc2")]).astype(np.float64)
    student.set(model["fc1"].params["W"], w1)
    student.set(model["fc2"].params["W"], w2)
    x = rng.standard_normal((2, 6, 1, 1))
    seed = rng.standard_normal((2, 3))
    model.forward(x)
    explain = student.explain
    np.testing.assert_allclose(explain.backprop(model, seed, "fc2", "standard", "fc1"),
                               seed @ w2.T, atol=1e-12, err_msg="stop='fc1'")
    np.testing.assert_allclose(explain.backprop(model, seed, "fc2", "standard"),
                               (seed @ w2.T @ w1.T).reshape(x.shape), atol=1e-12,
                               err_msg="down to the image")
    np.testing.assert_allclose(explain.backprop(model, seed, "fc2", "standard", "fc2"),
                               seed, err_msg="stop == start")
