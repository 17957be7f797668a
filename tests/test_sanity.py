"""Spearman, localization and the randomisation test (Adebayo et al. 2018)."""

import copy

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.explain.sanity import localization, randomization_test, rankdata, spearman


# -- Spearman -----------------------------------------------------------------------
def test_rankdata_averages_ties():
    # sorted: 5 (rank 1), 10 (rank 2), 20, 20 (ranks 3 and 4, so 3.5 each)
    np.testing.assert_array_equal(rankdata(np.array([10, 20, 20, 5])), [2, 3.5, 3.5, 1])
    # three-way tie for ranks 2, 3, 4 -> 3 each
    np.testing.assert_array_equal(rankdata(np.array([[1.0, 7.0], [7.0, 7.0]])), [1, 3, 3, 3])


def test_spearman_by_hand_with_ties():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = np.array([5.0, 6.0, 7.0, 8.0, 7.0])
    # ranks a: 1 2 3 4 5 (mean 3), deviations -2 -1 0 1 2, sum of squares 10
    # ranks b: 1 2 3.5 5 3.5 (mean 3), deviations -2 -1 0.5 2 0.5, sum of squares 9.5
    # sum of products: 4 + 1 + 0 + 2 + 1 = 8, so rho = 8 / sqrt(10 * 9.5)
    assert spearman(a, b) == pytest.approx(8 / np.sqrt(95), rel=1e-12)


def test_spearman_basic_properties():
    x = np.random.default_rng(0).standard_normal(50)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)          # any increasing map
    assert spearman(x, -x ** 3) == pytest.approx(-1.0)
    assert np.isnan(spearman(x, np.zeros(50)))                    # constant: undefined
    with pytest.raises(ValueError, match=r"same shape\. Received: a of shape \[2\] and b "
                                         r"of shape \[3\]"):
        spearman(np.zeros(2), np.zeros(3))


# -- Localization -------------------------------------------------------------------
def test_localization_by_hand():
    heat = np.array([[0.0, 1.0, 0.0],
                     [-2.0, 4.0, 0.0],
                     [0.0, 0.0, 3.0]])
    mask = np.array([[False, True, False],
                     [False, True, False],
                     [False, False, False]])
    share, hit = localization(heat, mask)
    assert share == pytest.approx((1 + 4) / (1 + 2 + 4 + 3))   # |map| mass inside / total
    assert hit is True                                           # the max, 4, is inside
    share, hit = localization(heat, ~mask)
    assert share == pytest.approx(5 / 10) and hit is False


def test_localization_batches_channels_and_zero_maps():
    maps = np.zeros((2, 2, 2, 2))
    maps[0, 0, 0, 0], maps[0, 1, 0, 0], maps[0, 1, 1, 1] = 1.0, -1.0, 3.0   # channels summed
    mask = np.array([[True, False], [False, False]])
    share, hit = localization(maps, mask)                       # one mask for every image
    np.testing.assert_allclose(share, [0.4, 0.0])                # |1| + |-1| of 5 inside
    np.testing.assert_array_equal(hit, [False, False])           # the max (3) is outside;
    # the second map is all zero: it points nowhere


def test_localization_bad_arguments():
    with pytest.raises(TypeError, match="mask must be a bool array"):
        localization(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"Received: mask of shape \[2, 4, 4\]"):
        localization(np.zeros((3, 4, 4)), np.zeros((2, 4, 4), dtype=bool))


# -- Randomisation test ---------------------------------------------------------------
def cnn():
    rng = np.random.default_rng(0)
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Flatten(), Dense(6 * 2 * 2, 32, rng=rng), ReLU(),
                       Dense(32, 3, rng=rng)]).astype(np.float64)


def images(n=4):
    return np.random.default_rng(1).random((n, 1, 8, 8))


@pytest.mark.filterwarnings("ignore:.*maps are constant")   # Grad-CAM of a random net: all 0
@pytest.mark.parametrize("method", ["guided_backprop", "saliency", "grad_cam", "smooth_grad"])
def test_randomization_leaves_the_model_unchanged(method):
    model, x = cnn(), images()
    model.forward(x[:1])
    params = copy.deepcopy(model.parameters())
    caches = [layer.cache for layer in model.layers]
    randomization_test(model, x, 1, method=method, rng=0)
    after = model.parameters()
    assert list(after) == list(params)
    for key, value in params.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert all(a is b for a, b in zip(caches, [layer.cache for layer in model.layers]))
    assert all(layer.mode == "standard" for layer in model.relus())


def test_randomization_order_and_step_zero():
    scores = randomization_test(cnn(), images(), np.array([0, 1, 2, 0]),
                                method="saliency", rng=0)
    assert list(scores) == ["original", "fc2", "fc1", "conv2", "conv1"]   # from the top
    assert scores["original"] == 1.0                   # before any layer is randomised
    assert all(-1 <= rho < 1 for name, rho in scores.items() if name != "original")


def test_randomization_of_a_map_that_ignores_the_weights_stays_at_one():
    # A "method" that returns the image itself cannot notice the randomisation.
    scores = randomization_test(cnn(), images(), 0, method=lambda m, x, t: x * 2 - 1, rng=0)
    assert all(rho == pytest.approx(1.0) for rho in scores.values())


def test_randomization_independent_layers_and_maps():
    model, x = cnn(), images()
    scores, maps = randomization_test(model, x, 2, method="guided_backprop", rng=0,
                                      cascade=False, return_maps=True)
    assert list(maps) == list(scores)
    assert all(m.shape == x.shape for m in maps.values())
    cascade = randomization_test(model, x, 2, method="guided_backprop", rng=0)
    # the first step randomises the same layer (the top one) with the same weights
    assert scores["fc2"] == pytest.approx(cascade["fc2"])


def test_randomization_warns_about_constant_maps():
    def method(model, x, target):     # image 0's map is all zero once fc2 is random
        maps = x.copy()
        if model["fc2"].params["W"][0, 0] != cnn()["fc2"].params["W"][0, 0]:
            maps[0] = 0
        return maps
    with pytest.warns(RuntimeWarning, match="1 of 4 maps are constant"):
        scores = randomization_test(cnn(), images(), 0, method=method, rng=0)
    assert scores["fc2"] == pytest.approx(1.0)         # the mean of the other three


def test_randomization_bad_method():
    with pytest.raises(ValueError, match=r"method must be one of .*Received: method='lime'"):
        randomization_test(cnn(), images(), 0, method="lime")


def test_plot_randomization(tmp_path):
    from minicnn.figures import plot_randomization

    model, x = cnn(), images()
    cascades = {name: randomization_test(model, x, 1, method=name, rng=0, return_maps=True)
                for name in ("saliency", "deconvnet")}
    fig = plot_randomization(x, cascades, index=1, path=tmp_path / "cascade.png")
    assert len(fig.axes) == 2 * 6                       # input, trained, 4 layers
    assert fig.axes[1].get_xlabel() == "rho = 1.00"     # the trained map against itself
    assert (tmp_path / "cascade.png").stat().st_size > 0


def test_beyond_figures_on_a_small_model(tmp_path):
    from minicnn import models
    from minicnn.figures import beyond_figures

    figures = beyond_figures(tmp_path, model=models.fashion_cnn(rng=0), n_search=60)
    assert [path.name for path, _ in figures] == ["top_patches.png", "randomization.png"]
    assert all(path.stat().st_size > 0 and text for path, text in figures)
