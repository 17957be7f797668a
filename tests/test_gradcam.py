"""Grad-CAM and guided Grad-CAM against a loop-based reference written here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from minicnn import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, explain
from minicnn.explain import Channel, Neuron
from minicnn.gradcheck import numerical_gradient


def small_cnn(seed: int = 0, pool2=MaxPool2D) -> Sequential:
    rng = np.random.default_rng(seed)
    model = Sequential([
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),      # 10 -> 10 -> 5
        Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(), pool2(2, 1),       # 5 -> 5 -> 4
        Flatten(), Dense(6 * 4 * 4, 3, rng=rng),
    ])
    for layer in model.layers:
        if "b" in layer.params:
            layer.params["b"][...] = rng.uniform(0, 0.2, layer.params["b"].shape)
    return model.astype(np.float64)


# -- the reference, one loop at a time -----------------------------------------------------
def reference_resize(m: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize of one (h, w) map, align_corners=False, pixel by pixel."""
    h, w = m.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            # centre of output pixel (i, j) in input coordinates, clamped to the map
            sy = min(max((i + 0.5) * h / out_h - 0.5, 0), h - 1)
            sx = min(max((j + 0.5) * w / out_w - 0.5, 0), w - 1)
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            ty, tx = sy - y0, sx - x0
            out[i, j] = ((1 - ty) * (1 - tx) * m[y0, x0] + (1 - ty) * tx * m[y0, x1]
                         + ty * (1 - tx) * m[y1, x0] + ty * tx * m[y1, x1])
    return out


def reference_grad_cam(model: Sequential, x: np.ndarray, cls: int, layer: str) -> np.ndarray:
    k = model.index(layer)
    maps = []
    for n in range(len(x)):
        acts = model.forward(x[n:n + 1], until=layer)

        def score(a):   # the rest of the network, from the layer's output to the class score
            for later in model.layers[k + 1:]:
                a = later.forward(a)
            return a[0, cls]
        grads = numerical_gradient(score, acts)[0]               # (K, h, w), by finite differences
        cam = np.zeros(acts.shape[2:])
        for c in range(acts.shape[1]):
            weight = grads[c].mean()                              # alpha_c = spatial mean
            cam += weight * acts[0, c]
        cam = np.maximum(cam, 0)                                  # ReLU
        cam = reference_resize(cam, *x.shape[2:])
        maps.append(cam / cam.max() if cam.max() > 0 else cam)
    return np.stack(maps)


def test_bilinear_resize_by_hand():
    # 2x2 -> 4x4, align_corners=False: output pixel i sits at input coordinate
    # (i + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1.
    # The map [[0, 4], [8, 12]] is 8*row + 4*col, and linear interpolation of a linear
    # function is exact, so out[i, j] = 8*r_i + 4*c_j with r, c in (0, .25, .75, 1):
    m = np.array([[[0.0, 4.0], [8.0, 12.0]]])
    expected = [[0, 1, 3, 4],
                [2, 3, 5, 6],
                [6, 7, 9, 10],
                [8, 9, 11, 12]]
    np.testing.assert_allclose(explain.bilinear_resize(m, (4, 4))[0], expected)
    np.testing.assert_allclose(reference_resize(m[0], 4, 4), expected)


@pytest.mark.parametrize("shape, size", [((3, 3), (7, 7)), ((5, 4), (10, 13)), ((7, 7), (28, 28)),
                                         ((6, 6), (4, 3)), ((1, 1), (5, 5))])
def test_bilinear_resize_matches_the_loop(shape, size):
    m = np.random.default_rng(0).standard_normal((2, *shape))
    got = explain.bilinear_resize(m, size)
    for n in range(2):
        np.testing.assert_allclose(got[n], reference_resize(m[n], *size), atol=1e-12)


@pytest.mark.parametrize("shape, size", [((3, 3), (7, 7)), ((5, 4), (10, 13)), ((6, 6), (4, 3))])
def test_bilinear_resize_matches_pytorch_align_corners_false(shape, size):
    torch = pytest.importorskip("torch")
    m = np.random.default_rng(1).standard_normal((2, *shape))
    want = torch.nn.functional.interpolate(torch.tensor(m)[:, None], size=size, mode="bilinear",
                                           align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(explain.bilinear_resize(m, size), want, atol=1e-12)


@pytest.mark.parametrize("layer, pool2", [("conv2", MaxPool2D), ("conv1", MaxPool2D),
                                          ("relu2", AvgPool2D), ("pool1", MaxPool2D)])
def test_grad_cam_equals_the_reference(layer, pool2):
    # The reference takes the gradient by finite differences, which is ill-defined where
    # an overlapping max-pool sees a tie (several zeros after a ReLU); so the ReLU case
    # uses average pooling after it.
    model = small_cnn(pool2=pool2)
    x = np.random.default_rng(2).random((3, 1, 10, 10))
    for cls in range(3):
        got = explain.grad_cam(model, x, cls, layer)
        np.testing.assert_allclose(got, reference_grad_cam(model, x, cls, layer), atol=1e-6)


def test_grad_cam_shape_range_and_peak():
    model = small_cnn().astype(np.float32)
    x = np.random.default_rng(3).random((4, 1, 10, 10)).astype(np.float32)
    cam = explain.grad_cam(model, x, np.array([0, 1, 2, 0]), "conv2")
    assert cam.shape == (4, 10, 10) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() <= 1
    for m in cam:   # each image's map is either zero or has maximum exactly 1
        assert m.max() == 0 or np.isclose(m.max(), 1)


def test_an_all_zero_map_stays_zero():
    # score = -mean(relu(conv(x))) with a 1x1 conv of weight 1: every channel weight
    # alpha is negative and the activations are >= 0, so ReLU(sum) is 0 everywhere.
    conv = Conv2D(1, 1, 1, dtype=np.float64, name="conv")
    conv.params["W"][...] = 1.0
    fc = Dense(1, 1, dtype=np.float64, name="fc")
    fc.params["W"][...] = -1.0
    model = Sequential([conv, ReLU(), AvgPool2D(4), Flatten(), fc])
    x = np.random.default_rng(4).random((2, 1, 4, 4))
    cam = explain.grad_cam(model, x, 0, "conv")
    np.testing.assert_array_equal(cam, np.zeros((2, 4, 4)))
    assert not np.isnan(cam).any()


def test_grad_cam_of_a_batch_is_per_image():
    model = small_cnn()
    x = np.random.default_rng(5).random((3, 1, 10, 10))
    batch = explain.grad_cam(model, x, 1, "relu2")
    for i in range(3):
        np.testing.assert_allclose(batch[i:i + 1], explain.grad_cam(model, x[i:i + 1], 1, "relu2"))


def test_grad_cam_takes_neuron_and_channel_targets():
    model = small_cnn()
    x = np.random.default_rng(6).random((2, 1, 10, 10))
    for target in (Neuron("relu2", 2, 1, 1), Channel("pool2", 3)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the neuron may not fire for one image
            cam = explain.grad_cam(model, x, target, "conv1")
        assert cam.shape == (2, 10, 10) and 0 <= cam.min() and cam.max() <= 1


def test_guided_grad_cam_is_guided_backprop_times_the_map():
    model = small_cnn()
    x = np.random.default_rng(7).random((2, 1, 10, 10))
    got = explain.guided_grad_cam(model, x, 2, "conv2")
    cam = explain.grad_cam(model, x, 2, "conv2")
    assert got.shape == x.shape
    np.testing.assert_allclose(got, explain.guided_backprop(model, x, 2) * cam[:, None])


def test_grad_cam_leaves_the_model_as_it_was():
    model = small_cnn()
    x = np.random.default_rng(8).random((2, 1, 10, 10))
    model.relus()[1].mode = "guided"
    model.backward(np.ones((2, 3)) + 0 * model.forward(x))
    caches = [layer.cache for layer in model.layers]
    grads = {k: v.copy() for k, v in model.gradients().items()}
    explain.guided_grad_cam(model, x, 0, "conv2")
    assert all(layer.cache is c for layer, c in zip(model.layers, caches))
    assert [r.mode for r in model.relus()] == ["standard", "guided"]
    for k, v in model.gradients().items():
        np.testing.assert_array_equal(v, grads[k])


def test_grad_cam_errors():
    model = small_cnn()
    x = np.zeros((1, 1, 10, 10))
    with pytest.raises(ValueError, match=r"pick a conv layer\. Received: layer='fc1' with output "
                                         r"of shape \[1, 3\]"):
        explain.grad_cam(model, x, 0, "fc1")
    with pytest.raises(ValueError, match="stop layer 'conv2' comes after the target's layer"):
        explain.grad_cam(model, x, Neuron("relu1", 0, 0, 0), "conv2")
    with pytest.raises(KeyError, match="no layer named 'conv7'"):
        explain.grad_cam(model, x, 0, "conv7")
    with pytest.raises(ValueError, match=r"grad_cam: x must be images of shape \(N, C, H, W\)"):
        explain.grad_cam(Sequential([Dense(4, 2, dtype=np.float64)]), np.zeros((1, 4)), 0, "fc1")
