"""Part 4, visible tests: class visualisation by gradient ascent (`explain.maximize`).

The core step of `maximize` climbs the gradient of the target's score, divided by its
root mean square (RMS). For a linear model ``scores = flatten(x) @ W + b`` that
gradient is column c of W, so one step can be checked by hand. Run them with
`python -m pytest tests/test_visible_part4_visualize.py`.
"""

import numpy as np
import pytest
from autograde_helpers import linear_model


def _rms(a):
    return np.sqrt(np.mean(a ** 2))


@pytest.mark.points(2)
def test_one_step_on_a_linear_model(student, rng):
    """No regulariser, no jitter: one step adds lr * W[:, c] / rms(W[:, c]) to the image,
    and the score history holds the score before the step."""
    w, b = rng.standard_normal((2 * 3 * 3, 4)), rng.standard_normal(4)
    model = linear_model(student, w, b)
    x0 = rng.standard_normal((1, 2, 3, 3))
    result = student.explain.maximize(model, 2, steps=1, lr=0.5, l2=0.0, jitter=0,
                                      blur_every=0, x0=x0, progress=False)
    image, scores = student.get(result.image), student.get(result.scores)
    expected = x0 + 0.5 * (w[:, 2] / _rms(w[:, 2])).reshape(1, 2, 3, 3)
    np.testing.assert_allclose(image, expected, atol=1e-12)
    np.testing.assert_allclose(scores, [[(x0.reshape(1, -1) @ w + b)[0, 2]]], atol=1e-12)


def _small_net(student):
    """conv1 (1 -> 4, 3x3, pad 1) -> relu1 -> flatten -> fc1 (4*8*8 -> 3), fixed weights."""
    layers = student.layers
    return student.Sequential([layers.Conv2D(1, 4, 3, padding=1, rng=1, name="conv1"),
                               layers.ReLU(name="relu1"), layers.Flatten(name="flat"),
                               layers.Dense(4 * 8 * 8, 3, rng=2, name="fc1")],
                              input_shape=(1, 8, 8)).astype(np.float64)


@pytest.mark.points(2)
def test_class_score_rises(student):
    """From faint noise, with the default regularisers: each class's score ends well above
    where it started, and each image is classified as its class."""
    model = _small_net(student)
    result = student.explain.maximize(model, np.array([0, 1, 2]), steps=40, lr=0.1,
                                      jitter=1, seed=3, progress=False)
    scores, final = student.get(result.scores), student.get(result.final)
    image = student.get(result.image)
    assert scores.shape == (40, 3) and image.shape == (3, 1, 8, 8)
    assert (final > scores[0] + 0.2).all(), f"start {scores[0]}, end {final}"
    predicted = model.forward(image).argmax(axis=1)
    np.testing.assert_array_equal(predicted, [0, 1, 2])


@pytest.mark.points(1)
def test_neuron_activation_rises(student):
    """A Neuron target (before its ReLU): its activation rises."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(1, 3, 3, padding=1, rng=5, name="conv1"),
                                layers.ReLU(name="relu1"),
                                layers.Conv2D(3, 2, 3, padding=1, rng=6, name="conv2")],
                               input_shape=(1, 6, 6)).astype(np.float64)
    neuron = student.explain.Neuron("conv2", 1, 3, 2)
    result = student.explain.maximize(model, neuron, steps=30, jitter=0, seed=1,
                                      progress=False)
    scores, final = student.get(result.scores), student.get(result.final)
    assert final[0] > scores[0, 0] + 0.5, f"start {scores[0, 0]}, end {final[0]}"


@pytest.mark.points(1)
def test_score_and_gradient_of_a_neuron(student, rng):
    """score_and_gradient with a Neuron of a conv layer: its value, and its filter at its
    window as the gradient on the image."""
    w, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    model = student.Sequential([student.layers.Conv2D(1, 2, 3, padding=1, name="conv1")])
    model = model.astype(np.float64)
    student.set(model["conv1"].params["W"], w)
    student.set(model["conv1"].params["b"], b)
    x = rng.standard_normal((2, 1, 5, 5))
    neuron = student.explain.Neuron("conv1", 0, 1, 2)
    score, grad = student.explain.optimize.score_and_gradient(model, x, neuron)
    window = x[:, 0, 0:3, 1:4]  # rows 1-1..1+1, cols 2-1..2+1
    np.testing.assert_allclose(score, (window * w[0, 0]).sum(axis=(1, 2)) + b[0], atol=1e-12)
    expected = np.zeros_like(x)
    expected[:, 0, 0:3, 1:4] = w[0, 0]
    np.testing.assert_allclose(grad, expected, atol=1e-12)
