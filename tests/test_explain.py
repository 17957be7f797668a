"""Tests for minicnn.explain's core: the three rules by hand, numerical gradients,
targets, batches, and that explanations leave the model as they found it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from minicnn import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, explain
from minicnn.explain import Channel, Neuron, Seed
from minicnn.gradcheck import numerical_gradient, rel_error

MODES = ("standard", "deconvnet", "guided")


# -- hand-checkable examples -----------------------------------------------------------
def dense_net() -> Sequential:
    """x (1,1,1,2) -> Flatten -> Dense W1 (2x3) -> ReLU -> Dense W2 (3x1)."""
    fc1 = Dense(2, 3, dtype=np.float64, name="fc1")
    fc1.params["W"][...] = [[1.0, 1.0, 2.0],
                            [1.0, -1.0, -0.5]]
    fc2 = Dense(3, 1, dtype=np.float64, name="fc2")
    fc2.params["W"][...] = [[1.0], [2.0], [-1.0]]
    return Sequential([Flatten(), fc1, ReLU(name="relu"), fc2])


DENSE_X = np.array([[[[1.0, 2.0]]]])

# Forward: h = x @ W1 = [1+2, 1-2, 2-1] = [3, -1, 1]; ReLU input h, so units 1 and 3 fire.
# The class-0 score is relu(h) @ W2 = 3*1 + 0*2 + 1*(-1) = 2.
# Backward from the score: at the ReLU output g = W2[:, 0] = [1, 2, -1].
#   standard  g*(h>0)        = [1, 0, -1]  -> dx = W1 @ [1, 0, -1] = [1-2, 1+0.5] = [-1, 1.5]
#   deconvnet g*(g>0)        = [1, 2, 0]   -> dx = W1 @ [1, 2, 0]  = [1+2, 1-2]   = [3, -1]
#   guided    g*(h>0)*(g>0)  = [1, 0, 0]   -> dx = W1 @ [1, 0, 0]  = [1, 1]
DENSE_EXPECTED = {"standard": [-1.0, 1.5], "deconvnet": [3.0, -1.0], "guided": [1.0, 1.0]}


@pytest.mark.parametrize("mode", MODES)
def test_each_rule_by_hand_on_a_dense_net(mode):
    g = explain.gradient(dense_net(), DENSE_X, 0, mode=mode)
    assert g.shape == DENSE_X.shape and g.dtype == np.float64
    np.testing.assert_allclose(g.reshape(-1), DENSE_EXPECTED[mode])


def test_the_three_rules_give_three_different_answers():
    model = dense_net()
    maps = [explain.gradient(model, DENSE_X, 0, mode=m).reshape(-1) for m in MODES]
    assert not np.allclose(maps[0], maps[1])
    assert not np.allclose(maps[0], maps[2])
    assert not np.allclose(maps[1], maps[2])


def test_wrappers_are_the_three_modes():
    model = dense_net()
    np.testing.assert_array_equal(explain.saliency(model, DENSE_X, 0), [[[[-1.0, 1.5]]]])
    np.testing.assert_array_equal(explain.deconvnet(model, DENSE_X, 0), [[[[3.0, -1.0]]]])
    np.testing.assert_array_equal(explain.guided_backprop(model, DENSE_X, 0), [[[[1.0, 1.0]]]])


def conv_net() -> Sequential:
    """x (1,1,2,2) -> Conv 1x1 with two filters w0=+1, w1=-1 -> ReLU -> MaxPool 2 -> Dense."""
    conv = Conv2D(1, 2, 1, dtype=np.float64, name="conv")
    conv.params["W"][...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    fc = Dense(2, 1, dtype=np.float64, name="fc")
    fc.params["W"][...] = [[1.0], [-1.0]]
    return Sequential([conv, ReLU(name="relu"), MaxPool2D(2, name="pool"), Flatten(), fc])


CONV_X = np.array([[[[1.0, -2.0],
                     [3.0, 0.5]]]])
# conv output: channel 0 = x = [[1, -2], [3, 0.5]], channel 1 = -x = [[-1, 2], [-3, -0.5]].


@pytest.mark.parametrize("mode, expected", [
    # Class 0: score = max(relu(x)) - max(relu(-x)) = 3 - 2 = 1. Gradient at the pool output
    # [1, -1]; the pool sends 1 to channel 0 at (1, 0) and -1 to channel 1 at (0, 1).
    # Both ReLU inputs there are positive (3 and 2).
    #   standard: both pass -> dx = +1*1 at (1,0) and (-1)*(-1) = +1 at (0,1)
    #   deconvnet and guided: the -1 is negative and stops -> only +1 at (1, 0)
    ("standard", [[0.0, 1.0], [1.0, 0.0]]),
    ("deconvnet", [[0.0, 0.0], [1.0, 0.0]]),
    ("guided", [[0.0, 0.0], [1.0, 0.0]]),
])
def test_each_rule_by_hand_through_conv_and_pool(mode, expected):
    g = explain.gradient(conv_net(), CONV_X, 0, mode=mode)
    np.testing.assert_allclose(g[0, 0], expected)


@pytest.mark.parametrize("mode, expected", [
    # Neuron relu[channel 1, (0, 0)]: its ReLU input is -x[0,0] = -1, so it does not fire.
    # Seed 1 there. standard: 1*(x>0) = 0 -> all zero. guided: also 0.
    # deconvnet: 1*(1>0) = 1 passes -> dx[0,0] = w1 * 1 = -1.
    ("standard", [[0.0, 0.0], [0.0, 0.0]]),
    ("deconvnet", [[-1.0, 0.0], [0.0, 0.0]]),
    ("guided", [[0.0, 0.0], [0.0, 0.0]]),
])
def test_a_dead_neuron_by_hand_warns(mode, expected):
    with pytest.warns(UserWarning, match=r"neuron relu\[channel=1, y=0, x=0\] does not fire"
                                         r".*image 0: -1"):
        g = explain.gradient(conv_net(), CONV_X, Neuron("relu", 1, 0, 0), mode=mode)
    np.testing.assert_allclose(g[0, 0], expected)


def test_a_firing_neuron_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = explain.gradient(conv_net(), CONV_X, Neuron("relu", 0, 1, 0))
    # ReLU input 3 > 0, seed 1 passes, dx[1, 0] = w0 * 1 = 1.
    np.testing.assert_allclose(g[0, 0], [[0.0, 0.0], [1.0, 0.0]])


def test_dead_neuron_warning_points_at_the_caller():
    with pytest.warns(UserWarning) as record:
        explain.saliency(conv_net(), CONV_X, Neuron("relu", 1, 0, 0))
    assert record[0].filename == __file__


# -- numerical gradients ----------------------------------------------------------------
def random_net(seed: int = 0) -> Sequential:
    """Conv (padding, stride) -> ReLU -> overlapping MaxPool -> Conv -> ReLU -> AvgPool
    -> Flatten -> Dense -> ReLU -> Dense, in float64."""
    rng = np.random.default_rng(seed)
    model = Sequential([
        Conv2D(2, 3, 3, padding=1, rng=rng), ReLU(), MaxPool2D(3, stride=2),   # 7 -> 7 -> 3
        Conv2D(3, 4, 2, rng=rng), ReLU(), AvgPool2D(2, stride=1),              # 3 -> 2 -> 1
        Flatten(), Dense(4, 5, rng=rng), ReLU(), Dense(5, 3, rng=rng),
    ])
    for layer in model.layers:   # small non-zero biases, so not everything sits at a kink
        if "b" in layer.params:
            layer.params["b"][...] = rng.uniform(-0.1, 0.1, layer.params["b"].shape)
    return model.astype(np.float64)


def numerical(model, x, target):
    layer = explain.target_layer(model, target)
    return numerical_gradient(
        lambda z: explain.target_score(model, target, model.forward(z, until=layer)), x)


TARGETS = [
    2,
    np.array([0, 2, 1]),
    Neuron("conv1", 1, 3, 4),
    Neuron("relu1", 2, 0, 6),
    Neuron("pool1", 0, 1, 2),
    Neuron("relu2", 3, 1, 0),
    Neuron("fc1", 4),
    Channel("conv2", 1),
    Channel("relu1", 0),
    Seed("pool1", np.linspace(-1, 1, 3 * 3 * 3).reshape(3, 3, 3)),
    np.array([[0.5, -1.0, 2.0]] * 3),
]


@pytest.mark.filterwarnings("ignore:neuron .* does not fire")
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: type(t).__name__ + str(
    getattr(t, "layer", "")))
def test_standard_mode_is_the_numerical_gradient(target):
    model = random_net()
    x = np.random.default_rng(1).standard_normal((3, 2, 7, 7))
    got = explain.gradient(model, x, target, mode="standard")
    want = numerical(model, x, target)
    assert np.abs(want).max() > 0
    assert rel_error(got, want) < 1e-6


def test_neuron_target_is_backprop_of_a_one_hot_seed():
    model = random_net()
    x = np.random.default_rng(2).standard_normal((2, 2, 7, 7))
    neuron = Neuron("relu2", 1, 0, 1)
    for mode in MODES:
        out = model.forward(x, until="relu2")
        seed = np.zeros_like(out)
        seed[:, 1, 0, 1] = 1.0
        want = explain.backprop(model, seed, "relu2", mode)
        got = explain.gradient(model, x, neuron, mode)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, explain.gradient(model, x, Seed("relu2", seed), mode))


def test_channel_target_is_the_sum_of_its_neurons_maps():
    # In standard mode the backward pass is linear in the seed, so the map of a
    # channel is the sum of its neurons' maps. (The deconvnet and guided rules
    # are not linear in the seed, so there it does not hold.)
    model = random_net()
    x = np.random.default_rng(3).standard_normal((2, 2, 7, 7))
    total = np.zeros_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # some of these neurons do not fire
        for y in range(7):
            for xx in range(7):
                total += explain.gradient(model, x, Neuron("relu1", 2, y, xx))
    np.testing.assert_allclose(explain.gradient(model, x, Channel("relu1", 2)), total,
                               atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", [1, Neuron("pool1", 2, 2, 0), Channel("conv2", 3)],
                         ids=["class", "neuron", "channel"])
def test_batch_equals_one_image_at_a_time(mode, target):
    model = random_net()
    x = np.random.default_rng(4).standard_normal((4, 2, 7, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = explain.gradient(model, x, target, mode)
        single = np.concatenate([explain.gradient(model, x[i:i + 1], target, mode)
                                 for i in range(4)])
    np.testing.assert_allclose(batch, single, atol=1e-12)


def test_per_image_class_targets():
    model = random_net()
    x = np.random.default_rng(5).standard_normal((3, 2, 7, 7))
    classes = np.array([2, 0, 1])
    batch = explain.guided_backprop(model, x, classes)
    for i, c in enumerate(classes):
        np.testing.assert_allclose(batch[i:i + 1],
                                   explain.guided_backprop(model, x[i:i + 1], int(c)))


def test_float32_model_gives_float32_maps():
    model = random_net().astype(np.float32)
    x = np.random.default_rng(6).standard_normal((2, 2, 7, 7)).astype(np.float32)
    for mode in MODES:
        assert explain.gradient(model, x, 0, mode).dtype == np.float32


# -- leaving the model as it was ----------------------------------------------------------
def snapshot(model):
    return ([getattr(layer, "mode", None) for layer in model.layers],
            [layer.cache for layer in model.layers],
            [layer.param_grads for layer in model.layers],
            [{k: v.copy() for k, v in layer.grads.items()} for layer in model.layers])


def assert_same_state(model, before):
    modes, caches, flags, grads = snapshot(model)
    assert modes == before[0]
    assert all(a is b for a, b in zip(caches, before[1]))
    assert flags == before[2]
    for now, then in zip(grads, before[3]):
        assert now.keys() == then.keys()
        for key in now:
            np.testing.assert_array_equal(now[key], then[key])


def trained_looking_model():
    """A model in the middle of training: mixed modes, filled caches and grads."""
    model = random_net()
    model.relus()[0].mode = "guided"
    model.relus()[1].mode = "deconvnet"
    x = np.random.default_rng(7).standard_normal((2, 2, 7, 7))
    model.backward(np.ones_like(model.forward(x)))
    model.layers[0].param_grads = False
    return model, x


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", [1, Neuron("relu2", 0, 0, 0), Channel("relu1", 1)],
                         ids=["class", "neuron", "channel"])
def test_state_is_restored(mode, target):
    model, x = trained_looking_model()
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explain.gradient(model, x[:1], target, mode)
    assert_same_state(model, before)


@pytest.mark.parametrize("target, error", [
    (Neuron("relu2", 9, 0, 0), ValueError),   # raises after the forward pass
    (Neuron("nope", 0, 0, 0), KeyError),
    (7, ValueError),
])
def test_state_is_restored_when_an_explanation_raises(target, error):
    model, x = trained_looking_model()
    before = snapshot(model)
    with pytest.raises(error):
        explain.gradient(model, x, target, "guided")
    assert_same_state(model, before)


def test_state_is_restored_when_a_layer_raises_during_backward(monkeypatch):
    model, x = trained_looking_model()
    before = snapshot(model)

    def broken(dout):
        raise RuntimeError("boom")
    monkeypatch.setattr(model["conv2"], "backward", broken)
    with pytest.raises(RuntimeError, match="boom"):
        explain.gradient(model, x, 0, "deconvnet")
    assert_same_state(model, before)


def test_parameter_gradients_are_not_computed(monkeypatch):
    model, x = trained_looking_model()
    seen = []
    for layer in model.layers:
        original = layer.backward

        def spy(dout, layer=layer, original=original):
            seen.append(layer.param_grads)
            return original(dout)
        monkeypatch.setattr(layer, "backward", spy)
    explain.saliency(model, x, 0)
    assert seen and not any(seen)


# -- errors -------------------------------------------------------------------------
def test_unknown_layer_lists_the_real_names():
    with pytest.raises(KeyError, match=r"no layer named 'conv9'.*'conv1', 'relu1'"):
        explain.gradient(random_net(), np.zeros((1, 2, 7, 7)), Neuron("conv9", 0, 0, 0))


@pytest.mark.parametrize("target, message", [
    (Neuron("relu1", 0, 7, 0), r"y=7 is not in \[0, 7\).*\[3, 7, 7\] per image"),
    (Neuron("relu1", 3, 0, 0), r"channel=3 is not in \[0, 3\).*\[3, 7, 7\] per image"),
    (Neuron("relu1", 0), r"\[3, 7, 7\] per image; use Neuron\(layer, channel, y, x\)"),
    (Neuron("fc1", 0, 0, 0), r"\[5\] per image; use Neuron\(layer, channel\)"),
    (Channel("conv2", 4), r"channel=4 is not in \[0, 4\)"),
    (3, r"class target 3 is out of range: the model has 3 classes"),
    (np.array([0, 1]), r"shape \(N,\) = \(1,\)"),
    (Seed("pool1", np.zeros((2, 2))), r"shape of its output \[1, 3, 3, 3\]"),
])
def test_bad_targets_say_what_is_wrong(target, message):
    with pytest.raises(ValueError, match=message):
        explain.gradient(random_net(), np.zeros((1, 2, 7, 7)), target)


def test_neuron_index_must_be_an_int():
    with pytest.raises(TypeError, match="y of Neuron.* must be an int"):
        explain.gradient(random_net(), np.zeros((1, 2, 7, 7)), Neuron("relu1", 0, 1.5, 0))


def test_bad_target_type():
    with pytest.raises(TypeError, match="target must be an int class"):
        explain.gradient(random_net(), np.zeros((1, 2, 7, 7)), "shirt")


def test_dtype_mismatch_is_a_type_error():
    model = random_net().astype(np.float32)
    with pytest.raises(TypeError, match=r"x must have dtype float32 .* Received: x of "
                                        r"dtype float64"):
        explain.gradient(model, np.zeros((1, 2, 7, 7)), 0)


def test_unknown_mode():
    with pytest.raises(ValueError, match=r"mode must be one of \('standard', 'deconvnet', "
                                         r"'guided'\). Received: mode='guide'"):
        explain.gradient(random_net(), np.zeros((1, 2, 7, 7)), 0, mode="guide")


def test_input_is_not_modified():
    model = random_net()
    x = np.random.default_rng(8).standard_normal((2, 2, 7, 7))
    seed = np.ones((2, 3))
    x0, seed0 = x.copy(), seed.copy()
    explain.guided_backprop(model, x, seed)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(seed, seed0)
