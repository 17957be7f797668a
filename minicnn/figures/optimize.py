"""Figures for optimising the input: class visualisations, fooling images, inversion.

- `plot_class_images`: one image per class from `explain.maximize`, with the model's
  probability for that class under each.
- `plot_fooling`: Szegedy et al.'s figure -- the original, the change (magnified),
  the fooled image, with the model's prediction under each.
- `plot_inversion`: Mahendran & Vedaldi's figure -- an image and its reconstructions
  from deeper and deeper layers (`explain.invert`).
- `optimize_figures`: the demo's ``class_images.png``, ``fooling.png`` and
  ``inversion.png`` on the shipped model.

Every function returns a matplotlib ``Figure`` and, given ``path=``, writes it there
atomically; matplotlib is imported only inside them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import explain
from ..explain import display
from ..sequential import Sequential
from .panels import Panel, grid, save


def softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities (N, K) from scores (N, K), in float64."""
    s = scores.astype(np.float64)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def stretched(x: np.ndarray) -> np.ndarray:
    """One image (C, H, W) as a picture: its values stretched to fill [0, 1]."""
    low, high = float(x.min()), float(x.max())
    return display.to_image((x - low) / (high - low) if high > low else np.zeros_like(x))


def _with_xlabels(fig, n_cols: int, labels: Sequence[Sequence[str]], path):
    """Write ``labels[i][j]`` under panel (i, j) and save."""
    axes = np.array(fig.axes).reshape(len(labels), n_cols)
    for i, row in enumerate(labels):
        for j, text in enumerate(row):
            axes[i, j].set_xlabel(text, fontsize=8)
    fig.subplots_adjust(hspace=0.45, bottom=fig.subplotpars.bottom + 0.06)
    if path is not None:
        save(fig, path)
    return fig


def plot_class_images(model: Sequential, images: np.ndarray, classes: Sequence[int],
                      class_names: Sequence[str] | None = None, title: str | None = None,
                      path: str | os.PathLike | None = None):
    """A row of class visualisations, each stretched to its own range, with the model's
    probability of its class under it.

    Parameters
    ----------
    images : (N, C, H, W), e.g. ``explain.maximize(model, classes).image``
    classes : the N classes the images were made for
    """
    probs = softmax(model.forward(images))
    names = [class_names[k] if class_names else f"class {k}" for k in classes]
    fig = grid([[stretched(x) for x in images]], names, None, title, cell=1.3)
    labels = [[f"p = {probs[i, k]:.2f}" for i, k in enumerate(classes)]]
    return _with_xlabels(fig, len(images), labels, path)


def plot_fooling(model: Sequential, originals: np.ndarray, fooled: Sequence,
                 class_names: Sequence[str] | None = None, title: str | None = None,
                 path: str | os.PathLike | None = None):
    """One row per image: the original, the change magnified, the fooled image.

    Parameters
    ----------
    originals : (N, C, H, W) images
    fooled : N results of `explain.fool`, one per image

    The change ``fooled - original`` is drawn centred on gray (0 = gray), scaled so
    that its largest value is white; the factor is under the panel with the change's
    L2 and L-inf size.
    """
    if len(fooled) != len(originals):
        raise ValueError(f"fooled must hold one result per image ({len(originals)}). "
                         f"Received: {len(fooled)} results")

    def name(k: int) -> str:
        return class_names[k] if class_names else f"class {k}"

    rows, labels = [], []
    for x, result in zip(originals, fooled):
        before = softmax(model.forward(x[None]))[0]
        after = softmax(model.forward(result.image))[0]
        change = (result.image[0] - x).astype(np.float64)
        scale = float(np.abs(change).max())
        rows.append([display.to_image(x), Panel(display.signed_map(change, 100), cmap="bwr"),
                     display.to_image(result.image[0])])
        k, f = int(before.argmax()), result.predicted
        steps = f"{result.steps} steps" + ("" if result.success else ", failed")
        magnify = f"x{0.5 / scale:.0f}" if scale > 0 else "none"
        labels.append([f"{name(k)} ({before[k]:.0%})",
                       f"{magnify}; L2 {result.l2:.2f}, Linf {result.linf:.2f}",
                       f"{name(f)} ({after[f]:.0%}), {steps}"])
    fig = grid(rows, ["original", "change (magnified)", "fooled"], None, title, cell=2.0)
    return _with_xlabels(fig, 3, labels, path)


def plot_inversion(x: np.ndarray, inversions: dict, title: str | None = None,
                   path: str | os.PathLike | None = None):
    """One row per image: the image, then its reconstruction from each layer.

    Parameters
    ----------
    x : (N, C, H, W) the images inverted
    inversions : {layer name: `explain.invert` result on ``x``}, shallow to deep

    Each reconstruction is stretched to its own range; under it, the relative error
    ``||phi(x') - phi(x)||^2 / ||phi(x)||^2`` left at the end (for all images).
    """
    rows = [[display.to_image(image), *(stretched(r.image[i]) for r in inversions.values())]
            for i, image in enumerate(x)]
    fig = grid(rows, ["image", *(f"from {layer}" for layer in inversions)], None, title,
               cell=1.8)
    labels = [[""] * (len(inversions) + 1) for _ in x]
    labels[-1][1:] = [f"error {r.final:.3f}" for r in inversions.values()]
    return _with_xlabels(fig, len(inversions) + 1, labels, path)


# -- the demo's three figures --------------------------------------------------------------
def optimize_figures(out_dir, model: Sequential | None = None,
                     class_names: Sequence[str] | None = None) -> list[tuple[Path, str]]:
    """Write ``class_images.png``, ``fooling.png`` and ``inversion.png`` into ``out_dir``.

    1. ``class_images.png``: `explain.maximize` for every class (up to 10), pixels kept
       in [0, 1] (``bounds=(0, 1)``) like the training images;
    2. ``fooling.png``: three sample images changed by `explain.fool` (signed steps,
       FGSM) until the model calls each the class three after its own;
    3. ``inversion.png``: two sample images reconstructed from the output of each
       conv layer's ReLU (`explain.invert`); left out for a model without conv layers.

    ``model`` defaults to `minicnn.pretrained()`; the images are the shipped sample
    images (``minicnn.data.sample_images``), so the figures are the same everywhere.
    """
    from ..data import FASHION_MNIST_CLASSES, sample_images
    from ..models import pretrained

    if model is None:
        model = pretrained()
        class_names = class_names or list(FASHION_MNIST_CLASSES)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, _ = sample_images()
    x = x.astype(model.dtype)
    n_classes = model.forward(x[:1]).shape[1]

    classes = np.arange(min(n_classes, 10))
    made = explain.maximize(model, classes, bounds=(0, 1), progress=False)
    class_path = out_dir / "class_images.png"
    plot_class_images(model, made.image, classes, class_names,
                      title="The image each class likes most (gradient ascent from noise, "
                            "Simonyan et al. 2013)", path=class_path)

    originals = x[:3]
    fooled = []
    for image in originals:
        k = int(model.forward(image[None]).argmax())
        fooled.append(explain.fool(model, image[None], (k + 3) % n_classes, step=0.002,
                                   max_steps=300, signed=True, bounds=(0, 1)))
    fool_path = out_dir / "fooling.png"
    plot_fooling(model, originals, fooled, class_names,
                 title="Fooling images: a small change, another class (FGSM steps)",
                 path=fool_path)

    written = [(class_path, f"class visualisations of {len(classes)} classes by gradient "
                            "ascent on the input"),
               (fool_path, "fooling images: original, magnified change, fooled image")]
    layers = explain.conv_activations(model)
    if not layers:                     # a model without conv layers: nothing to invert
        return written
    inversions = {layer: explain.invert(model, x[:2], layer, progress=False)
                  for layer in layers}
    invert_path = out_dir / "inversion.png"
    plot_inversion(x[:2], inversions, title="Rebuilt from one layer's output\n"
                   "(Mahendran & Vedaldi 2015)", path=invert_path)
    return written + [(invert_path, f"layer inversion from {', '.join(layers)}")]
