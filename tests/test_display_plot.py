"""Display helpers on hand examples; plot functions return Figures and write PNGs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, explain
from minicnn.explain import Neuron, display


# -- display helpers ------------------------------------------------------------------
def test_signed_map_is_centred_on_gray_with_a_symmetric_scale():
    g = np.array([[-2.0, -1.0, 0.0, 1.0, 4.0]])
    # percentile 100 of |g| is 4: 0.5 + 0.5 * g / 4
    np.testing.assert_allclose(display.signed_map(g, percentile=100),
                               [[0.25, 0.375, 0.5, 0.625, 1.0]])


def test_signed_map_clips_at_the_percentile():
    g = np.array([[-1.0, 0.5, 100.0]])
    # |g| = [1, 0.5, 100]; the 50th percentile is 1, so -1 -> 0, 0.5 -> 0.75, 100 -> 1
    np.testing.assert_allclose(display.signed_map(g, percentile=50), [[0.0, 0.75, 1.0]])


def test_signed_map_of_zero_is_gray_and_channels_are_kept():
    np.testing.assert_array_equal(display.signed_map(np.zeros((1, 2, 3))), np.full((2, 3), 0.5))
    rgb = display.signed_map(np.ones((3, 2, 2)) * [[[1.0]], [[-1.0]], [[0.0]]], percentile=100)
    assert rgb.shape == (2, 2, 3)
    np.testing.assert_allclose(rgb[0, 0], [1.0, 0.0, 0.5])


def test_positive_and_negative_saliency():
    g = np.array([[[-4.0, -2.0], [1.0, 2.0]]])
    np.testing.assert_allclose(display.positive_saliency(g, percentile=100), [[0, 0], [0.5, 1]])
    np.testing.assert_allclose(display.negative_saliency(g, percentile=100), [[1, 0.5], [0, 0]])


def test_abs_max_takes_the_largest_magnitude_over_channels():
    g = np.array([[[1.0, -3.0]], [[-2.0, 0.5]], [[0.0, 1.0]]])   # (3, 1, 2)
    # max |g| over channels: [2, 3]; scaled by the 100th percentile, 3
    np.testing.assert_allclose(display.abs_max(g, percentile=100), [[2 / 3, 1.0]])


def test_a_given_scale_is_shared_between_maps():
    weak, strong = np.array([[0.0, 1.0], [-1.0, 0.5]]), np.array([[0.0, 4.0], [-4.0, 2.0]])
    scale = display.shared_scale([weak, strong], percentile=100)
    assert scale == 4.0                                   # the largest |g| of both maps
    np.testing.assert_allclose(display.signed_map(weak, scale=scale),
                               [[0.5, 0.625], [0.375, 0.5625]])   # 0.5 + 0.5 * g / 4
    np.testing.assert_allclose(display.signed_map(strong, scale=scale), [[0.5, 1], [0, 0.75]])
    # on its own scale the weak map would look as strong as the strong one
    np.testing.assert_allclose(display.signed_map(weak, percentile=100),
                               display.signed_map(strong, percentile=100))
    np.testing.assert_allclose(display.positive_saliency(weak, scale=2.0), [[0, 0.5], [0, 0.25]])
    np.testing.assert_allclose(display.clip_percentile(np.array([1.0, 3.0]), scale=2.0), [0.5, 1])
    with pytest.raises(ValueError, match="scale must be None or a finite number >= 0"):
        display.signed_map(weak, scale=-1.0)
    with pytest.raises(ValueError, match="shared_scale needs at least one map"):
        display.shared_scale([])


def test_clip_percentile():
    m = np.arange(11.0)   # the 50th percentile is 5
    np.testing.assert_allclose(display.clip_percentile(m, 50), np.minimum(m / 5, 1))
    np.testing.assert_array_equal(display.clip_percentile(np.zeros(4)), np.zeros(4))
    # a map that is zero up to the percentile still shows its peak
    np.testing.assert_allclose(display.clip_percentile(np.array([0, 0, 0, 2.0]), 50),
                               [0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        display.clip_percentile(m, 0)


def test_to_image_and_shape_errors():
    x = np.array([[[-0.5, 0.5], [1.0, 2.0]]])
    np.testing.assert_array_equal(display.to_image(x), [[0.0, 0.5], [1.0, 1.0]])
    assert display.to_image(np.zeros((3, 4, 5))).shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"one image's, of shape \(C, H, W\).*maps\[0\]\. "
                                         r"Received: map of shape \[2, 1, 4, 4\]"):
        display.signed_map(np.zeros((2, 1, 4, 4)))


def test_helpers_do_not_modify_their_input():
    g = np.array([[[-1.0, 2.0], [3.0, -4.0]]])
    g0 = g.copy()
    for f in (display.signed_map, display.positive_saliency, display.negative_saliency,
              display.abs_max, display.clip_percentile, display.to_image):
        out = f(g)
        assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(g, g0)


def hand_model() -> Sequential:
    """Conv 1x1 with filters +1 and -1, so relu1 channel 0 is relu(x), channel 1 relu(-x)."""
    conv = Conv2D(1, 2, 1, dtype=np.float64)
    conv.params["W"][...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    return Sequential([conv, ReLU(), MaxPool2D(2), Flatten(), Dense(2, 2, dtype=np.float64)])


def test_top_neurons_picks_the_strongest_per_channel():
    x = np.array([[[[1.0, -5.0], [3.0, 0.5]]]])
    # relu1 channel 0 = [[1, 0], [3, 0.5]] (max 3 at (1, 0)); channel 1 = [[0, 5], [0, 0]]
    # (max 5 at (0, 1)). Strongest first: channel 1, then channel 0.
    model = hand_model()
    assert explain.top_neurons(model, x, "relu1", k=2) == [Neuron("relu1", 1, 0, 1),
                                                          Neuron("relu1", 0, 1, 0)]
    assert explain.top_neurons(model, x, "relu1", k=2, distinct_channels=False) == [
        Neuron("relu1", 1, 0, 1), Neuron("relu1", 0, 1, 0)]
    assert explain.top_neurons(model, x, "relu1", k=3, distinct_channels=False)[2] == \
        Neuron("relu1", 0, 0, 0)
    assert explain.top_neurons(model, x, "fc1", k=1)[0].y is None


def test_top_neurons_errors_and_state():
    model = hand_model()
    x = np.zeros((2, 1, 2, 2))
    with pytest.raises(ValueError, match=r"top_neurons: x must be one image \(1, C, H, W\)"):
        explain.top_neurons(model, x, "relu1")
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 2\]"):
        explain.top_neurons(model, x[:1], "relu1", k=3)
    model.forward(x)
    caches = [layer.cache for layer in model.layers]
    explain.top_neurons(model, x[:1], "relu1", k=1)
    assert all(layer.cache is c for layer, c in zip(model.layers, caches))


# -- figures ----------------------------------------------------------------------
def cnn() -> Sequential:
    rng = np.random.default_rng(0)
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(4, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Flatten(), Dense(4 * 3 * 3, 3, rng=rng)], input_shape=(1, 12, 12))


def test_grid_returns_a_figure_and_writes_a_png(tmp_path):
    from matplotlib.figure import Figure

    from minicnn import figures
    rows = [[np.zeros((5, 5)), np.ones((5, 5, 3)) * 0.5,
             figures.Panel(np.zeros((5, 5)), overlay=np.eye(5))]] * 2
    path = tmp_path / "grid.png"
    fig = figures.grid(rows, ["a", "b", "c"], ["row 1", "row 2"], title="T", path=path)
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]   # no temporary file left
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="every row of panels must have 2 panels"):
        figures.grid([[np.zeros((2, 2))] * 2, [np.zeros((2, 2))]])
    with pytest.raises(ValueError, match="row_labels must have 1 entries"):
        figures.grid([[np.zeros((2, 2))]], row_labels=["a", "b"])


def test_compare_rules_and_neurons(tmp_path):
    from PIL import Image

    from minicnn import figures
    model = cnn()
    x = np.random.default_rng(1).random((2, 1, 12, 12)).astype(np.float32)
    fig = figures.compare_rules(model, x, np.array([0, 2]), cam_layer="relu2",
                             row_labels=["one", "two"], path=tmp_path / "rules.png")
    assert len(fig.axes) == 2 * 6
    assert [ax.get_title() for ax in fig.axes[:6]] == [
        "input", "standard backprop\n(saliency)", "deconvnet", "guided backprop",
        "Grad-CAM\n(relu2)", "guided Grad-CAM"]
    assert Image.open(tmp_path / "rules.png").size[0] > 500
    neurons = [explain.top_neurons(model, x[i:i + 1], "relu2", 1)[0] for i in range(2)]
    fig = figures.compare_neurons(model, x, neurons, path=tmp_path / "neurons.png", show="abs")
    assert len(fig.axes) == 2 * 5
    assert fig.axes[1].get_title() == "receptive field"
    assert fig.axes[0].get_ylabel().startswith("relu2 ch ")
    assert (tmp_path / "neurons.png").is_file()
    fig = figures.compare_neurons(model, x, neurons, crop=False, modes=["guided"])
    assert [ax.get_title() for ax in fig.axes] == ["input", "guided backprop", "", ""]
    with pytest.raises(ValueError, match="show must be one of"):
        figures.compare_rules(model, x, 0, show="fancy")


def test_support_box_is_the_square_around_the_non_zero_pixels():
    from minicnn.figures import support_box
    m = np.zeros((1, 10, 10))
    m[0, 2, 3] = 1.0
    m[0, 4, 3] = -1.0
    # rows 2..4, column 3; one pixel of margin -> rows 1..5, columns 2..4; squared to 5x5
    # by widening the columns around their centre -> columns 1..5
    assert support_box([m, np.zeros_like(m)]) == (1, 1, 6, 6)
    m[0, 9, 9] = 1.0   # now rows and columns 1..9, clipped at the border
    assert support_box([m]) == (1, 1, 10, 10)
    assert support_box([np.zeros((1, 4, 4))]) is None


def test_importing_minicnn_does_not_import_matplotlib():
    code = ("import sys, minicnn, minicnn.explain, minicnn.figures, minicnn.__main__; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- which layers to explain ---------------------------------------------------------------
def test_conv_activations_and_cam_layer():
    model = Sequential([Conv2D(1, 2, 3), ReLU(), MaxPool2D(2), Conv2D(2, 2, 3), Flatten(),
                        Dense(2, 2)])
    # conv1 is followed by its ReLU, conv2 by nothing that rectifies it
    assert explain.conv_activations(model) == ["relu1", "conv2"]
    assert explain.cam_layer(model) == "conv2"
    assert explain.cam_layer(Sequential([Flatten(), Dense(4, 2)])) is None


def test_busiest_channels_orders_by_mean_peak():
    model = hand_model()
    # relu1 channel 0 = relu(x), channel 1 = relu(-x): peaks per image (0: 3 vs 1) and
    # (1: 1 vs 4); means 2 vs 2.5, so channel 1 first
    x = np.array([[[[3.0, -1.0], [0.0, 0.0]]], [[[1.0, -4.0], [0.0, 0.0]]]])
    assert explain.busiest_channels(model, x, "relu1", 2) == [1, 0]
    assert explain.busiest_channels(model, x, "relu1", 1) == [1]
    with pytest.raises(ValueError, match=r"busiest_channels: n must be >= 1\. Received: n=0"):
        explain.busiest_channels(model, x, "relu1", 0)


def test_explain_image_summary_and_target_range(tmp_path):
    from minicnn import figures
    model = hand_model()
    x = np.array([[[[1.0, -5.0], [3.0, 0.5]]]])
    with pytest.warns(UserWarning, match="does not fire"):   # channel 1 at (1, 0) is silent
        summary = figures.explain_image(model, x, Neuron("relu1", 1, 1, 0), modes=("guided",),
                                        path=tmp_path / "n.png")
    assert summary.startswith(f"{tmp_path / 'n.png'}: neuron relu1[channel=1, y=1, x=0] "
                              "under guided; predicted class ")
    assert (tmp_path / "n.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"target must be a class in \[0, 1\] \(the model has "
                                         r"2 classes\)\. Received: target=2"):
        figures.explain_image(model, x, 2)
