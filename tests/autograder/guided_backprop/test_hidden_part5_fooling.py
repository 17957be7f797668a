"""Part 5, hidden tests (only in the autograder): fooling a small conv network, checked
with the network written out here, within bounds, and in float32."""

import numpy as np
import pytest
from autograde_helpers import conv_net_scores


def _conv_net(student, rng):
    """conv1 (1 -> 3, 3x3, pad 1) -> relu1 -> flatten -> fc1 (3*5*5 -> 4)."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(1, 3, 3, padding=1, name="conv1"),
                                layers.ReLU(name="relu1"), layers.Flatten(name="flat"),
                                layers.Dense(75, 4, name="fc1")]).astype(np.float64)
    p = {"w1": rng.standard_normal((3, 1, 3, 3)), "b1": rng.standard_normal(3),
         "w2": rng.standard_normal((75, 4)), "b2": rng.standard_normal(4)}
    for layer, w, b in (("conv1", "w1", "b1"), ("fc1", "w2", "b2")):
        student.set(model[layer].params["W"], p[w])
        student.set(model[layer].params["b"], p[b])
    return model, p



@pytest.mark.points(2)
@pytest.mark.parametrize("signed", [False, True])
def test_fools_a_small_conv_net(student, rng, signed):
    """The least likely class becomes the prediction (checked with the network written
    here), and the reported sizes of the change are those of the image returned."""
    model, p = _conv_net(student, rng)
    x = rng.random((1, 1, 5, 5))
    target = int(conv_net_scores(x, p)[0].argmin())
    result = student.explain.fool(model, x, target, step=0.02, max_steps=500, signed=signed)
    image = student.get(result.image)
    assert student.get(result.success) is True
    assert conv_net_scores(image, p)[0].argmax() == target == student.get(result.predicted)
    np.testing.assert_allclose(student.get(result.linf), np.abs(image - x).max(), rtol=1e-9)
    np.testing.assert_allclose(student.get(result.l2), np.sqrt(((image - x) ** 2).sum()),
                               rtol=1e-9)


@pytest.mark.points(2)
def test_bounds_and_float32(student, rng):
    """A float32 model and image stay float32; bounds (0, 1) keep every pixel in range."""
    model, p = _conv_net(student, rng)
    model = model.astype(np.float32)
    x = rng.random((1, 1, 5, 5)).astype(np.float32)
    target = int(conv_net_scores(x.astype(np.float64), p)[0].argmin())
    result = student.explain.fool(model, x, target, step=0.02, max_steps=500,
                                  bounds=(0.0, 1.0))
    image = student.get(result.image)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert student.get(result.steps) >= 1 and student.get(result.success) is True
