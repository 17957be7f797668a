"""The kernels' own threads (minicnn/layers/_threads.py): Conv2D gives the loops'
numbers on several threads too, in whole-image chunks and in bands, the work really
runs on the pool's threads, runs repeat bit for bit, and a forked child still works."""

import os
import threading
import time

import numpy as np
import pytest
from test_fast_paths import TOL, conv_config, pool_config

from minicnn import models
from minicnn.layers import _fast, _threads, pooling
from minicnn.layers.conv import Conv2D, conv2d_naive, conv2d_naive_backward
from minicnn.layers.pooling import MaxPool2D, maxpool_naive, maxpool_naive_backward
from minicnn.optim import SGD
from minicnn.train import TrainStep


@pytest.fixture
def threads(monkeypatch):
    """Split every convolution, however small, over the given number of threads."""
    monkeypatch.setattr(_fast, "SPLIT_BYTES", 0)
    monkeypatch.setattr(_threads, "SPLIT_BYTES", 0)

    def use(count):
        monkeypatch.setenv("OMP_NUM_THREADS", str(count))
    return use


def spy_on_gathers(monkeypatch) -> list[str]:
    """The names of the threads that run im2col, call by call."""
    names = []
    im2col = _fast.im2col

    def recording(*args):
        names.append(threading.current_thread().name)
        return im2col(*args)
    monkeypatch.setattr(_fast, "im2col", recording)
    return names


def conv_and_grads(seed, dtype, train=False):
    rng, x_shape, f, k, s, p = conv_config(seed)
    layer = Conv2D(x_shape[1], f, k, stride=s, padding=p, rng=rng, dtype=dtype)
    layer.params["b"] = rng.standard_normal(f).astype(dtype)
    x = rng.standard_normal(x_shape).astype(dtype)
    out = layer.forward(x, train=train)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    return layer, x, dout, out, dx


@pytest.mark.parametrize("chunk_bytes", [1, 200, 16 * 2**20])   # bands ... whole batch
@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_conv_on_several_threads_matches_the_loops(seed, count, chunk_bytes, threads,
                                                   monkeypatch):
    threads(count)
    monkeypatch.setattr(_fast, "_CHUNK_BYTES", chunk_bytes)
    for train in (False, True):             # train=True keeps the columns for backward
        layer, x, dout, out, dx = conv_and_grads(seed, np.float64, train)
        w, b = layer.params["W"], layer.params["b"]
        s, p = layer.stride, layer.padding
        np.testing.assert_allclose(out, conv2d_naive(x, w, b, stride=s, pad=p),
                                   **TOL[np.float64])
        dx_ref, dw_ref, db_ref = conv2d_naive_backward(dout, x, w, stride=s, pad=p)
        np.testing.assert_allclose(dx, dx_ref, **TOL[np.float64])
        np.testing.assert_allclose(layer.grads["W"], dw_ref, **TOL[np.float64])
        np.testing.assert_allclose(layer.grads["b"], db_ref, **TOL[np.float64])


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(20))
def test_maxpool_on_several_threads_matches_the_loops(seed, ties, threads):
    threads(3)
    rng, x_shape, k, s = pool_config(seed)
    x_shape = (5, *x_shape[1:])                    # enough images for three parts
    x = rng.integers(0, 3, size=x_shape) if ties else rng.standard_normal(x_shape)
    x = x.astype(np.float64)
    layer = MaxPool2D(k, stride=s)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, maxpool_naive(x, k, s))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(layer.backward(dout), maxpool_naive_backward(dout, x, k, s),
                               **TOL[np.float64])


def test_maxpool_parts_run_on_the_pool_threads(threads, monkeypatch):
    threads(2)
    names = []
    max_and_first = pooling._max_and_first

    def recording(*args, **kwargs):
        names.append(threading.current_thread().name)
        return max_and_first(*args, **kwargs)
    monkeypatch.setattr(pooling, "_max_and_first", recording)
    MaxPool2D(2).forward(np.ones((4, 2, 6, 6)))
    assert sum(name.startswith("minicnn-kernel") for name in names) == 4, names


def test_the_chunks_run_on_the_pool_threads(threads, monkeypatch):
    threads(2)
    names = spy_on_gathers(monkeypatch)
    conv_and_grads(1, np.float32)
    assert any(name.startswith("minicnn-kernel") for name in names), names


def test_one_thread_keeps_the_work_on_the_calling_thread(threads, monkeypatch):
    threads(2)
    names = spy_on_gathers(monkeypatch)
    with _threads.one_thread():
        assert _threads.kernel_threads() == 1
        conv_and_grads(1, np.float32)
    assert names and set(names) == {threading.current_thread().name}
    assert _threads.kernel_threads() == 2


def test_bands_on_threads_repeat_bit_for_bit_and_match_one_thread(threads, monkeypatch):
    """Bands of one image share input rows; their buffers are added in band order."""
    monkeypatch.setattr(_fast, "_CHUNK_BYTES", 3000)
    rng = np.random.default_rng(7)
    layer = Conv2D(3, 8, 3, padding=1, rng=rng)         # F > C: dx by col2im
    x = rng.standard_normal((1, 3, 40, 40)).astype(np.float32)
    dout = rng.standard_normal((1, 8, 40, 40)).astype(np.float32)

    def run():
        layer.forward(x)
        return layer.backward(dout), layer.grads["W"].copy()
    threads(1)
    dx_one, dw_one = run()
    threads(2)
    dx_a, dw_a = run()
    dx_b, dw_b = run()
    np.testing.assert_array_equal(dx_a, dx_b)
    np.testing.assert_array_equal(dw_a, dw_b)
    np.testing.assert_allclose(dx_a, dx_one, **TOL[np.float32])
    np.testing.assert_allclose(dw_a, dw_one, **TOL[np.float32])


@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1), ("16", _threads.MAX_THREADS)])
def test_omp_num_threads_sets_the_thread_count(value, expected, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _threads.default_threads() == expected


@pytest.mark.parametrize("value", ["", "0", "two", "-1"])
def test_without_a_usable_omp_num_threads_the_cores_decide(value, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    cores = len(os.sched_getaffinity(0))
    assert _threads.default_threads() == max(1, min(cores, _threads.MAX_THREADS))


def test_a_forked_child_starts_its_own_threads(threads):
    """The parent's pool threads do not exist in a forked child: it must not wait on
    them (the grading workers and multiprocessing fork)."""
    threads(2)
    conv_and_grads(2, np.float32)                       # the parent's pool exists now
    pid = os.fork()
    if pid == 0:                                        # the child
        try:
            conv_and_grads(2, np.float32)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung in Conv2D")


@pytest.mark.parametrize("workers", [1, 2])
def test_train_step_uses_the_kernel_threads_only_with_one_worker(workers, threads,
                                                                monkeypatch):
    """One worker: the convolutions use the pool. Several: each replica's convolutions
    run on its own worker thread (the workers already use the cores)."""
    threads(2)
    names = spy_on_gathers(monkeypatch)
    model = models.shapes_cnn(rng=0, size=16)
    step = TrainStep(model, SGD(model, lr=0.01), workers=workers)
    x = np.random.default_rng(0).standard_normal((8, 1, 16, 16)).astype(np.float32)
    step(x, np.arange(8) % 4)
    on_pool = [name.startswith("minicnn-kernel") for name in names]
    assert any(on_pool) if workers == 1 else not any(on_pool), names
