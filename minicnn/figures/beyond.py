"""Figures for the methods beyond the lecture: top patches, occlusion, randomisation.

- `plot_top_patches`: Zeiler & Fergus's figure -- for each feature map, the k dataset
  patches that excite it most, and under them their reconstructions.
- `plot_occlusion`: the input, the occlusion map, and the map over the input.
- `plot_randomization`: Adebayo et al.'s cascade -- one row per method, one column
  per step of the randomisation, the rank correlation with the trained map under
  each panel.
- `beyond_figures`: the demo's ``top_patches.png`` and ``randomization.png``.

Like the lecture's figures, every function returns a matplotlib ``Figure`` and, given
``path=``, writes it there atomically; matplotlib is imported only inside them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import explain
from ..explain import display
from ..explain.neurons import TopPatches
from ..explain.sanity import ORIGINAL, spearman
from ..sequential import Sequential
from .panels import SIGNED_CMAP, Panel, add_colorbar, grid, save


def _as_list(results) -> list:
    return [results] if isinstance(results, TopPatches) else list(results)


def plot_top_patches(results: TopPatches | Sequence[TopPatches], percentile: float = 99.0,
                     title: str | None = None, path: str | os.PathLike | None = None):
    """Two rows per feature map: its top-k input patches, then their reconstructions.

    Parameters
    ----------
    results : one `TopPatches` or a list of them (from `explain.top_patches`), all
        with the same k
    percentile : the reconstructions of one feature map share one scale, this
        percentile of their ``|g|`` together (`explain.display.shared_scale`), drawn
        on the signed colour map (white = 0, red > 0, blue < 0)

    Every tile is the neuron's full receptive field, so all tiles of a feature map
    have the same size and their pixels the same scale. Where the field reaches past
    the image's border (the conv layers see zeros there), a red frame marks the part
    that lies inside the image. Patches are drawn in gray, 0 = black, 1 = white.
    """
    results = _as_list(results)
    if not results:
        raise ValueError("plot_top_patches needs at least one TopPatches result")
    k = len(results[0].indices)
    if any(len(r.indices) != k for r in results):
        raise ValueError(f"every result must have the same k. Received: k = "
                         f"{[len(r.indices) for r in results]}")
    rows, labels = [], []
    for r in results:
        inside = [None if tuple(box) == tuple(field) else
                  (box[0] - field[0], box[1] - field[1], box[2] - field[0], box[3] - field[1])
                  for box, field in zip(r.boxes, r.fields)]
        rows.append([Panel(display.to_image(p), box=b) for p, b in zip(r.patches, inside)])
        scale = display.shared_scale(r.reconstructions, percentile)
        rows.append([Panel(display.signed_map(g, scale=scale), cmap=SIGNED_CMAP)
                     for g in r.reconstructions])
        labels += [f"{r.layer} ch {r.channel}\ntop {k} patches",
                   f"{r.mode}\nreconstruction\n(one scale)"]
    columns = [f"#{i + 1}" for i in range(k)]
    return grid(rows, columns, labels, title, path, cell=1.0)


def plot_occlusion(x: np.ndarray, maps: np.ndarray, row_labels: Sequence[str] | None = None,
                   title: str | None = None, path: str | os.PathLike | None = None,
                   label: str = "score drop when hidden"):
    """One row per image: the input, its occlusion map, and the map over the input.

    Parameters
    ----------
    x : (N, C, H, W) images
    maps : (N, H, W) from `explain.occlusion`, signed: drawn on the signed colour map,
        red where hiding the patch lowers the target score, blue where it raises it,
        white for no change, all images on one symmetric scale (the largest
        ``|map|``), with a colour bar giving the values
    label : the colour bar's label
    """
    if maps.ndim != 3 or maps.shape[0] != len(x) or maps.shape[1:] != x.shape[2:]:
        raise ValueError(f"maps must be (N, H, W) = {[len(x), *x.shape[2:]]} for x "
                         f"{list(x.shape)}. Received: maps of shape {list(maps.shape)}")
    scale = float(np.abs(maps).max())
    rows = []
    for image, m in zip(x, maps):
        picture = display.to_image(image)
        gray = picture if picture.ndim == 2 else picture.mean(axis=2)
        heat = display.signed_map(m, scale=scale)
        rows.append([picture, Panel(heat, cmap=SIGNED_CMAP),
                     Panel(gray, overlay=heat, overlay_cmap=SIGNED_CMAP, alpha=0.5)])
    fig = grid(rows, ["input", "occlusion\n(score drop)", "over the input"], row_labels,
               title)
    add_colorbar(fig, SIGNED_CMAP, -(scale or 1.0), scale or 1.0, label)
    if path is not None:
        save(fig, path)
    return fig


def plot_randomization(x: np.ndarray, cascades: dict, index: int = 0,
                       percentile: float = 99.0, title: str | None = None,
                       path: str | os.PathLike | None = None):
    """The randomisation cascade for one image: one row per method.

    Parameters
    ----------
    x : (N, C, H, W) the images the test ran on
    cascades : {row label: (scores, maps)}, each pair from
        ``explain.randomization_test(..., return_maps=True)`` on ``x``
    index : which image to show

    Columns: the input, the trained model's map, then the map after each step of the
    cascade (``fc2`` = the top layer random, ..., the last = every layer random),
    drawn as ``max |map|`` over channels. Under each panel: Spearman's rank
    correlation of ``|map|`` with the trained map for this image; the row label gives
    the mean over all images with the top layer random and with every layer random.
    """
    if not cascades:
        raise ValueError("plot_randomization needs at least one (scores, maps) pair")
    steps = list(next(iter(cascades.values()))[0])
    rows, labels, rhos = [], [], []
    for label, (scores, maps) in cascades.items():
        if list(scores) != steps:
            raise ValueError(f"every cascade needs the same steps {steps}, but {label!r} "
                             f"has {list(scores)}")
        trained = np.abs(maps[ORIGINAL][index])
        rows.append([display.to_image(x[index]),
                     *(display.abs_max(maps[s][index], percentile) for s in steps)])
        rhos.append([spearman(trained, np.abs(maps[s][index])) for s in steps])
        labels.append(f"{label}\nmean rho over {len(maps[ORIGINAL])} images:\n"
                      f"{scores[steps[1]]:.2f} top random\n{scores[steps[-1]]:.2f} all random")
    columns = ["input", "trained", *(f"{s}\nrandomised" for s in steps[1:])]
    fig = grid(rows, columns, labels, title, cell=1.5)
    axes = np.array(fig.axes).reshape(len(rows), len(columns))
    for i, row in enumerate(rhos):
        for j, rho in enumerate(row):
            axes[i, j + 1].set_xlabel(f"rho = {rho:.2f}", fontsize=8)
    fig.subplots_adjust(hspace=0.35, bottom=fig.subplotpars.bottom + 0.04)
    if path is not None:
        save(fig, path)
    return fig


# -- the demo's two figures beyond the lecture ------------------------------------------
def _search_images(dtype, n_search: int) -> tuple[np.ndarray, str, str]:
    """The first ``n_search`` Fashion-MNIST test images: from the full test set when it
    is installed, else from the 2,000 shipped in the package; a short note saying which
    (for the title) and the test set's one-line description (for the printout)."""
    from ..data import fashion_mnist_test_set

    test = fashion_mnist_test_set()
    X = test.X[:n_search]
    where = (f"the first {len(X):,} test images, from the "
             + ("full test set" if test.source == "full" else "subset shipped in the package"))
    searched = (test.description if len(X) == len(test.X)
                else f"the first {len(X):,} images of {test.description}")
    return X.astype(dtype), where, searched


def beyond_figures(out_dir, model: Sequential | None = None,
                   n_search: int = 2000) -> list[tuple[Path, str]]:
    """Write the top-patches and randomisation figures into ``out_dir``.

    1. ``top_patches.png``: for four feature maps of the last conv layer (after its
       ReLU: ``relu3`` on the shipped model), the nine test-image patches that excite
       each most and their guided-backprop reconstructions (Zeiler & Fergus 2014,
       figure 2);
    2. ``randomization.png``: guided backprop and the plain gradient of one sample
       image as the model's layers are re-initialised from the top (Adebayo et al.
       2018). Guided backprop's map changes, but far less than the gradient's: on the
       shipped model the mean rank correlation with the trained map is about 0.85 with
       the top layer random and 0.4 with every layer random, against about 0.3 and 0.2
       for the gradient (printed under each row of the figure).

    ``model`` defaults to `minicnn.pretrained()`. The patch search runs over the first
    ``n_search`` (2,000) Fashion-MNIST test images, from the full test set when it is
    installed, else from the 2,000 that ship in the package
    (``minicnn.data.fashion_mnist_test_set``), so the figure is the same on every
    machine for ``n_search <= 2000``.

    Returns
    -------
    list of ``(path, description)``, one per figure.
    """
    from ..data import sample_images
    from ..models import pretrained

    model = pretrained() if model is None else model
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layer = explain.conv_activations(model)[-1]
    X, where, searched = _search_images(model.dtype, n_search)
    k = min(9, len(X))
    channels = explain.busiest_channels(model, X[:500], layer, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # a dead neuron's map is zero: shown, not warned
        results = [explain.top_patches(model, X, layer, channel, k=k, mode="guided")
                   for channel in channels]
    patches_path = out_dir / "top_patches.png"
    plot_top_patches(results, title=f"What four {layer} feature maps look for "
                     f"(searched {where})", path=patches_path)

    x, y = sample_images()
    x = x[:4].astype(model.dtype)
    cascades = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, method in (("guided backprop", "guided_backprop"),
                              ("gradient", "saliency")):
            cascades[label] = explain.randomization_test(model, x, y[:4], method=method,
                                                         rng=0, return_maps=True)
    random_path = out_dir / "randomization.png"
    plot_randomization(x, cascades, index=0, title="Randomise the layers from the top: "
                       "does the map notice? (Adebayo et al. 2018)", path=random_path)
    return [(patches_path, f"top-9 patches and guided-backprop reconstructions for four "
                           f"{layer} feature maps, searched in {searched}"),
            (random_path, "the randomisation test: guided backprop vs. the gradient as the "
                          "layers are re-initialised from the top")]
