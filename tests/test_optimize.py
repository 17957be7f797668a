"""Optimising the input: maximize (class visualisation), fool (fooling images) and
invert (layer inversion), each checked for the property that defines it."""

from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, data, explain
from minicnn.explain import Channel, Neuron
from minicnn.explain.optimize import (
    gaussian_blur,
    inversion_energy,
    normalized,
    score_and_gradient,
    total_variation,
)
from minicnn.gradcheck import numerical_gradient, rel_error


def tiny_cnn(seed: int = 0, dtype=np.float32) -> Sequential:
    """(N, 1, 8, 8) -> conv1 4 -> relu1 -> pool1 (4x4) -> conv2 6 -> relu2 -> fc1 -> 3."""
    rng = np.random.default_rng(seed)
    model = Sequential([
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(4, 6, 3, padding=1, rng=rng), ReLU(),
        Flatten(), Dense(6 * 4 * 4, 3, rng=rng),
    ], input_shape=(1, 8, 8))
    for layer in model.layers:
        if "b" in layer.params:    # positive biases: most ReLUs fire on a faint image
            layer.params["b"][...] = rng.uniform(0.05, 0.2, layer.params["b"].shape)
    return model.astype(dtype)


def images(n: int = 2, seed: int = 1, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, 8, 8)).astype(dtype)


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


QUIET = dict(progress=False)


# -- the gradient they climb ---------------------------------------------------------------
@pytest.mark.parametrize("target", [2, Neuron("conv2", 1, 2, 1), Channel("relu1", 3)],
                         ids=["class", "neuron", "channel"])
def test_score_and_gradient_match_finite_differences_in_float64(target):
    model = tiny_cnn(dtype=np.float64)
    x = images(1, dtype=np.float64)
    score, grad = score_and_gradient(model, x, target)

    def f(image):
        out = model.forward(image, until=explain.target_layer(model, target))
        return explain.target_score(model, target, out)

    np.testing.assert_allclose(score, f(x))
    assert rel_error(grad, numerical_gradient(f, x)) < 1e-6
    np.testing.assert_allclose(grad, explain.saliency(model, x, target))


def test_inversion_energy_gradient_matches_finite_differences_in_float64():
    model = tiny_cnn(dtype=np.float64)
    x, other = images(2, dtype=np.float64), images(2, seed=5, dtype=np.float64)
    goal = model.forward(x, until="relu2").copy()
    energy, error, grad = inversion_energy(model, other, goal, "relu2", 0.3, 0.2)
    numeric = numerical_gradient(
        lambda im: inversion_energy(model, im, goal, "relu2", 0.3, 0.2)[0], other)
    assert rel_error(grad, numeric) < 1e-6
    diff = model.forward(other, until="relu2") - goal
    assert error == pytest.approx((diff ** 2).sum() / (goal ** 2).sum())
    assert energy > error


def test_total_variation_by_hand():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 2.0     # four neighbours differ by 2: TV = 4 * 2^2
    tv, grad = total_variation(x)
    assert tv == 16
    assert grad[0, 0, 1, 1] == 16                      # d/dc of 4 (c - 0)^2 = 8c
    assert grad[0, 0, 0, 1] == grad[0, 0, 1, 0] == -4  # d/dn of (c - n)^2 = -2(c - n)
    assert grad[0, 0, 0, 0] == 0


def test_gaussian_blur_keeps_constants_and_spreads_a_point_symmetrically():
    flat = np.full((1, 2, 6, 7), 0.5, dtype=np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 1.0), flat, rtol=1e-6)
    point = np.zeros((1, 1, 9, 9))
    point[0, 0, 4, 4] = 1
    out = gaussian_blur(point, 1.0)[0, 0]
    assert out.sum() == pytest.approx(1)
    np.testing.assert_allclose(out, out.T)
    np.testing.assert_allclose(out, out[::-1, ::-1])
    assert out[4, 4] == out.max() < 0.2


def test_normalized_has_unit_root_mean_square_per_image():
    g = np.stack([np.full((1, 3, 3), 1e-6), np.arange(9.0).reshape(1, 3, 3), np.zeros((1, 3, 3))])
    rms = np.sqrt((normalized(g) ** 2).reshape(3, -1).mean(axis=1))
    np.testing.assert_allclose(rms, [1, 1, 0])


# -- maximize -------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [1, Neuron("conv2", 2, 1, 1), Channel("relu2", 4)],
                         ids=["class", "neuron", "channel"])
def test_maximize_raises_the_target_score(target):
    model = tiny_cnn()
    # jitter=1: on an 8x8 image the default shift of up to 2 pixels is a quarter of it
    result = explain.maximize(model, target, steps=30, jitter=1, **QUIET)
    assert result.image.shape == (1, 1, 8, 8) and result.image.dtype == np.float32
    assert result.scores.shape == (30, 1)
    start, end = result.scores[0, 0], result.final[0]
    assert start < 1 and end > start + 3
    assert end == pytest.approx(explain.attribution.score(model, result.image, target)[0],
                                rel=1e-5)


@pytest.mark.parametrize("target", [1, Neuron("conv2", 2, 1, 1), Channel("relu2", 4)],
                         ids=["class", "neuron", "channel"])
def test_maximize_without_jitter_and_blur_climbs_at_every_step(target):
    result = explain.maximize(tiny_cnn(), target, steps=20, jitter=0, blur_every=0, **QUIET)
    assert (np.diff(result.scores[:, 0]) > 0).all()
    assert result.final[0] > result.scores[-1, 0]


def test_maximize_without_regularisers_is_plain_gradient_ascent():
    model = tiny_cnn(dtype=np.float64)
    x0 = images(1, dtype=np.float64)
    result = explain.maximize(model, 0, x0=x0, steps=1, lr=0.5, l2=0, jitter=0,
                              blur_every=0, **QUIET)
    _, g = score_and_gradient(model, x0, 0)
    np.testing.assert_allclose(result.image, x0 + 0.5 * g / np.sqrt((g ** 2).mean()))


def test_maximize_a_batch_of_classes_is_deterministic_for_a_seed():
    model = tiny_cnn()
    a = explain.maximize(model, np.arange(3), steps=30, jitter=1, seed=3, **QUIET)
    b = explain.maximize(model, np.arange(3), steps=30, jitter=1, seed=3, **QUIET)
    c = explain.maximize(model, np.arange(3), steps=30, jitter=1, seed=4, **QUIET)
    assert a.image.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.image, c.image)
    assert (model.forward(a.image).argmax(axis=1) == np.arange(3)).all()


def test_maximize_bounds_and_clip_small():
    model = tiny_cnn()
    result = explain.maximize(model, 2, steps=20, bounds=(0, 1), clip_small=0.5, **QUIET)
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert (result.image == 0).mean() >= 0.5


def test_shipped_model_class_visualisations_are_their_class():
    model = minicnn.pretrained()
    result = explain.maximize(model, np.arange(10), steps=40, bounds=(0, 1), **QUIET)
    probs = softmax(model.forward(result.image).astype(np.float64))
    assert (probs.argmax(axis=1) == np.arange(10)).all()
    assert probs[np.arange(10), np.arange(10)].min() > 0.95
    # each class's image differs from every other class's: no two correlate strongly
    corr = np.corrcoef(result.image.reshape(10, -1))
    assert np.abs(corr[~np.eye(10, dtype=bool)]).max() < 0.6


# -- fool -----------------------------------------------------------------------------------
@pytest.mark.parametrize("signed", [False, True], ids=["gradient", "fgsm"])
def test_fool_flips_the_prediction_with_a_small_change(signed):
    model = tiny_cnn()
    x = images(1)
    original = int(model.forward(x).argmax())
    target = (original + 1) % 3
    result = explain.fool(model, x, target, step=0.005, max_steps=200, signed=signed)
    assert result.success and result.predicted == target
    assert int(model.forward(result.image).argmax()) == target
    change = (result.image - x).astype(np.float64)
    assert result.l2 == pytest.approx(np.sqrt((change ** 2).sum()))
    assert result.linf == pytest.approx(np.abs(change).max())
    assert 1 <= result.steps <= 200
    assert result.linf < 0.2         # the pixels lie in [0, 1]
    if signed:                       # every pixel moves by +-step at every step
        assert result.linf <= result.steps * 0.005 + 1e-6


def test_fool_stops_at_once_when_the_model_already_agrees_and_reports_failure():
    model = tiny_cnn()
    x = images(1)
    original = int(model.forward(x).argmax())
    same = explain.fool(model, x, original)
    assert same.success and same.steps == 0 and same.l2 == 0
    hard = explain.fool(model, x, (original + 1) % 3, step=1e-6, max_steps=2)
    assert not hard.success and hard.steps == 2 and hard.predicted == original


def test_fool_the_shipped_model_with_bounds():
    model = minicnn.pretrained()
    x, labels = data.sample_images()
    x = x[:1].astype(np.float32)
    result = explain.fool(model, x, (int(labels[0]) + 3) % 10, bounds=(0, 1), signed=True,
                          step=0.005)
    assert result.success
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.linf < 0.25


# -- invert ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["relu1", "relu2"])
def test_invert_reduces_the_reconstruction_error(layer):
    model = tiny_cnn()
    x = images(2)
    result = explain.invert(model, x, layer, steps=60, **QUIET)
    assert result.image.shape == x.shape and result.losses.shape == (60,)
    assert result.losses[0] > 0.3            # the start (faint noise) is far from x
    assert result.final < 0.2 * result.losses[0]
    out = model.forward(result.image, until=layer)
    goal = model.forward(x, until=layer)
    assert ((out - goal) ** 2).sum() / (goal ** 2).sum() == pytest.approx(result.final, rel=1e-4)


def test_invert_is_deterministic_for_a_seed():
    model = tiny_cnn()
    x = images(1)
    a = explain.invert(model, x, "relu2", steps=5, seed=1, **QUIET)
    b = explain.invert(model, x, "relu2", steps=5, seed=1, **QUIET)
    c = explain.invert(model, x, "relu2", steps=5, seed=2, **QUIET)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


# -- the model is left as it was -----------------------------------------------------------
def state(model):
    return ([getattr(layer, "mode", None) for layer in model.layers],
            [layer.cache for layer in model.layers],
            [layer.param_grads for layer in model.layers],
            [{k: v.copy() for k, v in layer.grads.items()} for layer in model.layers],
            {k: v.copy() for k, v in model.parameters().items()})


@pytest.mark.parametrize("run", [
    lambda m, x: explain.maximize(m, Channel("relu2", 1), steps=3, **QUIET),
    lambda m, x: explain.fool(m, x[:1], 2, max_steps=3),
    lambda m, x: explain.invert(m, x, "relu2", steps=3, **QUIET),
], ids=["maximize", "fool", "invert"])
def test_model_is_left_as_it_was(run):
    model = tiny_cnn()
    x = images(2)
    model.relus()[0].mode = "guided"
    model.backward(np.ones_like(model.forward(x)))
    model.layers[0].param_grads = False
    before = state(model)
    run(model, x)
    modes, caches, flags, grads, params = state(model)
    assert modes == before[0] and flags == before[2]
    assert all(a is b for a, b in zip(caches, before[1]))
    for now, then in zip(grads, before[3]):
        for key in now:
            np.testing.assert_array_equal(now[key], then[key])
    for key in params:
        np.testing.assert_array_equal(params[key], before[4][key])


# -- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(target="cat"), TypeError, "target must be"),
    (dict(target=np.zeros(3)), TypeError, "target must be"),
    (dict(target=7), ValueError, "out of range"),
    (dict(target=Neuron("nope", 0, 0, 0)), KeyError, "nope"),
    (dict(target=Neuron("relu2", 9, 0, 0)), ValueError, "channel=9"),
    (dict(steps=0), ValueError, "steps must be >= 1"),
    (dict(steps=2.5), TypeError, "steps must be an int"),
    (dict(lr=-1), ValueError, "lr must be"),
    (dict(l2=1.0), ValueError, "l2 must be in"),
    (dict(jitter=-1), ValueError, "jitter must be >= 0"),
    (dict(blur_sigma=0), ValueError, "blur_sigma must be > 0"),
    (dict(clip_small=1.5), ValueError, "clip_small must be in"),
    (dict(bounds=(1, 0)), ValueError, "low < high"),
    (dict(bounds=3), TypeError, "bounds must be"),
    (dict(seed=-1), ValueError, "seed must be"),
    (dict(shape=(1, 0, 8)), ValueError, "shape must be"),
    (dict(x0=np.zeros((1, 1, 8, 8))), TypeError, "dtype float32"),
    (dict(x0=np.zeros((1, 1, 8, 8), np.float32), shape=(1, 8, 8)), ValueError, "either shape"),
])
def test_maximize_bad_inputs(kwargs, error, match):
    kwargs = {"target": 0, **kwargs}
    with pytest.raises(error, match=match):
        explain.maximize(tiny_cnn(), steps=kwargs.pop("steps", 2), **QUIET, **kwargs)


def test_maximize_needs_a_shape_without_input_shape():
    model = tiny_cnn()
    model.input_shape = None
    with pytest.raises(ValueError, match="shape="):
        explain.maximize(model, 0, **QUIET)
    with pytest.raises(TypeError, match="model must be a minicnn Sequential"):
        explain.maximize("model", 0, **QUIET)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x=images(2)), ValueError, "one image"),
    (dict(x=images(1, dtype=np.float64)), TypeError, "dtype float32"),
    (dict(x=[[1.0]]), TypeError, "numpy array"),
    (dict(target_class=3), ValueError, "out of range"),
    (dict(target_class=1.0), TypeError, "target_class must be an int"),
    (dict(step=0), ValueError, "step must be > 0"),
    (dict(max_steps=0), ValueError, "max_steps must be >= 1"),
    (dict(signed="yes"), TypeError, "signed must be True or False"),
])
def test_fool_bad_inputs(kwargs, error, match):
    kwargs = {"x": images(1), "target_class": 1, **kwargs}
    with pytest.raises(error, match=match):
        explain.fool(tiny_cnn(), kwargs.pop("x"), kwargs.pop("target_class"), **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(layer=3), TypeError, "layer must be a layer name"),
    (dict(layer="nope"), KeyError, "nope"),
    (dict(steps=0), ValueError, "steps must be >= 1"),
    (dict(tv_weight=-1), ValueError, "tv_weight must be"),
    (dict(x0=images(3)), ValueError, "x0 must have the shape of x"),
    (dict(x=np.zeros((1, 1, 8, 8), np.float32), layer="pool1"), ValueError, "all zero"),
])
def test_invert_bad_inputs(kwargs, error, match):
    kwargs = {"x": images(1), "layer": "relu1", **kwargs}
    model = tiny_cnn()
    for layer in model.layers:          # no bias: an all-zero image gives all-zero outputs
        if "b" in layer.params:
            layer.params["b"][...] = 0
    with pytest.raises(error, match=match):
        explain.invert(model, kwargs.pop("x"), kwargs.pop("layer"), **QUIET, **kwargs)


# -- figures ------------------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n"


def test_optimize_figures_on_a_small_28x28_model(tmp_path):
    from minicnn.figures import optimize_figures

    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(1, 2, 3, padding=1, rng=rng), ReLU(), MaxPool2D(4),
                        Flatten(), Dense(2 * 7 * 7, 10, rng=rng)], input_shape=(1, 28, 28))
    written = optimize_figures(tmp_path, model=model)
    assert [path.name for path, _ in written] == ["class_images.png", "fooling.png",
                                                  "inversion.png"]
    for path, what in written:
        assert path.read_bytes()[:8] == PNG and what
    assert "relu1" in written[2][1]


def test_plot_fooling_needs_one_result_per_image():
    from minicnn.figures import plot_fooling

    model = tiny_cnn()
    x = images(2)
    with pytest.raises(ValueError, match="one result per image"):
        plot_fooling(model, x, [explain.fool(model, x[:1], 0)])


def test_demo_has_an_optimize_option():
    from minicnn.__main__ import build_parser

    assert build_parser().parse_args(["demo", "--optimize"]).optimize is True
    assert build_parser().parse_args(["demo"]).optimize is False


def test_optimize_figures_without_conv_layers_leave_out_the_inversion(tmp_path):
    from minicnn.figures import optimize_figures

    model = Sequential([Flatten(), Dense(28 * 28, 10, rng=np.random.default_rng(0))],
                       input_shape=(1, 28, 28))
    written = optimize_figures(tmp_path, model=model)
    assert [path.name for path, _ in written] == ["class_images.png", "fooling.png"]
