"""Part 2, hidden tests (only in the autograder): a neuron that does not fire, batches,
neurons of a dense layer, and guided backprop of a neuron through a small network
against the chain rule written out by hand."""

import numpy as np
import pytest

# Some neurons in these tiny models do not fire; the explain module warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


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
@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_neuron_through_a_network(student, rng, mode):
    """A neuron of fc2 through fc1 -> relu1 equals the chain rule with that ReLU rule,
    and backprop's stop gives the gradient on relu1's output."""
    layers = student.layers
    w1, b1 = rng.standard_normal((8, 6)), rng.standard_normal(6)
    w2 = rng.standard_normal((6, 3))
    model = student.Sequential([layers.Flatten(name="flat"), layers.Dense(8, 6, name="fc1"),
                                layers.ReLU(name="relu1"),
                                layers.Dense(6, 3, name="fc2")]).astype(np.float64)
    student.set(model["fc1"].params["W"], w1)
    student.set(model["fc1"].params["b"], b1)
    student.set(model["fc2"].params["W"], w2)
    x = rng.standard_normal((2, 2, 2, 2))
    pre = x.reshape(2, 8) @ w1 + b1
    g = np.broadcast_to(w2[:, 2], (2, 6))  # d fc2[:, 2] / d relu1's output
    passed = {"standard": g * (pre > 0), "deconvnet": np.maximum(g, 0),
              "guided": np.where((pre > 0) & (g > 0), g, 0)}[mode]
    neuron = student.explain.Neuron("fc2", 2)
    np.testing.assert_allclose(student.explain.neuron_gradient(model, x, neuron, mode),
                               (passed @ w1.T).reshape(x.shape), atol=1e-12)
    np.testing.assert_allclose(
        student.explain.neuron_gradient(model, x, neuron, mode, "relu1"), g, atol=1e-12,
        err_msg="stop='relu1'")
