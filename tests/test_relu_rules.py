"""The three ReLU backward rules, on examples small enough to check by hand, and the
machinery that switches them: `ReLU.mode`, `set_relu_mode`, `minicnn.relu_mode`.

    standard   g * (x > 0)              Simonyan et al. 2013
    deconvnet  g * (g > 0)              Zeiler & Fergus 2014
    guided     g * (x > 0) * (g > 0)    Springenberg et al. 2015
"""

from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.layers import RELU_MODES, conv2d_naive_backward, maxpool_naive_backward, relu_backward

X = np.array([[1.0, -2.0], [3.0, -4.0]])
G = np.array([[-1.0, 2.0], [3.0, -5.0]])

# Written out by hand from X and G above.
EXPECTED = {
    "standard": [[-1.0, 0.0], [3.0, 0.0]],    # keep g where x > 0: positions (0,0), (1,0)
    "deconvnet": [[0.0, 2.0], [3.0, 0.0]],    # keep g where g > 0: positions (0,1), (1,0)
    "guided": [[0.0, 0.0], [3.0, 0.0]],       # keep g where both:  position (1,0)
}


def run_relu(mode, x, g):
    layer = ReLU(mode)
    out = layer.forward(x)
    return out, layer.backward(g)


@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_rule_on_hand_example(mode):
    out, dx = run_relu(mode, X, G)
    np.testing.assert_array_equal(out, [[1.0, 0.0], [3.0, 0.0]])   # forward never changes
    np.testing.assert_array_equal(dx, EXPECTED[mode])
    np.testing.assert_array_equal(relu_backward(X, G, mode), EXPECTED[mode])


def test_standard_rule_hand_example_float32_and_3d():
    x = np.array([[[0.5, -0.5, 2.0]]], dtype=np.float32)
    g = np.array([[[4.0, 4.0, -1.0]]], dtype=np.float32)
    _, dx = run_relu("standard", x, g)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [[[4.0, 0.0, -1.0]]])


def test_the_three_rules_differ_on_one_input():
    results = {mode: run_relu(mode, X, G)[1] for mode in RELU_MODES}
    assert not np.array_equal(results["standard"], results["deconvnet"])
    assert not np.array_equal(results["standard"], results["guided"])
    assert not np.array_equal(results["deconvnet"], results["guided"])


def test_zero_is_not_positive():
    """x == 0 blocks the standard and guided rules; g == 0 passes nothing anywhere."""
    x = np.array([0.0, 0.0, 2.0])
    g = np.array([1.0, -1.0, 0.0])
    np.testing.assert_array_equal(run_relu("standard", x, g)[1], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(run_relu("deconvnet", x, g)[1], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(run_relu("guided", x, g)[1], [0.0, 0.0, 0.0])


def test_deconvnet_ignores_the_forward_input():
    g = np.array([[2.0, -3.0, 0.5]])
    for x in (np.array([[1.0, 1.0, 1.0]]), np.array([[-1.0, -1.0, -1.0]])):
        np.testing.assert_array_equal(run_relu("deconvnet", x, g)[1], [[2.0, 0.0, 0.5]])


def test_mode_changes_only_the_backward_pass():
    layer = ReLU("standard")
    layer.forward(X)
    layer.mode = "guided"                 # switched between forward and backward
    np.testing.assert_array_equal(layer.backward(G), EXPECTED["guided"])
    layer.mode = "deconvnet"
    np.testing.assert_array_equal(layer.backward(G), EXPECTED["deconvnet"])


def test_rules_do_not_mutate_their_inputs():
    x, g = X.copy(), G.copy()
    for mode in RELU_MODES:
        run_relu(mode, x, g)
        relu_backward(x, g, mode)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(g, G)


def test_valid_modes_are_the_three_rules():
    assert tuple(RELU_MODES) == ("standard", "deconvnet", "guided")
    assert ReLU().mode == "standard"


# --------------------------------------------------------------------------------------
# Unknown modes
# --------------------------------------------------------------------------------------
VALID = r"\('standard', 'deconvnet', 'guided'\)"


@pytest.mark.parametrize("bad", ["Guided", "saliency", "", None, 1])
def test_unknown_mode_at_construction(bad):
    with pytest.raises(ValueError, match=rf"mode must be one of {VALID}. Received: "
                                         rf"mode={bad!r}"):
        ReLU(bad)


def test_unknown_mode_when_set_leaves_the_mode_unchanged():
    layer = ReLU("deconvnet")
    with pytest.raises(ValueError, match=rf"mode must be one of {VALID}. Received: "
                                         r"mode='backprop'"):
        layer.mode = "backprop"
    assert layer.mode == "deconvnet"


def test_unknown_mode_in_relu_backward():
    with pytest.raises(ValueError, match=rf"mode must be one of {VALID}"):
        relu_backward(X, G, "nope")


# --------------------------------------------------------------------------------------
# Switching every ReLU of a model
# --------------------------------------------------------------------------------------
def mixed_model():
    return Sequential([
        Conv2D(1, 2, 3, padding=1, rng=0), ReLU("standard"),
        Conv2D(2, 2, 3, padding=1, rng=1), ReLU("deconvnet"),
        MaxPool2D(2), Flatten(), Dense(8, 4, rng=2), ReLU("guided"), Dense(4, 2, rng=3),
    ])


def modes(model):
    return [layer.mode for layer in model.layers if isinstance(layer, ReLU)]


def test_set_relu_mode_sets_every_relu():
    model = mixed_model()
    for mode in RELU_MODES:
        model.set_relu_mode(mode)
        assert modes(model) == [mode] * 3


def test_set_relu_mode_validates_before_changing_anything():
    model = mixed_model()
    with pytest.raises(ValueError, match=rf"mode must be one of {VALID}. Received: "
                                         r"mode='gided'"):
        model.set_relu_mode("gided")
    assert modes(model) == ["standard", "deconvnet", "guided"]


def test_relu_mode_restores_mixed_modes_on_normal_exit():
    model = mixed_model()
    with minicnn.relu_mode(model, "guided") as inside:
        assert inside is model
        assert modes(model) == ["guided"] * 3
    assert modes(model) == ["standard", "deconvnet", "guided"]


def test_relu_mode_restores_on_an_exception():
    model = mixed_model()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with minicnn.relu_mode(model, "deconvnet"):
            assert modes(model) == ["deconvnet"] * 3
            model.relus()[0].mode = "guided"      # changed inside the block: restored too
            raise Boom()
    assert modes(model) == ["standard", "deconvnet", "guided"]


def test_relu_mode_nested():
    model = mixed_model()
    with minicnn.relu_mode(model, "guided"):
        with minicnn.relu_mode(model, "standard"):
            assert modes(model) == ["standard"] * 3
        assert modes(model) == ["guided"] * 3
    assert modes(model) == ["standard", "deconvnet", "guided"]


def test_relu_mode_with_an_unknown_mode_changes_nothing():
    model = mixed_model()
    with pytest.raises(ValueError, match=rf"mode must be one of {VALID}"):
        with minicnn.relu_mode(model, "bogus"):
            pytest.fail("the block must not run")
    assert modes(model) == ["standard", "deconvnet", "guided"]


@pytest.mark.parametrize("mode", RELU_MODES)
def test_model_backward_composes_the_rule_with_unchanged_conv_and_pool(mode):
    """conv -> relu -> maxpool: max-pool routes to the argmax and the conv backprops
    unchanged in every mode; only the ReLU step depends on the mode. The expected dx is
    built from the naive references and the rule written out here."""
    rng = np.random.default_rng(0)
    conv = Conv2D(1, 2, 3, padding=1, rng=rng, dtype=np.float64)
    model = Sequential([conv, ReLU(mode), MaxPool2D(2)])
    x = rng.standard_normal((2, 1, 4, 6))
    out = model.forward(x)
    g = rng.standard_normal(out.shape)
    dx = model.backward(g)

    pre = model.forward(x, until="conv1")                         # the ReLU's input
    g_relu = maxpool_naive_backward(g, np.maximum(pre, 0), 2)     # the gradient above ReLU
    rule = {"standard": g_relu * (pre > 0),
            "deconvnet": g_relu * (g_relu > 0),
            "guided": g_relu * (pre > 0) * (g_relu > 0)}[mode]
    expected, _, _ = conv2d_naive_backward(rule, x, conv.params["W"], stride=1, pad=1)
    np.testing.assert_allclose(dx, expected, rtol=1e-10, atol=1e-12)
