"""A few threads of minicnn's own for the fast kernels: Conv2D (``_fast.py``) and
MaxPool2D (``pooling.py``).

A convolution's time goes to two kinds of work: gathering windows into columns (plain
NumPy copies, which run on one core) and matrix products (the BLAS). Both release
Python's GIL. So the kernels cut their work into chunks and run the chunks on a small
pool of threads, each chunk with a one-thread BLAS: the copies use every core too,
not only the products. Max-pooling, element-wise NumPy on one core, is cut into parts
of the batch the same way.

Why not simply let the BLAS use all cores? OpenBLAS's threads busy-wait for work
between products. When another process keeps a core busy (a browser, a second
notebook), they fight it for the core and a step takes several times longer. The
pool's idle threads sleep instead, so beside a busy process the kernels lose at most
the busy core.

How many threads: ``OMP_NUM_THREADS`` if it is set (the usual way to ask a numerical
library for fewer threads; the autograder's workers set it to 1), else the CPU cores
this process may use, at most 4. ``TrainStep`` with several workers already keeps
every core busy with whole model replicas, so it runs the kernels on one thread
(`one_thread`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 4
# Work smaller than this (bytes of data) stays on one thread: handing it over costs more.
SPLIT_BYTES = 2**20

_override: int | None = None            # set by `one_thread`
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None            # a forked child must start its own threads
_blas = None                            # threadpoolctl's controller, found once
_lock = threading.Lock()
_NAME = "minicnn-kernel"


def default_threads() -> int:
    """``OMP_NUM_THREADS`` if set to a positive int, else the usable cores, at most 4."""
    try:
        asked = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        asked = 0
    if asked >= 1:
        return min(asked, MAX_THREADS)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                   # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def kernel_threads() -> int:
    """How many threads the kernels use now."""
    if threading.current_thread().name.startswith(_NAME):
        return 1                             # inside a pool thread: no nesting
    return _override if _override is not None else default_threads()


@contextlib.contextmanager
def one_thread():
    """Inside this block every kernel runs on the thread that calls it, whichever
    thread that is (for ``TrainStep``'s workers, which already use every core)."""
    global _override
    previous, _override = _override, 1
    try:
        yield
    finally:
        _override = previous


def parallel_map(job, items) -> Iterator:
    """``job(item)`` for each item, yielded in the items' order: on the kernel threads
    (each with a one-thread BLAS) when there are several items and threads, else one
    after the other on this thread. The order makes sums over the results add up in
    the same order whatever the number of threads; results are yielded as soon as
    they and the ones before them are done."""
    items = list(items)
    pool = _executor() if len(items) > 1 and kernel_threads() > 1 else None
    if pool is None:
        for item in items:
            yield job(item)
        return
    with one_blas_thread():
        yield from pool.map(job, items)


def image_parts(n: int, nbytes: int) -> list[slice]:
    """Slices of the n images of a batch of ``nbytes``: one per kernel thread when the
    batch is large enough to be worth splitting (``SPLIT_BYTES``), else one."""
    parts = min(n, kernel_threads()) if nbytes >= SPLIT_BYTES else 1
    bounds = [n * k // parts for k in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _executor() -> ThreadPoolExecutor | None:
    # Imported here, when first needed: the autograder's workers (one thread) never are.
    from concurrent.futures import ThreadPoolExecutor

    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            try:
                _pool = ThreadPoolExecutor(default_threads(), thread_name_prefix=_NAME)
                _pool.submit(int).result()   # starts a thread now, or fails here
            except RuntimeError:             # e.g. a process limit: run on this thread
                _pool = None
                return None
            _pool_pid = os.getpid()
        return _pool


def one_blas_thread():
    """A context manager holding the BLAS (the matrix products) to one thread inside its
    block, for the threads that already share the cores: the kernels', ``TrainStep``'s
    and the explorer's workers. threadpoolctl finds the BLAS libraries once per process;
    limiting then costs about 20 µs."""
    global _blas
    with _lock:
        if _blas is None:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")
