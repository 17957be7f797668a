"""Optimizers: `SGD` (with momentum and weight decay) and `Adam`.

Both read ``model.parameters()`` and ``model.gradients()`` (filled by the last
``backward``) and update the parameter arrays in place.
"""

from __future__ import annotations

import numpy as np

from .validation import check_number


def _check_model(model, optimizer: str):
    """The model an optimizer updates: anything with ``parameters()`` and ``gradients()``."""
    if isinstance(model, dict):
        raise TypeError(f"{optimizer} takes the model itself: {optimizer}(model), not "
                        f"{optimizer}(model.parameters()). Received: model of type dict")
    if not (callable(getattr(model, "parameters", None))
            and callable(getattr(model, "gradients", None))):
        raise TypeError(f"{optimizer}: model must be a minicnn Sequential (with parameters() "
                        f"and gradients()). Received: model of type {type(model).__name__}")
    return model


def _state(store: dict, key: str, p: np.ndarray) -> np.ndarray:
    """The optimizer's running array for parameter ``key``: zeros at the first step,
    then kept, in the parameter's dtype (``model.astype`` may change it between steps)."""
    state = store.get(key)
    if state is None:
        state = np.zeros_like(p)
    elif state.dtype != p.dtype:
        state = state.astype(p.dtype)
    store[key] = state
    return state


class SGD:
    """Stochastic gradient descent: ``v = momentum * v + (g + weight_decay * p)``,
    ``p -= lr * v``. With ``momentum=0`` this is plain SGD."""

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        self.model = _check_model(model, "SGD")
        self.lr = check_number(lr, "lr")
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0)
        self.weight_decay = check_number(weight_decay, "weight_decay")
        self.velocity: dict[str, np.ndarray] = {}

    def step(self) -> None:
        grads = self.model.gradients()
        for key, p in self.model.parameters().items():
            g = grads[key] + self.weight_decay * p if self.weight_decay else grads[key]
            if self.momentum:
                v = _state(self.velocity, key, p)
                v *= self.momentum
                v += g
                g = v
            p -= (self.lr * g).astype(p.dtype, copy=False)


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is added to the
    gradient (L2), as in PyTorch's ``Adam``."""

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.model = _check_model(model, "Adam")
        self.lr = check_number(lr, "lr")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair of floats. Received: betas={betas!r}")
        self.beta1 = check_number(betas[0], "betas[0]", 0.0, 1.0)
        self.beta2 = check_number(betas[1], "betas[1]", 0.0, 1.0)
        self.eps = check_number(eps, "eps")
        self.weight_decay = check_number(weight_decay, "weight_decay")
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self) -> None:
        self.t += 1
        grads = self.model.gradients()
        correction1 = 1 - self.beta1 ** self.t
        correction2 = 1 - self.beta2 ** self.t
        for key, p in self.model.parameters().items():
            g = grads[key] + self.weight_decay * p if self.weight_decay else grads[key]
            m = _state(self.m, key, p)
            v = _state(self.v, key, p)
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            update = self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)
            p -= update.astype(p.dtype, copy=False)
