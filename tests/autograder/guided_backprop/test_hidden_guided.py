"""Hidden tests of the guided_backprop assignment (only in the autograder).

The rules on random arrays and in float32, the lesson of a neuron that does not
fire, batches, dense layers, and guided backprop through a whole small network
against a hand-written chain rule.
"""

import warnings

import numpy as np
import pytest

from minicnn import Sequential
from minicnn.explain import Neuron, gradient, guided_backprop
from minicnn.layers import Conv2D, Dense, Flatten, ReLU, relu_backward

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rules_on_random_arrays(rng, dtype):
    """All three rules match their formulas, keep the dtype and never modify their inputs."""
    x = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    g = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    x0, g0 = x.copy(), g.copy()
    want = {"standard": g * (x > 0), "deconvnet": g * (g > 0),
            "guided": g * (x > 0) * (g > 0)}
    for mode, expected in want.items():
        got = relu_backward(x, g, mode)
        assert got.dtype == dtype, f"mode={mode}: dtype {got.dtype}, expected {dtype}"
        np.testing.assert_allclose(got, expected, err_msg=f"mode={mode}")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def _dead_neuron_model():
    conv = Conv2D(1, 1, 3, padding=1, rng=0, name="conv1")
    conv.params["W"][:] = 1.0
    conv.params["b"][:] = -100.0  # never fires on small inputs
    return Sequential([conv, ReLU(name="relu1")]).astype(np.float64)


@pytest.mark.points(2)
def test_dead_neuron_shows_only_under_deconvnet(rng):
    """A neuron that does not fire: standard and guided maps are zero, deconvnet's is not."""
    model = _dead_neuron_model()
    x = rng.standard_normal((1, 1, 5, 5))
    neuron = Neuron("relu1", 0, 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = {mode: gradient(model, x, neuron, mode=mode)
                for mode in ("standard", "deconvnet", "guided")}
    assert not maps["standard"].any()
    assert not maps["guided"].any()
    expected = np.zeros_like(x)
    expected[0, 0, 1:4, 1:4] = 1.0  # the all-ones filter at the neuron's window
    np.testing.assert_allclose(maps["deconvnet"], expected)


@pytest.mark.points(1)
def test_neuron_batch_images_are_independent(rng):
    """Each image of a batch gets its own neuron's gradient (one-hot per image)."""
    model = Sequential([Conv2D(2, 3, 3, padding=1, rng=3, name="conv1"), ReLU(name="relu1"),
                        Conv2D(3, 2, 3, padding=1, rng=4, name="conv2")]).astype(np.float64)
    x = rng.standard_normal((3, 2, 5, 5))
    neuron = Neuron("conv2", 1, 2, 2)
    batch = gradient(model, x, neuron, mode="guided")
    for i in range(3):
        alone = gradient(model, x[i:i + 1], neuron, mode="guided")
        np.testing.assert_allclose(batch[i:i + 1], alone, atol=1e-12)


@pytest.mark.points(1)
def test_neuron_of_a_dense_layer(rng):
    """Neuron(layer, k) on a flat (N, features) output: the gradient is column k of W."""
    model = Sequential([Flatten(name="flat"), Dense(12, 4, rng=2, name="fc1")])
    model = model.astype(np.float64)
    x = rng.standard_normal((2, 3, 2, 2))
    grad = gradient(model, x, Neuron("fc1", 3), mode="standard")
    w = model["fc1"].params["W"]
    expected = np.broadcast_to(w[:, 3].reshape(1, 3, 2, 2), x.shape)
    np.testing.assert_allclose(grad, expected, atol=1e-12)


@pytest.mark.points(2)
def test_guided_backprop_through_a_network(rng):
    """guided_backprop of a class score equals the chain rule with the guided ReLU rule."""
    model = Sequential([Flatten(name="flat"), Dense(8, 6, rng=5, name="fc1"),
                        ReLU(name="relu1"), Dense(6, 3, rng=6, name="fc2")]).astype(np.float64)
    x = rng.standard_normal((2, 2, 2, 2))
    w1, b1 = model["fc1"].params["W"], model["fc1"].params["b"]
    w2 = model["fc2"].params["W"]
    pre = x.reshape(2, 8) @ w1 + b1
    g = np.broadcast_to(w2[:, 2], (2, 6))  # d score_2 / d relu output
    guided = g * (pre > 0) * (g > 0)
    expected = (guided @ w1.T).reshape(x.shape)
    np.testing.assert_allclose(guided_backprop(model, x, 2), expected, atol=1e-12)
    standard = ((g * (pre > 0)) @ w1.T).reshape(x.shape)
    np.testing.assert_allclose(gradient(model, x, 2, mode="standard"), standard, atol=1e-12)
