"""The `Layer` base class and the small input checks every layer shares.

A layer holds its parameters in ``params`` and the gradients of the loss with
respect to them in ``grads`` (same keys). ``forward`` remembers what
``backward`` needs in ``self.cache``; ``backward(dout)`` returns ``dL/dx``.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: a named step with ``forward`` and ``backward``.

    Attributes
    ----------
    name : str or None
        Set by the user (``name=``) or by ``Sequential`` (``conv1``, ``relu1``...).
    params : dict[str, np.ndarray]
        Trainable arrays, e.g. ``{"W": ..., "b": ...}``.
    grads : dict[str, np.ndarray]
        ``dL/dparam`` for each key of ``params``, filled by ``backward``.
    param_grads : bool
        When False, ``backward`` returns ``dx`` but does not compute parameter
        gradients (explanations need only the gradient on the input).
    cache : object
        Whatever ``forward`` saved for ``backward``; None before ``forward``.
    """

    def __init__(self, name: str | None = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, but got {name!r}")
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.param_grads = True
        self.cache = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.forward(x, train=train)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``forward``'s output for an input of ``input_shape`` (N included)."""
        return tuple(input_shape)

    def config(self) -> dict:
        """Constructor arguments, so ``minicnn.load`` can rebuild the layer."""
        return {}

    def zero_grad(self) -> None:
        # np.zeros, not np.zeros_like (which writes every zero): the OS gives
        # zero pages lazily, so a model used only for explanations does not hold
        # a second, all-zero copy of its weights in memory.
        for key, value in self.params.items():
            self.grads[key] = np.zeros(value.shape, dtype=value.dtype)

    def astype(self, dtype) -> "Layer":
        """Convert parameters to ``dtype`` in place; returns self. The gradients start
        again at zero in the new dtype (see `zero_grad`: no memory until written)."""
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
        self.zero_grad()
        return self

    def _cached(self):
        """The forward cache, or a clear error if ``backward`` comes first."""
        if self.cache is None:
            raise RuntimeError(
                f"{self._label()}: backward() was called before forward(); "
                "run forward(x) first")
        return self.cache

    def _label(self) -> str:
        return f"{type(self).__name__}({self.name!r})" if self.name else type(self).__name__

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        if self.name:
            args = f"{args}, name={self.name!r}" if args else f"name={self.name!r}"
        return f"{type(self).__name__}({args})"


def check_array(x, label: str, ndim: int | None = None, name: str = "input") -> np.ndarray:
    """Check that ``x`` is a float32/float64 array of ``ndim`` dimensions.

    Raises TypeError for non-arrays or other dtypes (float16, ints) and
    ValueError for the wrong number of dimensions. Returns ``x`` unchanged.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{label}: expected {name} to be a numpy array, "
                        f"but got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{label}: expected {name} of dtype float32 or float64, "
                        f"but got {x.dtype}; convert it with x.astype(np.float32)")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{label}: expected {name} with {ndim} dimensions, but got "
                         f"{name}{list(x.shape)} with {x.ndim}")
    return x


def check_param_dtype(x: np.ndarray, dtype: np.dtype, label: str) -> None:
    """Layers with parameters compute in their parameters' dtype and never upcast."""
    if x.dtype != dtype:
        raise TypeError(f"{label}: expected input of dtype {dtype} (the parameters' dtype), "
                        f"but got {x.dtype}; convert the input or call model.astype(...)")


def check_dout(dout, out_shape: tuple[int, ...], label: str, dtype=None) -> np.ndarray:
    """Check that the upstream gradient matches the forward output's shape (and, when
    ``dtype`` is given, its dtype, so that a float64 dout never upcasts a float32 layer)."""
    check_array(dout, label, name="dout")
    if dtype is not None and dout.dtype != dtype:
        raise TypeError(f"{label}: expected dout of dtype {dtype} (the forward pass's dtype), "
                        f"but got {dout.dtype}")
    if dout.shape != tuple(out_shape):
        raise ValueError(f"{label}: expected dout of shape {list(out_shape)} (the "
                         f"forward output's shape), but got dout{list(dout.shape)}")
    return dout


def pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """Turn ``3`` into ``(3, 3)``; check a pair of ints is at least ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in value)):
        raise TypeError(f"{name} must be an int or a pair of ints. Received: {name}={value!r}")
    if min(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Received: {name}={tuple(value)!r}")
    return int(value[0]), int(value[1])


def positive_int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)
