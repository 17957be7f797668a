"""PyTorch weights without PyTorch: read ``.pth`` and ``.safetensors`` files, safely.

A PyTorch ``state_dict`` is a dict ``{name: tensor}``, e.g. ``"features.0.weight"``
-> a (64, 3, 3, 3) float32 tensor. `read_torch_weights` returns it as
``{name: np.ndarray}``; `load_torch_weights` copies it into a minicnn `Sequential`.
Three file formats are read:

``torch.save`` (PyTorch 1.6 and later): a zip archive ::

    <name>/data.pkl      the dict, pickled; each tensor points to a storage by key
    <name>/data/0        the raw bytes of storage "0", then data/1, data/2, ...
    <name>/byteorder     "little" or "big"
    <name>/version, <name>/.format_version, ...

The legacy ``torch.save`` format (before 1.6; older downloads): pickles one after
another (magic number, protocol, system info, the dict, the list of storage keys),
then each storage as an 8-byte element count and its raw bytes.

``.safetensors``: an 8-byte little-endian header length, a JSON header
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}}``, then the
raw little-endian bytes. No pickle at all; ``minicnn/safetensors.py`` reads it.

Why a restricted unpickler: a pickle is a small program. Its ``GLOBAL`` instruction
imports any function by name and ``REDUCE`` calls it, so a ``.pth`` file can run
``os.system("...")`` the moment ``pickle.load`` reads it. `_TensorUnpickler.find_class`
answers only the few names a state_dict needs (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and its older form, the ``torch.*Storage``
types), each with minicnn's own harmless stand-in; any other name raises a
ValueError naming the file and the name, before anything is called. This is the
idea of ``torch.load(weights_only=True)``, with a shorter list.

Reading happens in two steps. First the file is *scanned* (`_scan`): the pickle or
header is read and every size is checked before anything is allocated, as in
``minicnn/npz.py`` -- every storage must be exactly as large as the file says, every
tensor must lie inside its storage, and all of them together must stay under
``max_bytes``. The scan gives, for each tensor, where its bytes are (a
`minicnn.safetensors.StoredArray`). Then the numbers are read, straight into NumPy
arrays: all at once (`read_torch_weights`, about one copy of the weights in memory)
or 16 MB at a time into a model's parameters (`load_torch_weights` with
``atomic=False``).
"""

from __future__ import annotations

import contextlib
import io
import math
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .layers import Dense
from .safetensors import (
    MAX_BYTES,
    StoredArray,
    item_size,
    load_stored,
    scan_safetensors,
    stored_blocks,
)
from .sequential import Sequential

MAX_PICKLE_BYTES = 64 * 2**20  # the pickled dict itself (names and shapes) is small

# PyTorch storage types -> NumPy dtypes, as in safetensors.DTYPES (bfloat16 is widened
# to float32).
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


# -- the restricted unpickler -------------------------------------------------------
# The stand-ins below are tuples (NamedTuple): a pickle can neither make one itself
# (it cannot name the class) nor change one it was given (its BUILD instruction sets
# attributes, and tuples have none to set).
class _StorageType(NamedTuple):
    """Stands in for ``torch.FloatStorage`` etc. while unpickling: just a dtype."""
    name: str
    dtype: str


class _Storage(NamedTuple):
    """A storage the pickle refers to: its key (``data/<key>``), dtype and length."""
    key: str
    dtype: str
    numel: int


class _TensorRef(NamedTuple):
    """A tensor as the pickle describes it: a strided view of part of a storage."""
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_layout(offset, size, stride) -> bool:
    """A non-negative offset, and as many non-negative int sizes as strides."""
    return (_is_int(offset) and offset >= 0
            and isinstance(size, tuple) and all(_is_int(n) and n >= 0 for n in size)
            and isinstance(stride, tuple) and len(stride) == len(size)
            and all(_is_int(s) and s >= 0 for s in stride))


def _rebuild_tensor(storage, storage_offset, size, stride, *rest) -> _TensorRef:
    """minicnn's stand-in for ``torch._utils._rebuild_tensor_v2`` (and ``_rebuild_tensor``):
    records where the tensor's numbers are; reads nothing, calls nothing."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"a tensor's storage must be a storage reference, "
                                     f"but got {type(storage).__name__}")
    if not _valid_layout(storage_offset, size, stride):
        raise pickle.UnpicklingError(f"invalid tensor layout: offset={storage_offset!r}, "
                                     f"size={size!r}, stride={stride!r}")
    # rest: requires_grad, backward_hooks and (optionally) metadata; weights need none.
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is its data."""
    if not isinstance(data, _TensorRef):
        raise pickle.UnpicklingError("a parameter must wrap a tensor")
    return data


# The only names a pickle may use. Everything else is refused.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles a state_dict and nothing else (see the module docstring)."""

    def __init__(self, file, where: str, storages: dict[str, _Storage]):
        super().__init__(file)
        self.where = where
        self.storages = storages   # filled as the pickle refers to them

    def find_class(self, module: str, name: str):
        if module in ("torch", "torch.cuda") and name in _STORAGE_TYPES_ALLOWED:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise ValueError(f"{self.where}: refusing to load the global {module}.{name}: "
                         f"minicnn reads only tensors (a state_dict) from PyTorch files, "
                         f"and this file asks for something else (it may try to run code)")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel[, view metadata (legacy)])
        if (not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not _is_int(pid[4]) or pid[4] < 0 or (len(pid) == 6 and pid[5] is not None)):
            raise ValueError(f"{self.where}: unexpected storage reference {pid!r}")
        storage = _Storage(pid[2], pid[1].dtype, pid[4])
        if self.storages.setdefault(storage.key, storage) != storage:
            raise ValueError(f"{self.where}: storage {storage.key!r} is described twice, "
                             f"differently")
        return storage


_STORAGE_TYPES_ALLOWED = frozenset(_STORAGE_DTYPES)


def _unpickle(data: bytes | io.BufferedReader, where: str, storages: dict[str, _Storage]):
    file = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        return _TensorUnpickler(file, where, storages).load()
    except ValueError:
        raise
    except Exception as err:   # a malformed pickle can raise almost anything
        raise ValueError(f"{where}: the pickled data is invalid "
                         f"({type(err).__name__}: {err})") from None


# -- where each tensor's numbers are ---------------------------------------------------
class _View(NamedTuple):
    """A tensor that is not a C-ordered run of its storage (transposed, or a strided view):
    read the whole storage, then take the view."""
    storage: StoredArray
    ref: _TensorRef


def _locate(ref: _TensorRef, storage: StoredArray, name: str) -> StoredArray | _View:
    """Where tensor ``name`` lies in ``storage`` (the whole storage, 1-D); checks that it
    lies inside."""
    label = f"{storage.label.rsplit(', storage', 1)[0]}, tensor {name!r}"
    if not _valid_layout(ref.offset, ref.shape, ref.stride):
        raise ValueError(f"{label} has an invalid layout")
    numel = math.prod(ref.shape)
    extent = 0 if numel == 0 else 1 + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    if ref.offset + extent > ref.storage.numel:
        raise ValueError(f"{label} of shape {list(ref.shape)} reaches element "
                         f"{ref.offset + extent} of a storage of {ref.storage.numel} elements")
    contiguous = tuple(math.prod(ref.shape[i + 1:]) for i in range(len(ref.shape)))
    if ref.stride == contiguous or numel <= 1:
        return storage._replace(start=storage.start + ref.offset * item_size(storage.dtype),
                                shape=ref.shape, label=label)
    return _View(storage, ref)


def _load(item: StoredArray | _View) -> np.ndarray:
    if isinstance(item, StoredArray):
        return load_stored(item)
    storage, ref = load_stored(item.storage), item.ref   # checked by _locate
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset:], shape=ref.shape,
        strides=tuple(s * storage.itemsize for s in ref.stride))
    return view.copy()


def _collect(obj, where: str) -> dict[str, _TensorRef]:
    """Check that the unpickled object is a state_dict: a dict of name -> tensor."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} holds {type(obj).__name__}, not a state_dict (a dict "
                         f"of tensors); save model.state_dict() rather than the model")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, _TensorRef):
            kind = "dict" if isinstance(value, dict) else type(value).__name__
            raise ValueError(f"{where} is not a state_dict: entry {key!r} holds {kind}, "
                             f"not a tensor (a training checkpoint? save only the "
                             f"model's state_dict)")
    return dict(obj)


def _check_total(storages, where: str, max_bytes: int) -> None:
    total = sum(s.numel * item_size(s.dtype) for s in storages)
    if total > max_bytes:
        raise ValueError(f"{where}: its tensors take {total} bytes, more than the limit of "
                         f"{max_bytes} bytes (max_bytes)")


# -- the two torch.save formats -------------------------------------------------------
def _scan_zip(path: Path, where: str, max_bytes: int) -> dict[str, StoredArray | _View]:
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        pickles = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{where} is a zip archive but not a PyTorch checkpoint: "
                             f"expected one '<name>/data.pkl' entry")
        prefix = pickles[0][:-len("data.pkl")]
        if infos[pickles[0]].file_size > MAX_PICKLE_BYTES:
            raise ValueError(f"{where}: data.pkl is larger than {MAX_PICKLE_BYTES} bytes")
        order = infos.get(prefix + "byteorder")
        byteorder = archive.read(order).decode("ascii", "replace") if order else "little"
        if byteorder not in ("little", "big"):
            raise ValueError(f"{where}: unknown byteorder {byteorder!r}")
        storages: dict[str, _Storage] = {}
        refs = _collect(_unpickle(archive.read(pickles[0]), where, storages), where)
    stored = {}
    for s in storages.values():
        info = infos.get(f"{prefix}data/{s.key}")
        nbytes = s.numel * item_size(s.dtype)
        if info is None or info.file_size != nbytes:
            raise ValueError(f"{where}: storage {s.key!r} should hold {nbytes} bytes, "
                             f"but the archive has "
                             f"{'no such entry' if info is None else info.file_size}")
        stored[s.key] = StoredArray(path, info.filename, 0, (s.numel,), s.dtype,
                                    byteorder == "big", f"{where}, storage {s.key!r}")
    _check_total(storages.values(), where, max_bytes)
    return {name: _locate(ref, stored[ref.storage.key], name) for name, ref in refs.items()}


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _scan_legacy(path: Path, where: str, max_bytes: int) -> dict[str, StoredArray | _View]:
    size = path.stat().st_size
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        if _unpickle(f, where, storages) != _LEGACY_MAGIC:
            raise ValueError(f"{where} is not a PyTorch checkpoint (wrong magic number)")
        if _unpickle(f, where, storages) != 1001:
            raise ValueError(f"{where}: unknown legacy PyTorch protocol version")
        info = _unpickle(f, where, storages)
        big_endian = isinstance(info, dict) and info.get("little_endian") is False
        refs = _collect(_unpickle(f, where, storages), where)
        keys = _unpickle(f, where, storages)
        if (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
                or sorted(keys) != sorted(storages)):
            raise ValueError(f"{where}: the list of storages does not match the tensors")
        _check_total(storages.values(), where, max_bytes)
        stored, position = {}, f.tell()
        for key in keys:   # each storage: its element count (8 bytes), then its bytes
            s = storages[key]
            f.seek(position)
            count = int.from_bytes(f.read(8), "big" if big_endian else "little")
            if count != s.numel or position + 8 + s.numel * item_size(s.dtype) > size:
                raise ValueError(f"{where}: storage {key!r} should hold {s.numel} elements "
                                 f"({s.numel * item_size(s.dtype)} bytes), but the file "
                                 f"says {count} or is shorter")
            stored[key] = StoredArray(path, None, position + 8, (s.numel,), s.dtype,
                                      big_endian, f"{where}, storage {key!r}")
            position += 8 + s.numel * item_size(s.dtype)
    return {name: _locate(ref, stored[ref.storage.key], name) for name, ref in refs.items()}


@contextlib.contextmanager
def _reading(where: str):
    """Turn the errors of a damaged or truncated file into a ValueError naming it."""
    try:
        yield
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{where}: the file is damaged or truncated "
                         f"({type(err).__name__}: {err})") from None


def _scan(path, max_bytes: int) -> dict[str, StoredArray | _View]:
    """Check a weights file and find its tensors, without reading them."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {str(path)!r}")
    where = repr(str(path))
    with open(path, "rb") as f:
        head = f.read(9)
    with _reading(where):
        if zipfile.is_zipfile(path):
            return _scan_zip(path, where, max_bytes)
        if head[:1] == b"\x80":   # a pickle's PROTO opcode: the legacy format
            return _scan_legacy(path, where, max_bytes)
        if len(head) == 9 and head[8:9] == b"{":
            return scan_safetensors(path, max_bytes=max_bytes)
    raise ValueError(f"{where} is neither a PyTorch checkpoint (.pth/.pt, written by "
                     f"torch.save) nor a .safetensors file")


def read_torch_weights(path, *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a PyTorch ``state_dict`` from a ``.pth``/``.pt`` or ``.safetensors`` file.

    The format is recognised from the file's first bytes, not its name (a leading
    ``~`` in ``path`` is the home folder). Returns
    ``{name: array}`` in the file's order (for ``.safetensors``, whose writers sort
    names, in natural order: ``features.2`` before ``features.10``). Arrays have
    PyTorch's shapes (a Linear weight is (out_features, in_features)) and dtypes
    (bfloat16 becomes float32). Never runs pickled code.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not one of the formats, asks for anything but tensors (the message
        names the refused global), is truncated or inconsistent, or its tensors take
        more than ``max_bytes``.
    """
    items = _scan(path, max_bytes)
    with _reading(repr(str(path))):
        return {name: _load(item) for name, item in items.items()}


def read_torch_shapes(path, *, max_bytes: int = MAX_BYTES) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a weights file's tensors (as `read_torch_weights` would
    return them), without reading their values: what a network is can be told from
    this before any memory goes to it (`minicnn.models.detect_architecture`)."""
    return {name: _shape(item) for name, item in _scan(path, max_bytes).items()}


# -- into a minicnn model ------------------------------------------------------------
def default_names(model: Sequential, keys: list[str]) -> dict[str, str]:
    """The rule `load_torch_weights` uses when ``names`` is None.

    The model's layers with parameters (Conv2D, Dense), in order, take the file's
    modules (``"0.weight"`` and ``"0.bias"`` belong to module ``"0"``) in the order of
    `read_torch_weights`: ``<layer>.W`` <- ``<module>.weight``, ``<layer>.b`` <-
    ``<module>.bias``. For a ``.pth`` file that is the order of ``state_dict()``, which
    is the order of the modules in the network; for ``.safetensors`` it is the natural
    order of the names, which fits ``nn.Sequential``'s ``"0"``, ``"1"``, ... but not
    names such as ``features.*``/``classifier.*``: pass ``names`` then.
    """
    modules: list[str] = []
    for key in keys:
        module = key.rsplit(".", 1)[0]
        if module not in modules:
            modules.append(module)
    layers = [layer for layer in model.layers if layer.params]
    if len(modules) != len(layers):
        raise ValueError(f"cannot pair the file's modules {modules} with the model's "
                         f"layers {[layer.name for layer in layers]} in order: "
                         f"{len(modules)} against {len(layers)}; pass names={{minicnn "
                         f"parameter: file key}}")
    names = {}
    for layer, module in zip(layers, modules):
        for key, suffix in (("W", "weight"), ("b", "bias")):
            if key in layer.params:
                names[f"{layer.name}.{key}"] = f"{module}.{suffix}"
    return names


def _shape(item: StoredArray | _View) -> tuple[int, ...]:
    return item.shape if isinstance(item, StoredArray) else item.ref.shape


def _dtype_name(item: StoredArray | _View) -> str:
    dtype = item.dtype if isinstance(item, StoredArray) else item.storage.dtype
    return dtype if dtype == "bfloat16" else str(np.dtype(dtype))


def load_torch_weights(model: Sequential, path, names: Mapping[str, str] | None = None,
                       *, atomic: bool = True, max_bytes: int = MAX_BYTES) -> Sequential:
    """Copy a PyTorch ``state_dict`` from ``path`` into ``model``; returns ``model``.

    Parameters
    ----------
    model : Sequential
    path : str or path-like
        A ``.pth``/``.pt`` (``torch.save``) or ``.safetensors`` file (see
        `read_torch_weights`; no pickled code ever runs).
    names : {minicnn parameter: file key}, optional
        e.g. ``{"conv1.W": "features.0.weight", "conv1.b": "features.0.bias", ...}``;
        every parameter of the model must appear, and every key of the file must be
        used. Default: `default_names` (pairing layers and modules in order).
    atomic : bool
        True (default): every tensor is read and checked (finite floats) before any
        parameter changes, so after an error the model is unchanged; this holds the
        file's tensors and the model's together in memory. False: each tensor is
        read about 16 MB at a time straight into its parameter, which needs almost no
        memory beyond the model, but a damaged or non-finite tensor found halfway
        leaves the model partly loaded (`minicnn.models.vgg16` uses this for the
        network it has just built, which it drops on an error).

    Dense weights are transposed on the way in: PyTorch's ``Linear.weight`` is
    (out_features, in_features), minicnn's ``Dense.W`` is (in_features, out_features)
    (``out = x @ W + b``). Conv weights are (F, C, KH, KW) in both. Values are
    converted to the model's dtype.

    Keys, shapes and dtypes are always checked before any parameter changes; errors
    are ValueErrors naming the file and the key.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn Sequential, but got {type(model).__name__}")
    items = _scan(path, max_bytes)
    where = repr(str(path))
    hint = "" if names is not None else (" (paired by order, see default_names; pass "
                                         "names={parameter: key} to choose)")
    names = default_names(model, list(items)) if names is None else names
    if not isinstance(names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise TypeError(f"names must map minicnn parameter names to file keys (str -> str). "
                        f"Received: names={names!r}")
    params = model.parameters()
    unknown = sorted(set(names) - set(params))
    if unknown:
        raise ValueError(f"names mentions {unknown[0]!r}, which is not a parameter of the "
                         f"model; its parameters are {list(params)}")
    used = list(names.values())
    twice = sorted({k for k in used if used.count(k) > 1})
    if twice:
        raise ValueError(f"names maps several parameters to the file key {twice[0]!r}")
    dense = {f"{layer.name}.W" for layer in model.layers if isinstance(layer, Dense)}
    for param, value in params.items():   # everything but the numbers themselves
        key = names.get(param)
        if key is None:
            raise ValueError(f"names has no entry for the model's parameter {param!r}")
        if key not in items:
            raise ValueError(f"{where} does not match the model: key {key!r} (for "
                             f"{param!r}) is missing from the file")
        shape = _shape(items[key])
        expected = value.shape[::-1] if param in dense else value.shape
        if shape != expected:
            layout = " (a Linear weight: out_features, in_features)" if param in dense else ""
            raise ValueError(f"{where} does not match the model: key {key!r} has shape "
                             f"{list(shape)}, but {param!r} of shape "
                             f"{list(value.shape)} needs {list(expected)}{layout}{hint}")
        dtype = _dtype_name(items[key])
        if not dtype.startswith(("float", "bfloat")):
            raise ValueError(f"{where}: key {key!r} must hold floats, but has dtype {dtype}")
    extra = [key for key in items if key not in names.values()]
    if extra:
        raise ValueError(f"{where} does not match the model: the file's key {extra[0]!r} "
                         f"is not used by any parameter (all unused: {extra})")

    def check_finite(array, key):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{where}: key {key!r} has non-finite values")
        return array

    with _reading(where):
        if atomic:
            new = {param: check_finite(_load(items[names[param]]), names[param])
                   for param in params}
            for param, value in params.items():
                target = value.T if param in dense else value   # torch's layout
                target[...] = new[param]   # in place, in the parameter's own dtype
            return model
        for param, value in params.items():
            item, target = items[names[param]], value.T if param in dense else value
            if isinstance(item, _View):
                target[...] = check_finite(_load(item), names[param])
                continue
            for i, rows in stored_blocks(item):
                target[i:i + len(rows)] = check_finite(rows, names[param])
    return model
