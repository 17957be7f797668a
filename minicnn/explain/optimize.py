"""Optimising the input: change the image, not the weights, by gradient steps.

Three methods, each a loop around one forward and one backward pass to the image:

- `maximize`: Simonyan et al. 2013, "Deep Inside Convolutional Networks" (class model
  visualisation), with the regularisers of Yosinski et al. 2015, "Understanding
  Neural Networks Through Deep Visualization". Gradient *ascent* on a target's score
  (a class score, a `Neuron`, a `Channel`) from a small random image; after each step
  the image decays towards 0 (L2), is blurred now and then, and its faintest pixels
  are set to 0. Before each step the image is shifted by a few random pixels
  (jitter), so that no single pixel pattern can carry the score.
- `fool`: Szegedy et al. 2013, "Intriguing properties of neural networks", and
  Goodfellow et al. 2014 (the fast gradient sign method, FGSM, with ``signed=True``).
  Small steps up the gradient of the target class's score until the model predicts
  that class; the change needed is usually too faint to see.
- `invert`: Mahendran & Vedaldi 2015, "Understanding Deep Image Representations by
  Inverting Them". Gradient *descent* on ``||phi(x') - phi(x)||^2 / ||phi(x)||^2``, where
  ``phi`` is one layer's output, plus total variation: which image does this layer
  see as the same as ``x``?

All three take the ``target`` forms of `minicnn.explain.gradient` where they apply,
compute in the model's dtype (float32 unless the model was converted), are
deterministic for a ``seed``, and leave the model as they found it (ReLU modes,
caches, gradients; the weights are never changed).

Step sizes are in the units of the image: each step's change has a root mean square
of ``lr`` (or ``step``) per pixel, whatever the scale of the gradient, because the
gradient is divided by its own root mean square (for ``signed=True`` every pixel moves
by exactly ``step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sequential import Sequential
from ..validation import (
    check_finite,
    check_int,
    check_number,
    check_overflow,
    check_seed,
    is_int,
    shape_of,
)
from .core import (
    Neuron,
    Seed,
    backprop,
    check_input,
    class_indices,
    preserved_state,
    seed_for,
    target_layer,
    target_score,
)

# -- the gradient every method climbs or descends --------------------------------------


def score_and_gradient(model: Sequential, x: np.ndarray, target) -> tuple[np.ndarray, np.ndarray]:
    """The target's score per image, ``(N,)``, and its true gradient on ``x`` ``(N, C, H, W)``.

    One forward pass to the target's layer, one backward pass with every ReLU in the
    standard mode: the same gradient as ``explain.saliency(model, x, target)``, with
    the score that `explain.target_score` reports. Changes the layers' caches (the
    callers wrap it in `preserved_state`).
    """
    layer = target_layer(model, target)
    out = model.forward(x, until=layer)
    check_overflow(out, x, "explain", f"the output of layer {layer!r}")
    score = target_score(model, target, out)
    if isinstance(target, Neuron):
        # BEGIN SOLUTION guided_backprop
        # HINT: the same seed as your neuron_gradient (part 2)
        seed = np.zeros_like(out)
        seed[(slice(None), *target.position)] = 1
        # END SOLUTION
    else:
        seed = seed_for(model, target, out)
    return score, backprop(model, seed, layer, "standard")


def normalized(g: np.ndarray) -> np.ndarray:
    """``g`` divided by its root mean square, per image: a step of size 1 per pixel
    on average, whatever the scale of the model's scores. All-zero images stay 0."""
    rms = np.sqrt((g.astype(np.float64) ** 2).reshape(len(g), -1).mean(axis=1))
    rms = rms.reshape(-1, *[1] * (g.ndim - 1))
    return (g / np.where(rms > 0, rms, 1)).astype(g.dtype)


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Blur every channel of ``x`` (N, C, H, W) with a Gaussian of std ``sigma`` pixels
    (separable: rows, then columns; the border is mirrored)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(x.dtype)
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(x, pad, mode="reflect" if x.shape[axis] > radius else "symmetric")
        size = x.shape[axis]
        x = sum(w * padded.take(np.arange(i, i + size), axis=axis)
                for i, w in enumerate(kernel))
    return x


def _progress(steps: int, show: bool, what: str):
    """range(steps), wrapped in a tqdm bar when ``show``."""
    if not show:
        return range(steps)
    from tqdm.std import tqdm  # the text bar: works in a terminal and in Jupyter alike
    return tqdm(range(steps), desc=what, leave=False)


def _check_model(model) -> Sequential:
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn Sequential. Received: model of type "
                        f"{type(model).__name__}")
    return model


# -- class model visualisation -----------------------------------------------------------
@dataclass
class Maximized:
    """What `maximize` returns.

    image : (N, C, H, W) -- the images found, in the model's dtype
    scores : (steps, N) float64 -- the target's score at each step, for the shifted
        image that step climbs from
    final : (N,) float64 -- the target's score for ``image``
    """

    image: np.ndarray
    scores: np.ndarray
    final: np.ndarray


def _batch_size(target, x0) -> int:
    if x0 is not None:
        return len(x0)
    if isinstance(target, np.ndarray) and target.ndim == 1 \
            and np.issubdtype(target.dtype, np.integer):
        return len(target)
    return 1


def _start_image(model: Sequential, target, shape, x0, rng) -> np.ndarray:
    """The first image: ``x0`` (checked), or small noise of one image's ``shape``."""
    if x0 is not None:
        if shape is not None:
            raise ValueError("give either shape or x0, not both (x0 fixes the shape). "
                             f"Received: shape={shape!r} and {shape_of('x0', x0)}")
        check_input(model, x0, "maximize")
        return x0.copy()
    if shape is None:
        if model.input_shape is None:
            raise ValueError("maximize needs shape=(C, H, W): the model has no input_shape")
        shape = model.input_shape
    if not isinstance(shape, (tuple, list)) or not shape or not all(map(is_int, shape)) \
            or min(shape) < 1:
        raise ValueError(f"shape must be one image's shape (C, H, W) as positive ints. "
                         f"Received: shape={shape!r}")
    n = _batch_size(target, None)
    return (0.01 * rng.standard_normal((n, *shape))).astype(model.dtype)


def maximize(model: Sequential, target, *, shape: tuple[int, ...] | None = None,
             steps: int = 100, lr: float = 0.1, l2: float = 0.02, jitter: int = 2,
             blur_every: int = 4, blur_sigma: float = 0.5, clip_small: float = 0.0,
             bounds: tuple[float, float] | None = None, seed: int = 0,
             progress: bool = True, x0: np.ndarray | None = None) -> Maximized:
    """The image that the target likes most: gradient ascent on the input.

    Simonyan et al. 2013 climb the class score ``S_c(x)`` from a blank image; the
    regularisers of Yosinski et al. 2015 keep the image smooth and faint enough to
    look at. Each of the ``steps`` steps:

    1. shift the image by a random ``(dy, dx)`` in ``[-jitter, jitter]`` (``np.roll``);
    2. the core step: ``x += lr * g / rms(g)``, with ``g`` the gradient of the
       target's score on the shifted image, shifted back;
    3. ``x *= 1 - l2`` (L2 decay, pulling unused pixels to 0);
    4. every ``blur_every`` steps, blur with a Gaussian of ``blur_sigma`` pixels;
    5. set to 0 the pixels whose size (over channels) is in the lowest ``clip_small``
       fraction of the image's pixels;
    6. with ``bounds=(low, high)``, clip every pixel to that range (``(0, 1)`` keeps
       a Fashion-MNIST image in the range of the training images).

    Parameters
    ----------
    model : Sequential
    target : int class, (N,) int array of classes, Neuron or Channel
        For a neuron after a ReLU that is off for the start image, the gradient is 0
        and the image does not change: target the layer before the ReLU (``conv3``
        rather than ``relu3``) or start from another ``x0``.
    shape : one image's (C, H, W); default ``model.input_shape``
    steps, lr, l2, jitter, blur_every, blur_sigma, clip_small, bounds : see above
        ``blur_every=0`` never blurs, ``jitter=0`` never shifts, ``clip_small=0``
        never clips.
    seed : int >= 0
        Seeds the start image and the jitter: the same seed gives the same image.
    progress : show a progress bar (tqdm)
    x0 : (N, C, H, W) in ``model.dtype``, optional
        The start image instead of small noise (``0.01 * N(0, 1)``). One image per
        class of an (N,) target array.

    Returns
    -------
    Maximized with ``image`` (N, C, H, W), ``scores`` (steps, N), ``final`` (N,).
    """
    model = _check_model(model)
    if isinstance(target, Seed) or (isinstance(target, np.ndarray)
                                    and not np.issubdtype(target.dtype, np.integer)):
        raise TypeError("maximize: target must be an int class, an (N,) int array of "
                        f"classes, a Neuron or a Channel. Received: target={target!r}")
    steps = check_int(steps, "steps")
    lr = check_number(lr, "lr")
    l2 = check_number(l2, "l2", 0.0, 1.0)
    jitter = check_int(jitter, "jitter", minimum=0)
    blur_every = check_int(blur_every, "blur_every", minimum=0)
    blur_sigma = check_number(blur_sigma, "blur_sigma")
    if blur_every and blur_sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0 when blur_every > 0. "
                         f"Received: blur_sigma={blur_sigma!r}")
    clip_small = check_number(clip_small, "clip_small", 0.0, 1.0)
    bounds = _check_bounds(bounds)
    rng = np.random.default_rng(check_seed(seed))
    x = _start_image(model, target, shape, x0, rng)
    if isinstance(target, np.ndarray):
        class_indices(target, len(x), 1 << 62)   # shape and dtype; the range is checked below
    scores = []
    with preserved_state(model):
        for step in _progress(steps, progress, "maximize"):
            dy, dx = rng.integers(-jitter, jitter + 1, size=2)
            # -- the core step: up the gradient of the target's score ------------------
            # BEGIN SOLUTION guided_backprop
            # HINT: steps 1 and 2 of the docstring; keep the score for the history below
            score, g = score_and_gradient(model, np.roll(x, (dy, dx), axis=(2, 3)), target)
            g = np.roll(g, (-dy, -dx), axis=(2, 3))
            x += lr * normalized(g)
            # END SOLUTION
            # -- the regularisers (Yosinski et al. 2015) -------------------------------
            x *= 1 - l2
            if blur_every and (step + 1) % blur_every == 0:
                x = gaussian_blur(x, blur_sigma)
            if clip_small:
                size = np.sqrt((x ** 2).sum(axis=1, keepdims=True))      # (N, 1, H, W)
                x *= size >= np.quantile(size, clip_small, axis=(2, 3), keepdims=True)
            if bounds is not None:
                np.clip(x, *bounds, out=x)
            scores.append(score.astype(np.float64))
        layer = target_layer(model, target)
        final = target_score(model, target, model.forward(x, until=layer))
    check_finite(x, "the image", "maximize")
    return Maximized(image=x, scores=np.array(scores), final=final.astype(np.float64))


# -- fooling images -----------------------------------------------------------------------
@dataclass
class Fooled:
    """What `fool` returns.

    image : (1, C, H, W) -- the changed image (the last one tried if not ``success``)
    steps : int -- the number of gradient steps taken
    success : bool -- whether the model predicts ``target_class`` for ``image``
    l2 : float -- ``||image - x||_2`` over all pixels
    linf : float -- ``max |image - x|``
    predicted : int -- the model's class for ``image``
    """

    image: np.ndarray
    steps: int
    success: bool
    l2: float
    linf: float
    predicted: int


def _check_bounds(bounds) -> tuple[float, float] | None:
    if bounds is None:
        return None
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"bounds must be None or a pair (low, high). Received: bounds={bounds!r}")
    low = check_number(bounds[0], "bounds[0]", -np.inf)
    high = check_number(bounds[1], "bounds[1]", -np.inf)
    if not low < high:
        raise ValueError(f"bounds must have low < high. Received: bounds={tuple(bounds)!r}")
    return low, high


def fool(model: Sequential, x: np.ndarray, target_class: int, *, step: float = 0.01,
         max_steps: int = 100, signed: bool = False,
         bounds: tuple[float, float] | None = None) -> Fooled:
    """Change ``x`` a little until the model calls it ``target_class``.

    Each step climbs the target class's score ``S_t`` (Szegedy et al. 2013)::

        g = dS_t/dx
        x = x + step * g / rms(g)        (signed=False: the RMS change per pixel is step)
        x = x + step * sign(g)           (signed=True: iterated FGSM, Goodfellow et al.
                                          2014; every pixel moves by step)

    and stops as soon as the model predicts ``target_class`` (0 steps if it already
    does). With ``bounds=(0, 1)`` the image is clipped to that range after each step,
    so it stays a valid image.

    Parameters
    ----------
    x : (1, C, H, W) in ``model.dtype``: one image
    target_class : int in [0, classes)
    step : float > 0; max_steps : int >= 1; signed : bool
    bounds : (low, high), optional

    Returns
    -------
    Fooled: the image, the number of steps, whether it worked, the L2 and L-inf size of
    the change and the predicted class.
    """
    model = _check_model(model)
    check_input(model, x, "fool")
    if len(x) != 1:
        raise ValueError(f"fool: x must be one image, shape (1, C, H, W); for several, call "
                         f"fool once per image. Received: {shape_of('x', x)}")
    if not is_int(target_class):
        raise TypeError(f"target_class must be an int. Received: target_class={target_class!r}")
    step = check_number(step, "step")
    if step == 0:
        raise ValueError("step must be > 0. Received: step=0")
    max_steps = check_int(max_steps, "max_steps")
    if not isinstance(signed, (bool, np.bool_)):
        raise TypeError(f"signed must be True or False. Received: signed={signed!r}")
    bounds = _check_bounds(bounds)
    fooled = x.copy()
    taken = 0
    with preserved_state(model):
        while True:
            scores = model.forward(fooled)
            check_overflow(scores, fooled, "fool", "the model's output")
            class_indices(target_class, 1, scores.shape[1])
            if scores[0].argmax() == target_class or taken == max_steps:
                break
            # -- the core step: up the gradient of the target class's score ------------
            # BEGIN SOLUTION guided_backprop
            # HINT: the gradient of S_t on fooled, from the scores of this forward pass; one step
            seed = np.zeros_like(scores)
            seed[0, target_class] = 1                   # dS_t/dscores
            g = backprop(model, seed, model.layers[-1].name, "standard")
            fooled += step * (np.sign(g) if signed else normalized(g))
            # END SOLUTION
            if bounds is not None:
                np.clip(fooled, *bounds, out=fooled)
            taken += 1
    change = (fooled - x).astype(np.float64)
    predicted = int(scores[0].argmax())
    return Fooled(image=fooled, steps=taken, success=predicted == target_class,
                  l2=float(np.sqrt((change ** 2).sum())), linf=float(np.abs(change).max()),
                  predicted=predicted)


# -- layer inversion -----------------------------------------------------------------------
@dataclass
class Inverted:
    """What `invert` returns.

    image : (N, C, H, W) -- the reconstructions
    losses : (steps,) float64 -- the relative error ``||phi(x') - phi(x)||^2 / ||phi(x)||^2``
        (summed over the batch) at each step, before the step
    final : float -- that error for ``image``
    """

    image: np.ndarray
    losses: np.ndarray
    final: float


def total_variation(x: np.ndarray) -> tuple[float, np.ndarray]:
    """``TV(x) = sum (x[.., i+1, j] - x[.., i, j])^2 + (x[.., i, j+1] - x[.., i, j])^2``
    (the squared, "beta = 2" form of Mahendran & Vedaldi) and its gradient on ``x``."""
    dy = np.diff(x, axis=2)
    dx = np.diff(x, axis=3)
    grad = np.zeros_like(x)
    grad[:, :, 1:] += 2 * dy
    grad[:, :, :-1] -= 2 * dy
    grad[:, :, :, 1:] += 2 * dx
    grad[:, :, :, :-1] -= 2 * dx
    return float((dy.astype(np.float64) ** 2).sum() + (dx.astype(np.float64) ** 2).sum()), grad


def invert(model: Sequential, x: np.ndarray, layer: str, *, steps: int = 200,
           lr: float = 0.05, tv_weight: float = 0.05, l2: float = 0.0,
           seed: int = 0, progress: bool = True, x0: np.ndarray | None = None) -> Inverted:
    """An image whose ``layer`` output matches that of ``x``: gradient descent on

        ``E(x') = ||phi(x') - phi(x)||^2 / ||phi(x)||^2 + tv_weight * TV(x') / P
        + l2 * ||x'||^2 / P``

    where ``phi`` is ``layer``'s output and ``P`` the number of pixel values of one
    image. Starts from small noise (or ``x0``); each step moves by ``lr`` per pixel
    (root mean square), and ``lr`` halves whenever the error rose. What survives in
    the reconstruction is what the layer keeps of the image.

    Parameters
    ----------
    x : (N, C, H, W) in ``model.dtype``: the images to reconstruct
    layer : str -- a layer name, e.g. ``"relu2"``
    steps, lr, tv_weight, l2 : see above
    seed : int >= 0 -- seeds the start image
    progress : show a progress bar (tqdm)
    x0 : (N, C, H, W), optional -- the start image instead of noise

    Returns
    -------
    Inverted with ``image`` (N, C, H, W), ``losses`` (steps,) and ``final``.
    """
    model = _check_model(model)
    check_input(model, x, "invert")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str). Received: layer={layer!r}")
    model.index(layer)   # a KeyError listing the real names
    steps = check_int(steps, "steps")
    lr = check_number(lr, "lr")
    tv_weight = check_number(tv_weight, "tv_weight")
    l2 = check_number(l2, "l2")
    rng = np.random.default_rng(check_seed(seed))
    if x0 is None:
        image = (0.01 * rng.standard_normal(x.shape)).astype(x.dtype)
    else:
        check_input(model, x0, "invert")
        if x0.shape != x.shape:
            raise ValueError(f"x0 must have the shape of x, {list(x.shape)}. "
                             f"Received: {shape_of('x0', x0)}")
        image = x0.copy()
    losses = []
    with preserved_state(model):
        goal = model.forward(x, until=layer).copy()
        check_overflow(goal, x, "invert", f"the output of layer {layer!r}")
        if not goal.any():
            raise ValueError(f"invert: the output of layer {layer!r} is all zero for x, so "
                             "every image with an all-zero output matches it; pick "
                             "another layer or image")
        energy, error, g = inversion_energy(model, image, goal, layer, tv_weight, l2)
        for _ in _progress(steps, progress, "invert"):
            losses.append(error)
            # -- the core step: down the gradient of the energy; halve lr if it rose ------
            trial = image - lr * normalized(g)
            new_energy, new_error, new_g = inversion_energy(model, trial, goal, layer,
                                                            tv_weight, l2)
            if new_energy <= energy:
                image, energy, error, g = trial, new_energy, new_error, new_g
            else:
                lr /= 2
    return Inverted(image=image, losses=np.array(losses), final=error)


def inversion_energy(model: Sequential, image: np.ndarray, goal: np.ndarray, layer: str,
                     tv_weight: float, l2: float) -> tuple[float, float, np.ndarray]:
    """`invert`'s energy ``E(image)``, its error term alone, and ``dE/dimage``.

    ``goal`` is the output of ``layer`` to match, ``(N, ...)``. Changes the caches.
    """
    pixels = image[0].size
    scale = float((goal.astype(np.float64) ** 2).sum())
    diff = model.forward(image, until=layer) - goal
    error = float((diff.astype(np.float64) ** 2).sum()) / scale
    grad = backprop(model, (2 / scale) * diff, layer, "standard")
    tv, tv_grad = total_variation(image)
    energy = error + (tv_weight * tv + l2 * float((image.astype(np.float64) ** 2).sum())) / pixels
    grad += (tv_weight / pixels) * tv_grad + (2 * l2 / pixels) * image
    return energy, error, grad


__all__ = ["maximize", "fool", "invert", "Maximized", "Fooled", "Inverted",
           "score_and_gradient", "normalized", "gaussian_blur", "total_variation",
           "inversion_energy"]
