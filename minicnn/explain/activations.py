"""Which layers and neurons to explain: helpers that look at a model's activations.

- `conv_activations`: for each conv layer, the name of its feature maps after the
  non-linearity (the ReLU right after it, if there is one);
- `cam_layer`: Grad-CAM's layer, the last of those (Selvaraju et al. 2017);
- `top_neurons`: the most strongly activated neurons of a layer for one image
  (Zeiler & Fergus 2014), to use as targets;
- `busiest_channels`: the feature maps of a layer that fire most over a set of images.
"""

from __future__ import annotations

import numpy as np

from ..layers import Conv2D, ReLU
from ..sequential import Sequential
from ..validation import check_int, is_int
from .core import Neuron, check_input, preserved_state


def conv_activations(model: Sequential) -> list[str]:
    """For each conv layer in order, the name of its feature maps after the
    non-linearity: the ReLU right after it if there is one, else the conv itself."""
    names = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2D):
            after = model.layers[i + 1] if i + 1 < len(model.layers) else None
            names.append(after.name if isinstance(after, ReLU) else layer.name)
    return names


def cam_layer(model: Sequential) -> str | None:
    """Grad-CAM's layer: the last conv layer's rectified feature maps (Selvaraju et al.);
    None for a model without a conv layer."""
    names = conv_activations(model)
    return names[-1] if names else None


def top_neurons(model: Sequential, x: np.ndarray, layer: str, k: int = 4,
                distinct_channels: bool = True) -> list[Neuron]:
    """The ``k`` most strongly activated neurons of ``layer`` for one image.

    Following Zeiler & Fergus 2014, with ``distinct_channels=True`` each feature map
    contributes at most its strongest neuron, so the ``k`` neurons come from ``k``
    different channels; otherwise the ``k`` largest values anywhere. Name a ReLU
    layer (``"relu3"``) for the feature maps after the non-linearity.

    Parameters
    ----------
    x : (1, C, H, W) array in ``model.dtype``: one image
    layer : str
    k : int, at most the number of candidates

    Returns
    -------
    list of `Neuron`, strongest first. The model is left as it was.
    """
    check_input(model, x, "top_neurons")
    if x.shape[0] != 1:
        raise ValueError(f"top_neurons: x must be one image (1, C, H, W); call it once per "
                         f"image. Received: x of shape {list(x.shape)}")
    with preserved_state(model):
        out = model.forward(x, until=layer)[0]
    if out.ndim == 1:
        candidates = [(float(v), (c,)) for c, v in enumerate(out)]
    elif out.ndim == 3:
        if distinct_channels:
            flat = out.reshape(out.shape[0], -1).argmax(axis=1)
            positions = [(c, *np.unravel_index(i, out.shape[1:])) for c, i in enumerate(flat)]
        else:
            positions = [tuple(p) for p in np.ndindex(*out.shape)]
        candidates = [(float(out[p]), p) for p in positions]
    else:
        raise ValueError(f"top_neurons: layer must give (C, H, W) or (features,) per image. "
                         f"Received: layer={layer!r} with {list(out.shape)} per image")
    if not is_int(k) or not 1 <= k <= len(candidates):
        raise ValueError(f"k must be an int in [1, {len(candidates)}]. Received: k={k!r}")
    candidates.sort(key=lambda vp: -vp[0])   # stable: ties keep channel order
    return [Neuron(layer, *(int(i) for i in p)) for _, p in candidates[:k]]


def busiest_channels(model: Sequential, x: np.ndarray, layer: str, n: int) -> list[int]:
    """The ``n`` channels of ``layer`` with the largest mean (over the images ``x``,
    ``(N, C, H, W)``) peak activation, strongest first: feature maps that fire, not
    dead ones. The model is left as it was."""
    check_input(model, x)
    n = check_int(n, "n", where="busiest_channels")
    with preserved_state(model):
        out = model.forward(x, until=layer)
    peaks = out.reshape(out.shape[0], out.shape[1], -1).max(axis=2).mean(axis=0)
    return [int(c) for c in np.argsort(-peaks, kind="stable")[:n]]
