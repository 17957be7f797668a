"""minicnn.gradcheck: rel_error on hand values, numerical_gradient on known functions,
and check_layer on correct and deliberately broken layers."""

from __future__ import annotations

import numpy as np
import pytest

from minicnn import Conv2D, Dense, MaxPool2D, ReLU
from minicnn.gradcheck import check_layer, numerical_gradient, rel_error


@pytest.mark.parametrize("a,b,expected", [
    ([1.0], [1.0], 0.0),
    ([1.0], [3.0], 0.5),                 # |1 - 3| / (1 + 3)
    ([2.0, -1.0], [2.0, 1.0], 1.0),      # the second entry: 2 / 2
    ([1.0, 2.0], [1.0, 3.0], 0.2),       # the max over entries: 1 / 5
    ([0.0], [0.0], 0.0),
    ([0.0], [1e-9], 0.1),                # the denominator is at least 1e-8
    ([[1.0, 4.0]], [[1.0, 6.0]], 0.2),
])
def test_rel_error_hand_values(a, b, expected):
    assert rel_error(np.array(a), np.array(b)) == pytest.approx(expected, rel=1e-12)


def test_rel_error_shape_mismatch_and_empty():
    with pytest.raises(ValueError, match=r"rel_error: a and b must have the same shape\. "
                                         r"Received: a of shape \[2\] and b of shape \[3\]"):
        rel_error(np.zeros(2), np.zeros(3))
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_numerical_gradient_of_a_cube():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    x_before = x.copy()
    grad = numerical_gradient(lambda v: v ** 3, x)
    np.testing.assert_allclose(grad, [[3.0, 12.0], [0.75, 27.0]], rtol=1e-8)   # 3 x^2
    np.testing.assert_array_equal(x, x_before)
    dout = np.array([[1.0, 2.0], [0.0, -1.0]])
    grad = numerical_gradient(lambda v: v ** 3, x, dout)
    np.testing.assert_allclose(grad, [[3.0, 24.0], [0.0, -27.0]], rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x_before)


def test_numerical_gradient_of_a_scalar_function_and_a_matrix_product():
    x = np.array([1.0, -3.0, 0.25])
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v ** 2)), x),
                               [2.0, -6.0, 0.5], rtol=1e-8)
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    # d/dx sum(a @ x) = column sums of a
    np.testing.assert_allclose(numerical_gradient(lambda v: a @ v, np.array([0.3, -0.7])),
                               [4.0, 6.0], rtol=1e-8)


def test_numerical_gradient_does_not_pass_x_itself_to_f():
    x = np.zeros(3)
    seen = []
    numerical_gradient(lambda v: seen.append(v) or v * 2, x)
    assert all(v is not x for v in seen)


@pytest.mark.parametrize("bad", [np.array([1, 2]), [1.0, 2.0], 3.0])
def test_numerical_gradient_needs_a_float_array(bad):
    with pytest.raises(TypeError, match="numerical_gradient: x must be a float array"):
        numerical_gradient(lambda v: v, bad)


# --------------------------------------------------------------------------------------
# check_layer
# --------------------------------------------------------------------------------------
def test_check_layer_on_correct_layers():
    rng = np.random.default_rng(0)
    conv = Conv2D(2, 3, 3, stride=2, padding=1, rng=0)           # float32 layer
    errors = check_layer(conv, rng.standard_normal((2, 2, 5, 5)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-6, errors
    errors = check_layer(Dense(4, 3, rng=0), rng.standard_normal((2, 4)))
    assert set(errors) == {"x", "W", "b"} and max(errors.values()) < 1e-6
    x = rng.permutation(32).reshape(1, 2, 4, 4) * 0.1
    assert check_layer(MaxPool2D(2), x) == {"x": pytest.approx(0.0, abs=1e-6)}
    relu_errors = check_layer(ReLU(), np.array([[0.5, -1.0, 2.0]]))
    assert set(relu_errors) == {"x"} and relu_errors["x"] < 1e-6


class WrongDx(Dense):
    """dx with the wrong sign; parameter gradients correct."""

    def backward(self, dout):
        return -super().backward(dout)


class WrongGrads(Dense):
    """Right dx; dW off by one everywhere and db averaged instead of summed."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = self.grads["W"] + 1.0
        self.grads["b"] = dout.mean(axis=0)
        return dx


def test_check_layer_catches_a_wrong_dx():
    x = np.random.default_rng(1).standard_normal((3, 4))
    errors = check_layer(WrongDx(4, 2, rng=0), x)
    assert errors["x"] > 0.5
    assert errors["W"] < 1e-6 and errors["b"] < 1e-6


def test_check_layer_catches_wrong_parameter_gradients():
    x = np.random.default_rng(2).standard_normal((3, 4))
    errors = check_layer(WrongGrads(4, 2, rng=0), x)
    assert errors["x"] < 1e-6
    assert errors["W"] > 0.1
    assert errors["b"] > 0.1


def test_check_layer_relu_rules_that_are_not_gradients_fail_it():
    x = np.array([[1.0, -2.0], [3.0, -4.0]])
    dout = np.array([[-1.0, 2.0], [3.0, -5.0]])
    assert check_layer(ReLU("standard"), x, dout)["x"] < 1e-9
    assert check_layer(ReLU("deconvnet"), x, dout)["x"] > 0.5
    assert check_layer(ReLU("guided"), x, dout)["x"] > 0.5


def test_check_layer_leaves_its_arguments_untouched():
    rng = np.random.default_rng(3)
    layer = Conv2D(1, 2, 3, rng=0)
    x32 = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    layer.forward(x32)
    layer.backward(np.ones((1, 2, 2, 2), np.float32))
    layer.param_grads = False
    cache = layer.cache
    params = {k: v.copy() for k, v in layer.params.items()}
    param_arrays = dict(layer.params)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    x = rng.standard_normal((2, 1, 5, 5))
    dout = rng.standard_normal((2, 2, 3, 3))
    x_before, dout_before = x.copy(), dout.copy()

    errors = check_layer(layer, x, dout)

    assert max(errors.values()) < 1e-6   # parameter gradients checked despite param_grads=False
    assert layer.param_grads is False
    assert layer.cache is cache
    for key in params:
        assert layer.params[key] is param_arrays[key]
        assert layer.params[key].dtype == np.float32
        np.testing.assert_array_equal(layer.params[key], params[key])
        np.testing.assert_array_equal(layer.grads[key], grads[key])
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


def test_check_layer_default_dout_is_seeded():
    x = np.random.default_rng(4).standard_normal((2, 3))
    assert check_layer(WrongGrads(3, 2, rng=0), x, seed=5) == \
        check_layer(WrongGrads(3, 2, rng=0), x, seed=5)
