"""The model file format: ``.npz`` files, never pickle.

A file holds one array per parameter (``"conv1.W"``, ...) and, under the key
``"__architecture__"``, a JSON string describing the layers, so `minicnn.load` can
rebuild the model without knowing it in advance. Files are written to a temporary
name in the same folder and then renamed, so a crash never leaves half a file behind.

This module knows layers, not `Sequential`: it reads and writes any model object
with ``layers``, ``parameters()``, ``dtype`` and ``input_shape``. `Sequential.save`,
`Sequential.load` and `minicnn.load` (in ``minicnn/sequential.py``) call it, so the
import points one way: sequential -> io -> layers.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from .layers import (
    AdaptiveAvgPool2D,
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
)
from .npz import read_npz
from .validation import check_output_path, check_path

FORMAT = "minicnn-sequential"
VERSION = 1
ARCHITECTURE_KEY = "__architecture__"
# The layer types a file may name, so loading never runs arbitrary code.
LAYER_TYPES = {cls.__name__: cls
               for cls in (Conv2D, ReLU, MaxPool2D, AvgPool2D, AdaptiveAvgPool2D, Flatten, Dense,
                            Dropout)}


def architecture(model) -> dict:
    """The JSON-able description of ``model``'s layers (``model``: a `Sequential`)."""
    return {"format": FORMAT, "version": VERSION, "dtype": str(model.dtype),
            "input_shape": list(model.input_shape) if model.input_shape else None,
            "layers": [{"type": type(layer).__name__, "name": layer.name,
                        "config": layer.config()} for layer in model.layers]}


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    # open(..., "xb") rather than tempfile.mkstemp, whose files are private (mode 0600).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, path) -> None:
    """Write ``model`` (architecture and weights) to ``path`` atomically."""
    path = check_output_path(path, where="save")
    for layer in model.layers:
        if type(layer) not in LAYER_TYPES.values():
            raise TypeError(f"cannot save layer {layer.name!r} of type {type(layer).__name__}; "
                            f"only {sorted(LAYER_TYPES)} can be saved")
    arrays = dict(model.parameters())
    arrays[ARCHITECTURE_KEY] = np.array(json.dumps(architecture(model)))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a model file: (architecture, {parameter name: array}). Clear errors only."""
    path = check_path(path, where="load")
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    try:
        arrays = read_npz(path)   # checks every array header before allocating anything
    except ValueError as err:
        raise ValueError(f"could not read model file: {err}") from None
    if ARCHITECTURE_KEY not in arrays:
        raise ValueError(f"{str(path)!r} is not a minicnn model file: it has no "
                         f"{ARCHITECTURE_KEY!r} entry")
    try:
        arch = json.loads(str(arrays.pop(ARCHITECTURE_KEY)))
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r}: the architecture JSON is corrupt ({err})") from None
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a minicnn model file (format "
                         f"{arch.get('format') if isinstance(arch, dict) else None!r})")
    _check_declared_sizes(arch, arrays, path)
    return arch, arrays


def _check_declared_sizes(arch: dict, arrays: dict[str, np.ndarray], path) -> None:
    """Refuse an architecture whose weights would be larger than those in the file.

    Building a layer allocates its weights, so a crafted file that declares a
    100000x100000 kernel must be refused before `build_layers`, not by a MemoryError.
    """
    for spec in arch.get("layers", []) if isinstance(arch.get("layers"), list) else []:
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            continue   # build_layers() reports a malformed entry
        config, name = spec["config"], spec.get("name")
        if spec.get("type") == "Conv2D":
            kernel = config.get("kernel_size")
            kernel = kernel if isinstance(kernel, list) else [kernel, kernel]
            dims = [config.get("out_channels"), config.get("in_channels"), *kernel]
        elif spec.get("type") == "Dense":
            dims = [config.get("in_features"), config.get("out_features")]
        else:
            continue
        stored = arrays.get(f"{name}.W")
        if not all(isinstance(d, int) and d > 0 for d in dims) or stored is None \
                or list(stored.shape) != dims:
            raise ValueError(f"{str(path)!r}: the architecture declares layer {name!r} "
                             f"with weights of shape {dims}, but the file holds "
                             f"{None if stored is None else list(stored.shape)}")


def build_layers(arch: dict) -> tuple[list, tuple[int, ...] | None]:
    """The layers (with fresh weights) and the input shape an architecture describes."""
    layers = []
    for spec in arch["layers"]:
        cls = LAYER_TYPES.get(spec.get("type"))
        if cls is None:
            raise ValueError(f"unknown layer type {spec.get('type')!r} in the architecture; "
                             f"expected one of {sorted(LAYER_TYPES)}")
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()}
        layers.append(cls(**config, name=spec["name"]))
    shape = arch.get("input_shape")
    return layers, tuple(shape) if shape else None


def load_weights(model, path) -> None:
    """Copy the weights in ``path`` into ``model``. Everything is checked before anything
    is assigned, so on an error the model is unchanged."""
    _, arrays = read(path)
    params = model.parameters()
    for key, value in params.items():
        if key not in arrays:
            raise ValueError(f"{str(path)!r} does not match the model: parameter {key!r} "
                             f"(shape {list(value.shape)}) is missing from the file")
        if arrays[key].shape != value.shape:
            raise ValueError(f"{str(path)!r} does not match the model: parameter {key!r} has "
                             f"shape {list(arrays[key].shape)} in the file but "
                             f"{list(value.shape)} in the model")
    extra = sorted(set(arrays) - set(params))
    if extra:
        raise ValueError(f"{str(path)!r} does not match the model: the file has parameter "
                         f"{extra[0]!r}, which the model lacks")
    for key, value in params.items():
        if arrays[key].dtype.kind != "f":
            raise ValueError(f"{str(path)!r}: parameter {key!r} must hold floats. "
                             f"Received: dtype {arrays[key].dtype} in the file")
        if not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"{str(path)!r}: parameter {key!r} has non-finite values")
    for key, value in params.items():
        value[...] = arrays[key]   # in place, in the parameter's own dtype
