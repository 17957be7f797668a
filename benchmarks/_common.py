"""What the benchmarks share: the BLAS thread count and the optional PyTorch side."""

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


def optional_torch(skip: bool):
    """PyTorch (not a dependency) with NumPy's thread count, or None; prints a line
    describing both sides and the machine's load."""
    torch = None
    if not skip:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: no comparison column.")
    threads = blas_threads()
    if torch is not None:
        torch.set_num_threads(threads or os.cpu_count() or 1)
    print(f"numpy {np.__version__}, OpenBLAS threads: {threads}"
          + (f"; torch {torch.__version__}, threads: {torch.get_num_threads()}" if torch else "")
          + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return torch
