"""What does one feature map look for? Zeiler & Fergus 2014, figure 2.

`top_patches` runs a dataset through the model, finds the ``k`` images in which one
feature map fires hardest, and returns for each the input patch that neuron sees
(its *receptive field*) and the guided-backprop (or deconvnet) reconstruction of
that neuron cropped the same way. `receptive_field` computes that patch from the
layers' kernel sizes, strides and paddings.

Receptive field arithmetic, along one axis. A conv or pool layer with kernel ``k``,
stride ``s`` and padding ``p`` computes output position ``o`` from input positions
``o*s - p`` to ``o*s - p + k - 1``. So an interval ``[a, b]`` of a layer's output
comes from the interval ``[a*s - p, b*s - p + k - 1]`` of its input; ReLU and
Dropout keep positions. Walk that back from the chosen layer to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layers import AvgPool2D, Conv2D, Dropout, MaxPool2D, ReLU
from ..layers.relu import check_mode
from ..sequential import Sequential
from ..validation import check_int, is_int, pair
from .core import Neuron, check_input, gradient, preserved_state


def receptive_field(model: Sequential, layer: str, y: int, x: int,
                    image_shape: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """The input box that neuron ``(y, x)`` of ``layer``'s output sees.

    Returns ``(top, left, bottom, right)`` with ``bottom`` and ``right`` exclusive,
    so ``image[..., top:bottom, left:right]`` is the patch. Padding can put the box
    partly outside the image; pass ``image_shape=(H, W)`` to clip it to the image.
    Only layers before any Flatten/Dense have a receptive field smaller than the image.
    ``y`` and ``x`` must be ints >= 0, and inside the layer's output when the image
    size is known (``image_shape`` or the model's ``input_shape``).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"receptive_field: model must be a minicnn Sequential. Received: "
                        f"model of type {type(model).__name__}")
    y = check_int(y, "y", minimum=0, where="receptive_field")
    x = check_int(x, "x", minimum=0, where="receptive_field")
    if image_shape is not None:
        image_shape = pair(image_shape, "image_shape")
    top, bottom, left, right = y, y, x, x    # inclusive interval in the layer's output
    for lyr in reversed(model.layers[:model.index(layer) + 1]):
        if isinstance(lyr, Conv2D):
            (kh, kw), (sh, sw), (ph, pw) = lyr.kernel_size, lyr.stride, lyr.padding
        elif isinstance(lyr, (MaxPool2D, AvgPool2D)):
            (kh, kw), (sh, sw), (ph, pw) = lyr.kernel_size, lyr.stride, (0, 0)
        elif isinstance(lyr, (ReLU, Dropout)):
            continue
        else:
            raise ValueError(f"layer must be a spatial layer (before any Flatten or Dense), "
                             f"but {layer!r} comes after {lyr.name!r} ({type(lyr).__name__}). "
                             f"Received: layer={layer!r}")
        top, bottom = top * sh - ph, bottom * sh - ph + kh - 1
        left, right = left * sw - pw, right * sw - pw + kw - 1
    _check_position(model, layer, y, x, image_shape)
    box = (top, left, bottom + 1, right + 1)
    if image_shape is not None:
        h, w = image_shape
        box = (max(box[0], 0), max(box[1], 0), min(box[2], h), min(box[3], w))
    return box


def _check_position(model: Sequential, layer: str, y: int, x: int,
                    image_shape: tuple[int, int] | None) -> None:
    """Check that ``(y, x)`` lies inside ``layer``'s output, if the image size is known."""
    if image_shape is None and model.input_shape is not None and len(model.input_shape) == 3:
        image_shape = model.input_shape[1:]
    if image_shape is None:
        return
    shape = (1, 1, *image_shape)
    for lyr in model.layers[:model.index(layer) + 1]:
        shape = lyr.output_shape(shape)
    for name, value, size in (("y", y, shape[2]), ("x", x, shape[3])):
        if value >= size:
            raise ValueError(f"receptive_field: {name} must be in [0, {size - 1}]: layer "
                             f"{layer!r} has a {shape[2]}x{shape[3]} output for "
                             f"{image_shape[0]}x{image_shape[1]} images. "
                             f"Received: {name}={value}")


@dataclass
class TopPatches:
    """The result of `top_patches`, strongest first.

    Attributes
    ----------
    indices : (k,) int array
        Positions in the dataset ``X`` of the k images.
    activations : (k,) float array
        The feature map's maximum in each of them.
    positions : (k, 2) int array
        ``(y, x)`` of that maximum in the layer's output.
    boxes : (k, 4) int array
        Receptive-field box ``(top, left, bottom, right)`` in the image, clipped to
        it (bottom/right exclusive).
    fields : (k, 4) int array
        The same boxes before clipping: the neuron's full receptive field, which can
        reach past the image's border (negative ``top``/``left``, or ``bottom``/``right``
        beyond the image) where the conv layers pad with zeros.
    patches : list of k (C, h, w) arrays
        The image inside ``fields``, zero where the field lies outside the image (the
        zeros the conv layers' padding feeds the neuron), so every patch of a layer
        has the same size ``h x w``; ``boxes - fields`` locates the image within it.
    reconstructions : list of k (C, h, w) arrays
        The neuron's guided-backprop (or deconvnet) map, cropped and padded the same way.
    layer, channel, mode : the arguments, for plot titles.
    """
    indices: np.ndarray
    activations: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    fields: np.ndarray
    patches: list
    reconstructions: list
    layer: str = ""
    channel: int = 0
    mode: str = "guided"


def padded_crop(image: np.ndarray, field: tuple[int, int, int, int]) -> np.ndarray:
    """``image[:, top:bottom, left:right]`` for a box that may reach past the border of
    the (C, H, W) ``image``: the part outside is filled with zeros."""
    top, left, bottom, right = field
    _, h, w = image.shape
    out = np.zeros((image.shape[0], bottom - top, right - left), dtype=image.dtype)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if y1 > y0 and x1 > x0:
        out[:, y0 - top:y1 - top, x0 - left:x1 - left] = image[:, y0:y1, x0:x1]
    return out


def strongest_activations(model: Sequential, X: np.ndarray, layer: str, channel: int,
                          k: int, batch_size: int = 256) -> tuple[np.ndarray, ...]:
    """The k images of ``X`` whose feature map ``channel`` of ``layer`` has the largest
    maximum. Returns ``(indices, activations, positions)`` strongest first (ties: lower
    index first). Runs in batches and keeps only the best k so far, so a 10,000-image
    dataset never has all its activations in memory at once.
    """
    best_idx = np.zeros(0, dtype=np.int64)
    best_val = np.zeros(0, dtype=np.float64)
    best_pos = np.zeros((0, 2), dtype=np.int64)
    with preserved_state(model):
        for start in range(0, len(X), batch_size):
            fmap = model.forward(X[start:start + batch_size], until=layer)[:, channel]
            flat = fmap.reshape(len(fmap), -1)
            peak = flat.argmax(axis=1)                          # first maximum, row-major
            val = flat[np.arange(len(flat)), peak].astype(np.float64)
            pos = np.stack(np.unravel_index(peak, fmap.shape[1:]), axis=1)
            best_idx = np.r_[best_idx, start + np.arange(len(fmap))]
            best_val = np.r_[best_val, val]
            best_pos = np.r_[best_pos, pos]
            keep = np.lexsort((best_idx, -best_val))[:k]        # by value desc, then index
            best_idx, best_val, best_pos = best_idx[keep], best_val[keep], best_pos[keep]
    return best_idx, best_val, best_pos


def top_patches(model: Sequential, X: np.ndarray, layer: str, channel: int, k: int = 9,
                mode: str = "guided", batch_size: int = 256) -> TopPatches:
    """Zeiler & Fergus's figure: the k dataset patches that most excite a feature map.

    Parameters
    ----------
    model : Sequential
    X : (N, C, H, W) array
        The dataset, in the model's dtype.
    layer : str
        A layer before any Flatten/Dense, e.g. ``"relu2"`` or ``"conv3"``.
    channel : int
        Which feature map of that layer.
    k : int
        How many images (at most ``len(X)``).
    mode : "guided" or "deconvnet" (or "standard")
        The rule for the reconstructions (Zeiler & Fergus used the deconvnet).
    batch_size : int
        Images per forward pass while searching.

    Returns
    -------
    TopPatches
        See its docstring. Each image counts once, at its strongest position. Patches
        and reconstructions cover the neuron's full receptive field, padded with zeros
        past the image's border, so all k have the same size.
    """
    check_input(model, X, "top_patches")
    if X.ndim != 4:
        raise ValueError(f"X must be an (N, C, H, W) array. Received: X of shape "
                         f"{list(np.shape(X))}")
    check_mode(mode)
    k = check_int(k, "k")
    batch_size = check_int(batch_size, "batch_size")
    if k > len(X):
        raise ValueError(f"k must be at most the number of images in X ({len(X)}). "
                         f"Received: k={k}")
    with preserved_state(model):
        out_shape = model.forward(X[:1], until=layer).shape
    if len(out_shape) != 4:
        raise ValueError(f"layer must have a spatial (N, C, H, W) output. Received: "
                         f"layer={layer!r} with output of shape {list(out_shape)}")
    n_channels = out_shape[1]
    if not is_int(channel) or not 0 <= channel < n_channels:
        raise ValueError(f"channel must be an int in [0, {n_channels - 1}] for layer "
                         f"{layer!r}. Received: channel={channel!r}")
    indices, activations, positions = strongest_activations(model, X, layer, channel, k,
                                                            batch_size)
    boxes, fields, patches, reconstructions = [], [], [], []
    for i, (py, px) in zip(indices, positions):
        field = receptive_field(model, layer, int(py), int(px))
        neuron = Neuron(layer, int(channel), int(py), int(px))
        recon = gradient(model, X[i:i + 1], neuron, mode=mode)[0]
        boxes.append(receptive_field(model, layer, int(py), int(px), X.shape[2:]))
        fields.append(field)
        patches.append(padded_crop(X[i], field))
        reconstructions.append(padded_crop(recon, field))
    return TopPatches(indices=indices, activations=activations, positions=positions,
                      boxes=np.array(boxes, dtype=np.int64).reshape(-1, 4),
                      fields=np.array(fields, dtype=np.int64).reshape(-1, 4), patches=patches,
                      reconstructions=reconstructions, layer=layer, channel=int(channel),
                      mode=mode)
