"""`Sequential`: a list of layers run in order; `relu_mode` to switch their rules;
`load` to rebuild a model from a file written by `Sequential.save`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from . import io
from .layers import (
    AdaptiveAvgPool2D,
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
)
from .layers.relu import check_mode
from .validation import (
    check_array,
    check_dtype,
    check_finite,
    check_int,
    check_overflow,
    check_size,
    is_int,
    shape_of,
)

# The prefix Sequential gives an unnamed layer: conv1, relu1, pool1, fc1, ...
_PREFIXES = {Conv2D: "conv", ReLU: "relu", MaxPool2D: "pool", AvgPool2D: "pool",
             AdaptiveAvgPool2D: "avgpool", Dense: "fc", Flatten: "flatten", Dropout: "dropout"}


class Sequential:
    """Layers applied one after the other.

    Parameters
    ----------
    layers : list of Layer
        Unnamed layers get names ``conv1, relu1, pool1, fc1, ...``, numbered per kind
        in order. Names must be unique; ``model["conv2"]`` looks one up.
    input_shape : (C, H, W), optional
        The shape of one input image; used by `summary` and saved with the model.
    """

    def __init__(self, layers: list[Layer], input_shape: tuple[int, ...] | None = None):
        if isinstance(layers, Layer):
            raise TypeError(f"layers must be a list of layers; for a model of one layer write "
                            f"Sequential([layer]). Received: layers={layers!r}")
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of minicnn layers. Received: layers of "
                            f"type {type(layers).__name__}")
        layers = list(layers)
        seen: dict[int, int] = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a minicnn Layer. Received: "
                                f"layers[{i}] of type {type(layer).__name__}")
            if id(layer) in seen:
                kind = type(layer).__name__
                raise ValueError(f"layers must hold each layer object once, but this {kind} "
                                 f"object appears twice (layers[{seen[id(layer)]}] and "
                                 f"layers[{i}]); a layer keeps its own weights and forward "
                                 f"cache, so create a new {kind}(...) for each place. "
                                 f"Received: layers[{i}]={layer!r}")
            seen[id(layer)] = i
        self.input_shape = _check_input_shape(input_shape)
        taken = {layer.name for layer in layers if layer.name is not None}
        counts: dict[str, int] = {}
        for layer in layers:
            if layer.name is None:
                prefix = _PREFIXES.get(type(layer), type(layer).__name__.lower())
                number = counts.get(prefix, 0) + 1
                while f"{prefix}{number}" in taken:   # skip names the user already chose
                    number += 1
                counts[prefix] = number
                layer.name = f"{prefix}{number}"
                taken.add(layer.name)
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique. Received: {duplicates} more than "
                             f"once")
        self.layers = layers

    # -- running -----------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False, until: str | None = None) -> np.ndarray:
        """Run the layers on ``x``; with ``until="conv2"``, stop after that layer and
        return its output."""
        stop = self.index(until) if until is not None else len(self.layers) - 1
        inputs = x
        try:
            for layer in self.layers[:stop + 1]:
                x = layer.forward(x, train=train)
        except ValueError as err:
            # A layer deep inside ("fc1: input must have 3136 features") is the symptom;
            # an image of the wrong size is the cause, and the model knows the right one.
            if self.input_shape is None or not isinstance(inputs, np.ndarray) \
                    or inputs.shape[1:] == self.input_shape:
                raise
            expected = ", ".join(map(str, self.input_shape))
            hint = "; for one image use x[None]" if inputs.shape == self.input_shape else ""
            raise ValueError(f"the model expects a batch of inputs of shape (N, {expected}): "
                             f"its input_shape is {self.input_shape}{hint}. Received: "
                             f"{shape_of('input', inputs)}") from err
        return x

    def backward(self, dout: np.ndarray, start: str | None = None,
                 input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout`` (the gradient on the output of the last layer, or of
        layer ``start``) down to the input; returns dL/dx. Fills every layer's grads.

        Training needs the parameters' gradients only: with ``input_grad=False`` a
        `Conv2D` first layer skips its input gradient and None is returned.
        """
        first = self.index(start) if start is not None else len(self.layers) - 1
        for i in range(first, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad and isinstance(layer, Conv2D):
                return layer.backward(dout, input_grad=False)
            dout = layer.backward(dout)
        return dout

    def __call__(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.forward(x, train=train)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class predictions ``argmax(scores)`` for ``x`` (N, C, H, W), in batches."""
        check_array(x, "predict", name="x")
        batch_size = check_int(batch_size, "batch_size", where="predict")
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"predict: x must be a non-empty batch (N, ...). "
                             f"Received: {shape_of('x', x)}")
        check_finite(x, "x", "predict", per_image=True)
        labels = []
        for i in range(0, len(x), batch_size):
            scores = self.forward(x[i:i + batch_size])
            check_overflow(scores, x[i:i + batch_size], "predict", "the model's output", i)
            labels.append(scores.argmax(axis=1))
        return np.concatenate(labels)

    # -- looking things up ------------------------------------------------------------
    def index(self, name: str) -> int:
        """Position of the layer called ``name``; a KeyError lists the real names."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; the layers are {self.names()}")

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def __getitem__(self, key: str | int) -> Layer:
        """``model["conv2"]`` (by name) or ``model[3]``, ``model[-1]`` (by position)."""
        if isinstance(key, str):
            return self.layers[self.index(key)]
        if isinstance(key, slice):
            return self.layers[key]
        if not is_int(key):
            raise TypeError(f"a model is indexed by a layer name (str) or a position (int). "
                            f"Received: {key!r} of type {type(key).__name__}")
        if not -len(self.layers) <= key < len(self.layers):
            raise IndexError(f"layer position {key} is out of range: the model has "
                             f"{len(self.layers)} layers (positions 0 to {len(self.layers) - 1},"
                             f" or -1 for the last); its layers are {self.names()}")
        return self.layers[key]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    # -- parameters -----------------------------------------------------------------
    def parameters(self) -> dict[str, np.ndarray]:
        """Every trainable array, keyed ``"conv1.W"``, ``"conv1.b"``, ... (the live arrays)."""
        return {f"{layer.name}.{key}": value
                for layer in self.layers for key, value in layer.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradients from the last `backward`, with the same keys as `parameters`."""
        return {f"{layer.name}.{key}": layer.grads[key]
                for layer in self.layers for key in layer.params}

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def astype(self, dtype) -> "Sequential":
        """Convert every parameter to ``dtype`` (e.g. np.float64 for gradient checks)."""
        dtype = check_dtype(dtype, where="astype")
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype (float32 unless converted with `astype`)."""
        params = list(self.parameters().values())
        return params[0].dtype if params else np.dtype(np.float32)

    # -- ReLU modes ----------------------------------------------------------------
    def relus(self) -> list[ReLU]:
        return [layer for layer in self.layers if isinstance(layer, ReLU)]

    def set_relu_mode(self, mode: str) -> None:
        """Set the backward rule of every ReLU: "standard", "deconvnet" or "guided"."""
        check_mode(mode)   # before anything changes
        for layer in self.relus():
            layer.mode = mode

    # -- files ----------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the architecture and weights to a ``.npz`` file, atomically."""
        io.save_model(self, path)

    def load(self, path) -> "Sequential":
        """Load weights from a file written by `save` into this model. The file must match
        the architecture; on any error the model is left unchanged."""
        io.load_weights(self, path)
        return self

    # -- display --------------------------------------------------------------------
    def summary(self, input_shape: tuple[int, ...] | None = None) -> str:
        """A table of layer name, type, output shape and parameter count (like Keras's).

        ``input_shape`` is one image's (C, H, W); defaults to the model's ``input_shape``.
        """
        shape = self.input_shape if input_shape is None else _check_input_shape(input_shape)
        if shape is None:
            raise ValueError("summary needs input_shape=(C, H, W), since the model has none")
        # One blank image through the layers checks the shapes, with the layers' own errors.
        check_size((1, *shape), self.dtype, "an image of input_shape", "summary")
        caches = [layer.cache for layer in self.layers]
        try:
            self.forward(np.zeros((1, *shape), dtype=self.dtype))
        finally:
            for layer, cache in zip(self.layers, caches):
                layer.cache = cache
        shape = (None, *shape)
        rows = [("Layer", "Type", "Output shape", "Params")]
        for layer in self.layers:
            shape = (None, *layer.output_shape((1, *shape[1:]))[1:])
            n_params = sum(p.size for p in layer.params.values())
            rows.append((layer.name, type(layer).__name__, str(shape), f"{n_params:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
        rule = "-" * len(lines[0])
        total = f"Total parameters: {self.num_parameters():,}"
        return "\n".join([lines[0], rule, *lines[1:], rule, total])

    def __repr__(self) -> str:
        inner = "\n".join(f"  {layer!r}," for layer in self.layers)
        return f"Sequential([\n{inner}\n])"


def _check_input_shape(input_shape) -> tuple[int, ...] | None:
    """None, or the shape of one input as a tuple of positive ints, e.g. (1, 28, 28)."""
    if input_shape is None:
        return None
    if not isinstance(input_shape, (tuple, list)) or not input_shape \
            or not all(map(is_int, input_shape)):
        raise TypeError(f"input_shape must be the shape of one input as a tuple of ints, "
                        f"e.g. (1, 28, 28). Received: input_shape={input_shape!r}")
    if min(input_shape) < 1:
        raise ValueError(f"input_shape must hold sizes >= 1. Received: "
                         f"input_shape={tuple(input_shape)!r}")
    return tuple(int(size) for size in input_shape)


@contextlib.contextmanager
def relu_mode(model: Sequential, mode: str):
    """Set every ReLU of ``model`` to ``mode`` inside a ``with`` block, then restore
    each one's previous mode, also when the block raises::

        with minicnn.relu_mode(model, "guided"):
            dx = model.backward(seed)
    """
    previous = [(layer, layer.mode) for layer in model.relus()]
    model.set_relu_mode(mode)
    try:
        yield model
    finally:
        for layer, old in previous:
            layer.mode = old


def load(path) -> Sequential:
    """Rebuild the model saved at ``path`` by `Sequential.save` (architecture and weights)."""
    arch, _ = io.read(path)
    try:
        layers, input_shape = io.build_layers(arch)
        model = Sequential(layers, input_shape=input_shape)
        model.astype(np.dtype(arch.get("dtype", "float32")))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{str(path)!r}: the architecture in the file is invalid "
                         f"({type(err).__name__}: {err})") from None
    io.load_weights(model, path)
    return model
