"""Numerical gradient checking, for the library's tests and for students.

The centred difference ``(f(x + h) - f(x - h)) / 2h`` has error O(h^2); in float64
with ``h = 1e-5`` a correct backward pass agrees with it to a relative error of
about 1e-7 or better. Always check in float64: float32 rounding swamps the signal.
"""

from __future__ import annotations

import copy

import numpy as np

from .layers import Layer
from .validation import check_finite, check_seed


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max relative error ``|a - b| / max(1e-8, |a| + |b|)``, elementwise (as in CS231n)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: a and b must have the same shape. Received: a of shape "
                         f"{list(a.shape)} and b of shape {list(b.shape)}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x: np.ndarray, dout: np.ndarray | None = None,
                       h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Parameters
    ----------
    f : callable taking an array shaped like ``x`` and returning an array (or a scalar)
    x : array, float64 recommended; it is not modified (a copy is perturbed)
    dout : array shaped like ``f(x)``; defaults to ones (so the gradient of ``sum(f(x))``)
    h : step size

    Returns
    -------
    grad : array shaped like ``x``
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"numerical_gradient: x must be a float array. Received: x of type "
                        f"{type(x).__name__}"
                        + (f" and dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    x = x.copy()
    if dout is None:
        dout = np.ones_like(np.asarray(f(x)))
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)   # views into the copies
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = np.sum(np.asarray(f(x)) * dout)
        flat_x[i] = old - h
        minus = np.sum(np.asarray(f(x)) * dout)
        flat_x[i] = old
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def _numbers(values, name: str) -> np.ndarray:
    """``values`` (an array or a nested list of numbers) as a finite float64 array."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"check_layer: {name} must be an array of numbers. Received: {name} "
                        f"of dtype {array.dtype}")
    return check_finite(array.astype(np.float64), name, "check_layer")


def check_layer(layer, x: np.ndarray, dout: np.ndarray | None = None, h: float = 1e-5,
                seed: int = 0) -> dict[str, float]:
    """Compare a layer's ``backward`` with numerical gradients, in float64.

    Works on a float64 copy of ``layer`` (the layer passed in is untouched) and
    returns the max relative error for the input (key ``"x"``) and for every
    parameter (``"W"``, ``"b"``, ...). Errors below ~1e-6 mean the backward is right.
    ``dout`` defaults to a random upstream gradient (seeded by ``seed``).
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer: layer must be a minicnn Layer. Received: layer of type "
                        f"{type(layer).__name__}")
    x = _numbers(x, "x")
    if x.size == 0:
        raise ValueError(f"check_layer: x must hold at least one value (an empty x checks "
                         f"nothing). Received: x of shape {list(x.shape)}")
    if isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating)) \
            or not 0 < h < np.inf:
        raise ValueError(f"check_layer: h must be a finite step > 0, such as 1e-5. "
                         f"Received: h={h!r}")
    seed = check_seed(seed, where="check_layer")
    layer = copy.deepcopy(layer).astype(np.float64)
    out = layer.forward(x)
    if dout is None:
        # A stream of its own, so dout never equals an x drawn with default_rng(seed).
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        dout = rng.standard_normal(out.shape)
    dout = _numbers(dout, "dout")
    layer.param_grads = True
    layer.forward(x)
    dx = layer.backward(dout)
    errors = {"x": rel_error(dx, numerical_gradient(layer.forward, x, dout, h))}
    for key, p in layer.params.items():
        analytic = layer.grads[key].copy()

        def f(value, key=key):
            saved = layer.params[key]
            layer.params[key] = value
            try:
                return layer.forward(x)
            finally:
                layer.params[key] = saved
        errors[key] = rel_error(analytic, numerical_gradient(f, p, dout, h))
    return errors
