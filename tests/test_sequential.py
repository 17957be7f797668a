"""Sequential (names, lookup, forward/backward, parameters, summary, repr, dtypes),
whole-network gradient checks, and SoftmaxCrossEntropy."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from minicnn import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from minicnn.gradcheck import numerical_gradient, rel_error


def small_cnn(in_channels=1, features=12, classes=3, pool=MaxPool2D, rng=0):
    """conv-relu-pool-conv-relu-flatten-dense, with overlapping pooling (3, stride 2).
    The default ``features=12`` fits a 9x7 input (see NETWORK_CASES)."""
    rng = np.random.default_rng(rng)
    return Sequential([
        Conv2D(in_channels, 3, 3, padding=1, rng=rng), ReLU(), pool(3, stride=2),
        Conv2D(3, 4, (2, 3), stride=(2, 1), padding=(1, 0), rng=rng), ReLU(),
        Flatten(), Dense(features, classes, rng=rng),
    ])


# --------------------------------------------------------------------------------------
# Whole-network gradient checks (float64)
# --------------------------------------------------------------------------------------
# (N, C, H, W, flattened features worked out by hand, pooling layer)
# 9x7 -> conv 9x7 -> pool 4x3 -> conv 3x1; 8x8 -> 8x8 -> 3x3 -> 2x1; 11x9 -> 11x9 -> 5x4 -> 3x2
NETWORK_CASES = [
    (2, 1, 9, 7, 4 * 3 * 1, MaxPool2D),
    (1, 2, 8, 8, 4 * 2 * 1, MaxPool2D),
    (3, 1, 11, 9, 4 * 3 * 2, AvgPool2D),
]


@pytest.mark.parametrize("n,c,h,w,features,pool", NETWORK_CASES)
def test_whole_network_gradient(n, c, h, w, features, pool):
    rng = np.random.default_rng(1)
    model = small_cnn(c, features, pool=pool).astype(np.float64)
    for layer in model:            # non-zero biases, so their gradients are tested too
        if "b" in layer.params:
            layer.params["b"] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    loss_fn = SoftmaxCrossEntropy()
    x = rng.standard_normal((n, c, h, w))
    y = rng.integers(0, 3, size=n)

    def loss_of(x_):
        return loss_fn.forward(model.forward(x_), y)

    scores = model.forward(x)
    assert scores.shape == (n, 3)
    loss_fn.forward(scores, y)
    dx = model.backward(loss_fn.backward())
    grads = {k: g.copy() for k, g in model.gradients().items()}

    assert rel_error(dx, numerical_gradient(loss_of, x)) < 1e-6
    # Parameters: an in-place finite difference written here (not minicnn.gradcheck).
    h_step = 1e-6
    for key, p in model.parameters().items():
        numeric = np.empty_like(p)
        for idx in np.ndindex(*p.shape):
            old = p[idx]
            p[idx] = old + h_step
            plus = loss_of(x)
            p[idx] = old - h_step
            minus = loss_of(x)
            p[idx] = old
            numeric[idx] = (plus - minus) / (2 * h_step)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-9, err_msg=key)


def test_backward_from_a_middle_layer_is_the_gradient_of_that_layer():
    rng = np.random.default_rng(2)
    model = small_cnn().astype(np.float64)
    x = rng.standard_normal((2, 1, 9, 7))
    out = model.forward(x, until="pool1")
    g = rng.standard_normal(out.shape)
    dx = model.backward(g, start="pool1")
    numeric = numerical_gradient(lambda x_: model.forward(x_, until="pool1"), x, g)
    assert rel_error(dx, numeric) < 1e-6


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(4)
    model = small_cnn().astype(np.float64)
    x = rng.standard_normal((2, 1, 9, 7))
    g = rng.standard_normal((2, 3))
    model.forward(x, train=True)
    assert model.backward(g).shape == x.shape
    full = {k: v.copy() for k, v in model.gradients().items()}
    model.forward(x, train=True)
    assert model.backward(g, input_grad=False) is None     # conv1 skips dL/dx
    for key, value in model.gradients().items():
        np.testing.assert_allclose(value, full[key], rtol=1e-12, err_msg=key)
    # A first layer that is not a Conv2D still returns dL/dx.
    tail = Sequential(model.layers[1:])
    tail.forward(rng.standard_normal(model.forward(x, until="conv1").shape))
    assert tail.backward(g, input_grad=False) is not None


def test_backward_overwrites_gradients_and_param_grads_false_skips_them():
    rng = np.random.default_rng(3)
    model = small_cnn().astype(np.float64)
    x = rng.standard_normal((2, 1, 9, 7))
    g = rng.standard_normal((2, 3))
    model.forward(x)
    dx_first = model.backward(g)
    first = {k: v.copy() for k, v in model.gradients().items()}
    model.forward(x)
    model.backward(g)                     # a second backward: same grads, not doubled
    for key, value in model.gradients().items():
        np.testing.assert_allclose(value, first[key], rtol=1e-12, err_msg=key)

    model.zero_grad()
    assert all(not v.any() for v in model.gradients().values())
    for layer in model:
        layer.param_grads = False
    model.forward(x)
    np.testing.assert_allclose(model.backward(g), dx_first, rtol=1e-12)
    assert all(not v.any() for v in model.gradients().values())


def test_float32_network_stays_float32():
    model = small_cnn()
    x = np.random.default_rng(4).standard_normal((2, 1, 9, 7)).astype(np.float32)
    loss_fn = SoftmaxCrossEntropy()
    scores = model.forward(x)
    assert scores.dtype == np.float32
    assert isinstance(loss_fn.forward(scores, np.array([0, 2])), float)
    dscores = loss_fn.backward()
    assert dscores.dtype == np.float32
    assert model.backward(dscores).dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.gradients().values())
    assert model.dtype == np.float32


def test_astype_converts_the_whole_model():
    model = small_cnn()
    assert model.astype(np.float64) is model
    assert model.dtype == np.float64
    assert all(p.dtype == np.float64 for p in model.parameters().values())
    x64 = np.zeros((1, 1, 9, 7))
    assert model.forward(x64).dtype == np.float64
    with pytest.raises(TypeError, match=r"input must have dtype float64 \(the parameters' "
                                        r"dtype\).* Received: input of dtype float32"):
        model.forward(x64.astype(np.float32))
    for bad in (np.float16, np.int32, "complex64"):
        with pytest.raises(TypeError, match=r"dtype must be float32 or float64. Received: "
                                            rf"dtype={np.dtype(bad)}"):
            model.astype(bad)
    assert model.dtype == np.float64


# --------------------------------------------------------------------------------------
# Names and lookup
# --------------------------------------------------------------------------------------
def test_automatic_names_in_order():
    model = Sequential([Conv2D(1, 2, 3), ReLU(), MaxPool2D(2), Conv2D(2, 2, 3), ReLU(),
                        AvgPool2D(2), Flatten(), Dropout(0.5), Dense(4, 4), ReLU(),
                        Dropout(0.2), Dense(4, 2)])
    assert model.names() == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1",
                             "dropout1", "fc1", "relu3", "dropout2", "fc2"]
    assert [layer.name for layer in model.layers] == model.names()


def test_user_names_are_kept():
    model = Sequential([Conv2D(1, 2, 3, name="features"), ReLU(name="act"), Conv2D(2, 2, 3),
                        ReLU()])
    assert model.names() == ["features", "act", "conv1", "relu1"]


def test_automatic_names_skip_names_the_user_chose():
    model = Sequential([Conv2D(1, 2, 3), Conv2D(2, 2, 3, name="conv1"), Conv2D(2, 2, 3)])
    assert model.names() == ["conv2", "conv1", "conv3"]


def test_lookup_by_name_and_index():
    model = small_cnn()
    assert model["conv2"] is model.layers[3]
    assert model[0] is model.layers[0]
    assert model[-1].name == "fc1"
    assert model.index("flatten1") == 5
    assert len(model) == 7
    assert list(model) == model.layers


def test_unknown_layer_name_lists_the_real_names():
    model = small_cnn()
    names = r"\['conv1', 'relu1', 'pool1', 'conv2', 'relu2', 'flatten1', 'fc1'\]"
    with pytest.raises(KeyError, match=rf"no layer named 'nope'; the layers are {names}"):
        model["nope"]
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        model.forward(np.zeros((1, 1, 9, 7), np.float32), until="conv9")
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        model.backward(np.zeros((1, 3), np.float32), start="conv9")


def test_duplicate_layer_names():
    with pytest.raises(ValueError, match=r"layer names must be unique\. Received: \['a'\] "
                                         r"more than once"):
        Sequential([ReLU(name="a"), Flatten(), ReLU(name="a")])
    relu = ReLU()
    with pytest.raises(ValueError, match=r"this ReLU object appears twice \(layers\[0\] and "
                                         r"layers\[2\]\).*create a new ReLU"):
        Sequential([relu, Flatten(), relu])
    assert relu.name is None   # refused before any layer was named


def test_layers_must_be_layers():
    with pytest.raises(TypeError, match="layers\\[1\\] must be a minicnn Layer. Received: "
                                        "layers\\[1\\] of type function"):
        Sequential([ReLU(), lambda x: x])


def test_forward_until_stops_after_that_layer():
    model = small_cnn()
    x = np.random.default_rng(5).standard_normal((2, 1, 9, 7)).astype(np.float32)
    h = x
    for layer in model.layers[:3]:
        h = layer.forward(h)
    np.testing.assert_array_equal(model.forward(x, until="pool1"), h)
    assert model.forward(x, until="pool1").shape == (2, 3, 4, 3)
    assert model.forward(x, until="fc1").shape == (2, 3)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
def test_parameters_and_gradients_keys_and_live_arrays():
    model = small_cnn()
    keys = ["conv1.W", "conv1.b", "conv2.W", "conv2.b", "fc1.W", "fc1.b"]
    assert list(model.parameters()) == keys
    assert list(model.gradients()) == keys
    assert model.parameters()["conv2.W"] is model["conv2"].params["W"]
    assert model.parameters()["conv1.W"].shape == (3, 1, 3, 3)
    assert model.parameters()["conv2.W"].shape == (4, 3, 2, 3)
    assert model.parameters()["fc1.W"].shape == (12, 3)      # (in_features, out_features)
    # 3*9+3 + 4*3*6+4 + 12*3+3
    assert model.num_parameters() == 30 + 76 + 39
    x = np.ones((1, 1, 9, 7), np.float32)
    model.forward(x)
    model.backward(np.ones((1, 3), np.float32))
    assert model.gradients()["fc1.b"] is model["fc1"].grads["b"]
    np.testing.assert_array_equal(model.gradients()["fc1.b"], [1.0, 1.0, 1.0])


def test_he_initialisation_is_seeded_and_scaled():
    a, b = Conv2D(16, 32, 3, rng=7), Conv2D(16, 32, 3, rng=7)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], Conv2D(16, 32, 3, rng=8).params["W"])
    # He-normal: std sqrt(2 / fan_in) = sqrt(2 / 144) ~ 0.118
    assert abs(a.params["W"].std() - math.sqrt(2 / 144)) < 0.01
    assert not a.params["b"].any()
    dense = Dense(200, 100, rng=np.random.default_rng(0))
    assert abs(dense.params["W"].std() - math.sqrt(2 / 200)) < 0.005


# --------------------------------------------------------------------------------------
# summary and repr
# --------------------------------------------------------------------------------------
def summary_model(input_shape=(1, 28, 28)):
    return Sequential([
        Conv2D(1, 8, 3, padding=1), ReLU(), MaxPool2D(2),
        Conv2D(8, 16, 3, stride=2), ReLU(), AvgPool2D(3, stride=1), Dropout(0.25),
        Flatten(), Dense(256, 10),
    ], input_shape=input_shape)


def test_summary_table():
    text = summary_model().summary()
    lines = text.splitlines()
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines]
    assert rows[0] == ["Layer", "Type", "Output shape", "Params"]
    # Worked out by hand: 28 -> conv(pad 1) 28 -> pool 14 -> conv(stride 2) 6 -> avgpool 4;
    # params 1*8*9+8 = 80, 8*16*9+16 = 1168, 256*10+10 = 2570.
    assert rows[2:11] == [
        ["conv1", "Conv2D", "(None, 8, 28, 28)", "80"],
        ["relu1", "ReLU", "(None, 8, 28, 28)", "0"],
        ["pool1", "MaxPool2D", "(None, 8, 14, 14)", "0"],
        ["conv2", "Conv2D", "(None, 16, 6, 6)", "1,168"],
        ["relu2", "ReLU", "(None, 16, 6, 6)", "0"],
        ["pool2", "AvgPool2D", "(None, 16, 4, 4)", "0"],
        ["dropout1", "Dropout", "(None, 16, 4, 4)", "0"],
        ["flatten1", "Flatten", "(None, 256)", "0"],
        ["fc1", "Dense", "(None, 10)", "2,570"],
    ]
    assert set(lines[1]) == {"-"} and set(lines[11]) == {"-"}
    assert lines[-1] == "Total parameters: 3,818"


def test_summary_input_shape_argument_and_missing_shape():
    model = summary_model(input_shape=None)
    with pytest.raises(ValueError, match=r"summary needs input_shape=\(C, H, W\), since the "
                                         r"model has none"):
        model.summary()
    assert "(None, 8, 28, 28)" in model.summary(input_shape=(1, 28, 28))
    conv_only = Sequential([Conv2D(1, 8, 3, padding=1), ReLU()])
    assert "(None, 8, 30, 30)" in conv_only.summary((1, 30, 30))


def test_summary_checks_the_input_shape_and_keeps_the_caches():
    model = summary_model(input_shape=None)
    x = np.zeros((2, 1, 28, 28), np.float32)
    model.forward(x)
    caches = [layer.cache for layer in model]
    with pytest.raises(ValueError, match=r"Conv2D\('conv1'\): input must have 1 channels "
                                         r"\(dimension 1\)\. Received: input of shape "
                                         r"\[1, 3, 28, 28\]"):
        model.summary((3, 28, 28))
    with pytest.raises(ValueError, match=r"Dense\('fc1'\): input must have 256 features "
                                         r"\(dimension 1\)\. Received: input of shape \[1, 576\]"):
        model.summary((1, 36, 36))
    with pytest.raises(ValueError, match=r"must be at least the"):
        model.summary((1, 4, 4))
    model.summary((1, 28, 28))
    assert all(layer.cache is cache for layer, cache in zip(model, caches))


def test_repr():
    model = Sequential([Conv2D(1, 2, 3, stride=(2, 1)), ReLU("guided"), Flatten(name="flat"),
                        Dropout(0.25), Dense(4, 2)])
    assert repr(model) == (
        "Sequential([\n"
        "  Conv2D(in_channels=1, out_channels=2, kernel_size=(3, 3), stride=(2, 1), "
        "padding=(0, 0), name='conv1'),\n"
        "  ReLU(mode='guided', name='relu1'),\n"
        "  Flatten(name='flat'),\n"
        "  Dropout(p=0.25, name='dropout1'),\n"
        "  Dense(in_features=4, out_features=2, name='fc1'),\n"
        "])")
    assert repr(MaxPool2D(2)) == "MaxPool2D(kernel_size=(2, 2), stride=(2, 2))"


def test_predict_is_the_argmax_of_the_scores():
    model = small_cnn()
    x = np.random.default_rng(6).standard_normal((5, 1, 9, 7)).astype(np.float32)
    scores = model.forward(x)
    np.testing.assert_array_equal(model.predict(x, batch_size=2), scores.argmax(axis=1))


@pytest.mark.parametrize("x, error, message", [
    ([], TypeError, r"predict: x must be a numpy array\. Received: x of type list"),
    (np.zeros((0, 1, 9, 7), np.float32), ValueError,
     r"non-empty batch .* Received: x of shape \[0, 1, 9, 7\]"),
    (np.zeros((2, 1, 9, 7), np.int64), TypeError,
     r"dtype float32 or float64; .* Received: x of dtype int64"),
])
def test_predict_rejects_bad_input_clearly(x, error, message):
    with pytest.raises(error, match=message):
        small_cnn().predict(x)
    with pytest.raises(ValueError, match=r"predict: batch_size must be >= 1\. Received: "
                                         r"batch_size=0"):
        small_cnn().predict(np.zeros((2, 1, 9, 7), np.float32), batch_size=0)


# --------------------------------------------------------------------------------------
# SoftmaxCrossEntropy
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_is_stable_on_huge_scores(dtype):
    loss_fn = SoftmaxCrossEntropy()
    scores = np.array([[1e4, 1e4 - 1, 1e4 - 2], [-1e4, 0.0, 0.0]], dtype=dtype)
    y = np.array([1, 0])
    # by hand: row 0: -log(e^-1 / (1 + e^-1 + e^-2));
    #          row 1: -log(e^-1e4 / (2 + e^-1e4)) = 1e4 + log 2 (to double precision)
    row0 = 1 + math.log(1 + math.exp(-1) + math.exp(-2))
    row1 = 1e4 + math.log(2)
    loss = loss_fn.forward(scores, y)
    assert math.isfinite(loss)
    assert loss == pytest.approx((row0 + row1) / 2, rel=1e-6)
    grad = loss_fn.backward()
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype
    # row 1: softmax = [0, 1/2, 1/2] minus one-hot [1, 0, 0], divided by N=2
    np.testing.assert_allclose(grad[1], [-0.5, 0.25, 0.25], atol=1e-7)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_loss_of_uniform_scores_is_log_k(k):
    loss_fn = SoftmaxCrossEntropy()
    scores = np.full((4, k), 3.5)
    assert loss_fn.forward(scores, np.arange(4) % k) == pytest.approx(math.log(k), rel=1e-12)
    assert loss_fn.forward(np.zeros((1, k)), np.array([0])) == pytest.approx(math.log(k))


def test_loss_backward_hand_example():
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([0, 1]))
    # softmax = 1/2 everywhere; minus one-hot; divided by N = 2
    np.testing.assert_allclose(loss_fn.backward(), [[-0.25, 0.25], [0.25, -0.25]])


def test_loss_gradient_check():
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((4, 5)) * 3
    y = np.array([0, 4, 2, 2])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    analytic = loss_fn.backward()
    numeric = numerical_gradient(lambda s: SoftmaxCrossEntropy().forward(s, y), scores)
    assert rel_error(analytic, numeric) < 1e-7


def test_loss_does_not_mutate_its_inputs():
    scores = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    y = np.array([2, 0])
    scores_before, y_before = scores.copy(), y.copy()
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    grad = loss_fn.backward()
    grad_again = loss_fn.backward()
    np.testing.assert_array_equal(grad, grad_again)         # backward is repeatable
    np.testing.assert_array_equal(scores, scores_before)
    np.testing.assert_array_equal(y, y_before)
    assert not np.shares_memory(grad, scores)


def test_loss_accepts_a_list_of_labels_and_any_integer_dtype():
    scores = np.zeros((2, 3))
    for y in ([1, 2], np.array([1, 2], dtype=np.uint8), np.array([1, 2], dtype=np.int32)):
        assert SoftmaxCrossEntropy().forward(scores, y) == pytest.approx(math.log(3))


@pytest.mark.parametrize("scores,y,error,text", [
    (np.zeros((2, 3)), np.array([0, 3]), ValueError,
     r"y must hold labels in \[0, 2\] for 3 classes\. Received: label 3"),
    (np.zeros((2, 3)), np.array([-1, 0]), ValueError,
     r"y must hold labels in \[0, 2\] for 3 classes\. Received: label -1"),
    (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError,
     r"y must hold integer class labels\. Received: y of dtype float64"),
    (np.zeros((2, 3)), np.array([True, False]), TypeError,
     r"y must hold integer class labels\. Received: y of dtype bool"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError,
     r"y must have shape \[2\] to match scores of shape \[2, 3\]\. "
     r"Received: y of shape \[3\]"),
    (np.zeros((2, 3)), np.array([[0], [1]]), ValueError,
     r"y must have shape \[2\] to match scores of shape \[2, 3\]\. "
     r"Received: y of shape \[2, 1\]"),
    (np.zeros(3), np.array([0]), ValueError,
     r"scores must have 2 dimensions\. Received: scores of shape \[3\]"),
    (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), TypeError,
     r"scores must have dtype float32 or float64; .* Received: scores of "
     r"dtype int64"),
    (np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError,
     r"scores must hold at least one example\. Received: scores of shape "
     r"\[0, 3\]"),
])
def test_loss_errors(scores, y, error, text):
    with pytest.raises(error, match=rf"^SoftmaxCrossEntropy: {text}"):
        SoftmaxCrossEntropy().forward(scores, y)


def test_loss_backward_before_forward():
    with pytest.raises(RuntimeError, match=r"SoftmaxCrossEntropy: backward\(\) was called "
                                           r"before forward\(\)"):
        SoftmaxCrossEntropy().backward()
