"""Hidden tests of the guided_backprop assignment (only in the autograder).

The rules on random arrays and in float32, the lesson of a neuron that does not
fire, batches, dense layers, and guided backprop through a whole small network
against a hand-written chain rule.
"""

import numpy as np
import pytest

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rules_on_random_arrays(student, rng, dtype):
    """All three rules match their formulas, keep the dtype and never modify their inputs."""
    x0 = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    g0 = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    want = {"standard": g0 * (x0 > 0), "deconvnet": g0 * (g0 > 0),
            "guided": g0 * (x0 > 0) * (g0 > 0)}
    x, g = student.shared(x0), student.shared(g0)  # seen by reference
    for mode, expected in want.items():
        got = student.layers.relu_backward(x, g, mode)
        assert got.dtype == dtype, f"mode={mode}: dtype {got.dtype}, expected {dtype}"
        np.testing.assert_allclose(got, expected, err_msg=f"mode={mode}")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def _dead_neuron_model(student):
    conv = student.layers.Conv2D(1, 1, 3, padding=1, name="conv1")
    model = student.Sequential([conv, student.layers.ReLU(name="relu1")]).astype(np.float64)
    student.set(model["conv1"].params["W"], np.ones((1, 1, 3, 3)))
    student.set(model["conv1"].params["b"], np.array([-100.0]))  # never fires on small inputs
    return model


@pytest.mark.points(2)
def test_dead_neuron_shows_only_under_deconvnet(student, rng):
    """A neuron that does not fire: standard and guided maps are zero, deconvnet's is not."""
    model = _dead_neuron_model(student)
    x = rng.standard_normal((1, 1, 5, 5))
    neuron = student.explain.Neuron("relu1", 0, 2, 2)
    maps = {mode: student.explain.gradient(model, x, neuron, mode=mode)
            for mode in ("standard", "deconvnet", "guided")}
    assert not maps["standard"].any()
    assert not maps["guided"].any()
    expected = np.zeros_like(x)
    expected[0, 0, 1:4, 1:4] = 1.0  # the all-ones filter at the neuron's window
    np.testing.assert_allclose(maps["deconvnet"], expected)


@pytest.mark.points(1)
def test_neuron_batch_images_are_independent(student, rng):
    """Each image of a batch gets its own neuron's gradient (one-hot per image)."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(2, 3, 3, padding=1, rng=3, name="conv1"),
                                layers.ReLU(name="relu1"),
                                layers.Conv2D(3, 2, 3, padding=1, rng=4, name="conv2")])
    model = model.astype(np.float64)
    x = rng.standard_normal((3, 2, 5, 5))
    neuron = student.explain.Neuron("conv2", 1, 2, 2)
    batch = student.explain.gradient(model, x, neuron, mode="guided")
    for i in range(3):
        alone = student.explain.gradient(model, x[i:i + 1], neuron, mode="guided")
        np.testing.assert_allclose(batch[i:i + 1], alone, atol=1e-12)


@pytest.mark.points(1)
def test_neuron_of_a_dense_layer(student, rng):
    """Neuron(layer, k) on a flat (N, features) output: the gradient is column k of W."""
    w = rng.standard_normal((12, 4))
    model = student.Sequential([student.layers.Flatten(name="flat"),
                                student.layers.Dense(12, 4, name="fc1")]).astype(np.float64)
    student.set(model["fc1"].params["W"], w)
    x = rng.standard_normal((2, 3, 2, 2))
    grad = student.explain.gradient(model, x, student.explain.Neuron("fc1", 3),
                                    mode="standard")
    expected = np.broadcast_to(w[:, 3].reshape(1, 3, 2, 2), x.shape)
    np.testing.assert_allclose(grad, expected, atol=1e-12)


@pytest.mark.points(2)
def test_guided_backprop_through_a_network(student, rng):
    """guided_backprop of a class score equals the chain rule with the guided ReLU rule."""
    layers = student.layers
    w1, b1 = rng.standard_normal((8, 6)), rng.standard_normal(6)
    w2, b2 = rng.standard_normal((6, 3)), rng.standard_normal(3)
    model = student.Sequential([layers.Flatten(name="flat"), layers.Dense(8, 6, name="fc1"),
                                layers.ReLU(name="relu1"),
                                layers.Dense(6, 3, name="fc2")]).astype(np.float64)
    for name, value in (("fc1", w1), ("fc2", w2)):
        student.set(model[name].params["W"], value)
    student.set(model["fc1"].params["b"], b1)
    student.set(model["fc2"].params["b"], b2)
    x = rng.standard_normal((2, 2, 2, 2))
    pre = x.reshape(2, 8) @ w1 + b1
    g = np.broadcast_to(w2[:, 2], (2, 6))  # d score_2 / d relu output
    guided = g * (pre > 0) * (g > 0)
    expected = (guided @ w1.T).reshape(x.shape)
    np.testing.assert_allclose(student.explain.guided_backprop(model, x, 2), expected,
                               atol=1e-12)
    standard = ((g * (pre > 0)) @ w1.T).reshape(x.shape)
    np.testing.assert_allclose(student.explain.gradient(model, x, 2, mode="standard"),
                               standard, atol=1e-12)
