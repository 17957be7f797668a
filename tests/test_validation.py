"""The shared argument checks of minicnn/validation.py: what they accept, and the one
message style (where, the rule, "Received: ...")."""

import numpy as np
import pytest

from minicnn.layers.relu import check_mode
from minicnn.validation import (
    as_generator,
    check_array,
    check_choice,
    check_int,
    check_number,
    is_int,
    pair,
)


def test_is_int_accepts_python_and_numpy_ints_not_bools_or_floats():
    assert is_int(3) and is_int(np.int64(3)) and is_int(np.uint8(0))
    assert not is_int(True) and not is_int(3.0) and not is_int("3") and not is_int(None)


@pytest.mark.parametrize("value, minimum, error, message", [
    (0, 1, ValueError, r"^n must be >= 1\. Received: n=0$"),
    (-1, 0, ValueError, r"^n must be >= 0\. Received: n=-1$"),
    (True, 1, TypeError, r"^n must be an int\. Received: n=True$"),
    (2.0, 1, TypeError, r"^n must be an int\. Received: n=2\.0$"),
])
def test_check_int_rejects(value, minimum, error, message):
    with pytest.raises(error, match=message):
        check_int(value, "n", minimum=minimum)


def test_check_int_returns_a_python_int_and_names_where():
    assert check_int(np.int32(4), "n") == 4 and type(check_int(np.int32(4), "n")) is int
    with pytest.raises(ValueError, match=r"^predict: batch_size must be >= 1\. Received: "):
        check_int(0, "batch_size", where="predict")


def test_pair():
    assert pair(3, "k") == (3, 3) and pair([2, 1], "k") == (2, 1)
    assert pair(0, "pad", minimum=0) == (0, 0)
    with pytest.raises(ValueError, match=r"^k must be >= 1\. Received: k=\(0, 2\)$"):
        pair((0, 2), "k")
    with pytest.raises(TypeError, match=r"^k must be an int or a pair of ints\. Received: "
                                        r"k=\(1, 2, 3\)$"):
        pair((1, 2, 3), "k")


def test_check_number():
    assert check_number(1, "lr") == 1.0 and check_number(0.5, "p", 0, 1) == 0.5
    with pytest.raises(ValueError, match=r"^p must be in \[0, 1\)\. Received: p=1$"):
        check_number(1, "p", 0, 1)
    with pytest.raises(ValueError, match=r"^lr must be finite\. Received: lr=nan$"):
        check_number(float("nan"), "lr")
    with pytest.raises(TypeError, match=r"^lr must be a number\. Received: lr='1'$"):
        check_number("1", "lr")


def test_the_relu_mode_is_checked_in_one_place():
    assert check_mode("guided") == "guided"
    with pytest.raises(ValueError, match=r"^mode must be one of \('standard', 'deconvnet', "
                                         r"'guided'\)\. Received: mode='backprop'$"):
        check_mode("backprop")
    with pytest.raises(ValueError, match=r"^f: show must be one of \('a', 'b'\)\. "):
        check_choice("c", "show", ["a", "b"], where="f")


def test_check_array_messages():
    x = np.zeros((2, 3), np.float32)
    assert check_array(x, "L", ndim=2) is x
    with pytest.raises(ValueError, match=r"^L: input must have 4 dimensions\. Received: "
                                         r"input of shape \[2, 3\]$"):
        check_array(x, "L", ndim=4)
    with pytest.raises(TypeError, match=r"^L: x must have dtype float32 or float64; .* "
                                        r"Received: x of dtype int64$"):
        check_array(np.zeros(2, np.int64), "L", name="x")


def test_as_generator_seeds_and_passes_a_generator_through():
    rng = np.random.default_rng(5)
    assert as_generator(rng) is rng
    assert as_generator(7).random() == np.random.default_rng(7).random()
    assert isinstance(as_generator(None), np.random.Generator)
