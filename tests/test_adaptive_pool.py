"""AdaptiveAvgPool2D (minicnn/layers/adaptive_pool.py): windows, values, gradients,
PyTorch parity, saving, and the ImageNet networks on other input sizes.

tests/data/adaptive_pool_expected.npz was written by scripts/make_torch_adaptive_pool.py
with PyTorch's nn.AdaptiveAvgPool2d; PyTorch is not needed to run these tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import AdaptiveAvgPool2D, AvgPool2D, Sequential, explain
from minicnn.gradcheck import check_layer
from minicnn.layers import adaptive_windows
from minicnn.models import torchvision_model

DATA = Path(__file__).parent / "data"
EXPECTED = np.load(DATA / "adaptive_pool_expected.npz")
CASES = sorted({k.split("_")[0] for k in EXPECTED.files if k.startswith("case")})


def test_windows_by_hand():
    # start = floor(i * 10 / 4), end = ceil((i + 1) * 10 / 4): 0-3, 2-5, 5-8, 7-10
    assert adaptive_windows(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]
    assert adaptive_windows(7, 7) == [(i, i + 1) for i in range(7)]
    assert adaptive_windows(14, 7) == [(2 * i, 2 * i + 2) for i in range(7)]
    # growing: 3 rows to 5 cells, each cell one or two rows, every row used
    assert adaptive_windows(3, 5) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


def test_forward_and_backward_by_hand():
    # (3, 4) -> (2, 3): rows {0,1}, {1,2}; columns {0,1}, {1,2}, {2,3}: 2x2 windows
    x = np.arange(12, dtype=np.float64).reshape(1, 1, 3, 4)
    layer = AdaptiveAvgPool2D((2, 3))
    out = layer.forward(x)
    np.testing.assert_allclose(out[0, 0], [[2.5, 3.5, 4.5], [6.5, 7.5, 8.5]])
    dx = layer.backward(np.ones((1, 1, 2, 3)))
    # each window passes 1/4 to each of its pixels; a pixel gets that once per window
    np.testing.assert_allclose(dx[0, 0], [[0.25, 0.5, 0.5, 0.25],
                                          [0.5, 1.0, 1.0, 0.5],
                                          [0.25, 0.5, 0.5, 0.25]])


@pytest.mark.parametrize("case", CASES)
def test_matches_pytorch(case):
    x, dout = EXPECTED[f"{case}_x"], EXPECTED[f"{case}_dout"]
    layer = AdaptiveAvgPool2D(tuple(int(v) for v in EXPECTED[f"{case}_output_size"]))
    np.testing.assert_allclose(layer.forward(x), EXPECTED[f"{case}_out"], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), EXPECTED[f"{case}_dx"], rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("shape, size", [((2, 3, 10, 13), (4, 5)), ((1, 2, 5, 3), 7),
                                         ((2, 2, 6, 6), 3), ((1, 1, 4, 4), 4)])
def test_gradient_check_float64(shape, size):
    x = np.random.default_rng(0).standard_normal(shape)
    errors = check_layer(AdaptiveAvgPool2D(size), x)
    assert errors["x"] < 1e-7, errors   # a linear map: only rounding error


def test_equals_avgpool_when_the_size_divides():
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 12)).astype(np.float32)
    dout = np.random.default_rng(2).standard_normal((2, 3, 4, 6)).astype(np.float32)
    adaptive, plain = AdaptiveAvgPool2D((4, 6)), AvgPool2D(2)
    np.testing.assert_allclose(adaptive.forward(x), plain.forward(x), rtol=1e-6)
    np.testing.assert_allclose(adaptive.backward(dout), plain.backward(dout), rtol=1e-6)
    assert adaptive.forward(x).dtype == np.float32


def test_identity_at_the_output_size():
    x = np.random.default_rng(3).standard_normal((1, 4, 7, 7)).astype(np.float32)
    layer = AdaptiveAvgPool2D(7)
    assert np.array_equal(layer.forward(x), x)
    assert np.array_equal(layer.backward(2 * x), 2 * x)


@pytest.mark.parametrize("size", [0, -1, (3, 0), 2.5, "7", (1, 2, 3)])
def test_bad_output_size(size):
    with pytest.raises((ValueError, TypeError), match="output_size"):
        AdaptiveAvgPool2D(size)


def test_bad_inputs():
    layer = AdaptiveAvgPool2D(2, name="avg")
    with pytest.raises(RuntimeError):
        layer.backward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="avg"):
        layer.forward(np.zeros((3, 4, 4)))
    layer.forward(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="avg"):
        layer.backward(np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("side", [12, 20])
def test_tiny_vgg_matches_pytorch_on_other_sizes(side):
    # the small checkpoint with torchvision's AdaptiveAvgPool2d((4, 4)): a 3x3 map is
    # pooled up to 4x4, a 5x5 map down to 4x4 (overlapping windows)
    model, arch = torchvision_model(DATA / "tiny_vgg.pth")
    assert arch.side == 4
    x, target = EXPECTED[f"vgg_x{side}"], EXPECTED["vgg_target"]
    logits = EXPECTED[f"vgg_logits{side}"]
    np.testing.assert_allclose(model.forward(x), logits, rtol=1e-5, atol=1e-5)
    guided = EXPECTED[f"vgg_guided{side}"]
    np.testing.assert_allclose(explain.guided_backprop(model, x, target), guided,
                               rtol=1e-4, atol=1e-6 * np.abs(guided).max())


def test_model_with_adaptive_pool_saves_and_loads(tmp_path):
    model, _ = torchvision_model(DATA / "tiny_vgg.safetensors")
    x = EXPECTED["vgg_x20"]
    model.save(tmp_path / "tiny.npz")
    again = minicnn.load(tmp_path / "tiny.npz")
    assert again.names() == model.names() and "avgpool1" in again.names()
    assert again["avgpool1"].output_size == (4, 4)
    np.testing.assert_array_equal(again.forward(x), model.forward(x))


def test_sequential_names_it_avgpool():
    model = Sequential([AdaptiveAvgPool2D(1)])
    assert model.names() == ["avgpool1"]
    assert model.forward(np.ones((2, 3, 5, 4), dtype=np.float32)).shape == (2, 3, 1, 1)
