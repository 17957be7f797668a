"""Gradient-checking helpers for the graded tests.

These are the grader's own copies of ``minicnn.gradcheck.numerical_gradient`` and
``rel_error``: a graded test must not trust helper code from the package it grades.
"""

import numpy as np


def rel_error(a, b):
    """Max elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``."""
    x = np.array(x, dtype=np.float64)
    if dout is None:
        dout = np.ones_like(np.asarray(f(x), dtype=np.float64))
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = np.sum(np.asarray(f(x)) * dout)
        flat_x[i] = old - h
        minus = np.sum(np.asarray(f(x)) * dout)
        flat_x[i] = old
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def assert_close_grad(analytic, numeric, name, tol=1e-6):
    """Fail with a message naming the gradient when it is off."""
    analytic = np.asarray(analytic)
    assert analytic.shape == numeric.shape, (
        f"{name} has shape {analytic.shape}, expected {numeric.shape}")
    error = rel_error(analytic, numeric)
    assert error < tol, f"{name} differs from the numerical gradient: rel_error={error:.2e}"


def linear_model(student, w, b=None):
    """The student's ``flatten -> fc1`` in float64, with weights ``w`` (and bias ``b``,
    default 0): scores = flatten(x) @ w + b, so gradients can be checked by hand."""
    model = student.Sequential([student.layers.Flatten(name="flat"),
                                student.layers.Dense(w.shape[0], w.shape[1], name="fc1")])
    model = model.astype(np.float64)
    student.set(model["fc1"].params["W"], w)
    if b is not None:
        student.set(model["fc1"].params["b"], b)
    return model


def conv_net(student, rng, channels, filters, side, classes):
    """The student's ``conv1 (channels -> filters, 3x3, pad 1) -> relu1 -> flatten -> fc1
    (filters*side*side -> classes)`` in float64, with random weights drawn here.
    Returns the model and its weights ``p`` (w1, b1, w2, b2), for `conv_net_scores`."""
    layers = student.layers
    model = student.Sequential([layers.Conv2D(channels, filters, 3, padding=1, name="conv1"),
                                layers.ReLU(name="relu1"), layers.Flatten(name="flat"),
                                layers.Dense(filters * side * side, classes, name="fc1")])
    model = model.astype(np.float64)
    p = {"w1": rng.standard_normal((filters, channels, 3, 3)),
         "b1": rng.standard_normal(filters),
         "w2": rng.standard_normal((filters * side * side, classes)),
         "b2": rng.standard_normal(classes)}
    for layer, w, b in (("conv1", "w1", "b1"), ("fc1", "w2", "b2")):
        student.set(model[layer].params["W"], p[w])
        student.set(model[layer].params["b"], p[b])
    return model, p


def conv_relu(x, w, b):
    """``relu(conv(x, w) + b)`` for 3x3 filters, padding 1 and stride 1, written out in
    NumPy: the grader's own conv layer."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return np.maximum(np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None], 0)


def conv_net_scores(x, p):
    """The scores of `conv_net` (``conv1 -> relu -> flatten -> fc1``) with the weights in
    ``p`` (w1, b1, w2, b2), written out in NumPy: the grader's own forward pass."""
    h = conv_relu(x, p["w1"], p["b1"])
    return h.reshape(len(x), -1) @ p["w2"] + p["b2"]
