"""Part 1, visible tests: the deconvnet and guided ReLU backward rules.

Run them with `python -m pytest tests/test_visible_part1_rules.py`. `x` is the ReLU's
forward input and `g` the gradient arriving from above. Your code is reached through
the `student` fixture: `student.layers.relu_backward(...)` is
`minicnn.layers.relu_backward(...)` of your package.
"""

import numpy as np
import pytest


def x_and_g():
    """x is the ReLU's forward input, g the gradient arriving from above."""
    return np.array([[-1.0, 2.0, 3.0, -4.0, 0.0]]), np.array([[1.0, -1.0, 2.0, 3.0, 5.0]])


@pytest.mark.points(1)
def test_deconvnet_rule(student):
    """deconvnet lets through the positive entries of g, whatever x was."""
    np.testing.assert_allclose(student.layers.relu_backward(*x_and_g(), "deconvnet"),
                               [[1, 0, 2, 3, 5]])


@pytest.mark.points(1)
def test_guided_rule(student):
    """guided lets through g only where x > 0 and g > 0."""
    np.testing.assert_allclose(student.layers.relu_backward(*x_and_g(), "guided"),
                               [[0, 0, 2, 0, 0]])


@pytest.mark.points(1)
def test_relu_layer_uses_its_mode(student):
    """ReLU(mode=...).backward applies that mode's rule and leaves dout unchanged."""
    x, g = x_and_g()
    expected = {"standard": [[0, -1, 2, 0, 0]], "deconvnet": [[1, 0, 2, 3, 5]],
                "guided": [[0, 0, 2, 0, 0]]}
    for mode, want in expected.items():
        layer = student.layers.ReLU(mode=mode)
        layer.forward(x)
        dout = student.shared(g)  # your code sees this very array
        np.testing.assert_allclose(layer.backward(dout), want, err_msg=f"mode={mode}")
        np.testing.assert_array_equal(dout, g, err_msg=f"mode={mode} changed dout")
