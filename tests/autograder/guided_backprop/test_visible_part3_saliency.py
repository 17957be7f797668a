"""Part 3, visible tests: the class-score seed and Simonyan's class saliency map.

For a linear model ``scores = flatten(x) @ W + b`` the gradient of class c's score on
the image is column c of W, so every expected value here can be checked by hand. Run
them with `python -m pytest tests/test_visible_part3_saliency.py`.
"""

import numpy as np
import pytest
from autograde_helpers import linear_model


@pytest.mark.points(2)
def test_class_gradient_of_a_linear_model(student, rng):
    """gradient(model, x, classes) with one class per image: image i gets column
    classes[i] of W, in the image's shape."""
    w = rng.standard_normal((2 * 3 * 3, 4))
    model = linear_model(student, w)
    x = rng.standard_normal((3, 2, 3, 3))
    classes = np.array([2, 0, 2])
    got = student.explain.gradient(model, x, classes, mode="standard")
    expected = w[:, classes].T.reshape(x.shape)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    one = student.explain.gradient(model, x, 1, mode="standard")  # an int: every image
    np.testing.assert_allclose(one, np.broadcast_to(w[:, 1].reshape(2, 3, 3), x.shape),
                               atol=1e-12, err_msg="target=1")


@pytest.mark.points(2)
def test_class_saliency_of_a_linear_model(student, rng):
    """class_saliency is max over channels of |gradient|: (N, H, W), one number per pixel."""
    w = rng.standard_normal((3 * 2 * 2, 5))
    model = linear_model(student, w)
    x = rng.standard_normal((2, 3, 2, 2))
    got = student.explain.class_saliency(model, x, np.array([4, 1]))
    columns = w[:, [4, 1]].T.reshape(2, 3, 2, 2)
    expected = np.abs(columns).max(axis=1)
    assert got.shape == (2, 2, 2), f"shape {got.shape}, expected (N, H, W) = (2, 2, 2)"
    np.testing.assert_allclose(got, expected, atol=1e-12)
