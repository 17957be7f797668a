"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017).

For a target (usually a class score) and a convolutional layer with output
``A`` of shape ``(N, K, h, w)``:

1. ``dA`` = the gradient of the target with respect to ``A`` (standard rule);
2. ``alpha[n, k]`` = the spatial mean of ``dA[n, k]`` (one weight per feature map);
3. ``cam[n]`` = ``ReLU(sum_k alpha[n, k] * A[n, k])``, an ``(h, w)`` map;
4. upsample ``cam`` bilinearly to the input's ``(H, W)`` and divide each image's map
   by its maximum, so it lies in [0, 1] (a map that is zero everywhere stays zero).

Guided Grad-CAM multiplies guided backprop's image gradient by that map.
"""

from __future__ import annotations

import numpy as np

from ..sequential import Sequential
from ..validation import check_array, is_int
from .core import Target, check_input, guided_backprop, preserved_state, target_gradient


def _interpolation_matrix(n_in: int, n_out: int, dtype) -> np.ndarray:
    """``(n_out, n_in)`` matrix of 1-D linear interpolation weights, align_corners=False.

    Output pixel ``i`` has its centre at input coordinate
    ``src = (i + 0.5) * n_in / n_out - 0.5``, clamped to ``[0, n_in - 1]``; it mixes
    input pixels ``floor(src)`` and ``floor(src) + 1`` with weights ``1 - t`` and ``t``,
    ``t = src - floor(src)``. (The convention of PyTorch's ``align_corners=False``,
    OpenCV's ``INTER_LINEAR`` and Pillow's ``BILINEAR`` when enlarging.)
    """
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    t = src - lo
    weights = np.zeros((n_out, n_in))
    weights[np.arange(n_out), lo] += 1 - t
    weights[np.arange(n_out), hi] += t
    return weights.astype(dtype)


def bilinear_resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(N, h, w)`` maps to ``(N, H, W)`` by bilinear interpolation.

    Uses the half-pixel (``align_corners=False``) convention described in
    `_interpolation_matrix`: the map is treated as ``h x w`` squares of constant
    size, and the border values extend to the edges. Rows and columns are
    interpolated separately: ``out[n] = Rh @ maps[n] @ Rw.T``.

    ``maps`` must be float32 or float64 with ``h, w >= 1``; ``size`` is a pair of ints
    ``(H, W)``, each >= 1.
    """
    check_array(maps, "bilinear_resize", ndim=3, name="maps")
    if min(maps.shape[1:]) < 1:
        raise ValueError(f"bilinear_resize: maps must have h, w >= 1. Received: maps of "
                         f"shape {list(maps.shape)}")
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(map(is_int, size)):
        example = f", e.g. ({size}, {size})" if is_int(size) else ""
        raise TypeError(f"bilinear_resize: size must be a pair of ints (H, W){example}. "
                        f"Received: size={size!r}")
    if min(size) < 1:
        raise ValueError(f"bilinear_resize: size must be >= 1. Received: size={tuple(size)!r}")
    rows = _interpolation_matrix(maps.shape[1], size[0], maps.dtype)
    cols = _interpolation_matrix(maps.shape[2], size[1], maps.dtype)
    return rows @ maps @ cols.T


def grad_cam(model: Sequential, x: np.ndarray, target: Target, layer: str) -> np.ndarray:
    """Grad-CAM heat map of ``target`` at the convolutional ``layer``.

    Parameters
    ----------
    model : Sequential
    x : (N, C, H, W) array in ``model.dtype``
    target : int, (N,) int array, Neuron, Channel, Seed, float seed array
        As for `gradient`; its layer must be ``layer`` or come after it.
    layer : str
        A layer with image-shaped output ``(N, K, h, w)``, usually the last conv
        layer (Selvaraju et al. use the last conv layer's rectified feature maps;
        name its ReLU, e.g. ``"relu3"``, for exactly that).

    Returns
    -------
    (N, H, W) array in [0, 1], in x's dtype; each image's map has maximum 1 unless it
    is zero everywhere. The model is left as it was.
    """
    check_input(model, x, "grad_cam")
    if x.ndim != 4:
        raise ValueError(f"grad_cam: x must be images of shape (N, C, H, W). "
                         f"Received: x of shape {list(x.shape)}")
    with preserved_state(model):
        acts = model.forward(x, until=layer)
        if acts.ndim != 4:
            raise ValueError(f"grad_cam: layer must have an (N, K, h, w) output; pick a conv "
                             f"layer. Received: layer={layer!r} with output of shape "
                             f"{list(acts.shape)}")
        grads = target_gradient(model, x, target, "standard", stop=layer)
    weights = grads.mean(axis=(2, 3))                                   # (N, K)
    cam = np.maximum(np.einsum("nk,nkhw->nhw", weights, acts), 0)       # (N, h, w)
    cam = bilinear_resize(cam, x.shape[2:])                             # (N, H, W)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def guided_grad_cam(model: Sequential, x: np.ndarray, target: Target, layer: str) -> np.ndarray:
    """Guided backprop times the Grad-CAM map: ``(N, C, H, W)``, shaped like ``x``."""
    cam = grad_cam(model, x, target, layer)
    return guided_backprop(model, x, target) * cam[:, None]
