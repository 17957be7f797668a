"""Is a map faithful? Sanity checks for explanations.

- `spearman`: Spearman's rank correlation, in NumPy.
- `localization`: how much of a map's mass lies on the object (a ground-truth mask),
  and the pointing game (is the map's maximum on the object?).
- `randomization_test`: Adebayo et al. 2018, "Sanity Checks for Saliency Maps".
  Re-initialise the weights layer by layer from the top, recompute the map, and
  measure how similar it stays. A map that barely changes while the network forgets
  everything it learned cannot be explaining what the network learned.

Why a hand-written Spearman and not ``scipy.stats.spearmanr``: SciPy is not a
dependency of minicnn (NumPy, matplotlib and tqdm are), and the whole computation is
ten lines a student can read: rank both arrays, then take Pearson's correlation of
the ranks.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from ..layers import Conv2D, Dense, ReLU
from ..sequential import Sequential
from ..validation import as_generator, check_finite
from .attribution import integrated_gradients, occlusion, smooth_grad
from .core import deconvnet, guided_backprop, saliency
from .gradcam import grad_cam, guided_grad_cam

ORIGINAL = "original"   # the first key of `randomization_test`'s result


# -- Spearman -----------------------------------------------------------------------
def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the flattened ``a``; tied values share the average of their ranks.

    ``rankdata([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]`` (the two 20s would be ranks 3
    and 4, so each gets 3.5), as ``scipy.stats.rankdata(method="average")``.
    """
    a = np.ravel(a)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts_group = np.r_[True, sorted_a[1:] != sorted_a[:-1]]   # first of each run of ties
    group = np.cumsum(starts_group) - 1                          # run number of each position
    first = np.flatnonzero(starts_group)                         # 0-based start of each run
    last = np.r_[first[1:], a.size] - 1                          # 0-based end of each run
    average_rank = (first + last) / 2 + 1                        # 1-based mean rank of the run
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = average_rank[group]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays of the same shape (flattened).

    The Pearson correlation of ``rankdata(a)`` and ``rankdata(b)``: 1 when both
    order the elements the same way, -1 when reversed. Returns ``nan`` when either
    array is constant (its ranks do not vary, so no correlation is defined). NaN and
    infinite values have no rank: they are a ValueError.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"spearman: a and b must have the same shape. Received: a of shape "
                         f"{list(a.shape)} and b of shape {list(b.shape)}")
    for name, array in (("a", a), ("b", b)):
        if array.dtype.kind not in "biuf":
            raise TypeError(f"spearman: {name} must be an array of numbers. Received: "
                            f"{name} of dtype {array.dtype}")
        check_finite(array, name, "spearman")
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    if denominator == 0:
        return float("nan")
    return float((ra * rb).sum() / denominator)


# -- Localization -------------------------------------------------------------------
def localization(map: np.ndarray, mask: np.ndarray) -> tuple:
    """Score a map against a ground-truth mask (the shapes dataset's masks).

    Parameters
    ----------
    map : (H, W), (N, H, W) or (N, C, H, W) array
        Any attribution map. Its absolute value is used; channels are summed
        (so a gradient and a Grad-CAM heat map are scored alike).
    mask : (H, W) or (N, H, W) bool array
        True on the object.

    Returns
    -------
    share : float, or (N,) float array
        ``sum(|map| inside the mask) / sum(|map|)``, in [0, 1]. A uniform map scores
        the mask's area fraction; 1 means all the mass is on the object.
    hit : bool, or (N,) bool array
        The pointing game (Zhang et al. 2016): is the pixel with the largest
        ``|map|`` inside the mask? On ties the first maximum in row-major order counts.

    An all-zero map points nowhere: share 0 and hit False.
    A 2-D map gives scalars; a batch gives arrays. A map with NaN or infinite values
    is a ValueError.
    """
    m = np.asarray(map)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"localization: map must be an array of numbers. Received: map of "
                        f"dtype {m.dtype}")
    m = np.abs(check_finite(m, "map", "localization").astype(np.float64))
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"localization: mask must be a bool array. Received: mask of dtype "
                        f"{mask.dtype}")
    single = m.ndim == 2
    if m.ndim == 4:
        m = m.sum(axis=1)
    elif single:
        m = m[None]
    elif m.ndim != 3:
        raise ValueError(f"map must be (H, W), (N, H, W) or (N, C, H, W). "
                         f"Received: map of shape {list(np.shape(map))}")
    if mask.ndim == 2 and mask.shape == m.shape[1:]:
        mask = np.broadcast_to(mask, m.shape)
    if mask.shape != m.shape:
        raise ValueError(f"localization: mask must be (H, W) = {list(m.shape[1:])} or "
                         f"(N, H, W) = {list(m.shape)}, matching the map of shape "
                         f"{list(np.shape(map))}. Received: mask of shape {list(mask.shape)}")
    total = m.sum(axis=(1, 2))
    inside = (m * mask).sum(axis=(1, 2))
    share = np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
    flat_peak = m.reshape(len(m), -1).argmax(axis=1)
    hit = mask.reshape(len(m), -1)[np.arange(len(m)), flat_peak] & (total > 0)
    if single:
        return float(share[0]), bool(hit[0])
    return share, hit


# -- Randomisation test (Adebayo et al. 2018) ----------------------------------------
# The methods `randomization_test` knows by name: f(model, x, target, **kwargs) -> map.
METHODS = {"saliency": saliency, "gradient": saliency, "deconvnet": deconvnet,
           "guided_backprop": guided_backprop, "grad_cam": grad_cam,
           "guided_grad_cam": guided_grad_cam, "smooth_grad": smooth_grad,
           "integrated_gradients": integrated_gradients, "occlusion": occlusion}


def _last_conv(model: Sequential) -> str:
    """The last conv layer's feature maps: its ReLU when one follows it (as Grad-CAM
    uses them), else the conv layer itself."""
    convs = [i for i, layer in enumerate(model.layers) if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError("Grad-CAM needs a conv layer, and this model has none")
    following = model.layers[convs[-1] + 1: convs[-1] + 2]
    if following and isinstance(following[0], ReLU):
        return following[0].name
    return model.layers[convs[-1]].name


def _explainer(model: Sequential, method, method_kwargs: dict, seed: int):
    """A function ``explain(model, x, target) -> map`` for ``method`` (a name or a
    callable). Methods that draw random numbers get the same seed at every step, so
    the maps before and after differ only by the weights."""
    if callable(method):
        return lambda m, x, t: method(m, x, t, **method_kwargs)
    methods = METHODS
    if method not in methods:
        raise ValueError(f"method must be one of {sorted(methods)} or a function "
                         f"f(model, x, target). Received: method={method!r}")
    kwargs = dict(method_kwargs)
    if method in ("grad_cam", "guided_grad_cam"):
        kwargs.setdefault("layer", _last_conv(model))
    fn = methods[method]
    if method == "smooth_grad":
        return lambda m, x, t: fn(m, x, t, rng=as_generator(seed), **kwargs)
    return lambda m, x, t: fn(m, x, t, **kwargs)


def _fresh_copy(model: Sequential) -> Sequential:
    """A deep copy of ``model`` without its forward caches (which can be large)."""
    skip = {id(layer.cache): None for layer in model.layers if layer.cache is not None}
    return copy.deepcopy(model, memo=skip)   # deepcopy uses memo[id(obj)] as the copy


def reinitialize(layer, rng: np.random.Generator) -> None:
    """Give ``layer`` fresh initial weights, as its constructor does: He-normal
    ``W ~ N(0, 2 / fan_in)`` and zero biases, in the layer's dtype (in place)."""
    if isinstance(layer, Conv2D):
        fan_in = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
    elif isinstance(layer, Dense):
        fan_in = layer.in_features
    else:
        raise TypeError(f"randomization_test can re-initialise Conv2D and Dense layers, "
                        f"but {layer.name!r} is a {type(layer).__name__}")
    w = layer.params["W"]
    w[...] = rng.standard_normal(w.shape) * np.sqrt(2.0 / fan_in)
    layer.params["b"][...] = 0


def _mean_rank_correlation(before: np.ndarray, after: np.ndarray, absolute: bool) -> float:
    """Mean over images of the Spearman correlation of two maps (N, ...)."""
    if absolute:
        before, after = np.abs(before), np.abs(after)
    rhos = np.array([spearman(b, a) for b, a in zip(before, after)])
    if np.isnan(rhos).all():
        return float("nan")
    if np.isnan(rhos).any():
        warnings.warn(f"{int(np.isnan(rhos).sum())} of {len(rhos)} maps are constant "
                      "(e.g. all zero), so their rank correlation is undefined; they are "
                      "left out of the mean", RuntimeWarning, stacklevel=3)
    return float(np.nanmean(rhos))


def randomization_test(model: Sequential, x: np.ndarray, target,
                       method="guided_backprop", rng=None, cascade: bool = True,
                       absolute: bool = True, return_maps: bool = False, **method_kwargs):
    """The model-parameter randomisation test (Adebayo et al. 2018).

    On a deep copy of ``model``, the layers with weights are re-initialised one by one
    from the top (the output layer first), and after each the map is computed again
    and compared with the map of the trained model.

    Parameters
    ----------
    model : Sequential
        Left untouched: all work happens on a copy.
    x : (N, C, H, W) array
    target : as for `gradient`
    method : str or callable
        ``"saliency"`` (alias ``"gradient"``), ``"deconvnet"``, ``"guided_backprop"``,
        ``"grad_cam"``, ``"guided_grad_cam"``, ``"smooth_grad"``,
        ``"integrated_gradients"``, ``"occlusion"``, or a function
        ``f(model, x, target, **method_kwargs) -> map``. Grad-CAM defaults to the last
        conv layer; pass ``layer=...`` to choose.
    rng : seed or np.random.Generator, optional
        Source of the new weights (and of SmoothGrad's noise, the same at every step).
    cascade : bool
        True (the paper's cascading randomisation): the layers stay randomised, so
        step ``k`` has the top ``k`` layers random. False: each layer is randomised
        alone, the others keep their trained weights.
    absolute : bool
        Compare ``|map|`` (default, as in the paper's main figures: the sign of a
        gradient map is often ignored when it is displayed) or the signed maps.
    return_maps : bool
        Also return the maps: ``{name: (N, ...) array}`` with the same keys.
    **method_kwargs
        Passed to the method, e.g. ``layer="conv2"`` or ``n_samples=10``.

    Returns
    -------
    dict
        ``{"original": 1.0, "fc1": rho, "conv3": rho, ...}`` in cascade order: the
        mean over images of Spearman's rank correlation between the trained model's
        map and the map once that layer (and, with ``cascade``, every layer above it)
        is random. ``"original"`` compares the trained maps with the same maps
        recomputed on the copy -- 1 unless the method is not repeatable -- and is the
        first column of the paper's figure. A map that stays near 1 while the
        weights are destroyed fails the test. (With ``return_maps``, a pair
        ``(scores, maps)``.)
    """
    _check_x = np.asarray(x)
    if _check_x.ndim != 4:
        raise ValueError(f"x must be an (N, C, H, W) array. Received: x of shape "
                         f"{list(_check_x.shape)}")
    rng = as_generator(rng, where="randomization_test")
    seed = int(rng.integers(2 ** 31))
    explain = _explainer(model, method, method_kwargs, seed)
    layers = [layer.name for layer in reversed(model.layers) if layer.params]

    before = np.asarray(explain(_fresh_copy(model), x, target))
    maps = {ORIGINAL: np.asarray(explain(_fresh_copy(model), x, target))}
    scores = {ORIGINAL: _mean_rank_correlation(before, maps[ORIGINAL], absolute)}
    randomised = _fresh_copy(model)
    for name in layers:
        if not cascade:
            randomised = _fresh_copy(model)
        reinitialize(randomised[name], rng)
        maps[name] = np.asarray(explain(randomised, x, target))
        scores[name] = _mean_rank_correlation(before, maps[name], absolute)
    return (scores, maps) if return_maps else scores
