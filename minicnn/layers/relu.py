"""ReLU, and the three backward rules that guided backpropagation is about.

The forward pass is always ``max(x, 0)``. Only the backward pass changes with
``mode``. With ``x`` the forward input and ``g = dout`` the gradient from above:

================  ===================================================  =========================
mode              what backward lets through                           paper
================  ===================================================  =========================
``"standard"``    the chain rule through ``max(x, 0)``: ``g`` where     backprop / saliency,
                  the forward input was positive                       Simonyan et al. 2013
``"deconvnet"``   a ReLU applied to the backward signal itself: only   deconvnet,
                  the positive part of ``g``, whatever ``x`` was       Zeiler & Fergus 2014
``"guided"``      only what both of the other rules let through        guided backprop,
                                                                       Springenberg et al. 2015
================  ===================================================  =========================

Only ``"standard"`` is the true gradient; the other two are visualisation rules.
Every rule returns a new array of ``dout``'s shape and dtype and leaves ``x`` and
``dout`` as they were.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_choice, check_dout
from .base import Layer

RELU_MODES = ("standard", "deconvnet", "guided")


def check_mode(mode: str) -> str:
    """``mode`` if it names one of the three rules, else a ValueError listing them.
    The one check of a ReLU mode: layers, models and explanations all call it."""
    return check_choice(mode, "mode", RELU_MODES)


def relu_backward(x: np.ndarray, dout: np.ndarray, mode: str = "standard") -> np.ndarray:
    """The three ReLU backward rules, side by side. Returns a new array like ``dout``.

    ``x`` (the forward input) and ``dout`` are float arrays of the same shape.
    """
    check_mode(mode)
    check_array(x, "relu_backward", name="x")
    check_array(dout, "relu_backward", name="dout")
    if x.shape != dout.shape:
        raise ValueError(f"relu_backward: dout must have the shape of x {list(x.shape)}. "
                         f"Received: dout of shape {list(dout.shape)}")
    # BEGIN SOLUTION cnn_layers
    # HINT: the chain rule through max(x, 0) for mode "standard" (a new array, not dout).
    if mode == "standard":    # backprop: pass g where the input was positive (Simonyan et al. 2013)
        return dout * (x > 0)
    # END SOLUTION
    # BEGIN SOLUTION guided_backprop
    # HINT: "deconvnet", "guided" (guided-backprop part 1): which entries of dout pass?
    if mode == "deconvnet":   # deconvnet: pass g where g is positive (Zeiler & Fergus 2014)
        return dout * (dout > 0)
    # guided backprop: both conditions (Springenberg et al. 2015)
    return dout * ((x > 0) & (dout > 0))
    # END SOLUTION


class ReLU(Layer):
    """Rectified linear unit ``max(x, 0)``, elementwise, any input shape.

    Parameters
    ----------
    mode : "standard", "deconvnet" or "guided"
        Which backward rule to use (see the module docstring). Can be changed
        later with ``layer.mode = ...``; ``Sequential.set_relu_mode`` and
        ``minicnn.relu_mode`` change every ReLU of a model.
    name : str, optional
    """

    def __init__(self, mode: str = "standard", *, name: str | None = None):
        super().__init__(name)
        self.mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._mode = check_mode(value)

    def config(self) -> dict:
        return {"mode": self.mode}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        check_array(x, self._label())
        self.cache = x
        # BEGIN SOLUTION cnn_layers
        # HINT: elementwise max(x, 0) as a new array.
        return np.maximum(x, 0)
        # END SOLUTION

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._cached()
        check_dout(dout, x.shape, self._label(), x.dtype)
        return relu_backward(x, dout, self.mode)
