"""Part 5, hidden tests (only in the autograder): fooling a small conv network, checked
with the grader's own forward pass (conv_net_scores), within bounds, and in float32."""

import numpy as np
import pytest
from autograde_helpers import conv_net, conv_net_scores


@pytest.mark.points(2)
@pytest.mark.parametrize("signed", [False, True])
def test_fools_a_small_conv_net(student, rng, signed):
    """The least likely class becomes the prediction (checked with the grader's forward
    pass), and the reported sizes of the change are those of the image returned."""
    model, p = conv_net(student, rng, channels=1, filters=3, side=5, classes=4)
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
    model, p = conv_net(student, rng, channels=1, filters=3, side=5, classes=4)
    model = model.astype(np.float32)
    x = rng.random((1, 1, 5, 5)).astype(np.float32)
    target = int(conv_net_scores(x.astype(np.float64), p)[0].argmin())
    result = student.explain.fool(model, x, target, step=0.02, max_steps=500,
                                  bounds=(0.0, 1.0))
    image = student.get(result.image)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert student.get(result.steps) >= 1 and student.get(result.success) is True
