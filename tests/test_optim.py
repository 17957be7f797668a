"""Optimizers: update formulas on hand examples, training a small conv net, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy
from minicnn.optim import SGD, Adam


def hand_model(dtype=np.float64):
    """One Dense(2, 1) layer with W = [[1], [-2]], b = [0.5] and gradients set by hand:
    dW = [[0.5], [0.25]], db = [-1]."""
    model = Sequential([Dense(2, 1, dtype=dtype)])
    layer = model["fc1"]
    layer.params["W"][...] = [[1.0], [-2.0]]
    layer.params["b"][...] = [0.5]
    set_grads(model, [[0.5], [0.25]], [-1.0])
    return model


def set_grads(model, dw, db):
    layer = model["fc1"]
    layer.grads["W"] = np.array(dw, dtype=layer.params["W"].dtype)
    layer.grads["b"] = np.array(db, dtype=layer.params["b"].dtype)


def params(model):
    layer = model["fc1"]
    return layer.params["W"][:, 0].tolist() + layer.params["b"].tolist()


def test_sgd_is_p_minus_lr_g():
    model = hand_model()
    w_array = model["fc1"].params["W"]
    SGD(model, lr=0.1).step()
    assert params(model) == pytest.approx([0.95, -2.025, 0.6], abs=1e-15)
    assert model["fc1"].params["W"] is w_array          # updated in place
    SGD(model, lr=0.1).step()
    assert params(model) == pytest.approx([0.9, -2.05, 0.7], abs=1e-15)


def test_sgd_momentum_two_steps():
    # v = 0.9 v + g; p -= 0.1 v. Same g both steps:
    # W[0]: v = 0.5, p = 0.95; v = 0.45 + 0.5 = 0.95, p = 0.855
    # W[1]: v = 0.25, p = -2.025; v = 0.225 + 0.25 = 0.475, p = -2.0725
    # b:    v = -1, p = 0.6; v = -0.9 - 1 = -1.9, p = 0.79
    model = hand_model()
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.step()
    assert params(model) == pytest.approx([0.95, -2.025, 0.6], abs=1e-12)
    opt.step()
    assert params(model) == pytest.approx([0.855, -2.0725, 0.79], abs=1e-12)


def test_sgd_momentum_and_weight_decay_two_steps():
    # g' = g + 0.1 p; v = 0.9 v + g'; p -= 0.1 v
    # W[0]: g' = 0.6, v = 0.6, p = 0.94;    g' = 0.594, v = 1.134, p = 0.8266
    # W[1]: g' = 0.05, v = 0.05, p = -2.005; g' = 0.0495, v = 0.0945, p = -2.01445
    # b:    g' = -0.95, v = -0.95, p = 0.595; g' = -0.9405, v = -1.7955, p = 0.77455
    model = hand_model()
    opt = SGD(model, lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    assert params(model) == pytest.approx([0.94, -2.005, 0.595], abs=1e-12)
    opt.step()
    assert params(model) == pytest.approx([0.8266, -2.01445, 0.77455], abs=1e-12)


def test_sgd_weight_decay_without_momentum():
    # p -= 0.1 * (g + 0.5 p): W[0] = 1 - 0.1 * 1.0 = 0.9; W[1] = -2 - 0.1 * (0.25 - 1) = -1.925;
    # b = 0.5 - 0.1 * (-1 + 0.25) = 0.575
    model = hand_model()
    SGD(model, lr=0.1, weight_decay=0.5).step()
    assert params(model) == pytest.approx([0.9, -1.925, 0.575], abs=1e-12)


def test_sgd_reads_the_new_gradients_each_step():
    model = hand_model()
    opt = SGD(model, lr=1.0)
    opt.step()
    set_grads(model, [[0.0], [1.0]], [0.0])
    opt.step()
    assert params(model) == pytest.approx([0.5, -3.25, 1.5], abs=1e-12)


def test_adam_first_step_moves_by_lr_times_sign():
    model = hand_model()
    set_grads(model, [[1e-3], [-5.0]], [100.0])     # very different magnitudes
    opt = Adam(model, lr=0.01)
    opt.step()
    assert params(model) == pytest.approx([0.99, -1.99, 0.49], abs=1e-6)
    opt.step()   # a constant gradient: the bias-corrected step is lr * sign(g) again
    assert params(model) == pytest.approx([0.98, -1.98, 0.48], abs=1e-6)


def test_adam_zero_gradient_does_not_move():
    model = hand_model()
    set_grads(model, [[0.0], [2.0]], [0.0])
    Adam(model, lr=0.1).step()
    assert params(model) == pytest.approx([1.0, -2.1, 0.5], abs=1e-6)


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.1, momentum=0.9, weight_decay=1e-3),
                                  lambda m: Adam(m, lr=0.01, weight_decay=1e-3)])
def test_optimizers_keep_float32(make):
    model = hand_model(np.float32)
    opt = make(model)
    opt.step()
    opt.step()
    assert all(p.dtype == np.float32 for p in model.parameters().values())


@pytest.mark.parametrize("make, state", [(lambda m: SGD(m, lr=0.1, momentum=0.9), "velocity"),
                                         (lambda m: Adam(m, lr=0.1), "m"),
                                         (lambda m: Adam(m, lr=0.1), "v")])
def test_optimizer_state_follows_model_astype(make, state):
    """After model.astype the running state keeps its values, in the new dtype."""
    model = hand_model(np.float32)
    opt = make(model)
    opt.step()
    before = {k: v.copy() for k, v in getattr(opt, state).items()}
    model.astype(np.float64)
    set_grads(model, [[0.0], [0.0]], [0.0])
    opt.step()
    for key, value in getattr(opt, state).items():
        assert value.dtype == np.float64, key
        np.testing.assert_allclose(value, before[key] * (0.9 if state != "v" else 0.999),
                                   rtol=1e-6, err_msg=key)


def separable_problem(n=32, seed=0):
    """Two classes of 1x6x6 images: a bright left half or a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = 0.3 * rng.standard_normal((n, 1, 6, 6))
    x[y == 0, :, :, :3] += 1.0
    x[y == 1, :, :, 3:] += 1.0
    return x.astype(np.float32), y


def train(make_optimizer, steps=40):
    x, y = separable_problem()
    model = Sequential([Conv2D(1, 4, 3, rng=0), ReLU(), MaxPool2D(2), Flatten(),
                        Dense(16, 2, rng=1)])
    loss_fn = SoftmaxCrossEntropy()
    opt = make_optimizer(model)
    losses = []
    for _ in range(steps):
        losses.append(loss_fn.forward(model.forward(x, train=True), y))
        model.backward(loss_fn.backward())
        opt.step()
    accuracy = (model.predict(x) == y).mean()
    return losses, accuracy


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.1, momentum=0.9),
                                  lambda m: SGD(m, lr=0.2),
                                  lambda m: Adam(m, lr=0.02)])
def test_optimizers_reduce_the_loss_of_a_conv_net(make):
    losses, accuracy = train(make)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
    assert accuracy == 1.0


@pytest.mark.parametrize("kwargs,error,text", [
    ({"lr": -0.1}, ValueError, r"lr must be >= 0.0. Received: lr=-0.1"),
    ({"lr": "0.1"}, TypeError, r"lr must be a number. Received: lr='0.1'"),
    ({"lr": float("nan")}, ValueError, r"lr must be finite. Received: lr=nan"),
    ({"lr": float("inf")}, ValueError, r"lr must be finite. Received: lr=inf"),
    ({"momentum": 1.0}, ValueError, r"momentum must be in \[0.0, 1.0\). Received: momentum=1.0"),
    ({"momentum": -0.5}, ValueError, r"momentum must be in \[0.0, 1.0\)"),
    ({"momentum": True}, TypeError, r"momentum must be a number. Received: momentum=True"),
    ({"weight_decay": -1}, ValueError, r"weight_decay must be >= 0.0. Received: "
                                       r"weight_decay=-1"),
])
def test_bad_sgd_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        SGD(hand_model(), **kwargs)


@pytest.mark.parametrize("kwargs,error,text", [
    ({"lr": -1e-3}, ValueError, r"lr must be >= 0.0. Received: lr=-0.001"),
    ({"betas": (0.9,)}, TypeError, r"betas must be a pair of floats. Received: betas=\(0.9,\)"),
    ({"betas": 0.9}, TypeError, r"betas must be a pair of floats"),
    ({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] must be in \[0.0, 1.0\). Received: "
                                          r"betas\[0\]=1.0"),
    ({"betas": (0.9, 1.5)}, ValueError, r"betas\[1\] must be in \[0.0, 1.0\)"),
    ({"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] must be in \[0.0, 1.0\)"),
    ({"eps": -1e-8}, ValueError, r"eps must be >= 0.0"),
])
def test_bad_adam_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        Adam(hand_model(), **kwargs)


def test_numpy_scalars_are_accepted():
    opt = SGD(hand_model(), lr=np.float32(0.5), momentum=np.float64(0.9))
    assert opt.lr == 0.5 and opt.momentum == 0.9
