"""Fully connected layers: `Dense`, and `Flatten` that feeds it images.

Shape (Dense):
    x:   (N, in_features)
    W:   (in_features, out_features)   -- so that out = x @ W + b
    b:   (out_features,)
    out: (N, out_features)
"""

from __future__ import annotations

import numpy as np

from ..validation import (
    as_generator,
    check_array,
    check_dout,
    check_dtype,
    check_int,
    check_param_dtype,
    check_size,
)
from .base import Layer


class Dense(Layer):
    """Affine layer ``out = x @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
    rng : np.random.Generator or int, optional
        He-normal initial weights ``N(0, 2 / in_features)``; zero biases.
    dtype : float32 (default) or float64
    name : str, optional
    """

    def __init__(self, in_features: int, out_features: int, *, rng=None, dtype=np.float32,
                 name: str | None = None):
        super().__init__(name)
        self.in_features = check_int(in_features, "in_features")
        self.out_features = check_int(out_features, "out_features")
        dtype = check_dtype(dtype)
        rng = as_generator(rng)
        check_size((self.in_features, self.out_features), dtype, "W", "Dense")
        # Drawn in float64, about 16 MB of rows at a time, each block scaled and stored
        # in `dtype`: the same numbers as one big draw, without a float64 copy of W
        # (VGG-16's fc1 is 25088 x 4096: 822 MB in float64).
        w = np.empty((self.in_features, self.out_features), dtype=dtype)
        scale = np.sqrt(2.0 / self.in_features)
        rows = max(1, 2**21 // self.out_features)
        for i in range(0, self.in_features, rows):
            block = rng.standard_normal((min(rows, self.in_features - i), self.out_features))
            block *= scale
            w[i:i + rows] = block
        self.params = {"W": w, "b": np.zeros(self.out_features, dtype=dtype)}
        self.zero_grad()

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features}

    def output_shape(self, input_shape):
        return (input_shape[0], self.out_features)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x: (N, in_features) -> (N, out_features)."""
        label = self._label()
        check_array(x, label, ndim=2)
        check_param_dtype(x, self.params["W"].dtype, label)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{label}: input must have {self.in_features} features "
                             f"(dimension 1). Received: input of shape {list(x.shape)}")
        self.cache = x
        # BEGIN SOLUTION cnn_layers
        # HINT: one matrix product plus the bias.
        return x @ self.params["W"] + self.params["b"]
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, out_features) -> dx: (N, in_features); fills grads W and b."""
        x = self._cached()
        check_dout(dout, (x.shape[0], self.out_features), self._label(), x.dtype)
        # BEGIN SOLUTION cnn_layers
        # HINT: dW = x.T @ dout, db = sum of dout over the batch, dx = dout @ W.T.
        if self.param_grads:
            self.grads["W"] = x.T @ dout
            self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T
        # END SOLUTION


class Flatten(Layer):
    """Reshape (N, C, H, W) (or any (N, ...)) to (N, C*H*W), row-major."""

    def output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        check_array(x, self._label())
        if x.ndim < 2:
            raise ValueError(f"{self._label()}: input must have a batch dimension and at "
                             f"least one more. Received: input of shape {list(x.shape)}")
        self.cache = (x.shape, x.dtype)
        return x.reshape(self.output_shape(x.shape)).copy()   # (0, F) for an empty batch

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, dtype = self._cached()
        check_dout(dout, self.output_shape(x_shape), self._label(), dtype)
        return dout.reshape(x_shape).copy()
