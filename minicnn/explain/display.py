"""Turning a gradient into a picture, the ways the papers show one.

Every helper takes one image's map -- ``(C, H, W)`` or ``(H, W)`` -- and returns a
float array in [0, 1]: ``(H, W)`` for one channel or a collapsed map, ``(H, W, 3)``
for three channels, ready for ``plt.imshow`` (gray colormap for 2-D arrays).

=====================  =====================================================
`signed_map`           0.5 (gray) is zero, brighter is positive, darker is
                       negative, on a symmetric scale (Springenberg et al.)
`positive_saliency`    only the positive part, 0 = none (Selvaraju et al.)
`negative_saliency`    only the negative part, as a positive map
`abs_max`              max of ``|g|`` over channels (Simonyan et al.)
`clip_percentile`      scale a map to [0, 1], clipping at a percentile
`shared_scale`         one scale for several maps (the percentile of them all)
`to_image`             an input image (C, H, W) as (H, W) or (H, W, 3)
=====================  =====================================================

Gradients are heavy-tailed: a handful of pixels can be ten times larger than the
rest. Scaling by the 99th percentile of ``|g|`` rather than the maximum (and
clipping what lies beyond it) keeps the rest of the map visible.

Each map is scaled by its own percentile unless ``scale=`` is given: then the same
value of ``g`` gets the same shade in every map drawn with that scale (compute it
with `shared_scale`). Own scales show each map's pattern; a shared scale shows how
large the maps are relative to each other. The figures draw signed maps with the
diverging colour map ``RdBu_r`` (0.5 = zero = white, red positive, blue negative)
and positive parts and magnitudes in gray (0 = black); see docs/explain.md.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_finite


def _hwc(g: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) when C == 1, (H, W, C) otherwise; (H, W) is kept."""
    g = _finite_map(g)
    if g.ndim == 2:
        return g
    if g.ndim == 3:
        return g[0] if g.shape[0] == 1 else g.transpose(1, 2, 0)
    raise ValueError(f"the map must be one image's, of shape (C, H, W) or (H, W); index the "
                     f"batch first, e.g. maps[0]. Received: map of shape {list(g.shape)}")


def _finite_map(g) -> np.ndarray:
    """``g`` as a float64 array, refusing NaN and infinity (they would show as garbage)."""
    array = np.asarray(g)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"the map must be an array of numbers. Received: map of dtype "
                        f"{array.dtype}")
    return check_finite(array.astype(np.float64), "map")


def _scale(values: np.ndarray, percentile: float) -> float:
    """The ``percentile`` of the non-negative ``values`` (0 when there are none)."""
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"percentile must be a number in (0, 100]. "
                        f"Received: percentile={percentile!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100]. Received: percentile={percentile}")
    return float(np.percentile(values, percentile)) if values.size else 0.0


def _given_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be None or a finite number >= 0. Received: scale={scale!r}")
    return float(scale)


def shared_scale(maps, percentile: float = 99.0) -> float:
    """One scale for several maps: the ``percentile`` of ``|g|`` over all their values
    together. Pass it as ``scale=`` to draw the maps on one common scale."""
    values = [np.abs(_finite_map(m)).ravel() for m in maps]
    if not values:
        raise ValueError("shared_scale needs at least one map")
    return _scale(np.concatenate(values), percentile)


def clip_percentile(m: np.ndarray, percentile: float = 99.0,
                    scale: float | None = None) -> np.ndarray:
    """Scale a non-negative map to [0, 1]: ``min(m / p, 1)`` with ``p`` the map's
    ``percentile`` (or ``scale`` when given). All values at or above ``p`` become 1; a
    map that is zero everywhere stays zero. Negative values are clipped to 0."""
    m = np.maximum(_finite_map(m), 0)
    p = _scale(m, percentile) if scale is None else _given_scale(scale)
    if p <= 0:
        p = float(m.max())
    if p <= 0:
        return np.zeros_like(m)
    return np.minimum(m / p, 1.0)


def signed_map(g: np.ndarray, percentile: float = 99.0,
               scale: float | None = None) -> np.ndarray:
    """A signed map centred on 0.5: ``0.5 + 0.5 * clip(g / s, -1, 1)``.

    ``s`` is ``scale`` when given, else the ``percentile`` of ``|g|`` over the whole
    map (one scale for both signs and all channels), so 0.5 means zero, 1 means
    ``g >= s`` and 0 means ``g <= -s``. A map that is zero everywhere is uniformly 0.5
    (gray on a gray colour map, white on ``RdBu_r``).
    """
    g = _hwc(g)
    s = _scale(np.abs(g), percentile) if scale is None else _given_scale(scale)
    if s <= 0:
        s = float(np.abs(g).max())
    if s <= 0:
        return np.full_like(g, 0.5)
    return 0.5 + 0.5 * np.clip(g / s, -1.0, 1.0)


def positive_saliency(g: np.ndarray, percentile: float = 99.0,
                      scale: float | None = None) -> np.ndarray:
    """``max(g, 0)`` scaled to [0, 1] by `clip_percentile` (channels kept)."""
    return clip_percentile(np.maximum(_hwc(g), 0), percentile, scale)


def negative_saliency(g: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """``max(-g, 0)`` scaled to [0, 1] by `clip_percentile` (channels kept)."""
    return clip_percentile(np.maximum(-_hwc(g), 0), percentile)


def abs_max(g: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """``max over channels of |g|``, an (H, W) map scaled to [0, 1] by `clip_percentile`
    (Simonyan et al. 2013's saliency map)."""
    g = _finite_map(g)
    if g.ndim == 3:
        g = np.abs(g).max(axis=0)
    elif g.ndim != 2:
        _hwc(g)   # raises the shape error
    return clip_percentile(np.abs(g), percentile)


def to_image(x: np.ndarray) -> np.ndarray:
    """An input image ``(C, H, W)`` (or ``(H, W)``) as ``(H, W)`` or ``(H, W, 3)``,
    clipped to [0, 1]."""
    return np.clip(_hwc(x), 0.0, 1.0)
