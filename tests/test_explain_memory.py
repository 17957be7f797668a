"""Memory an explanation of a large image needs (see benchmarks/explain.py).

- Conv2D gathers its columns in blocks of about ``_CHUNK_BYTES``, also when a single
  image's columns are larger (then in bands of output rows), not the whole image's
  (115 MB for 64 channels at 224x224).
- Building a layer does not keep a second float64 copy of its weights alive, and the
  zero gradients it starts with take no memory until they are written.
"""

import tracemalloc

import numpy as np
import pytest

from minicnn import Sequential, explain
from minicnn.layers import Conv2D, Dense, Flatten, ReLU, _fast


def traced_peak(step) -> int:
    """Peak bytes traced (NumPy reports its allocations to tracemalloc) during step()."""
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("c, f", [(16, 16), (8, 16)])   # full-convolution dx and col2im dx
def test_conv_columns_stay_within_the_chunk_budget_for_one_large_image(c, f, monkeypatch):
    budget = 2**20
    monkeypatch.setattr(_fast, "_CHUNK_BYTES", budget)
    rng = np.random.default_rng(0)
    layer = Conv2D(c, f, 3, padding=1, rng=rng)
    layer.param_grads = False
    x = rng.standard_normal((1, c, 128, 128)).astype(np.float32)
    whole_image_columns = c * 9 * 128 * 128 * 4          # 4.7 or 9.4 MB
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    padded = layer.cache[1].nbytes

    peak_forward = traced_peak(lambda: layer.forward(x))
    peak_backward = traced_peak(lambda: layer.backward(dout))
    # Columns of at most one budget each; the last block's may still be alive while
    # the next is gathered, plus a small product: 3 budgets, the whole image's is more.
    assert whole_image_columns > 4 * budget
    assert peak_forward < padded + out.nbytes + 3 * budget     # + padded input, output
    assert peak_backward < 2 * padded + x.nbytes + 3 * budget  # + padded dout or dx, dx


def test_large_image_in_bands_gives_the_same_gradient(monkeypatch):
    rng = np.random.default_rng(1)
    model = Sequential([Conv2D(3, 6, 3, padding=1, rng=rng), ReLU(),
                        Conv2D(6, 4, 3, stride=2, rng=rng), ReLU(), Flatten(),
                        Dense(4 * 19 * 19, 5, rng=rng)])
    x = rng.standard_normal((2, 3, 40, 40)).astype(np.float64)
    model.astype(np.float64)
    whole = explain.guided_backprop(model, x, 3)
    monkeypatch.setattr(_fast, "_CHUNK_BYTES", 3000)     # a few output rows per band
    np.testing.assert_allclose(explain.guided_backprop(model, x, 3), whole,
                               rtol=1e-12, atol=1e-12)


def test_building_a_dense_layer_keeps_one_float64_copy_at_most():
    n_in, n_out = 1000, 500
    weight_bytes = n_in * n_out * 4
    peak = traced_peak(lambda: Dense(n_in, n_out, rng=0))
    # float64 draw (2 units) + float32 weights (1) + zero gradients (1, lazily paged);
    # scaling out of place added a second float64 array (5 units).
    assert peak < 4.5 * weight_bytes


def test_layer_weights_unchanged_by_in_place_scaling():
    rng = np.random.default_rng(3)
    expected = (rng.standard_normal((7, 5)) * np.sqrt(2.0 / 7)).astype(np.float32)
    np.testing.assert_array_equal(Dense(7, 5, rng=3).params["W"], expected)
    rng = np.random.default_rng(4)
    expected = (rng.standard_normal((6, 2, 3, 3)) * np.sqrt(2.0 / 18)).astype(np.float32)
    np.testing.assert_array_equal(Conv2D(2, 6, 3, rng=4).params["W"], expected)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmRSS")


def test_zero_gradients_take_no_resident_memory_until_written():
    try:
        before = _rss_mb()
    except OSError:
        pytest.skip("needs /proc/self/status (Linux)")
    layer = Dense(4096, 4096, rng=0)                      # 64 MB of float32 weights
    grown = _rss_mb() - before
    assert not layer.grads["W"].any() and layer.grads["W"].dtype == np.float32
    assert grown < 1.5 * layer.params["W"].nbytes / 2**20  # ~64 MB, not ~128 MB
