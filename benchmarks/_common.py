"""The number of threads NumPy's OpenBLAS uses (for benchmarks/explain.py)."""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np


def blas_threads() -> int | None:
    """Number of threads NumPy's OpenBLAS uses, or None if it cannot be asked."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs",
                                  "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return None
