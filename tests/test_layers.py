"""Layer tests: gradient checks in float64, fast paths against the naive references,
no input mutation, dtypes, Dropout, and the text of every error message.

Expected values are written by hand or come from finite differences computed in
this file; the naive loop references are the judges of the fast paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from minicnn.gradcheck import check_layer, numerical_gradient
from minicnn.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    conv2d_naive,
    conv2d_naive_backward,
    maxpool_naive,
    maxpool_naive_backward,
)

TOL = 1e-6   # max relative error accepted for a float64 gradient check


def finite_difference(f, x, dout, h=1e-6):
    """Centred differences of sum(f(x) * dout), written independently of minicnn.gradcheck."""
    grad = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        x_plus, x_minus = x.copy(), x.copy()
        x_plus[idx] += h
        x_minus[idx] -= h
        grad[idx] = np.sum((f(x_plus) - f(x_minus)) * dout) / (2 * h)
    return grad


def distinct(rng, shape, spacing=0.05):
    """Values that differ pairwise by at least ``spacing`` (no max-pool ties under a
    finite-difference step), in random order, float64."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * spacing - size * spacing / 2).reshape(shape)


def away_from_zero(rng, shape, margin=0.1):
    """Random float64 values with |x| >= margin (no ReLU kink under a finite difference)."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + margin)


# --------------------------------------------------------------------------------------
# Gradient checks, float64
# --------------------------------------------------------------------------------------
# (N, C, H, W, F, kernel, stride, padding)
CONV_CASES = [
    (2, 3, 5, 5, 4, 3, 1, 0),
    (2, 2, 7, 7, 3, 3, 2, 1),            # stride 2, padding, odd size
    (1, 3, 6, 9, 2, 3, 1, 1),            # non-square input
    (2, 1, 8, 5, 3, (3, 2), (2, 1), (1, 0)),   # non-square kernel, stride and padding
    (3, 2, 5, 4, 2, 1, 1, 0),            # 1x1 kernel
    (1, 2, 4, 4, 2, 5, 3, 2),            # kernel larger than input without padding
]


@pytest.mark.parametrize("n,c,h,w,f,k,s,p", CONV_CASES)
def test_conv_gradcheck(n, c, h, w, f, k, s, p):
    rng = np.random.default_rng(1)
    layer = Conv2D(c, f, k, stride=s, padding=p, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(f)
    errors = check_layer(layer, rng.standard_normal((n, c, h, w)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


def test_conv_gradient_against_independent_finite_difference():
    """The judge here is this file's own finite difference, not minicnn.gradcheck."""
    rng = np.random.default_rng(2)
    layer = Conv2D(2, 3, (3, 2), stride=(2, 1), padding=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 5, 4))
    dout = rng.standard_normal(layer.output_shape(x.shape))
    layer.forward(x)
    dx = layer.backward(dout)
    dw, db = layer.grads["W"].copy(), layer.grads["b"].copy()
    w, b = layer.params["W"].copy(), layer.params["b"].copy()

    def with_weights(w_new):
        layer.params["W"] = w_new
        try:
            return layer.forward(x)
        finally:
            layer.params["W"] = w

    def with_bias(b_new):
        layer.params["b"] = b_new
        try:
            return layer.forward(x)
        finally:
            layer.params["b"] = b

    np.testing.assert_allclose(dx, finite_difference(layer.forward, x, dout), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(dw, finite_difference(with_weights, w, dout), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(db, finite_difference(with_bias, b, dout), rtol=1e-6, atol=1e-8)
    # db by hand: the sum of dout over batch and positions, per filter
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)))


def test_conv_forward_hand_example():
    # x = 1..9 in a 3x3 image; two 2x2 filters: all ones (+ bias 1) and [[1, 0], [0, -1]].
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    layer = Conv2D(1, 2, 2, dtype=np.float64)
    layer.params["W"] = np.array([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [0.0, -1.0]]]])
    layer.params["b"] = np.array([1.0, 0.0])
    expected = np.array([[[[13.0, 17.0], [25.0, 29.0]],     # 1+2+4+5+1, 2+3+5+6+1, ...
                          [[-4.0, -4.0], [-4.0, -4.0]]]])   # x[i, j] - x[i+1, j+1]
    np.testing.assert_array_equal(layer.forward(x), expected)
    np.testing.assert_array_equal(conv2d_naive(x, layer.params["W"], layer.params["b"]),
                                  expected)
    # padding 1, stride 2 with a single 1x1... kernel 2: corners see one pixel each
    padded = Conv2D(1, 1, 2, stride=2, padding=1, dtype=np.float64)
    padded.params["W"] = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(padded.forward(x), [[[[1.0, 2.0 + 3.0],
                                                         [4.0 + 7.0, 5.0 + 6.0 + 8.0 + 9.0]]]])


def test_conv_naive_backward_against_finite_difference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    dout = rng.standard_normal(conv2d_naive(x, w, b, stride=2, pad=1).shape)
    dx, dw, db = conv2d_naive_backward(dout, x, w, stride=2, pad=1)

    def conv(x_, w_=w, b_=b):
        return conv2d_naive(x_, w_, b_, stride=2, pad=1)

    np.testing.assert_allclose(dx, finite_difference(conv, x, dout), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, finite_difference(lambda w_: conv(x, w_), w, dout),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, finite_difference(lambda b_: conv(x, w, b_), b, dout),
                               rtol=1e-6, atol=1e-8)


# (N, C, H, W, kernel, stride)
POOL_CASES = [
    (2, 3, 4, 4, 2, None),
    (2, 2, 7, 7, 3, 2),          # overlapping windows, odd size
    (1, 2, 5, 8, (2, 3), (1, 2)),   # non-square everything
    (2, 1, 7, 5, 2, 2),          # odd size, the last row/column is dropped
    (1, 2, 6, 6, 3, 1),          # heavily overlapping
]


@pytest.mark.parametrize("pool_cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("n,c,h,w,k,s", POOL_CASES)
def test_pool_gradcheck(pool_cls, n, c, h, w, k, s):
    rng = np.random.default_rng(4)
    errors = check_layer(pool_cls(k, stride=s), distinct(rng, (n, c, h, w)))
    assert set(errors) == {"x"}
    assert errors["x"] < TOL, errors


@pytest.mark.parametrize("n,d_in,d_out", [(1, 1, 1), (4, 5, 3), (3, 7, 2)])
def test_dense_gradcheck(n, d_in, d_out):
    rng = np.random.default_rng(5)
    layer = Dense(d_in, d_out, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(d_out)
    errors = check_layer(layer, rng.standard_normal((n, d_in)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


def test_dense_hand_example():
    layer = Dense(2, 3, dtype=np.float64)
    layer.params["W"] = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])   # (in, out)
    layer.params["b"] = np.array([0.5, 0.0, -1.0])
    x = np.array([[1.0, -1.0]])
    np.testing.assert_array_equal(layer.forward(x), [[-2.5, -3.0, -4.0]])
    dx = layer.backward(np.array([[1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(dx, [[7.0, 16.0]])                   # dout @ W.T
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 0.0, 2.0], [-1.0, 0.0, -2.0]])
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 0.0, 2.0])


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5), (1, 2, 5, 3)])
def test_flatten_gradcheck_and_layout(shape):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    errors = check_layer(Flatten(), x)
    assert errors["x"] < TOL
    out = Flatten().forward(x)
    assert out.shape == (shape[0], int(np.prod(shape[1:])))
    assert out[0, 1] == x.reshape(-1)[1]      # row-major: the last axis varies fastest


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5, 4)])
def test_relu_standard_gradcheck(shape):
    rng = np.random.default_rng(7)
    errors = check_layer(ReLU("standard"), away_from_zero(rng, shape))
    assert errors["x"] < TOL


def test_dropout_train_gradient_uses_the_forward_mask():
    rng = np.random.default_rng(8)
    p = 0.4
    layer = Dropout(p, rng=9)
    x = away_from_zero(rng, (4, 3, 5, 5)).astype(np.float32)
    out = layer.forward(x, train=True)
    mask = out != 0                   # x has no zeros, so zeros in out are dropped units
    assert 0 < mask.mean() < 1
    np.testing.assert_allclose(out, x * mask / (1 - p), rtol=1e-6)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dout), dout * mask / (1 - p), rtol=1e-6)


def test_dropout_is_the_identity_at_test_time():
    x = np.random.default_rng(10).standard_normal((3, 4)).astype(np.float32)
    layer = Dropout(0.5, rng=0)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)
    zero = Dropout(0.0, rng=0)
    np.testing.assert_array_equal(zero.forward(x, train=True), x)


def test_dropout_drops_about_p_and_keeps_the_mean():
    layer = Dropout(0.3, rng=11)
    x = np.ones((200, 500), dtype=np.float32)
    out = layer.forward(x, train=True)
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.02
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)
    # a new mask every call
    assert not np.array_equal(out, layer.forward(x, train=True))


def test_dropout_seed_makes_masks_reproducible():
    x = np.ones((10, 10), dtype=np.float32)
    a = Dropout(0.5, rng=3).forward(x, train=True)
    b = Dropout(0.5, rng=3).forward(x, train=True)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Fast paths against the naive references
# --------------------------------------------------------------------------------------
def random_conv_config(seed):
    rng = np.random.default_rng(seed)
    kh, kw = rng.integers(1, 6, size=2)
    sh, sw = rng.integers(1, 4, size=2)
    ph, pw = rng.integers(0, 3, size=2)
    h = int(max(kh - 2 * ph, 1) + rng.integers(0, 6))
    w = int(max(kw - 2 * pw, 1) + rng.integers(0, 6))
    n, c, f = rng.integers(1, 4, size=3)
    return rng, int(n), int(c), h, w, int(f), (int(kh), int(kw)), (int(sh), int(sw)), \
        (int(ph), int(pw))


@pytest.mark.parametrize("seed", range(20))
def test_fast_conv_matches_naive(seed):
    rng, n, c, h, w, f, k, s, p = random_conv_config(seed)
    layer = Conv2D(c, f, k, stride=s, padding=p, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(f)
    x = rng.standard_normal((n, c, h, w))
    out = layer.forward(x)
    expected = conv2d_naive(x, layer.params["W"], layer.params["b"], stride=s, pad=p)
    assert out.shape == expected.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)

    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dw_ref, db_ref = conv2d_naive_backward(dout, x, layer.params["W"], stride=s, pad=p)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dw_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-10, atol=1e-12)


def test_fast_conv_matches_naive_in_float32():
    rng = np.random.default_rng(12)
    layer = Conv2D(3, 4, 3, stride=2, padding=1, rng=rng)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv2d_naive(x, layer.params["W"], layer.params["b"], 2, 1),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", range(12))
def test_fast_maxpool_matches_naive(seed):
    rng = np.random.default_rng(100 + seed)
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    h, w = kh + int(rng.integers(0, 6)), kw + int(rng.integers(0, 6))
    x = rng.standard_normal((2, 2, h, w))
    if seed % 2:   # many ties: the first maximum (row-major) must win in both
        x = rng.integers(0, 3, size=x.shape).astype(np.float64)
    layer = MaxPool2D((kh, kw), stride=(sh, sw))
    out = layer.forward(x)
    np.testing.assert_array_equal(out, maxpool_naive(x, (kh, kw), (sh, sw)))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(dout),
                               maxpool_naive_backward(dout, x, (kh, kw), (sh, sw)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s", [(3, 2), (2, 1), (2, None)])
def test_fast_maxpool_matches_naive_overlapping(k, s):
    rng = np.random.default_rng(13)
    x = rng.integers(0, 4, size=(2, 3, 7, 9)).astype(np.float32)
    layer = MaxPool2D(k, stride=s)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, maxpool_naive(x, k, s))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dout), maxpool_naive_backward(dout, x, k, s),
                               rtol=1e-6)


def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 5.0, 5.0, 0.0],
                    [5.0, 2.0, 3.0, 5.0],
                    [7.0, 7.0, 0.0, 1.0],
                    [7.0, 7.0, 1.0, 0.0]]]])
    dout = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    expected_dx = np.array([[[[0.0, 10.0, 20.0, 0.0],     # (0,1) beats (1,0); (0,2) beats (1,3)
                              [0.0, 0.0, 0.0, 0.0],
                              [30.0, 0.0, 0.0, 40.0],     # (2,0) of four 7s; (2,3) of two 1s
                              [0.0, 0.0, 0.0, 0.0]]]])
    for backward in (lambda: maxpool_naive_backward(dout, x, 2),
                     lambda: (layer.forward(x), layer.backward(dout))[1]):
        layer = MaxPool2D(2)
        np.testing.assert_array_equal(backward(), expected_dx)
    np.testing.assert_array_equal(MaxPool2D(2).forward(x), [[[[5.0, 5.0], [7.0, 1.0]]]])


def test_overlapping_maxpool_hand_example():
    # 3x3 windows, stride 2, on a 1x5 x 5: the centre pixel belongs to all four windows.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0
    x[0, 0, 0, 0] = 1.0
    layer = MaxPool2D(3, stride=2)
    np.testing.assert_array_equal(layer.forward(x), [[[[9.0, 9.0], [9.0, 9.0]]]])
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 2, 2] = 10.0          # the gradients of overlapping windows add up
    np.testing.assert_array_equal(dx, expected)


def test_avgpool_hand_example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    layer = AvgPool2D(2)
    np.testing.assert_array_equal(layer.forward(x), [[[[2.5, 4.5], [10.5, 12.5]]]])
    dx = layer.backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    np.testing.assert_array_equal(dx, [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4],
                                         [3, 3, 4, 4]]]])


# --------------------------------------------------------------------------------------
# No mutation, fresh outputs, dtypes
# --------------------------------------------------------------------------------------
def make_layer(kind, dtype=np.float32):
    """A layer and an input for it (float32 unless dtype says otherwise)."""
    rng = np.random.default_rng(14)
    x4 = away_from_zero(rng, (2, 2, 6, 5)).astype(dtype)
    return {
        "conv": (Conv2D(2, 3, 3, stride=2, padding=1, rng=0, dtype=dtype), x4),
        "relu": (ReLU(), x4),
        "relu_deconvnet": (ReLU("deconvnet"), x4),
        "relu_guided": (ReLU("guided"), x4),
        "maxpool": (MaxPool2D(3, stride=2), x4),
        "avgpool": (AvgPool2D(2), x4),
        "flatten": (Flatten(), x4),
        "dense": (Dense(5, 4, rng=0, dtype=dtype), x4[:, 0, 0, :].copy()),
        "dropout": (Dropout(0.5, rng=0), x4),
    }[kind]


KINDS = ["conv", "relu", "relu_deconvnet", "relu_guided", "maxpool", "avgpool", "flatten",
         "dense", "dropout"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("train", [False, True])
def test_no_input_mutation_and_fresh_outputs(kind, train):
    layer, x = make_layer(kind)
    x_before = x.copy()
    params_before = {k: v.copy() for k, v in layer.params.items()}
    out = layer.forward(x, train=train)
    assert not np.shares_memory(out, x)
    # a dout with negatives and zeros, the values a careless `dout[mask] = 0` would touch
    dout = np.random.default_rng(15).standard_normal(out.shape).astype(x.dtype)
    dout.reshape(-1)[::3] = 0
    dout_before = dout.copy()
    dx = layer.backward(dout)
    assert not np.shares_memory(dx, dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)
    for key, value in layer.params.items():
        np.testing.assert_array_equal(value, params_before[key])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(kind, dtype):
    layer, x = make_layer(kind, dtype)
    out = layer.forward(x, train=True)
    assert out.dtype == dtype
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == dtype
    for key in layer.params:
        assert layer.params[key].dtype == dtype
        assert layer.grads[key].dtype == dtype, key


def test_layer_astype_converts_parameters_and_grads():
    layer = Conv2D(1, 2, 3, rng=0)
    assert layer.params["W"].dtype == np.float32 and layer.grads["W"].dtype == np.float32
    w = layer.params["W"].copy()
    layer.grads["W"] += 1.0
    layer.astype(np.float64)
    assert all(v.dtype == np.float64 for v in [*layer.params.values(), *layer.grads.values()])
    np.testing.assert_array_equal(layer.params["W"], w)     # the same values, in float64
    assert not layer.grads["W"].any()                        # gradients start again at zero
    layer.forward(np.zeros((1, 1, 3, 3)))       # float64 input now accepted


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad_dtype", [np.float16, np.int64, np.int32, bool])
def test_float16_and_integer_inputs_raise_type_error(kind, bad_dtype):
    layer, x = make_layer(kind)
    with pytest.raises(TypeError, match=r"input must have dtype float32 or float64; .* "
                                        rf"Received: input of dtype {np.dtype(bad_dtype)}"):
        layer.forward(x.astype(bad_dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_non_array_input_raises_type_error(kind):
    layer, x = make_layer(kind)
    with pytest.raises(TypeError, match="input must be a numpy array. Received: input of "
                                        "type list"):
        layer.forward(x.tolist())


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_input_dtype_must_match_the_parameters(kind):
    layer, x = make_layer(kind)                      # float32 parameters
    with pytest.raises(TypeError, match=r"input must have dtype float32 \(the parameters' "
                                        r"dtype\).* Received: input of dtype float64"):
        layer.forward(x.astype(np.float64))
    layer64, x64 = make_layer(kind, np.float64)
    with pytest.raises(TypeError, match=r"input must have dtype float64 .* Received: input of "
                                        r"dtype float32"):
        layer64.forward(x64.astype(np.float32))


# --------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------
def test_conv_wrong_channel_count_message():
    layer = Conv2D(3, 8, 3)
    with pytest.raises(ValueError, match=r"^Conv2D: input must have 3 channels \(dimension "
                                         r"1\)\. Received: input of shape \[8, 4, 32, 32\]$"):
        layer.forward(np.zeros((8, 4, 32, 32), dtype=np.float32))


def test_error_messages_name_the_layer():
    layer = Conv2D(3, 8, 3, name="conv7")
    with pytest.raises(ValueError, match=r"^Conv2D\('conv7'\): input must have"):
        layer.forward(np.zeros((1, 4, 5, 5), dtype=np.float32))


@pytest.mark.parametrize("kind,shape,ndim", [
    ("conv", (4, 5, 5), 4), ("maxpool", (2, 2, 5), 4), ("avgpool", (1, 1, 2, 2, 2), 4),
    ("dense", (2, 5, 1), 2), ("dense", (5,), 2),
])
def test_wrong_ndim_message(kind, shape, ndim):
    layer, _ = make_layer(kind)
    shape_text = ", ".join(map(str, shape))
    with pytest.raises(ValueError, match=rf"input must have {ndim} dimensions\. Received: "
                                         rf"input of shape \[{shape_text}\]"):
        layer.forward(np.zeros(shape, dtype=np.float32))


def test_flatten_needs_a_batch_dimension():
    with pytest.raises(ValueError, match=r"input must have a batch dimension and at least "
                                         r"one more\. Received: input of shape \[5\]"):
        Flatten().forward(np.zeros(5, dtype=np.float32))


def test_dense_wrong_feature_count_message():
    with pytest.raises(ValueError, match=r"^Dense: input must have 5 features \(dimension "
                                         r"1\)\. Received: input of shape \[2, 6\]$"):
        Dense(5, 3).forward(np.zeros((2, 6), dtype=np.float32))


def test_input_smaller_than_the_kernel():
    with pytest.raises(ValueError, match=r"input plus padding \(0, 0\) must be at least the "
                                         r"kernel \(5, 5\)\. Received: input of shape "
                                         r"\[1, 1, 4, 6\]"):
        Conv2D(1, 1, 5).forward(np.zeros((1, 1, 4, 6), dtype=np.float32))
    # padding makes it big enough
    assert Conv2D(1, 1, 5, padding=1).forward(np.zeros((1, 1, 4, 6), np.float32)).shape == \
        (1, 1, 2, 4)
    for pool in (MaxPool2D(3), AvgPool2D((2, 4))):
        with pytest.raises(ValueError, match=rf"input must be at least the pooling window "
                                             rf"\({pool.kernel_size[0]}, .* Received: input of "
                                             rf"shape \[1, 1, 2, 3\]"):
            pool.forward(np.zeros((1, 1, 2, 3), dtype=np.float32))


@pytest.mark.parametrize("make", [
    lambda v: Conv2D(1, 1, kernel_size=v), lambda v: MaxPool2D(kernel_size=v),
    lambda v: AvgPool2D(kernel_size=v)])
@pytest.mark.parametrize("value", [0, -1, (3, 0)])
def test_non_positive_kernel_size(make, value):
    shown = (value, value) if isinstance(value, int) else value
    with pytest.raises(ValueError, match=rf"kernel_size must be >= 1. Received: "
                                         rf"kernel_size=\({shown[0]}, {shown[1]}\)"):
        make(value)


@pytest.mark.parametrize("make", [
    lambda v: Conv2D(1, 1, 3, stride=v), lambda v: MaxPool2D(2, stride=v),
    lambda v: AvgPool2D(2, stride=v)])
def test_non_positive_stride(make):
    with pytest.raises(ValueError, match=r"stride must be >= 1. Received: stride=\(0, 0\)"):
        make(0)


def test_negative_padding():
    with pytest.raises(ValueError, match=r"padding must be >= 0. Received: padding=\(-1, -1\)"):
        Conv2D(1, 1, 3, padding=-1)


@pytest.mark.parametrize("value", [True, 2.0, "3", (3, 3, 3), (3, True), None])
def test_kernel_size_must_be_int_or_pair(value):
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair of ints. "
                                        r"Received: kernel_size="):
        Conv2D(1, 1, value)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        MaxPool2D(value)


@pytest.mark.parametrize("arg", ["in_channels", "out_channels"])
@pytest.mark.parametrize("value,error", [(0, ValueError), (-2, ValueError), (True, TypeError),
                                         (2.0, TypeError)])
def test_conv_channel_arguments(arg, value, error):
    kwargs = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, arg: value}
    with pytest.raises(error, match=rf"{arg} must be (an int|>= 1)\. Received: {arg}={value!r}"):
        Conv2D(**kwargs)


def test_dense_feature_arguments():
    with pytest.raises(ValueError, match=r"in_features must be >= 1. Received: "
                                         r"in_features=0"):
        Dense(0, 3)
    with pytest.raises(TypeError, match=r"out_features must be an int. Received: "
                                        r"out_features=2.5"):
        Dense(3, 2.5)


@pytest.mark.parametrize("kind", KINDS)
def test_backward_before_forward(kind):
    layer, _ = make_layer(kind)
    with pytest.raises(RuntimeError, match=r"backward\(\) was called before forward\(\); "
                                           r"run forward\(x\) first"):
        layer.backward(np.zeros((2, 3), dtype=np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_dout_of_the_wrong_shape(kind):
    layer, x = make_layer(kind)
    out = layer.forward(x)
    bad = np.zeros((out.shape[0] + 1, *out.shape[1:]), dtype=x.dtype)
    expected = ", ".join(map(str, out.shape))
    got = ", ".join(map(str, bad.shape))
    with pytest.raises(ValueError, match=rf"dout must have shape \[{expected}\] \(the forward "
                                         rf"output's shape\)\. Received: dout of shape "
                                         rf"\[{got}\]"):
        layer.backward(bad)


def test_dout_must_be_a_float_array():
    layer = ReLU()
    layer.forward(np.ones((2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="dout must have dtype float32 or float64; .* "
                                        "Received: dout of dtype int64"):
        layer.backward(np.ones((2, 2), dtype=np.int64))


@pytest.mark.parametrize("p,error,text", [
    (1.0, ValueError, r"p must be in \[0, 1\). Received: p=1.0"),
    (-0.1, ValueError, r"p must be in \[0, 1\). Received: p=-0.1"),
    (1.5, ValueError, r"Received: p=1.5"),
    ("0.5", TypeError, r"p must be a number\. Received: p='0.5'"),
    (True, TypeError, r"Received: p=True"),
    (None, TypeError, r"Received: p=None"),
])
def test_bad_dropout_p(p, error, text):
    with pytest.raises(error, match=text):
        Dropout(p)


def test_dropout_accepts_numpy_scalars():
    assert Dropout(np.float32(0.25)).p == 0.25
    assert Dropout(np.int64(0)).p == 0.0


@pytest.mark.parametrize("name", ["", 3])
def test_bad_layer_name(name):
    with pytest.raises(TypeError, match=rf"name must be a non-empty string\. Received: "
                                        rf"name={name!r}"):
        ReLU(name=name)


# --------------------------------------------------------------------------------------
# The numerical gradient also works through numerical_gradient for a plain function
# --------------------------------------------------------------------------------------
def test_relu_numerical_gradient_matches_standard_rule_only():
    """Only "standard" is the true gradient: the other two rules differ from it."""
    rng = np.random.default_rng(16)
    x = away_from_zero(rng, (3, 4))
    dout = away_from_zero(rng, (3, 4))
    numeric = numerical_gradient(lambda v: np.maximum(v, 0), x, dout)
    results = {}
    for mode in ("standard", "deconvnet", "guided"):
        layer = ReLU(mode)
        layer.forward(x)
        results[mode] = layer.backward(dout)
    np.testing.assert_allclose(results["standard"], numeric, rtol=1e-7)
    assert not np.allclose(results["deconvnet"], numeric)
    assert not np.allclose(results["guided"], numeric)


@pytest.mark.parametrize("make, x_shape", [
    (lambda: Conv2D(2, 3, 3, rng=0), (2, 2, 5, 5)),
    (lambda: Dense(4, 3, rng=0), (2, 4)),
    (lambda: ReLU(), (2, 3, 4, 4)),
    (lambda: MaxPool2D(2), (2, 3, 4, 4)),
    (lambda: AvgPool2D(2), (2, 3, 4, 4)),
    (lambda: Flatten(), (2, 3, 4, 4)),
    (lambda: Dropout(0.5, rng=0), (2, 3, 4, 4)),
])
def test_float64_dout_into_a_float32_layer_is_refused(make, x_shape):
    layer = make()
    out = layer.forward(np.ones(x_shape, dtype=np.float32))
    with pytest.raises(TypeError, match=r"dout must have dtype float32 \(the forward pass's "
                                        r"dtype\)\. Received: dout of dtype float64"):
        layer.backward(np.ones(out.shape, dtype=np.float64))
