"""The `Layer` base class. The input checks every layer shares are in
``minicnn/validation.py``.

A layer holds its parameters in ``params`` and the gradients of the loss with
respect to them in ``grads`` (same keys). ``forward`` remembers what
``backward`` needs in ``self.cache``; ``backward(dout)`` returns ``dL/dx``.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_dtype


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
            raise TypeError(f"name must be a non-empty string. Received: name={name!r}")
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
        again at zero in the new dtype (see `zero_grad`: no memory until written).
        ``dtype`` must be float32 or float64."""
        dtype = check_dtype(dtype, where=f"{self._label()}.astype")
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
