"""``.safetensors`` files: a JSON header and raw little-endian arrays, no pickle.

The layout (https://github.com/huggingface/safetensors)::

    8 bytes           N, the header's length (unsigned, little-endian)
    N bytes           JSON: {name: {"dtype": "F32", "shape": [64, 3, 3, 3],
                                    "data_offsets": [begin, end]}, ...,
                             "__metadata__": {...} (optional)}
    the rest          the tensors' raw bytes, back to back; offsets count from here

`read_safetensors` checks the whole header before it allocates anything: known
dtypes, non-negative shapes, offsets that match each shape's size and tile the data
exactly (no gaps, no overlaps, nothing left over), no name twice, and a total under
``max_bytes``. Each tensor is then read straight into its NumPy array. Errors are
ValueErrors naming the file and the tensor.

This module also holds the small helpers `minicnn/torch_weights.py` shares: dtype
names, turning raw bytes into arrays, and reading a known number of bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .io import atomic_write

MAX_BYTES = 4 * 2**30            # 4 GiB: VGG-16's weights are 0.5 GiB in float32
MAX_HEADER_BYTES = 64 * 2**20    # names and shapes only
_CHUNK = 16 * 2**20

# safetensors dtype names -> NumPy dtypes (little-endian). bfloat16 has no NumPy type:
# it is read as uint16 and widened to float32.
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8",
    "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def item_size(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def array_from_bytes(raw: np.ndarray, dtype: str, big_endian: bool = False) -> np.ndarray:
    """View raw bytes (uint8) as ``dtype``, converted to native byte order."""
    if dtype == "bfloat16":   # the top 16 bits of a float32
        halves = raw.view(">u2" if big_endian else "<u2").astype(np.uint32)
        return (halves << 16).view(np.float32)
    np_dtype = np.dtype(dtype)
    if big_endian and np_dtype.itemsize > 1:
        np_dtype = np_dtype.newbyteorder(">")
    array = raw.view(np_dtype)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def read_exactly(f, nbytes: int, what: str) -> np.ndarray:
    """Read ``nbytes`` from ``f`` into a new uint8 array, 16 MB at a time (a zip entry's
    ``readinto`` makes a temporary copy of what it reads: keep that small)."""
    raw = np.empty(nbytes, dtype=np.uint8)
    view, done = memoryview(raw), 0
    while done < nbytes:
        n = f.readinto(view[done:done + _CHUNK])
        if not n:
            raise ValueError(f"{what}: truncated, {done} of {nbytes} bytes")
        done += n
    return raw


class StoredArray(NamedTuple):
    """An array inside a file, checked but not read yet.

    Its ``prod(shape)`` elements of ``dtype`` lie in C order from byte ``start`` of the
    file at ``path``, or, when ``member`` is set, of that entry of the zip archive
    ``path``. ``label`` names it in error messages.
    """
    path: Path
    member: str | None
    start: int
    shape: tuple[int, ...]
    dtype: str
    big_endian: bool
    label: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * item_size(self.dtype)


@contextlib.contextmanager
def _open_at(stored: StoredArray):
    """The file (or zip entry) holding ``stored``, positioned at its first byte."""
    if stored.member is None:
        with open(stored.path, "rb") as f:
            f.seek(stored.start)
            yield f
    else:
        with zipfile.ZipFile(stored.path) as archive, archive.open(stored.member) as f:
            f.seek(stored.start)
            yield f


def load_stored(stored: StoredArray) -> np.ndarray:
    """Read the whole array: one copy in memory."""
    with _open_at(stored) as f:
        raw = read_exactly(f, stored.nbytes, stored.label)
    return array_from_bytes(raw, stored.dtype, stored.big_endian).reshape(stored.shape)


def stored_blocks(stored: StoredArray) -> Iterator[tuple[int, np.ndarray]]:
    """Read the array about 16 MB at a time: yields ``(i, rows)`` where ``rows`` is
    ``array[i:i + len(rows)]`` (the whole array at once if it has no rows)."""
    if len(stored.shape) == 0 or math.prod(stored.shape) == 0:
        yield 0, load_stored(stored)
        return
    row_bytes = stored.nbytes // stored.shape[0]
    per_block = max(1, _CHUNK // row_bytes)
    with _open_at(stored) as f:
        for i in range(0, stored.shape[0], per_block):
            n = min(per_block, stored.shape[0] - i)
            raw = read_exactly(f, n * row_bytes, stored.label)
            rows = array_from_bytes(raw, stored.dtype, stored.big_endian)
            yield i, rows.reshape((n, *stored.shape[1:]))


def _natural_key(name: str) -> list:
    """Sort ``features.2`` before ``features.10``: numbers compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name)]


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the header names a tensor twice: "
                         f"{sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def read_safetensors(path, *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """Read every tensor of a ``.safetensors`` file: ``{name: array}``, names in natural
    order (``features.2`` before ``features.10``); bfloat16 becomes float32.

    FileNotFoundError for a missing file; ValueError for a malformed one (see above).
    """
    return {name: load_stored(stored)
            for name, stored in scan_safetensors(path, max_bytes=max_bytes).items()}


def scan_safetensors(path, *, max_bytes: int = MAX_BYTES) -> dict[str, StoredArray]:
    """Check a ``.safetensors`` file's header: ``{name: StoredArray}``, nothing read yet."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {str(path)!r}")
    where = repr(str(path))
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n <= 0 or 8 + n > size or n > MAX_HEADER_BYTES:
            raise ValueError(f"{where}: invalid .safetensors header length {n} "
                             f"(the file has {size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError) as err:
            raise ValueError(f"{where}: the .safetensors header is not valid JSON "
                             f"({err})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{where}: the .safetensors header must be a JSON object, "
                             f"but is {type(header).__name__}")
        header.pop("__metadata__", None)
        data_size, entries = size - 8 - n, []
        for name, spec in header.items():
            entries.append((_safetensors_entry(name, spec, where), name))
        entries.sort()
        end = 0
        for (begin, stop, _, _), name in entries:   # the data: back to back, no gaps
            if begin != end:
                raise ValueError(f"{where}: tensor {name!r} starts at byte {begin}, but the "
                                 f"previous one ends at byte {end}")
            end = stop
        if end != data_size:
            raise ValueError(f"{where}: the tensors take {end} bytes, but the file holds "
                             f"{data_size} bytes of data")
        if end > max_bytes:
            raise ValueError(f"{where}: its tensors take {end} bytes, more than the limit "
                             f"of {max_bytes} bytes (max_bytes)")
    start = 8 + n
    stored = {name: StoredArray(path, None, start + begin, shape, dtype, False,
                                f"{where}, tensor {name!r}")
              for (begin, _, dtype, shape), name in entries}
    return {name: stored[name] for name in sorted(stored, key=_natural_key)}


def _safetensors_entry(name, spec, where: str) -> tuple[int, int, str, tuple[int, ...]]:
    """Check one header entry; returns (begin, end, dtype, shape)."""
    what = f"{where}, tensor {name!r}"
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{what}: expected an entry with exactly dtype, shape and "
                         f"data_offsets, but got {spec!r}")
    dtype = DTYPES.get(spec["dtype"])
    if dtype is None:
        raise ValueError(f"{what}: dtype {spec['dtype']!r} is not supported; expected one "
                         f"of {sorted(DTYPES)}")
    shape, offsets = spec["shape"], spec["data_offsets"]
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise ValueError(f"{what}: invalid shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_int(o) for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"{what}: invalid data_offsets {offsets!r}")
    nbytes = math.prod(shape) * item_size(dtype)
    if offsets[1] - offsets[0] != nbytes:
        raise ValueError(f"{what}: shape {shape} of {spec['dtype']} takes {nbytes} bytes, "
                         f"but data_offsets {offsets} span {offsets[1] - offsets[0]}")
    return offsets[0], offsets[1], dtype, tuple(shape)


def save_safetensors(arrays: Mapping[str, np.ndarray], path) -> None:
    """Write ``{name: array}`` as a ``.safetensors`` file (atomically), in name order.

    Handy to hand minicnn weights to PyTorch (``safetensors.torch.load_file``); keep in
    mind that minicnn's Dense weights are the transpose of PyTorch's Linear weights.
    """
    codes = {np.dtype(v): k for k, v in DTYPES.items() if v != "bfloat16"}
    items, header, begin = [], {}, 0
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        code = codes.get(array.dtype.newbyteorder("<"))
        if not isinstance(name, str) or code is None:
            raise TypeError(f"save_safetensors: expected str names and arrays of "
                            f"{sorted(codes.values())}, but got {name!r} of dtype {array.dtype}")
        items.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")))
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [begin, begin + array.nbytes]}
        begin += array.nbytes
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)   # pad so the data starts 8-byte aligned

    def write(f):
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for array in items:
            f.write(array.reshape(-1).view(np.uint8))
    atomic_write(path, write)
