"""The lecture's figures: the three gradient rules side by side.

- `compare_rules`: one row per image, the input, then the map of a class score
  under each rule, and optionally Grad-CAM and guided Grad-CAM;
- `compare_neurons`: one row per (image, neuron), each neuron's map under each rule,
  cropped to its receptive field;
- `lecture_figures`: the demo's ``classes.png`` and ``neurons.png``, made with them.

Every function returns a ``matplotlib.figure.Figure`` and, given ``path=``, also
writes it there atomically (see `minicnn.figures.panels`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import explain
from ..explain import display
from ..layers import RELU_MODES, ReLU
from ..sequential import Sequential
from ..validation import check_choice
from .panels import SIGNED_CMAP, Panel, grid

MODES = RELU_MODES
MODE_TITLES = {"standard": "standard backprop\n(saliency)", "deconvnet": "deconvnet",
               "guided": "guided backprop"}
DISPLAYS = {"signed": display.signed_map, "abs": display.abs_max,
            "positive": display.positive_saliency}


def _picture(to_picture, g: np.ndarray, percentile: float):
    """A map as a panel: signed one-channel maps on the signed colour map (white = 0),
    the others (positive parts, magnitudes, colour images) as they are."""
    picture = to_picture(g, percentile)
    if to_picture is display.signed_map and picture.ndim == 2:
        return Panel(picture, cmap=SIGNED_CMAP)
    return picture


def _maps(model: Sequential, x: np.ndarray, target, modes: Sequence[str]) -> dict:
    return {mode: explain.gradient(model, x, target, mode) for mode in modes}


def compare_rules(model: Sequential, x: np.ndarray, target, cam_layer: str | None = None,
                  row_labels: Sequence[str] | None = None, modes: Sequence[str] = MODES,
                  show: str = "signed", percentile: float = 99.0, title: str | None = None,
                  path: str | os.PathLike | None = None):
    """One row per image: the input, then ``target``'s map under each rule in ``modes``
    and, with ``cam_layer``, Grad-CAM (over the input) and guided Grad-CAM.

    Parameters
    ----------
    x : (N, C, H, W) images in ``model.dtype``
    target : anything `explain.gradient` takes (e.g. a class or an (N,) class array)
    cam_layer : the conv layer for Grad-CAM, or None for no Grad-CAM columns
    show : how a gradient becomes an image: "signed" (white = 0, red > 0, blue < 0),
        "abs" (max |g| over channels, black = 0) or "positive" (positive part only,
        black = 0); each map on its own scale
    percentile : the clipping percentile of the display helpers
    """
    to_picture = DISPLAYS[check_choice(show, "show", tuple(DISPLAYS))]
    maps = _maps(model, x, target, modes)
    columns = ["input", *(MODE_TITLES.get(m, m) for m in modes)]
    if cam_layer is not None:
        cams = explain.grad_cam(model, x, target, cam_layer)
        maps["guided Grad-CAM"] = explain.guided_grad_cam(model, x, target, cam_layer)
        columns += [f"Grad-CAM\n({cam_layer})", "guided Grad-CAM"]
    rows = []
    for i in range(len(x)):
        image = display.to_image(x[i])
        row = [image, *(_picture(to_picture, maps[m][i], percentile) for m in modes)]
        if cam_layer is not None:
            gray = image if image.ndim == 2 else image.mean(axis=2)
            row += [Panel(gray, overlay=cams[i]),
                    _picture(to_picture, maps["guided Grad-CAM"][i], percentile)]
        rows.append(row)
    return grid(rows, columns, row_labels, title, path)


def support_box(maps: Sequence[np.ndarray], margin: int = 1) -> tuple[int, int, int, int] | None:
    """The smallest square (y0, x0, y1, x1) holding every non-zero pixel of the
    (C, H, W) ``maps`` -- for a neuron, its receptive field within the image --
    grown by ``margin`` pixels and kept inside the image; None if all are zero."""
    support = np.zeros(maps[0].shape[-2:], dtype=bool)
    for m in maps:
        support |= np.abs(m).reshape(-1, *m.shape[-2:]).sum(axis=0) > 0
    if not support.any():
        return None
    h, w = support.shape
    ys, xs = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
    y0, y1 = max(ys[0] - margin, 0), min(ys[-1] + 1 + margin, h)
    x0, x1 = max(xs[0] - margin, 0), min(xs[-1] + 1 + margin, w)
    side = min(max(y1 - y0, x1 - x0), h, w)           # square, so pixels stay square
    y0 = min(max(y0 - (side - (y1 - y0)) // 2, 0), h - side)
    x0 = min(max(x0 - (side - (x1 - x0)) // 2, 0), w - side)
    return int(y0), int(x0), int(y0 + side), int(x0 + side)


def compare_neurons(model: Sequential, x: np.ndarray, neurons: Sequence,
                    row_labels: Sequence[str] | None = None, modes: Sequence[str] = MODES,
                    show: str = "signed", percentile: float = 99.0, crop: bool = True,
                    title: str | None = None, path: str | os.PathLike | None = None):
    """One row per (image, neuron) pair: image ``x[i]`` with target ``neurons[i]``,
    then that neuron's map under each rule.

    ``x`` has one image per neuron (repeat an image to show several of its neurons);
    a ``Channel`` or other target works too. With ``crop`` (the default), a column
    shows the whole input with the neuron's receptive field boxed in red, and the
    other panels are cropped to that box, so a small field is drawn large. Row
    labels default to the neuron.
    """
    check_choice(show, "show", tuple(DISPLAYS))
    if len(neurons) != len(x):
        raise ValueError(f"compare_neurons: x must hold one image per neuron. Received: "
                         f"{len(x)} images and {len(neurons)} neurons")
    to_picture = DISPLAYS[show]
    maps = [_maps(model, x[i:i + 1], neuron, modes) for i, neuron in enumerate(neurons)]
    whole = (0, 0, *x.shape[-2:])
    boxes = [support_box([m[mode][0] for mode in modes]) or whole for m in maps]
    crop = crop and any(box != whole for box in boxes)   # no crop column if nothing to crop
    rows = []
    for i, box in enumerate(boxes):
        y0, x0, y1, x1 = box if crop else whole
        image = display.to_image(x[i])
        cells = [image[y0:y1, x0:x1],
                 *(_picture(to_picture, maps[i][m][0][..., y0:y1, x0:x1], percentile)
                   for m in modes)]
        rows.append([Panel(image, box=box), *cells] if crop else cells)
    if row_labels is None:
        row_labels = [_neuron_label(n) for n in neurons]
    columns = ["input", *(MODE_TITLES.get(m, m) for m in modes)]
    if crop:
        columns.insert(1, "receptive field")
    return grid(rows, columns, row_labels, title, path)


def _neuron_label(neuron) -> str:
    if not isinstance(neuron, explain.Neuron):
        return str(neuron)
    where = "" if neuron.y is None else f"\n@ ({neuron.y}, {neuron.x})"
    return f"{neuron.layer} ch {neuron.channel}{where}"


# -- the demo's two lecture figures ----------------------------------------------------
# How the figures draw a map: its positive part, on black (see docs/explain.md).
SHOW = "positive"
# Which shipped sample images (one per class) the demo shows.
CLASS_ROWS = (0, 1, 3, 5, 7, 9)       # T-shirt, trouser, dress, sandal, sneaker, ankle boot
NEURON_IMAGES = (0, 7, 9)             # T-shirt, sneaker, ankle boot
RULES = "standard backprop, deconvnet and guided backprop"


def softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities (N, K) from scores (N, K)."""
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def lecture_figures(out: Path, model: Sequential, images: np.ndarray,
                    labels: np.ndarray | None, names: Sequence[str]) -> list[tuple[Path, str]]:
    """Write ``classes.png`` and ``neurons.png`` into the folder ``out``; return
    [(path, what it shows)].

    ``classes.png``: several images, each explained for its predicted class under the
    three rules, plus Grad-CAM and guided Grad-CAM. ``neurons.png``: the lecture's
    recipe on single neurons -- for each image the most strongly activated neurons
    (Zeiler & Fergus) of the last conv layer and of an earlier one, under the three
    rules, plus one of them on an image where it does not fire.
    """
    activations = explain.conv_activations(model)
    if not activations:
        raise ValueError("the demo needs a model with at least one Conv2D layer")
    cam = explain.cam_layer(model)

    # 1. classes: each image's predicted class under the three rules, plus Grad-CAM.
    rows = [i for i in CLASS_ROWS if i < len(images)] or list(range(min(6, len(images))))
    x = images[rows]
    probs = softmax(model.forward(x).astype(np.float64))
    pred = probs.argmax(axis=1)
    row_labels = [
        (f"{names[labels[r]]}\n" if labels is not None else "")
        + f"pred: {names[p]}\n({probs[i, p]:.0%})" for i, (r, p) in enumerate(zip(rows, pred))]
    classes_png = out / "classes.png"
    compare_rules(model, x, pred, cam_layer=cam, row_labels=row_labels, path=classes_png,
                  show=SHOW, title="Why this class? Gradient of the predicted class score "
                                   "w.r.t. the image (positive part)")

    # 2. neurons: the strongest neurons of the last conv layer and of an earlier one,
    #    plus one of them on an image where it does not fire (the deconvnet still draws it).
    late, early = activations[-1], activations[-2] if len(activations) > 1 else None
    chosen = [i for i in NEURON_IMAGES if i < len(images)] or [0]
    picks = [(i, n, "") for i in chosen
             for n in explain.top_neurons(model, images[i:i + 1], late, k=2)]
    silent = find_silent(model, images, picks, chosen)
    if silent is not None:
        at, row = silent
        picks.insert(at + 1, row)
    if early is not None:
        picks += [(i, explain.top_neurons(model, images[i:i + 1], early, k=1)[0], "")
                  for i in chosen[:2]]
    neuron_labels = [(f"{names[labels[i]]}\n" if labels is not None else "")
                     + f"{n.layer} ch {n.channel} @ ({n.y}, {n.x}){note}" for i, n, note in picks]
    neurons_png = out / "neurons.png"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* does not fire")   # shown on purpose
        compare_neurons(
            model, images[[i for i, _, _ in picks]], [n for _, n, _ in picks],
            row_labels=neuron_labels, path=neurons_png, show=SHOW,
            title="One neuron at a time (the lecture's recipe): gradient 1 at the neuron, "
                  "0 at every other neuron of its layer (positive part, black = 0)")

    return [
        (classes_png, f"{len(rows)} sample images, each explained for its predicted class "
                      f"under {RULES}, plus Grad-CAM ({cam}) and guided Grad-CAM"),
        (neurons_png, f"the most strongly activated neurons of {late}"
                      + (f" and {early}" if early else "")
                      + f" for {len(chosen)} images under the three rules, cropped to each "
                        "neuron's receptive field"
                      + ("; one row shows a neuron on an image where it does not fire: zero "
                         "under standard and guided, while deconvnet still draws a pattern"
                         if silent is not None else "")),
    ]


def find_silent(model: Sequential, images: np.ndarray, picks: list, chosen: list[int]):
    """Find one picked neuron that does not fire on another chosen image.

    Returns (index in picks, (image, neuron, label note)) or None. The note gives the
    neuron's input to its ReLU on that image (<= 0), labelled as such.
    """
    for at, (i, neuron, _) in enumerate(picks):
        k = model.index(neuron.layer)
        before = model.layers[k - 1].name if isinstance(model.layers[k], ReLU) and k else None
        for j in chosen:
            if j == i:
                continue
            x = images[j:j + 1]
            value = float(model.forward(x, until=before or neuron.layer)[(0, *neuron.position)])
            if value <= 0:
                return at, (j, neuron, f"\nsilent here: ReLU input {value:.2g}")
    return None
