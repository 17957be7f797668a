"""Part 1, hidden tests (only in the autograder): the rules on random arrays, in
float32 and float64, with their inputs left unmodified."""

import numpy as np
import pytest


@pytest.mark.points(2)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rules_on_random_arrays(student, rng, dtype):
    """All three rules match their formulas, keep the dtype and never modify their inputs."""
    x0 = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    g0 = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    want = {"standard": g0 * (x0 > 0), "deconvnet": np.maximum(g0, 0),
            "guided": np.where((x0 > 0) & (g0 > 0), g0, 0)}
    x, g = student.shared(x0), student.shared(g0)  # seen by reference
    for mode, expected in want.items():
        got = student.layers.relu_backward(x, g, mode)
        assert got.dtype == dtype, f"mode={mode}: dtype {got.dtype}, expected {dtype}"
        np.testing.assert_allclose(got, expected, err_msg=f"mode={mode}")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


@pytest.mark.points(1)
def test_rules_at_zero(student):
    """x == 0 or g == 0 is not positive: nothing passes there."""
    x = np.array([0.0, 0.0, 1.0, -1.0, 2.0])
    g = np.array([1.0, -1.0, 0.0, 2.0, 3.0])
    got = {mode: student.layers.relu_backward(x, g, mode) for mode in ("deconvnet", "guided")}
    np.testing.assert_array_equal(got["deconvnet"], [1, 0, 0, 2, 3])
    np.testing.assert_array_equal(got["guided"], [0, 0, 0, 0, 3])
