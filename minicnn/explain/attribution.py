"""Attribution methods beyond the three ReLU rules.

- `smooth_grad`: Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise".
  Average a rule's map over noisy copies of the image.
- `integrated_gradients`: Sundararajan et al. 2017, "Axiomatic Attribution for Deep
  Networks". Average the gradient along the straight path from a baseline to the
  image, times ``(x - baseline)``; the attributions then add up to
  ``f(x) - f(baseline)`` (completeness).
- `occlusion`: Zeiler & Fergus 2014. Grey out a patch, see how much the score drops.

All take the same ``target`` forms as `minicnn.explain.gradient` (class index,
``Neuron``, ``Channel``, custom seed) and leave the model as they found it. Each
runs many copies of the images as one batch (in chunks of ``batch_size`` images), not
one forward/backward pass per copy.
"""

from __future__ import annotations

import numpy as np

from ..sequential import Sequential
from ..validation import as_generator, check_finite, check_int, check_overflow, pair
from .core import (
    Channel,
    Neuron,
    Seed,
    check_input,
    gradient,
    preserved_state,
    target_layer,
    target_score,
)


# -- small helpers -----------------------------------------------------------------
def _check_images(model: Sequential, x, where: str) -> np.ndarray:
    check_input(model, x, where)
    if x.ndim != 4:
        raise ValueError(f"{where}: x must be an (N, C, H, W) array. Received: x of shape "
                         f"{list(x.shape)}")
    return x


def _output_ndim(model: Sequential, layer: str, x_shape: tuple[int, ...]) -> int:
    """Number of dimensions of ``layer``'s output for an input of ``x_shape``."""
    shape = (1, *x_shape[1:])
    for lyr in model.layers[:model.index(layer) + 1]:
        shape = lyr.output_shape(shape)
    return len(shape)


def repeat_target(model: Sequential, target, copies: int, x_shape: tuple[int, ...]):
    """The target for ``copies`` copies of a batch stacked along axis 0, ``[x, x, ...]``.

    Per-image targets -- an (N,) class array, a seed array of the whole batch -- are
    tiled; an int, a ``Neuron``, a ``Channel`` or a one-image seed are the same for
    every image and stay as they are.
    """
    if isinstance(target, (Neuron, Channel)) or np.ndim(target) == 0:
        return target
    if isinstance(target, Seed):
        array = np.asarray(target.array)
        if array.ndim != _output_ndim(model, target.layer, x_shape):
            return target                                    # one image's seed, shared
        return Seed(target.layer, np.tile(array, (copies,) + (1,) * (array.ndim - 1)))
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer) and target.shape != (x_shape[0],):
        raise ValueError(f"a class target array must have shape (N,) = ({x_shape[0]},), one "
                         f"class per image. Received: target of shape {target.shape}")
    if np.issubdtype(target.dtype, np.floating) and \
            target.ndim != _output_ndim(model, model.layers[-1].name, x_shape):
        return target
    return np.tile(target, (copies,) + (1,) * (target.ndim - 1))


def score(model: Sequential, x: np.ndarray, target) -> np.ndarray:
    """``f(x)``: the target's value per image, (N,), the quantity whose gradient
    ``gradient(..., mode="standard")`` returns (a class score, a neuron's activation,
    a channel's sum, or ``sum(seed * out)``). Leaves the model as it was."""
    with preserved_state(model):
        layer = target_layer(model, target)
        out = model.forward(x, until=layer)
        check_overflow(out, x, "explain", f"the output of layer {layer!r}")
        return target_score(model, target, out)


def _chunks(copies: int, n: int, batch_size: int):
    """Split ``copies`` copies of an n-image batch into runs of whole copies, each run
    holding at most ``batch_size`` images (at least one copy)."""
    per_run = max(1, batch_size // max(n, 1))
    for start in range(0, copies, per_run):
        yield start, min(copies, start + per_run)


# -- SmoothGrad ---------------------------------------------------------------------
def smooth_grad(model: Sequential, x: np.ndarray, target, n_samples: int = 25,
                noise: float = 0.15, mode: str = "standard", rng=None,
                batch_size: int = 256) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the mean of a rule's map over noisy copies.

    ``map = mean_i gradient(x + eps_i)``, ``eps_i ~ N(0, sigma^2)`` with
    ``sigma = noise * (x.max() - x.min())`` per image (the paper's "noise level" as a
    fraction of the input's range; 10-20% works well). With ``noise=0`` every copy is
    ``x`` and the result is the plain rule's map.

    Parameters
    ----------
    x : (N, C, H, W) array
    target : as for `gradient`
    n_samples : int
        Noisy copies per image.
    noise : float >= 0
    mode : "standard", "deconvnet" or "guided"
        The rule whose map is smoothed.
    rng : seed or np.random.Generator, optional
    batch_size : int
        Images per forward/backward pass (copies are stacked into batches).

    Returns
    -------
    (N, C, H, W) array, like ``x``.
    """
    x = _check_images(model, x, "smooth_grad")
    n_samples = check_int(n_samples, "n_samples")
    batch_size = check_int(batch_size, "batch_size")
    if isinstance(noise, bool) or not np.isscalar(noise) or not np.isfinite(noise) \
            or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0. Received: noise={noise!r}")
    rng = as_generator(rng, where="smooth_grad")
    n = len(x)
    value_range = x.reshape(n, -1).max(axis=1) - x.reshape(n, -1).min(axis=1)
    sigma = (noise * value_range).reshape(n, 1, 1, 1)
    total = np.zeros(x.shape, dtype=np.float64)
    for start, stop in _chunks(n_samples, n, batch_size):
        copies = stop - start
        eps = rng.standard_normal((copies,) + x.shape) * sigma          # (copies, N, C, H, W)
        noisy = (x[None] + eps).astype(x.dtype).reshape((copies * n,) + x.shape[1:])
        copies_target = repeat_target(model, target, copies, x.shape)
        maps = gradient(model, noisy, copies_target, mode=mode)
        total += maps.reshape((copies,) + x.shape).sum(axis=0)
    return (total / n_samples).astype(x.dtype)


# -- Integrated gradients -----------------------------------------------------------
def integrated_gradients(model: Sequential, x: np.ndarray, target, baseline=None,
                         steps: int = 50, batch_size: int = 256) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017).

    ``IG(x) = (x - x0) * integral_0^1 grad f(x0 + a (x - x0)) da``, the integral taken
    with the midpoint rule at ``a = (i + 0.5) / steps``. Completeness: the
    attributions of an image add up to ``f(x) - f(x0)``, up to the integration error,
    which shrinks as ``steps`` grows (for a ReLU network the gradient is piecewise
    constant along the path, so the error comes from the few kinks).

    Parameters
    ----------
    x : (N, C, H, W) array
    target : as for `gradient` (``f`` is the target's value, see `score`)
    baseline : None, float or array broadcastable to x
        ``x0``; None means all zeros (a black image), the paper's choice.
    steps : int
        Points on the path.
    batch_size : int
        Images per forward/backward pass.

    Returns
    -------
    (N, C, H, W) array, like ``x``. Always the true gradient (standard ReLU rule).
    """
    x = _check_images(model, x, "integrated_gradients")
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    x0 = np.zeros_like(x) if baseline is None else np.asarray(baseline)
    if x0.dtype.kind not in "iuf":
        raise TypeError(f"integrated_gradients: baseline must be None, a number or an array "
                        f"of numbers. Received: baseline of dtype {x0.dtype}")
    with np.errstate(over="ignore"):    # a value too large for x's dtype becomes inf
        x0 = check_finite(x0.astype(x.dtype), "baseline", "integrated_gradients")
    try:
        x0 = np.broadcast_to(x0, x.shape)
    except ValueError:
        raise ValueError(f"baseline must be a number or an array broadcastable to x's "
                         f"{list(x.shape)}. Received: baseline of shape "
                         f"{list(np.shape(baseline))}") from None
    n = len(x)
    total = np.zeros(x.shape, dtype=np.float64)
    for start, stop in _chunks(steps, n, batch_size):
        alphas = (np.arange(start, stop) + 0.5) / steps                  # midpoints
        path = x0[None] + alphas[:, None, None, None, None] * (x - x0)[None]
        path = path.astype(x.dtype).reshape(((stop - start) * n,) + x.shape[1:])
        path_target = repeat_target(model, target, stop - start, x.shape)
        grads = gradient(model, path, path_target, mode="standard")
        total += grads.reshape((stop - start,) + x.shape).sum(axis=0)
    return ((x - x0) * (total / steps)).astype(x.dtype)


# -- Occlusion ----------------------------------------------------------------------
def _patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the patches along one axis: every ``stride`` pixels, plus
    one flush with the far edge if the stride skips it, so every pixel is covered."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion(model: Sequential, x: np.ndarray, target, patch=8, stride=4,
              fill: float | str = 0.0, batch_size: int = 256) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus 2014): where does hiding the image hurt?

    A ``patch`` x ``patch`` square (all channels) slides over the image in steps of
    ``stride``; at each place it is set to ``fill`` and the drop of the target score,
    ``f(x) - f(x_occluded)``, is recorded. Each pixel gets the mean drop of the patches
    that cover it. A last row/column of patches is added flush with the bottom/right
    edge when the stride would skip it, so every pixel is covered.

    Parameters
    ----------
    x : (N, C, H, W) array
    target : as for `gradient` (``f`` is the target's value, see `score`)
    patch, stride : int or (int, int)
        The patch must fit in the image.
    fill : float or "mean"
        The value of the occluded pixels. 0 is black -- on Fashion-MNIST the
        background's own value, so hiding background changes nothing and cannot show
        whether the background is evidence. ``"mean"``: the mean of ``x`` over all
        its images and pixels, per channel (pass a whole batch, or compute a
        dataset's mean and pass it as a number), a gray that differs from both the
        background and the object.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    (N, H, W) array: positive where occluding lowers the score.
    """
    x = _check_images(model, x, "occlusion")
    batch_size = check_int(batch_size, "batch_size")
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"occlusion: fill must be a number or \"mean\". "
                             f"Received: fill={fill!r}")
        fill = x.mean(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype)[:, None, None]
    elif isinstance(fill, bool) or not isinstance(fill, (int, float, np.integer, np.floating)):
        raise TypeError(f"occlusion: fill must be a number or \"mean\". "
                        f"Received: fill={fill!r}")
    elif not np.isfinite(fill):
        raise ValueError(f"occlusion: fill must be finite. Received: fill={fill!r}")
    ph, pw = pair(patch, "patch")
    sh, sw = pair(stride, "stride")
    n, _, h, w = x.shape
    if ph > h or pw > w:
        raise ValueError(f"patch must fit in the {h}x{w} image. Received: patch={patch!r}")
    places = [(i, j) for i in _patch_starts(h, ph, sh) for j in _patch_starts(w, pw, sw)]
    base = score(model, x, target)
    drop_sum = np.zeros((n, h, w), dtype=np.float64)
    count = np.zeros((h, w), dtype=np.float64)
    for start, stop in _chunks(len(places), n, batch_size):
        batch = np.repeat(x[None], stop - start, axis=0)                # (P, N, C, H, W)
        for p, (i, j) in enumerate(places[start:stop]):
            batch[p, :, :, i:i + ph, j:j + pw] = fill
        batch_target = repeat_target(model, target, stop - start, x.shape)
        scores = score(model, batch.reshape((-1,) + x.shape[1:]), batch_target)
        scores = scores.reshape(stop - start, n)
        for p, (i, j) in enumerate(places[start:stop]):
            drop_sum[:, i:i + ph, j:j + pw] += (base - scores[p])[:, None, None]
            count[i:i + ph, j:j + pw] += 1
    return (drop_sum / count).astype(x.dtype)

