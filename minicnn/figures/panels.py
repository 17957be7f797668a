"""The panel grid every figure is drawn on, and saving a figure atomically.

`grid` draws a table of images (rows of arrays or `Panel` cells) with column titles,
row labels and a title, and returns a ``matplotlib.figure.Figure``; given
``path=``, it also writes it there with `save` (to a temporary file first, then
renamed, so a crash never leaves half a PNG). In a notebook the figure shows when
it is the cell's last value.

`add_colorbar` adds one colour bar for panels drawn on a shared scale, and
``SIGNED_CMAP`` / ``POSITIVE_CMAP`` are the colour conventions every figure follows
(signed maps: white = 0 on a red-blue scale; positive parts and magnitudes: black = 0).

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

from ..io import atomic_write

# The colour conventions of every figure (docs/explain.md, "Colours"):
SIGNED_CMAP = "RdBu_r"     # signed maps: white = 0, red > 0, blue < 0, symmetric scale
POSITIVE_CMAP = "gray"     # positive parts and magnitudes: black = 0, white = the scale


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


def add_colorbar(fig, cmap: str, vmin: float, vmax: float, label: str, axes=None):
    """Add one colour bar for ``axes`` (default: all of ``fig``'s axes) mapping
    ``cmap`` to the values ``vmin``..``vmax`` -- the map values a panel's shades
    stand for when it was drawn on that scale. Returns the colour bar."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(vmin=vmin, vmax=vmax), cmap=cmap)
    axes = list(fig.axes) if axes is None else list(np.ravel(axes))
    return fig.colorbar(mappable, ax=axes, fraction=0.03, pad=0.02, label=label)


def save(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file, then rename); returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda f: fig.savefig(f, format=fmt, facecolor="white"))
    return path
