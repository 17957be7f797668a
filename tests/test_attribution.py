"""SmoothGrad, integrated gradients and occlusion: each one's defining property."""

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.explain import Channel, Neuron, Seed, gradient
from minicnn.explain.attribution import integrated_gradients, occlusion, score, smooth_grad


def small_cnn(seed=0, channels=1, size=8, classes=3):
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(channels, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(),
        Flatten(), Dense(6 * (size // 2) ** 2, classes, rng=rng),
    ]).astype(np.float64)


def linear_model(seed=0, channels=2, h=9, w=8, classes=3):
    """A purely linear model: f(x) = flatten(x) @ W + b, so grad f = W and
    f(x) - f(x') = sum(W * (x - x'))."""
    model = Sequential([Flatten(), Dense(channels * h * w, classes, rng=seed)])
    model.astype(np.float64)
    model["fc1"].params["b"][...] = np.random.default_rng(seed).standard_normal(classes)
    return model


def images(n=3, channels=1, size=8, seed=1):
    return np.random.default_rng(seed).random((n, channels, size, size))


def caches(model):
    return [layer.cache for layer in model.layers]


# -- SmoothGrad -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["standard", "deconvnet", "guided"])
def test_smooth_grad_with_no_noise_is_the_plain_rule(mode):
    model, x = small_cnn(), images()
    target = np.array([0, 2, 1])
    plain = gradient(model, x, target, mode=mode)
    # batch_size=5 forces several chunks of whole copies (1 copy of 3 images per chunk)
    smooth = smooth_grad(model, x, target, n_samples=7, noise=0.0, mode=mode, batch_size=5)
    np.testing.assert_allclose(smooth, plain, rtol=1e-12, atol=1e-15)


def test_smooth_grad_does_not_depend_on_batch_size_and_is_seeded():
    model, x = small_cnn(), images()
    one = smooth_grad(model, x, 1, n_samples=6, noise=0.2, rng=3, batch_size=1)
    all_at_once = smooth_grad(model, x, 1, n_samples=6, noise=0.2, rng=3, batch_size=1000)
    np.testing.assert_allclose(one, all_at_once, rtol=1e-10, atol=1e-14)
    assert not np.allclose(one, gradient(model, x, 1))


def test_smooth_grad_is_the_mean_over_noisy_copies():
    model, x = small_cnn(), images(n=2)
    noise, n_samples = 0.1, 4
    rng = np.random.default_rng(5)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    eps = rng.standard_normal((n_samples,) + x.shape) * sigma[:, None, None, None]
    expected = np.mean([gradient(model, x + e, Neuron("relu2", 1, 2, 2), mode="guided")
                        for e in eps], axis=0)
    got = smooth_grad(model, x, Neuron("relu2", 1, 2, 2), n_samples=n_samples, noise=noise,
                      mode="guided", rng=np.random.default_rng(5))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_smooth_grad_leaves_model_and_input_alone():
    model, x = small_cnn(), images()
    model.forward(x[:1])
    before, x_before = caches(model), x.copy()
    smooth_grad(model, x, 0, n_samples=3, rng=0)
    assert all(a is b for a, b in zip(before, caches(model)))
    np.testing.assert_array_equal(x, x_before)
    assert all(layer.mode == "standard" for layer in model.relus())


# -- Integrated gradients -------------------------------------------------------------
@pytest.mark.parametrize("target", [np.array([0, 1, 2]), 2, Neuron("relu2", 3, 1, 2),
                                    Channel("relu1", 1)])
def test_integrated_gradients_completeness(target):
    model, x = small_cnn(), images()
    ig = integrated_gradients(model, x, target, steps=300)
    expected = score(model, x, target) - score(model, np.zeros_like(x), target)
    # ReLU networks are piecewise linear along the path: the midpoint rule's error comes
    # only from the kinks and is well under 1% with 300 steps.
    np.testing.assert_allclose(ig.reshape(3, -1).sum(axis=1), expected, rtol=1e-2, atol=1e-3)


def test_integrated_gradients_with_a_baseline_and_seed_target():
    model, x = small_cnn(), images()
    baseline = np.full_like(x, 0.5)
    seed = Seed("fc1", np.array([1.0, -1.0, 0.5]))         # one image's seed, shared
    ig = integrated_gradients(model, x, seed, baseline=baseline, steps=300, batch_size=7)
    expected = score(model, x, seed) - score(model, baseline, seed)
    np.testing.assert_allclose(ig.reshape(3, -1).sum(axis=1), expected, rtol=1e-2, atol=1e-3)


def test_integrated_gradients_on_a_linear_model_is_weight_times_input():
    model, x = linear_model(), np.random.default_rng(0).random((2, 2, 9, 8))
    ig = integrated_gradients(model, x, 1, steps=3)
    expected = x * model["fc1"].params["W"][:, 1].reshape(2, 9, 8)
    np.testing.assert_allclose(ig, expected, rtol=1e-12)


# -- Occlusion ----------------------------------------------------------------------
@pytest.mark.parametrize("patch, stride, starts_y, starts_x", [
    # H=9, W=8. patch 4, stride 2: tops 0, 2, 4 and then 5, flush with the bottom
    # (9 - 4 = 5, which the stride skips); lefts 0, 2, 4 (8 - 4 = 4 is reached).
    (4, 2, [0, 2, 4, 5], [0, 2, 4]),
    # patch (3, 8): the full width, so a single left edge 0; tops 0, 3, 6 (9 - 3 = 6).
    ((3, 8), 3, [0, 3, 6], [0]),
])
def test_occlusion_on_a_linear_model(patch, stride, starts_y, starts_x):
    model = linear_model()
    x = np.random.default_rng(2).random((2, 2, 9, 8))
    fill = 0.25
    w = model["fc1"].params["W"][:, 2].reshape(2, 9, 8)   # the gradient of class 2
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    drop_sum, count = np.zeros((2, 9, 8)), np.zeros((9, 8))
    for i in starts_y:
        for j in starts_x:
            # the drop is sum of gradient x (input - fill) over the patch, all channels
            window = (slice(None), slice(None), slice(i, i + ph), slice(j, j + pw))
            drop = (w[None] * (x - fill))[window].sum(axis=(1, 2, 3))
            drop_sum[:, i:i + ph, j:j + pw] += drop[:, None, None]
            count[i:i + ph, j:j + pw] += 1
    got = occlusion(model, x, 2, patch=patch, stride=stride, fill=fill, batch_size=5)
    assert got.shape == (2, 9, 8)
    np.testing.assert_allclose(got, drop_sum / count, rtol=1e-10, atol=1e-12)


def test_occlusion_fill_mean_is_the_batch_mean_per_channel():
    model = linear_model()
    x = np.random.default_rng(3).random((2, 2, 9, 8))
    x[:, 1] += 1.0                                          # channel means about 0.5 and 1.5
    w = model["fc1"].params["W"][:, 2].reshape(2, 9, 8)
    fill = np.array([x[:, 0].mean(), x[:, 1].mean()])[:, None, None]   # (2, 1, 1)
    drop = (w[None] * (x - fill))[:, :, :3, :3].sum(axis=(1, 2, 3))   # the only patch at (0, 0)
    got = occlusion(model, x, 2, patch=3, stride=3, fill="mean")
    np.testing.assert_allclose(got[:, 0, 0], drop, rtol=1e-10)
    with pytest.raises(ValueError, match=r'fill must be a number or "mean"\. Received: '
                                         r"fill='median'"):
        occlusion(model, x, 2, patch=3, stride=3, fill="median")


def test_occlusion_batched_equals_one_place_at_a_time():
    model, x = small_cnn(), images()
    target = np.array([2, 0, 1])
    a = occlusion(model, x, target, patch=3, stride=2, batch_size=1)
    b = occlusion(model, x, target, patch=3, stride=2, batch_size=10_000)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_occlusion_leaves_input_alone():
    model, x = small_cnn(), images()
    x_before = x.copy()
    occlusion(model, x, 0, patch=4, stride=4)
    np.testing.assert_array_equal(x, x_before)


# -- Errors -------------------------------------------------------------------------
def test_patch_larger_than_image_is_an_error():
    model, x = small_cnn(), images()
    with pytest.raises(ValueError, match=r"patch must fit in the 8x8 image\. Received: patch=9"):
        occlusion(model, x, 0, patch=9)


@pytest.mark.parametrize("kwargs, message", [
    ({"stride": 0}, r"stride must be >= 1\. Received: stride=\(0, 0\)"),
    ({"patch": 2.5}, r"patch must be an int or a pair of ints\. Received: patch=2\.5"),
])
def test_occlusion_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        occlusion(small_cnn(), images(), 0, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"noise": -0.1}, r"noise must be a finite number >= 0\. Received: noise=-0\.1"),
    ({"n_samples": 0}, r"n_samples must be >= 1\. Received: n_samples=0"),
    ({"mode": "magic"}, r"mode must be one of .*Received: mode='magic'"),
])
def test_smooth_grad_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        smooth_grad(small_cnn(), images(), 0, **kwargs)


def test_class_array_of_the_wrong_length_names_the_batch():
    with pytest.raises(ValueError, match=r"shape \(N,\) = \(3,\).*Received: target of shape "
                                         r"\(2,\)"):
        smooth_grad(small_cnn(), images(), np.array([0, 1]), n_samples=4)


def test_integrated_gradients_bad_arguments():
    model, x = small_cnn(), images()
    with pytest.raises(ValueError, match=r"steps must be >= 1\. Received: steps=0"):
        integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(ValueError, match=r"baseline must be .* Received: baseline of shape"):
        integrated_gradients(model, x, 0, baseline=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"x must be an \(N, C, H, W\) array"):
        integrated_gradients(linear_model(), np.zeros((2, 144)), 0)


def test_plot_occlusion(tmp_path):
    from minicnn.figures import plot_occlusion

    model, x = small_cnn(), images()
    maps = occlusion(model, x, 0, patch=4, stride=2)
    fig = plot_occlusion(x, maps, path=tmp_path / "occlusion.png")
    assert len(fig.axes) == 3 * 3 + 1 and (tmp_path / "occlusion.png").stat().st_size > 0
    # one colour bar for all images, symmetric around 0 at the largest |map|
    bar = fig.axes[-1]
    low, high = sorted(bar.get_ylim())
    assert low == pytest.approx(-np.abs(maps).max()) and high == pytest.approx(np.abs(maps).max())
    # the same drop gets the same shade in every row: panels share the scale
    panels = [fig.axes[3 * i + 1].get_images()[0].get_array() for i in range(len(x))]
    peak = np.unravel_index(np.abs(maps).argmax(), maps.shape)
    assert panels[peak[0]][peak[1:]] in (0.0, 1.0)
    with pytest.raises(ValueError, match=r"maps must be \(N, H, W\)"):
        plot_occlusion(x, maps[:, :4])
