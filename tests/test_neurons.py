"""Receptive fields and top_patches (Zeiler & Fergus's figure)."""

import warnings

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.explain import Neuron, gradient
from minicnn.explain.neurons import receptive_field, strongest_activations, top_patches


def hand_model():
    """conv1 3x3 stride 1 pad 1 -> pool1 2x2 -> conv2 3x3 stride 2 pad 0 -> relu1."""
    rng = np.random.default_rng(0)
    return Sequential([Conv2D(1, 2, 3, padding=1, rng=rng), MaxPool2D(2),
                       Conv2D(2, 3, 3, stride=2, rng=rng), ReLU(),
                       Flatten(), Dense(3 * 2 * 2, 2, rng=rng)]).astype(np.float64)


def test_receptive_field_by_hand():
    # Output position o of a layer with kernel k, stride s, padding p reads input
    # o*s - p .. o*s - p + k - 1. Neuron (y=1, x=2) of relu1 (= conv2's output):
    #   conv2 (k3, s2, p0): rows 1*2 - 0 = 2 .. 2 + 2 = 4;   cols 2*2 = 4 .. 6
    #   pool1 (k2, s2):     rows 2*2 = 4 .. 4*2 + 1 = 9;     cols 8 .. 13
    #   conv1 (k3, s1, p1): rows 4 - 1 = 3 .. 9 - 1 + 2 = 10; cols 7 .. 14
    # so the box is rows 3..10, cols 7..14: (top, left, bottom, right) = (3, 7, 11, 15)
    # with exclusive bottom/right; a 12x14 image (relu1 output 2x3, so x=2 exists)
    # clips the right edge to 14.
    model = hand_model()
    assert receptive_field(model, "relu1", 1, 2) == (3, 7, 11, 15)
    assert receptive_field(model, "conv2", 1, 2) == (3, 7, 11, 15)
    assert receptive_field(model, "relu1", 1, 2, image_shape=(12, 14)) == (3, 7, 11, 14)
    # conv1 alone: neuron (0, 0) sees rows/cols -1..1, i.e. (-1, -1, 2, 2), clipped (0, 0, 2, 2)
    assert receptive_field(model, "conv1", 0, 0) == (-1, -1, 2, 2)
    assert receptive_field(model, "conv1", 0, 0, image_shape=(12, 12)) == (0, 0, 2, 2)


def test_pixels_outside_the_receptive_field_do_not_matter():
    model = hand_model()
    x = np.random.default_rng(1).random((1, 1, 12, 12))
    top, left, bottom, right = receptive_field(model, "conv2", 1, 1, image_shape=(12, 12))
    outside = np.ones((12, 12), dtype=bool)
    outside[top:bottom, left:right] = False
    changed = x.copy()
    changed[0, 0, outside] = np.random.default_rng(2).random(outside.sum())
    a = model.forward(x, until="conv2")[0, :, 1, 1]
    b = model.forward(changed, until="conv2")[0, :, 1, 1]
    np.testing.assert_array_equal(a, b)


def test_receptive_field_after_flatten_is_an_error():
    with pytest.raises(ValueError, match=r"layer must be a spatial layer .*Received: layer='fc1'"):
        receptive_field(hand_model(), "fc1", 0, 0)


def cnn():
    rng = np.random.default_rng(3)
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(4, 5, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Flatten(), Dense(5 * 2 * 2, 3, rng=rng)]).astype(np.float64)


def dataset(n=40, seed=4):
    X = np.random.default_rng(seed).random((n, 1, 8, 8))
    if n > 17:
        X[17] = X[5]      # an exact tie: image 5 must come before image 17
    return X


@pytest.mark.parametrize("layer, channel", [("relu2", 3), ("conv2", 0), ("relu1", 2)])
def test_top_k_are_really_the_top_k(layer, channel):
    model, X = cnn(), dataset()
    fmaps = model.forward(X, until=layer)[:, channel]          # all at once, brute force
    best = fmaps.reshape(len(X), -1).max(axis=1)
    order = sorted(range(len(X)), key=lambda i: (-best[i], i))  # value down, index up
    k = 7
    idx, acts, pos = strongest_activations(model, X, layer, channel, k, batch_size=6)
    assert list(idx) == order[:k]
    np.testing.assert_allclose(acts, best[order[:k]])
    for i, (py, px) in zip(idx, pos):
        assert fmaps[i, py, px] == best[i]
    if 5 in order[:k] and 17 in order[:k]:
        assert list(idx).index(5) < list(idx).index(17)


def test_top_k_ties_go_to_the_lower_index():
    model, X = cnn(), np.repeat(dataset(n=1), 5, axis=0)     # five identical images
    idx, _, _ = strongest_activations(model, X, "relu2", 1, k=3, batch_size=2)
    assert list(idx) == [0, 1, 2]


@pytest.mark.parametrize("mode", ["guided", "deconvnet"])
def test_top_patches_crops_image_and_reconstruction(mode):
    model, X = cnn(), dataset()
    result = top_patches(model, X, "relu2", 3, k=4, mode=mode, batch_size=16)
    assert len(result.indices) == len(result.patches) == len(result.reconstructions) == 4
    assert result.boxes.shape == (4, 4) and result.positions.shape == (4, 2)
    assert result.fields.shape == (4, 4)
    for i, (py, px), box, field, patch, recon in zip(
            result.indices, result.positions, result.boxes, result.fields, result.patches,
            result.reconstructions):
        top, left, bottom, right = box
        assert tuple(box) == receptive_field(model, "relu2", py, px, image_shape=(8, 8))
        assert tuple(field) == receptive_field(model, "relu2", py, px)
        # the full field: every patch has the field's size, the image sits inside it
        f_top, f_left, f_bottom, f_right = field
        assert patch.shape == recon.shape == (1, f_bottom - f_top, f_right - f_left)
        inside = (slice(None), slice(top - f_top, bottom - f_top),
                  slice(left - f_left, right - f_left))
        np.testing.assert_array_equal(patch[inside], X[i, :, top:bottom, left:right])
        padding = patch.copy()
        padding[inside] = 0
        assert not padding.any()                     # zeros outside the image
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = gradient(model, X[i:i + 1], Neuron("relu2", 3, int(py), int(px)), mode=mode)
        np.testing.assert_array_equal(recon[inside], full[0, :, top:bottom, left:right])
        # everything the neuron's map shows lies inside its receptive field
        outside = full[0].copy()
        outside[:, top:bottom, left:right] = 0
        assert not outside.any()


def test_padded_crop_fills_outside_the_image_with_zeros():
    from minicnn.explain.neurons import padded_crop
    image = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3)   # 1..9
    out = padded_crop(image, (-1, 1, 2, 4))     # rows -1..1, columns 1..3
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    np.testing.assert_array_equal(padded_crop(image, (0, 0, 3, 3)), image)


def test_top_patches_at_the_border_have_the_full_size():
    model, X = cnn(), dataset()
    result = top_patches(model, X, "relu2", 3, k=len(X), batch_size=16)
    sizes = {p.shape for p in result.patches}
    assert len(sizes) == 1
    clipped = [tuple(b) != tuple(f) for b, f in zip(result.boxes, result.fields)]
    assert any(clipped), "the test needs a neuron whose field crosses the border"


def test_top_patches_leaves_the_model_alone():
    model, X = cnn(), dataset()
    model.forward(X[:2])
    before = [layer.cache for layer in model.layers]
    top_patches(model, X, "relu1", 0, k=2)
    assert all(a is b for a, b in zip(before, [layer.cache for layer in model.layers]))
    assert all(layer.mode == "standard" for layer in model.relus())


def test_top_patches_bad_arguments():
    model, X = cnn(), dataset(n=10)
    with pytest.raises(ValueError, match=r"k must be at most the number of images in X "
                                         r"\(10\)\. Received: k=11"):
        top_patches(model, X, "relu2", 0, k=11)
    with pytest.raises(ValueError, match=r"channel must be an int in \[0, 4\] .*"
                                         r"Received: channel=5"):
        top_patches(model, X, "relu2", 5)
    with pytest.raises(ValueError, match=r"layer must have a spatial .*Received: layer='fc1'"):
        top_patches(model, X, "fc1", 0)
    with pytest.raises(ValueError, match=r"mode must be one of .*Received: mode='backprop'"):
        top_patches(model, X, "relu2", 0, mode="backprop")
    with pytest.raises(ValueError, match=r"k must be >= 1\. Received: k=0"):
        top_patches(model, X, "relu2", 0, k=0)
    with pytest.raises(KeyError, match="no layer named 'relu9'"):
        top_patches(model, X, "relu9", 0)


def test_the_search_runs_in_batches():
    model, X = cnn(), dataset(n=40)
    sizes = []
    forward = model.forward

    def spy(x, train=False, until=None):
        sizes.append(len(x))
        return forward(x, train=train, until=until)

    model.forward = spy
    strongest_activations(model, X, "relu2", 0, k=3, batch_size=16)
    assert sizes == [16, 16, 8]          # never the whole dataset at once


def test_plot_top_patches(tmp_path):
    from minicnn.figures import plot_top_patches

    model, X = cnn(), dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [top_patches(model, X, "relu2", c, k=3) for c in (0, 1)]
    fig = plot_top_patches(results, path=tmp_path / "patches.png")
    assert len(fig.axes) == 4 * 3 and (tmp_path / "patches.png").stat().st_size > 0
    axes = np.array(fig.axes).reshape(4, 3)
    for r, patch_row in zip(results, axes[::2]):
        for box, field, ax in zip(r.boxes, r.fields, patch_row):
            # every tile is the full field; a red frame only where the field leaves the image
            assert ax.get_images()[0].get_array().shape == tuple(field[2:] - field[:2])
            assert len(ax.patches) == (tuple(box) != tuple(field))
    assert any(tuple(b) != tuple(f) for r in results for b, f in zip(r.boxes, r.fields)), \
        "the test needs a tile whose field crosses the image's border"
