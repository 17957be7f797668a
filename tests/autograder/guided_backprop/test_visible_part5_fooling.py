"""Part 5, visible tests: fooling images (`explain.fool`).

Each step climbs the gradient of the target class's score until the model predicts
that class. For a linear model ``scores = flatten(x) @ W + b`` that gradient is
column t of W, so the steps can be followed by hand. Run them with
`python -m pytest tests/test_visible_part5_fooling.py`.
"""

import numpy as np
import pytest
from autograde_helpers import linear_model


def _setup(rng):
    w = rng.standard_normal((3 * 2 * 2, 3))
    b = np.array([6.0, 0.0, 0.0])  # class 0 wins at first
    x = 0.1 * rng.standard_normal((1, 3, 2, 2))
    return w, b, x


@pytest.mark.points(2)
def test_steps_on_a_linear_model(student, rng):
    """Normalised steps of size `step` along W[:, t], and not one step more than needed."""
    w, b, x = _setup(rng)
    model = linear_model(student, w, b)
    direction = (w[:, 2] / np.sqrt(np.mean(w[:, 2] ** 2))).reshape(x.shape)
    k = 0
    while ((x + k * 0.25 * direction).reshape(1, -1) @ w + b).argmax() != 2:
        k += 1
    result = student.explain.fool(model, x, 2, step=0.25, max_steps=1000)
    assert student.get(result.steps) == k > 1
    assert student.get(result.success) is True and student.get(result.predicted) == 2
    np.testing.assert_allclose(student.get(result.image), x + k * 0.25 * direction,
                               atol=1e-10)


@pytest.mark.points(2)
def test_signed_steps(student, rng):
    """signed=True (FGSM): every pixel moves by exactly `step`, in the direction of the
    sign of the gradient."""
    w, b, x = _setup(rng)
    model = linear_model(student, w, b)
    result = student.explain.fool(model, x, 1, step=0.01, max_steps=1, signed=True)
    assert student.get(result.steps) == 1 and student.get(result.success) is False
    expected = x + 0.01 * np.sign(w[:, 1]).reshape(x.shape)
    np.testing.assert_allclose(student.get(result.image), expected, atol=1e-12)
