"""Argument checks shared by the whole package, with one message style.

Every check raises a TypeError (wrong kind of value) or a ValueError (right kind,
wrong value) whose message says where, what was expected and what was received,
in the Keras style::

    Conv2D('conv1'): input must have 3 channels (dimension 1). Received: input of
    shape [8, 4, 32, 32]
    kernel_size must be >= 1. Received: kernel_size=(0, 3)

``where`` is the layer (``Conv2D('conv1')``) or function (``predict``) doing the
check; arguments of constructors leave it out. This module needs only NumPy, so
every other module can use it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FLOATS = (np.float32, np.float64)
# The largest array a layer may allocate. 4 GiB is eight times VGG-16's largest weight
# matrix in float32; a size beyond it is a typo or a crafted file, not a model.
MAX_ARRAY_BYTES = 4 * 2**30


def _prefix(where: str | None) -> str:
    return f"{where}: " if where else ""


def shape_of(name: str, x: np.ndarray) -> str:
    """``"input of shape [8, 4, 32, 32]"``: how a message shows an array it received."""
    return f"{name} of shape {list(x.shape)}"


def is_int(value) -> bool:
    """True for Python and NumPy ints, False for bools (which are ints in Python)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int = 1, where: str | None = None) -> int:
    """``value`` as an int >= ``minimum`` (a positive int by default)."""
    if not is_int(value):
        raise TypeError(f"{_prefix(where)}{name} must be an int. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{_prefix(where)}{name} must be >= {minimum}. "
                         f"Received: {name}={value!r}")
    return int(value)


def check_number(value, name: str, low: float = 0.0, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high)`` (``>= low`` without ``high``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number. Received: {name}={value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite. Received: {name}={value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}. Received: {name}={value!r}")
    return float(value)


def pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """Turn ``3`` into ``(3, 3)``; check a pair of ints is at least ``minimum``."""
    values = (value, value) if is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != 2 or not all(map(is_int, values)):
        raise TypeError(f"{name} must be an int or a pair of ints. Received: {name}={value!r}")
    if min(values) < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Received: {name}={tuple(values)!r}")
    return int(values[0]), int(values[1])


def check_choice(value, name: str, choices: Sequence, where: str | None = None):
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{_prefix(where)}{name} must be one of {tuple(choices)}. "
                         f"Received: {name}={value!r}")
    return value


def check_array(x, where: str, ndim: int | None = None, name: str = "input") -> np.ndarray:
    """Check that ``x`` is a float32/float64 array of ``ndim`` dimensions.

    Raises TypeError for non-arrays or other dtypes (float16, ints) and
    ValueError for the wrong number of dimensions. Returns ``x`` unchanged.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array. "
                        f"Received: {name} of type {type(x).__name__}")
    if x.dtype not in FLOATS:
        raise TypeError(f"{where}: {name} must have dtype float32 or float64; convert it "
                        f"with {name}.astype(np.float32). Received: {name} of dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{where}: {name} must have {ndim} dimensions. "
                         f"Received: {shape_of(name, x)}")
    return x


def check_param_dtype(x: np.ndarray, dtype: np.dtype, where: str) -> None:
    """Layers with parameters compute in their parameters' dtype and never upcast."""
    if x.dtype != dtype:
        raise TypeError(f"{where}: input must have dtype {dtype} (the parameters' dtype); "
                        f"convert the input or call model.astype(...). "
                        f"Received: input of dtype {x.dtype}")


def check_dout(dout, out_shape: tuple[int, ...], where: str, dtype=None) -> np.ndarray:
    """Check that the upstream gradient matches the forward output's shape (and, when
    ``dtype`` is given, its dtype, so that a float64 dout never upcasts a float32 layer)."""
    check_array(dout, where, name="dout")
    if dtype is not None and dout.dtype != dtype:
        raise TypeError(f"{where}: dout must have dtype {dtype} (the forward pass's dtype). "
                        f"Received: dout of dtype {dout.dtype}")
    if dout.shape != tuple(out_shape):
        raise ValueError(f"{where}: dout must have shape {list(out_shape)} (the forward "
                         f"output's shape). Received: {shape_of('dout', dout)}")
    return dout


def check_dtype(dtype, name: str = "dtype", where: str | None = None) -> np.dtype:
    """``dtype`` as ``np.dtype('float32')`` or ``np.dtype('float64')``, the only two
    dtypes layers compute in (``np.float32``, ``"float64"``, ``float`` all work).

    Integer weights would be rounded to mostly zeros, float16 loses the gradients,
    complex numbers have no order for ReLU or max-pooling: all are a TypeError.
    """
    try:
        resolved = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or resolved not in FLOATS:
        shown = resolved.name if resolved is not None else repr(dtype)
        raise TypeError(f"{_prefix(where)}{name} must be float32 or float64. "
                        f"Received: {name}={shown}")
    return resolved


def check_seed(seed, name: str = "seed", where: str | None = None) -> int:
    """``seed`` as a non-negative int (what ``np.random.default_rng`` accepts as a seed)."""
    if not is_int(seed):
        raise TypeError(f"{_prefix(where)}{name} must be an int >= 0. Received: {name}={seed!r}")
    if seed < 0:
        raise ValueError(f"{_prefix(where)}{name} must be an int >= 0. Received: {name}={seed!r}")
    return int(seed)


def as_generator(rng, name: str = "rng", where: str | None = None) -> np.random.Generator:
    """A ``np.random.Generator`` from ``rng``: None (fresh entropy), a seed (an int >= 0)
    or a Generator, which is returned itself (so draws continue its stream)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if not is_int(rng):
        raise TypeError(f"{_prefix(where)}{name} must be None, a seed (an int >= 0) or a "
                        f"np.random.Generator. Received: {name}={rng!r}")
    return np.random.default_rng(check_seed(rng, name, where))


def check_finite(x: np.ndarray, name: str, where: str | None = None,
                 per_image: bool = False) -> np.ndarray:
    """Refuse NaN and infinite values in the array ``x`` (returned unchanged).

    With ``per_image``, ``x`` is a batch ``(N, ...)`` and the message names the first
    images that hold a non-finite value; otherwise it counts the bad entries.
    """
    finite = np.isfinite(x)
    if finite.all():
        return x
    if per_image:
        bad = np.flatnonzero(~finite.reshape(len(x), -1).all(axis=1))
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(f"{_prefix(where)}{name} must hold only finite values; image "
                         f"{bad[0]} has a NaN or infinite pixel. Received: {name} with "
                         f"non-finite values in image{'s' if len(bad) > 1 else ''} {shown}")
    raise ValueError(f"{_prefix(where)}{name} must hold only finite values. Received: {name} "
                     f"with {int((~finite).sum())} NaN or infinite entries")


def check_size(shape: tuple[int, ...], dtype, name: str, where: str | None = None) -> None:
    """Refuse to allocate an array of ``shape`` larger than ``MAX_ARRAY_BYTES``, so a huge
    size is a ValueError that names it, not a MemoryError (or an hour of swapping)."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise ValueError(f"{_prefix(where)}{name} would take {nbytes / 2**30:,.0f} GiB, more "
                         f"than the limit of {MAX_ARRAY_BYTES // 2**30} GiB. "
                         f"Received: {name} of shape {list(shape)}")


def check_path(path, name: str = "path", where: str | None = None) -> Path:
    """``path`` (a str or ``os.PathLike``) as a ``Path``; a TypeError for anything else."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or path == "":
        raise TypeError(f"{_prefix(where)}{name} must be a file path (a non-empty str or "
                        f"pathlib.Path). Received: {name}={path!r}")
    return Path(path)


def check_output_path(path, name: str = "path", where: str | None = None) -> Path:
    """A path a file can be written to: its folder exists and it is not itself a folder.
    Checked before long work (training) so that the error comes first, not last."""
    path = check_path(path, name, where)
    if path.is_dir():
        raise ValueError(f"{_prefix(where)}{name} must be a file path, but it is an existing "
                         f"folder. Received: {name}={str(path)!r}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"{_prefix(where)}{name} must be in an existing folder, but "
                         f"{str(folder)!r} is not one (create it first). "
                         f"Received: {name}={str(path)!r}")
    return path


def check_overflow(out: np.ndarray, x: np.ndarray, where: str, what: str,
                   offset: int = 0) -> np.ndarray:
    """Refuse a forward pass whose output ``out`` (N, ...) is not finite although its
    input ``x`` (N, ...) is: the values overflowed somewhere in between. ``offset`` is
    the batch's position in the caller's ``x``, so the message names the right image."""
    finite = np.isfinite(out).reshape(len(out), -1).all(axis=1)
    if finite.all():
        return out
    i = int(np.flatnonzero(~finite)[0])
    raise ValueError(f"{where}: {what} is not finite for image {offset + i} (the forward pass "
                     f"overflowed): x must hold values in the range the model was trained on. "
                     f"Received: image {offset + i} with values up to "
                     f"{float(np.abs(x[i]).max()):.3g}")
