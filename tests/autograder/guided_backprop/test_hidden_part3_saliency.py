"""Part 3, hidden tests (only in the autograder): class saliency through a small conv
network against a numerical gradient, the true gradient whatever rule the model's
ReLUs are set to, dtypes, and guided backprop of a class score against the chain rule."""

import numpy as np
import pytest
from autograde_helpers import conv_net, conv_net_scores, numerical_gradient, rel_error


@pytest.mark.points(2)
def test_class_saliency_matches_numerical(student, rng):
    """Through conv -> relu -> dense: max over channels of |numerical gradient|."""
    model, params = conv_net(student, rng, channels=3, filters=2, side=4, classes=3)
    x = rng.standard_normal((2, 3, 4, 4))
    classes = np.array([2, 0])
    got = student.explain.class_saliency(model, x, classes)
    for i, c in enumerate(classes):
        numeric = numerical_gradient(lambda v, i=i, c=c: conv_net_scores(v, params)[i, c], x)
        expected = np.abs(numeric[i]).max(axis=0)
        error = rel_error(got[i], expected)
        assert error < 1e-6, f"image {i}: rel_error={error:.2e}"


@pytest.mark.points(1)
def test_class_saliency_is_the_true_gradient_whatever_the_relu_mode(student, rng):
    """A model whose ReLUs were left in "guided" mode still gets the true gradient, and
    keeps its mode."""
    model, params = conv_net(student, rng, channels=3, filters=2, side=4, classes=3)
    x = rng.standard_normal((1, 3, 4, 4))
    model.set_relu_mode("guided")
    got = student.explain.class_saliency(model, x, 1)
    numeric = numerical_gradient(lambda v: conv_net_scores(v, params)[0, 1], x)
    np.testing.assert_allclose(got[0], np.abs(numeric[0]).max(axis=0), rtol=1e-5, atol=1e-8)
    assert student.get(model["relu1"].mode) == "guided", "the model's ReLU mode changed"


@pytest.mark.points(1)
def test_class_saliency_in_float32(student, rng):
    """float32 model and images: an (N, H, W) float32 map, never negative."""
    model, _ = conv_net(student, rng, channels=3, filters=2, side=4, classes=3)
    model = model.astype(np.float32)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    got = student.explain.class_saliency(model, x, np.array([0, 2]))
    assert got.dtype == np.float32 and got.shape == (2, 4, 4)
    assert (got >= 0).all()


@pytest.mark.points(2)
def test_guided_backprop_of_a_class_score(student, rng):
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
    guided = np.where((pre > 0) & (g > 0), g, 0)
    expected = (guided @ w1.T).reshape(x.shape)
    np.testing.assert_allclose(student.explain.guided_backprop(model, x, 2), expected,
                               atol=1e-12)
