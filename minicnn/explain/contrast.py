"""How "grey" or "sharp" is a map? Three numbers that put the lecture's picture in figures.

The lecture says the true gradient looks "largely grey" and guided backprop "sharp".
Looking at two pictures is not a measurement: a picture's contrast depends on how it
was scaled. `contrast` measures it on ``a = |map|`` (summed over channels), over the
pixels of ``region`` (default: the whole image; for one neuron, pass its receptive
field, since every pixel outside it is zero under every rule):

==============  ===========================================================  =========
number          meaning                                                      "sharp"
==============  ===========================================================  =========
``near_zero``   share of the pixels with ``a < near_zero_fraction * max a``  high
``top_mass``    share of ``sum a`` carried by the top ``top_percent`` % of   high
                the pixels (a uniform map scores about ``top_percent`` %)
``on_object``   share of ``sum a`` on the object (``mask`` True), when a     --
                mask is given (a uniform map scores the mask's area)
==============  ===========================================================  =========

A grey map has a little of everything everywhere: few pixels near zero, mass spread
thin. A sharp map is zero almost everywhere with its mass on a few pixels. The two
shares measure different things: ``top_mass`` says the map is concentrated,
``on_object`` says where; a map can be sharp and still sit on the background.

Example::

    from minicnn.explain.contrast import contrast
    c = contrast(guided_map, mask=image > 0)
    print(f"{c.near_zero:.0%} near zero, top 5 % carry {c.top_mass:.0%}")
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_finite


@dataclass(frozen=True)
class Contrast:
    """The result of `contrast`: three shares in [0, 1].

    ``top_mass`` and ``on_object`` are ``nan`` for a map that is zero on the whole
    region (it has no mass to share out); ``on_object`` is ``nan`` without a mask.
    ``pixels`` is the number of pixels measured (the region's size).
    """
    near_zero: float
    top_mass: float
    on_object: float
    pixels: int


def _magnitude(map: np.ndarray) -> np.ndarray:
    """``|map|`` as float64 (H, W), summing channels of a (C, H, W) map."""
    m = np.asarray(map)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"contrast: map must be an array of numbers. Received: map of dtype "
                        f"{m.dtype}")
    m = np.abs(check_finite(m.astype(np.float64), "map", "contrast"))
    if m.ndim == 3:
        return m.sum(axis=0)
    if m.ndim != 2:
        raise ValueError(f"contrast: map must be one image's, (H, W) or (C, H, W). Received: "
                         f"map of shape {list(m.shape)}")
    return m


def _bool_mask(mask, shape: tuple[int, int], name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"contrast: {name} must be a bool array. Received: {name} of dtype "
                        f"{mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"contrast: {name} must have the map's shape (H, W) = {list(shape)}. "
                         f"Received: {name} of shape {list(mask.shape)}")
    return mask


def _number_in(value, name: str, high: float) -> float:
    """``value`` as a float in (0, high], else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 < value <= high:
        raise ValueError(f"contrast: {name} must be a number in (0, {high:g}]. "
                         f"Received: {name}={value!r}")
    return float(value)


def contrast(map: np.ndarray, mask: np.ndarray | None = None,
             region: np.ndarray | None = None, near_zero_fraction: float = 0.1,
             top_percent: float = 5.0) -> Contrast:
    """Measure how concentrated one image's map is (see the module docstring).

    Parameters
    ----------
    map : (H, W) or (C, H, W) array
        One image's map; ``|map|`` summed over channels is measured.
    mask : (H, W) bool array, optional
        True on the object; gives ``on_object``.
    region : (H, W) bool array, optional
        The pixels to measure (default: all), e.g. a neuron's receptive field.
    near_zero_fraction : float in (0, 1]
        A pixel is "near zero" below this fraction of the region's largest ``|map|``.
    top_percent : float in (0, 100]
        The share of pixels whose mass ``top_mass`` reports; at least one pixel.

    Returns
    -------
    Contrast
        ``near_zero``, ``top_mass``, ``on_object`` and ``pixels``. On a map that is
        zero on the whole region every pixel is near zero (``near_zero = 1``).
    """
    a = _magnitude(map)
    fraction = _number_in(near_zero_fraction, "near_zero_fraction", 1)
    top = _number_in(top_percent, "top_percent", 100) / 100
    where = np.ones(a.shape, dtype=bool) if region is None else _bool_mask(region, a.shape,
                                                                          "region")
    if not where.any():
        raise ValueError("contrast: region must select at least one pixel. Received: an "
                         "all-False region")
    on = None if mask is None else _bool_mask(mask, a.shape, "mask")
    values = a[where]
    total, peak = float(values.sum()), float(values.max())
    if peak == 0:
        return Contrast(near_zero=1.0, top_mass=float("nan"), on_object=float("nan"),
                        pixels=int(values.size))
    near_zero = float((values < fraction * peak).mean())
    n_top = max(1, math.ceil(top * values.size - 1e-9))
    top_mass = float(np.sort(values)[::-1][:n_top].sum() / total)
    on_object = float("nan") if on is None else float(a[where & on].sum() / total)
    return Contrast(near_zero=near_zero, top_mass=top_mass, on_object=on_object,
                    pixels=int(values.size))
