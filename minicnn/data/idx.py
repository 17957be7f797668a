"""Read IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a tiny header followed by a raw array::

    bytes 0-1   0x00 0x00                 (magic)
    byte  2     dtype code                (0x08 = unsigned byte, ...)
    byte  3     ndim                      (number of dimensions)
    then        ndim big-endian uint32    (the size of each dimension)
    then        the data, C order, big-endian

Files ending in ``.gz`` (or starting with the gzip signature) are decompressed
first. Nothing is ever unpickled: the bytes become an array with ``np.frombuffer``.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

# IDX dtype code -> NumPy dtype (big-endian, as the format prescribes).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_SIGNATURE = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, gunzipped if it is a gzip file."""
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == _GZIP_SIGNATURE:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(
                f"{path}: not a valid gzip file ({err}); the download may be "
                "truncated or corrupt"
            ) from err
    return raw


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    np.ndarray
        Shape ``(d0, d1, ..., d_{ndim-1})`` as stored in the header, in the
        native-endian version of the file's dtype (``uint8`` for MNIST).
        The array is a fresh, writable copy.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not valid IDX: bad magic number, unknown dtype code,
        a header that is cut short, a zero dimension size, or a payload whose
        length does not match the dimensions. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _read_bytes(path)

    if len(data) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad magic number, expected the file to start with bytes "
            f"0x00 0x00, got 0x{data[0]:02x} 0x{data[1]:02x} (not an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02x}; expected one of {known}")
    if ndim == 0:
        raise ValueError(f"{path}: the header says the array has 0 dimensions")

    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: header cut short, expected {header_len} header bytes for "
            f"{ndim} dimensions, got {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if 0 in shape:
        raise ValueError(f"{path}: a dimension has size 0, shape={shape}")

    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize   # Python ints: no overflow
    got = len(data) - header_len
    if got != expected:
        raise ValueError(
            f"{path}: expected {expected} bytes of data for shape {shape} "
            f"and dtype {dtype.name}, got {got}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native endian, and a writable copy
