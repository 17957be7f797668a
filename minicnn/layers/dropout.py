"""Inverted dropout: active only with ``train=True``, the identity at test time."""

from __future__ import annotations

import numpy as np

from ..validation import as_generator, check_array, check_dout, check_number
from .base import Layer


class Dropout(Layer):
    """Zero each input with probability ``p`` during training, scaling the rest by
    ``1 / (1 - p)`` so the expected value is unchanged (any input shape).

    Parameters
    ----------
    p : float in [0, 1)
    rng : np.random.Generator or int, optional
        Source of the random masks.
    name : str, optional
    """

    def __init__(self, p: float = 0.5, *, rng=None, name: str | None = None):
        super().__init__(name)
        self.p = check_number(p, "p", 0, 1)
        self.rng = as_generator(rng)

    def config(self) -> dict:
        return {"p": self.p}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        check_array(x, self._label())
        if train and self.p > 0:
            keep = self.rng.random(x.shape) >= self.p
            scale = keep.astype(x.dtype) / np.asarray(1 - self.p, dtype=x.dtype)
        else:
            scale = np.ones((), dtype=x.dtype)   # the identity: gradients pass unchanged
        self.cache = (x.shape, scale)
        return x * scale

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, scale = self._cached()
        check_dout(dout, x_shape, self._label(), scale.dtype)
        return dout * scale
