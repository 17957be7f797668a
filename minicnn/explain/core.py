"""The gradient of a target with respect to the image, under one of the three ReLU rules.

An explanation is one forward pass and one backward pass:

1. run the model forward up to the layer the target lives on (``target_layer``);
2. plant a *seed* at that layer's output -- the gradient we pretend arrives from
   above: a one-hot vector for a class score, a single 1 for one neuron, a map of
   ones for a whole channel, or any array the user gives (``seed_for``);
3. backpropagate the seed to the image with every ReLU set to ``mode``
   (``backprop``): ``"standard"`` gives the true gradient (saliency),
   ``"deconvnet"`` and ``"guided"`` the two visualisation rules of
   ``minicnn/layers/relu.py``.

Targets
-------
``int`` or ``(N,)`` int array
    The class score (the model's output, before any softmax) of that class, per image.
``Neuron(layer, channel, y, x)``
    One neuron of the output of the layer called ``layer`` (the lecture's recipe:
    keep this neuron's gradient at 1, every other neuron of the layer at 0).
    For a layer with a flat ``(N, features)`` output, leave ``y`` and ``x`` out.
``Channel(layer, channel)``
    The sum of one feature map of ``layer``'s output.
``Seed(layer, array)``
    A custom seed: ``array`` shaped like ``layer``'s output -- either the whole
    batch ``(N, ...)`` or one image's ``(...)``, used for every image.
a float array
    A custom seed on the model's output, i.e. ``Seed(<last layer>, array)``.

To explain the feature map the lecture means (after the non-linearity), name the
ReLU layer: ``Neuron("relu3", ...)``. A neuron of ``"conv3"`` is the value before
its ReLU, so the gradient does not pass that ReLU.

Explanations run on the model as it is and leave it as it was: ReLU modes, each
layer's forward cache, ``param_grads`` flags and parameter gradients (which they
never compute) are all restored, also when something raises.

The input ``x`` must have the model's dtype (``model.dtype``): a mismatch raises a
TypeError rather than converting silently; convert with ``x.astype(model.dtype)``.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..layers import ReLU
from ..layers.relu import check_mode
from ..sequential import Sequential, relu_mode
from ..validation import check_finite, check_overflow, is_int, shape_of


@dataclass(frozen=True)
class Neuron:
    """One neuron of the output of layer ``layer``: ``out[:, channel, y, x]``.

    ``y`` and ``x`` are ``None`` for a layer whose output is flat ``(N, features)``
    (a dense layer); then the neuron is ``out[:, channel]``.
    """

    layer: str
    channel: int
    y: int | None = None
    x: int | None = None

    @property
    def position(self) -> tuple[int, ...]:
        """The index of the neuron within one image's output: (channel, y, x) or (channel,)."""
        if self.y is None and self.x is None:
            return (self.channel,)
        return (self.channel, self.y, self.x)

    def __str__(self) -> str:
        where = "" if self.y is None and self.x is None else f", y={self.y}, x={self.x}"
        return f"neuron {self.layer}[channel={self.channel}{where}]"


@dataclass(frozen=True)
class Channel:
    """The sum of feature map ``channel`` of layer ``layer``'s output."""

    layer: str
    channel: int


@dataclass(frozen=True, eq=False)
class Seed:
    """A custom seed: the gradient planted on ``layer``'s output.

    ``array`` is shaped like that output, ``(N, ...)``, or like one image's part of
    it, ``(...)``, in which case every image gets the same seed.
    """

    layer: str
    array: np.ndarray


Target = Union[int, np.ndarray, Neuron, Channel, Seed]


# -- checking the inputs (the ReLU mode is checked by layers.relu.check_mode) ---------
def check_input(model: Sequential, x, where: str | None = None) -> np.ndarray:
    """Check ``x`` is a batch ``(N, ...)`` of finite values in the model's dtype; return
    it unchanged. ``where`` (e.g. ``"grad_cam"``) starts the finite-values message."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn Sequential. Received: model of type "
                        f"{type(model).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array (N, C, H, W). Received: x of type "
                        f"{type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (N, C, H, W); for one image use "
                         f"x[None]. Received: {shape_of('x', x)}")
    if x.dtype != model.dtype:
        raise TypeError(f"x must have dtype {model.dtype} (the model's dtype); convert it "
                        f"with x.astype(model.dtype). Received: x of dtype {x.dtype}")
    # A NaN pixel makes every ReLU mask False: the map would be all zeros, not an error.
    return check_finite(x, "x", where, per_image=True)


def target_layer(model: Sequential, target: Target) -> str:
    """The name of the layer whose output the target's seed is planted on."""
    if isinstance(target, (Neuron, Channel, Seed)):
        if not isinstance(target.layer, str):
            raise TypeError(f"the layer of {target!r} must be a layer name (str)")
        model.index(target.layer)   # KeyError listing the real names
        return target.layer
    return model.layers[-1].name


def _check_index(value, size: int, what: str, target, shape) -> None:
    if not is_int(value):
        raise TypeError(f"{what} of {target!r} must be an int. Received: {what}={value!r}")
    if not 0 <= value < size:
        raise ValueError(f"{target!r} is outside the output of layer {target.layer!r}: "
                         f"{what}={value} is not in [0, {size}); that layer's output is "
                         f"{list(shape)} per image")


def check_neuron(neuron: Neuron, out: np.ndarray) -> None:
    """Check that ``neuron`` indexes one neuron of ``out`` (the output of its layer)."""
    per_image = out.shape[1:]
    if len(neuron.position) != len(per_image):
        need = "Neuron(layer, channel, y, x)" if len(per_image) == 3 else "Neuron(layer, channel)"
        raise ValueError(f"{neuron!r} does not fit the output of layer {neuron.layer!r}, "
                         f"which is {list(per_image)} per image; use {need}")
    for value, size, what in zip(neuron.position, per_image, ("channel", "y", "x")):
        _check_index(value, size, what, neuron, per_image)


def class_indices(target, n: int, n_classes: int) -> np.ndarray:
    """An int or an (N,) int array of class indices, checked, as an (N,) array."""
    if is_int(target):
        classes = np.full(n, int(target))
    elif isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.integer):
        if target.shape != (n,):
            raise ValueError(f"a class target array must have shape (N,) = ({n},), one "
                             f"class per image. Received: {shape_of('target', target)}")
        classes = target
    else:
        raise TypeError("target must be an int class, an (N,) int array, Neuron, Channel, Seed "
                        f"or a float seed array. Received: target={target!r}")
    bad = (classes < 0) | (classes >= n_classes)
    if bad.any():
        raise ValueError(f"class target {classes[bad][0]} is out of range: the model has "
                         f"{n_classes} classes (0 to {n_classes - 1})")
    return classes


def seed_for(model: Sequential, target: Target, out: np.ndarray) -> np.ndarray:
    """The seed gradient for ``target`` on ``out``, the output of ``target_layer(...)``.

    Handles class targets, ``Channel``, ``Seed`` and float arrays. A ``Neuron`` is the
    job of `neuron_gradient` (the guided-backprop assignment).
    """
    n = out.shape[0]
    if isinstance(target, Neuron):
        raise TypeError("seed_for does not build Neuron seeds; use neuron_gradient")
    if isinstance(target, Channel):
        _check_index(target.channel, out.shape[1], "channel", target, out.shape[1:])
        seed = np.zeros_like(out)
        seed[:, target.channel] = 1
        return seed
    if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating):
        target = Seed(model.layers[-1].name, target)
    if isinstance(target, Seed):
        array = np.asarray(target.array)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"a seed for layer {target.layer!r} must be a numeric array. "
                            f"Received: seed of dtype {array.dtype}")
        check_finite(array, "seed", f"seed for layer {target.layer!r}")
        if array.shape not in (out.shape, out.shape[1:]):
            raise ValueError(f"a seed for layer {target.layer!r} must have the shape of its "
                             f"output {list(out.shape)} (or of one image's part, "
                             f"{list(out.shape[1:])}). Received: {shape_of('seed', array)}")
        return np.broadcast_to(array.astype(out.dtype), out.shape).copy()
    if out.ndim != 2:
        raise ValueError(f"a class target needs a model whose output is (N, classes). "
                         f"Received: a model output of shape {list(out.shape)}")
    classes = class_indices(target, n, out.shape[1])
    # BEGIN SOLUTION guided_backprop
    # HINT: image i's target is its score out[i, classes[i]]; what is its gradient on out?
    seed = np.zeros_like(out)
    seed[np.arange(n), classes] = 1
    return seed
    # END SOLUTION


def target_score(model: Sequential, target: Target, out: np.ndarray) -> np.ndarray:
    """The target's value per image, ``(N,)``, given ``out`` = the target layer's output.

    This is the quantity whose gradient ``gradient(..., mode="standard")`` returns
    (for a custom seed: ``sum(out * seed)`` per image).
    """
    if isinstance(target, Neuron):
        check_neuron(target, out)
        return out[(slice(None), *target.position)].copy()
    seed = seed_for(model, target, out)
    return (out * seed).reshape(len(out), -1).sum(axis=1)


def warn_if_dead(model: Sequential, neuron: Neuron, out: np.ndarray) -> None:
    """Warn when ``neuron`` does not fire (activation <= 0) for some image of the batch.

    For a neuron of a ReLU layer the activation reported is the ReLU's input: the
    standard and guided maps of such a neuron are all zero, while the deconvnet
    rule, which ignores the forward pass, still shows a pattern.
    """
    layer = model[neuron.layer]
    index = (slice(None), *neuron.position)
    values = layer.cache[index] if isinstance(layer, ReLU) else out[index]
    dead = np.flatnonzero(values <= 0)
    if dead.size == 0:
        return
    shown = ", ".join(f"image {i}: {values[i]:.3g}" for i in dead[:5])
    more = f" and {dead.size - 5} more" if dead.size > 5 else ""
    why = ("so its standard and guided maps are all zero (the deconvnet rule ignores "
           "the forward pass and still shows a pattern)" if isinstance(layer, ReLU)
           else "so the ReLU after it, if any, passes nothing")
    warnings.warn(f"{neuron} does not fire (activation <= 0; {shown}{more}), {why}; "
                  "pick an active neuron, e.g. with explain.top_neurons",
                  stacklevel=_user_stacklevel())


_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside minicnn."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


# -- the model's state -----------------------------------------------------------------
@contextlib.contextmanager
def preserved_state(model: Sequential):
    """Restore every layer's ReLU mode, cache, ``param_grads`` and grads on exit."""
    saved = [(layer, layer.cache, layer.param_grads, dict(layer.grads),
              layer.mode if isinstance(layer, ReLU) else None) for layer in model.layers]
    try:
        yield model
    finally:
        for layer, cache, param_grads, grads, mode in saved:
            layer.cache = cache
            layer.param_grads = param_grads
            layer.grads = grads
            if mode is not None:
                layer.mode = mode


def backprop(model: Sequential, seed: np.ndarray, start: str, mode: str = "standard",
             stop: str | None = None) -> np.ndarray:
    """Backpropagate ``seed`` from the output of layer ``start`` down to the image.

    The layers' caches must hold a forward pass that reached ``start``. Every ReLU
    uses rule ``mode`` and no layer computes parameter gradients; both are put back
    as they were afterwards. With ``stop="conv3"``, stop early and return the
    gradient on the *output* of ``conv3`` instead of on the image.

    ``seed`` is the gradient on ``start``'s output, so ``start``'s own backward runs
    first; ``stop``'s does not (``stop == start`` returns a copy of ``seed``).

    Returns an array shaped like the input of the model (or ``stop``'s output).
    """
    check_mode(mode)
    first = model.index(start)
    if stop is not None and model.index(stop) > first:
        raise ValueError(f"stop layer {stop!r} comes after the target's layer {start!r}; "
                         f"it must be at or before it (layers: {model.names()})")
    flags = [(layer, layer.param_grads) for layer in model.layers]
    with relu_mode(model, mode):
        try:
            for layer in model.layers:
                layer.param_grads = False
            # BEGIN SOLUTION guided_backprop
            # HINT: layer.backward(gradient on its output) is the gradient on its input
            last = model.index(stop) + 1 if stop is not None else 0
            grad = seed
            for layer in reversed(model.layers[last:first + 1]):
                grad = layer.backward(grad)
            # END SOLUTION
        finally:
            for layer, flag in flags:
                layer.param_grads = flag
    return grad if grad is not seed else seed.copy()


# -- the explanations ------------------------------------------------------------------
def neuron_gradient(model: Sequential, x: np.ndarray, neuron: Neuron, mode: str = "standard",
                    stop: str | None = None) -> np.ndarray:
    """The lecture's recipe for one neuron (changes the caches; see `gradient`).

    Forward ``x`` to ``neuron.layer``; then keep that neuron's gradient at 1 and set
    the gradient of every other neuron of the layer to 0 (a one-hot seed, for each
    image of the batch) and backpropagate it to the image under ``mode``.
    """
    out = model.forward(x, until=neuron.layer)
    check_overflow(out, x, "explain", f"the output of layer {neuron.layer!r}")
    check_neuron(neuron, out)
    warn_if_dead(model, neuron, out)
    # BEGIN SOLUTION guided_backprop
    # HINT: the recipe's "keep one neuron, zero the others" is a seed on out; then backprop
    seed = np.zeros_like(out)
    seed[(slice(None), *neuron.position)] = 1
    return backprop(model, seed, neuron.layer, mode, stop)
    # END SOLUTION


def target_gradient(model: Sequential, x: np.ndarray, target: Target, mode: str = "standard",
                    stop: str | None = None) -> np.ndarray:
    """Forward, seed and backprop for any target (changes the caches; see `gradient`).

    Returns the gradient on the image, or on the output of layer ``stop``.
    """
    if isinstance(target, Neuron):
        target_layer(model, target)
        return neuron_gradient(model, x, target, mode, stop)
    layer = target_layer(model, target)
    out = model.forward(x, until=layer)
    check_overflow(out, x, "explain", f"the output of layer {layer!r}")
    return backprop(model, seed_for(model, target, out), layer, mode, stop)


def gradient(model: Sequential, x: np.ndarray, target: Target,
             mode: str = "standard") -> np.ndarray:
    """The gradient of ``target`` with respect to the images ``x``, under a ReLU rule.

    Parameters
    ----------
    model : Sequential
    x : (N, C, H, W) array in ``model.dtype`` (a TypeError otherwise)
    target : int, (N,) int array, Neuron, Channel, Seed or float seed array
        See the module docstring.
    mode : "standard", "deconvnet" or "guided"

    Returns
    -------
    (N, C, H, W) array in x's dtype. The model is left exactly as it was.
    """
    check_input(model, x, "gradient")
    check_mode(mode)
    with preserved_state(model):
        return target_gradient(model, x, target, mode)


def saliency(model: Sequential, x: np.ndarray, target: Target) -> np.ndarray:
    """The true gradient (Simonyan et al. 2013): ``gradient(..., mode="standard")``."""
    return gradient(model, x, target, mode="standard")


def class_saliency(model: Sequential, x: np.ndarray, target: Target) -> np.ndarray:
    """Simonyan et al. 2013's image-specific class saliency map, one number per pixel.

    The saliency of pixel ``(i, j)`` of image ``n`` is the largest, over the colour
    channels, of the magnitude of the true gradient (``mode="standard"``) of the
    target's score (for a class: its score before any softmax) with respect to that
    pixel: ``M[n, i, j] = max_c |dS/dx[n, c, i, j]|``.

    Parameters
    ----------
    model : Sequential
    x : (N, C, H, W) array in ``model.dtype``
    target : int class, (N,) int array (one class per image), or any target of `gradient`

    Returns
    -------
    (N, H, W) array in x's dtype, >= 0. The model is left exactly as it was.
    """
    check_input(model, x, "class_saliency")
    # BEGIN SOLUTION guided_backprop
    # HINT: the true gradient of the target on x, then collapse the channel axis as above
    g = saliency(model, x, target)
    return np.abs(g).max(axis=1)
    # END SOLUTION


def deconvnet(model: Sequential, x: np.ndarray, target: Target) -> np.ndarray:
    """The deconvnet rule (Zeiler & Fergus 2014): ``gradient(..., mode="deconvnet")``."""
    return gradient(model, x, target, mode="deconvnet")


def guided_backprop(model: Sequential, x: np.ndarray, target: Target) -> np.ndarray:
    """Guided backpropagation (Springenberg et al. 2015): ``gradient(..., mode="guided")``."""
    return gradient(model, x, target, mode="guided")
