"""Reading ``.npz`` files without trusting them.

An ``.npz`` file is a zip archive with one ``.npy`` file per array. Each ``.npy`` starts
with a small header that declares the array's dtype and shape, followed by the raw
bytes. ``np.load`` believes the header: a 1 KB file that declares a shape of
``(10**12,)`` makes it try to allocate terabytes. `read_npz` reads every header first
and checks it against the archive before it allocates anything:

- the dtype is a plain number, bool or text type (never ``object``, so nothing is
  ever unpickled);
- the bytes the header declares are exactly the bytes stored for that entry;
- all arrays together stay under ``max_bytes``.

Every problem is a ``ValueError`` that names the file and the entry.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

MAX_BYTES = 4 * 2**30          # 4 GiB: VGG-16's weights are 0.5 GiB in float32
_SAFE_KINDS = "biufU"          # bool, int, unsigned, float, unicode text


def read_npz(path, *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """Read every array of the ``.npz`` file at ``path``, checking each header first.

    Returns ``{name: array}`` with names as ``np.savez`` gave them (without ``.npy``).
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for anything
    that is not a well-formed ``.npz`` within ``max_bytes``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {str(path)!r}")
    where = repr(str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            arrays, total = {}, 0
            for info in entries:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{where} is not a valid .npz file: it holds "
                                     f"{info.filename!r}, which is not an .npy array")
                entry = f"{where}, entry {info.filename!r}"
                with archive.open(info) as f:
                    shape, order, dtype = _read_header(f, entry)
                    nbytes = math.prod(shape) * dtype.itemsize
                    stored = info.file_size - f.tell()
                    if nbytes != stored:
                        raise ValueError(f"{entry}: the header declares shape {list(shape)} "
                                         f"of {dtype} ({nbytes} bytes), but the entry "
                                         f"stores {stored} bytes")
                    total += nbytes
                    if total > max_bytes:
                        raise ValueError(f"{where}: its arrays take more than the limit "
                                         f"of {max_bytes} bytes (max_bytes)")
                    data = f.read(nbytes)
                if len(data) != nbytes:
                    raise ValueError(f"{entry}: truncated, {len(data)} of {nbytes} bytes")
                array = np.frombuffer(data, dtype=dtype).reshape(shape, order=order)
                arrays[info.filename[:-len(".npy")]] = array.copy()   # writable
    except zipfile.BadZipFile as err:
        raise ValueError(f"{where} is not a valid .npz file (a zip archive of .npy "
                         f"arrays): {err}") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{where} is not a valid .npz file; it may be truncated "
                         f"({type(err).__name__}: {err})") from None
    return arrays


def _read_header(f, entry: str) -> tuple[tuple[int, ...], str, np.dtype]:
    """Read an ``.npy`` header from ``f``: (shape, "C" or "F" order, dtype)."""
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except ValueError as err:
        raise ValueError(f"{entry}: the array header is invalid ({err})") from None
    if dtype.hasobject or dtype.kind not in _SAFE_KINDS or dtype.fields is not None:
        raise ValueError(f"{entry}: arrays of dtype {dtype} are not accepted; expected "
                         f"numbers, booleans or text")
    return shape, "F" if fortran_order else "C", dtype
