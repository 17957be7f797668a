"""Figures: the three gradient rules side by side, with matplotlib.

Rows are images (or neurons), columns are the input and one map per method.
Every function returns a ``matplotlib.figure.Figure`` and, given ``path=``, also
writes it there (to a temporary file first, then renamed, so a crash never leaves
half a PNG). In a notebook the figure shows when it is the cell's last value.

matplotlib is imported inside the functions: ``import minicnn`` never needs it.
The figures are built with ``Figure()`` rather than ``pyplot``, so making many
of them in a loop keeps no global state and works without a display.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import explain
from .explain import display
from .sequential import Sequential

MODES = ("standard", "deconvnet", "guided")
MODE_TITLES = {"standard": "standard backprop\n(saliency)", "deconvnet": "deconvnet",
               "guided": "guided backprop"}
DISPLAYS = {"signed": display.signed_map, "abs": display.abs_max,
            "positive": display.positive_saliency}


@dataclass
class Panel:
    """One cell of a grid: an image in [0, 1], optionally with a heat map on top.

    ``image`` is (H, W) (drawn with ``cmap``) or (H, W, 3); ``overlay`` an (H, W)
    map in [0, 1] drawn over it with ``overlay_cmap`` at opacity ``alpha``; ``box``
    = (y0, x0, y1, x1) draws a red rectangle around pixels y0..y1-1, x0..x1-1.
    """

    image: np.ndarray
    cmap: str = "gray"
    overlay: np.ndarray | None = None
    overlay_cmap: str = "jet"
    alpha: float = 0.5
    box: tuple[int, int, int, int] | None = None


def grid(panels: Sequence[Sequence], col_titles: Sequence[str] | None = None,
         row_labels: Sequence[str] | None = None, title: str | None = None,
         path: str | os.PathLike | None = None, cell: float = 1.7, dpi: int = 110):
    """Draw a table of images.

    Parameters
    ----------
    panels : list of rows, each a list of arrays ((H, W) gray or (H, W, 3)) or `Panel`
    col_titles : one title per column, drawn above the first row
    row_labels : one label per row, drawn left of the first column
    title : the figure's title
    path : where to save (PNG, PDF, SVG, from the suffix), optional
    cell : the side of one panel in inches; images are drawn with nearest-neighbour
        interpolation, so each pixel of a small image is a visible square

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    rows = [list(r) for r in panels]
    if not rows or not rows[0]:
        raise ValueError("grid needs at least one row with at least one panel")
    n_cols = len(rows[0])
    if any(len(r) != n_cols for r in rows):
        raise ValueError(f"every row of panels must have {n_cols} panels. Received: rows "
                         f"of {[len(r) for r in rows]} panels")
    for labels, n, what in ((col_titles, n_cols, "col_titles"),
                            (row_labels, len(rows), "row_labels")):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{what} must have {n} entries. Received: {len(labels)} entries")
    longest = max((len(line) for label in row_labels or [] for line in str(label).split("\n")),
                  default=0)
    label_width = min(max(0.25 + 0.065 * longest, 0.6), 3.0) if row_labels is not None else 0.1
    top = (0.55 if col_titles is not None else 0.1) + (0.35 if title else 0)
    width, height = label_width + cell * n_cols, top + cell * len(rows) + 0.1
    fig = Figure(figsize=(width, height), dpi=dpi)
    fig.subplots_adjust(left=label_width / width, right=1 - 0.05 / width,
                        top=1 - top / height, bottom=0.1 / height,
                        wspace=0.06, hspace=0.06)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for i, row in enumerate(rows):
        for j, item in enumerate(row):
            ax = axes[i, j]
            _draw(ax, item if isinstance(item, Panel) else Panel(np.asarray(item)))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 and col_titles is not None:
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center",
                              labelpad=6)
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.08 / height, va="top")
    if path is not None:
        save(fig, path)
    return fig


def _draw(ax, panel: Panel) -> None:
    image = np.asarray(panel.image)
    if image.ndim == 2:
        ax.imshow(image, cmap=panel.cmap, vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    if panel.overlay is not None:
        ax.imshow(panel.overlay, cmap=panel.overlay_cmap, vmin=0, vmax=1, alpha=panel.alpha,
                  interpolation="bilinear")
    if panel.box is not None:
        from matplotlib.patches import Rectangle
        y0, x0, y1, x1 = panel.box
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                               edgecolor="red", linewidth=1.5))


def save(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file, then rename); returns the path."""
    from .io import atomic_write

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda f: fig.savefig(f, format=fmt, facecolor="white"))
    return path


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
    show : how a gradient becomes an image: "signed" (centred on gray), "abs"
        (max |g| over channels) or "positive" (positive part only)
    percentile : the clipping percentile of the display helpers
    """
    if show not in DISPLAYS:
        raise ValueError(f"show must be one of {tuple(DISPLAYS)}. Received: show={show!r}")
    to_picture = DISPLAYS[show]
    maps = _maps(model, x, target, modes)
    columns = ["input", *(MODE_TITLES.get(m, m) for m in modes)]
    if cam_layer is not None:
        cams = explain.grad_cam(model, x, target, cam_layer)
        guided = maps["guided"] if "guided" in maps else explain.guided_backprop(model, x, target)
        maps["guided Grad-CAM"] = guided * cams[:, None]   # = explain.guided_grad_cam
        columns += [f"Grad-CAM\n({cam_layer})", "guided Grad-CAM"]
    rows = []
    for i in range(len(x)):
        image = display.to_image(x[i])
        row = [image, *(to_picture(maps[m][i], percentile) for m in modes)]
        if cam_layer is not None:
            gray = image if image.ndim == 2 else image.mean(axis=2)
            row += [Panel(gray, overlay=cams[i]),
                    to_picture(maps["guided Grad-CAM"][i], percentile)]
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
    if show not in DISPLAYS:
        raise ValueError(f"show must be one of {tuple(DISPLAYS)}. Received: show={show!r}")
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
        cells = [image[y0:y1, x0:x1], *(to_picture(maps[i][m][0][..., y0:y1, x0:x1], percentile)
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
