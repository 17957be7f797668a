"""`Sequential`: a list of layers run in order; `relu_mode` to switch their rules;
`load` to rebuild a model from a file written by `Sequential.save`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from . import io
from .layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from .layers.relu import check_mode
from .validation import check_array, check_int, shape_of

# The prefix Sequential gives an unnamed layer: conv1, relu1, pool1, fc1, ...
_PREFIXES = {Conv2D: "conv", ReLU: "relu", MaxPool2D: "pool", AvgPool2D: "pool",
             Dense: "fc", Flatten: "flatten", Dropout: "dropout"}


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
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a minicnn Layer. Received: "
                                f"layers[{i}] of type {type(layer).__name__}")
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
        self.input_shape = tuple(input_shape) if input_shape is not None else None

    # -- running -----------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False, until: str | None = None) -> np.ndarray:
        """Run the layers on ``x``; with ``until="conv2"``, stop after that layer and
        return its output."""
        stop = self.index(until) if until is not None else len(self.layers) - 1
        for layer in self.layers[:stop + 1]:
            x = layer.forward(x, train=train)
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
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)])

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
        if isinstance(key, str):
            return self.layers[self.index(key)]
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
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64. Received: dtype={dtype}")
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
        shape = input_shape or self.input_shape
        if shape is None:
            raise ValueError("summary needs input_shape=(C, H, W), since the model has none")
        # One blank image through the layers checks the shapes, with the layers' own errors.
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
