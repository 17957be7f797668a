"""The demo in one call, and the figure for one image of the user's own.

`run_demo` is what ``python -m minicnn demo`` runs: the shipped Fashion-MNIST model
on the shipped sample images (no dataset, no network), written as four PNGs --
``classes.png`` and ``neurons.png`` (the lecture, `lecture_figures`) and
``top_patches.png`` and ``randomization.png`` (beyond it, `beyond_figures`); with
``optimize=True`` (``--optimize``) also ``class_images.png``, ``fooling.png`` and
``inversion.png`` (optimising the input, `optimize_figures`).

`explain_image` is what ``python -m minicnn explain`` draws once the command line has
been parsed: one image's class score, neuron or feature map under the three rules.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import explain
from ..sequential import Sequential
from .beyond import beyond_figures
from .lecture import MODES, SHOW, compare_neurons, compare_rules, lecture_figures, softmax
from .optimize import optimize_figures


def run_demo(out_dir: str | os.PathLike = "minicnn-demo", model: Sequential | None = None,
             images: np.ndarray | None = None, labels: np.ndarray | None = None,
             class_names: list[str] | None = None,
             optimize: bool = False) -> list[tuple[Path, str]]:
    """Write the demo's figures into ``out_dir``; return [(path, what it shows)].

    Defaults: ``minicnn.pretrained()`` on ``minicnn.data.sample_images()``. With
    ``optimize``, add the three figures of `optimize_figures` (the demo then takes about
    three times as long).
    """
    from .. import data
    from ..models import pretrained

    if model is None:
        model = pretrained()
    if images is None:
        images, labels = data.sample_images()
        images = images.astype(model.dtype)
        class_names = class_names or list(data.FASHION_MNIST_CLASSES)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = class_names or [f"class {k}" for k in range(1000)]
    figures = lecture_figures(out, model, images, labels, names)
    figures += beyond_figures(out, model=model)
    if optimize:
        figures += optimize_figures(out, model=model, class_names=class_names)
    return figures


def explain_image(model: Sequential, x: np.ndarray, target=None,
                  modes: Sequence[str] = MODES, class_names: Sequence[str] | None = None,
                  name: str = "image", path: str | os.PathLike | None = None) -> str:
    """Draw one image's explanation under the rules ``modes``; return a one-line summary.

    Parameters
    ----------
    x : (1, C, H, W) in ``model.dtype``: the image
    target : None for the predicted class, an int class, or an `explain.Neuron` or
        `explain.Channel` (its layer's feature maps)
    class_names : names of the model's classes, for the labels (default "class k")
    name : what the title calls the image (e.g. its file name)
    path : where to write the figure
    """
    probs = softmax(model.forward(x).astype(np.float64))[0]
    pred = int(probs.argmax())

    def label(k: int) -> str:
        return class_names[k] if class_names else f"class {k}"

    predicted = f"predicted {label(pred)} ({probs[pred]:.0%})"
    if isinstance(target, (explain.Neuron, explain.Channel)):
        if isinstance(target, explain.Neuron):
            text, rows = str(target), None
        else:
            text = f"channel {target.layer}[{target.channel}]"
            rows = [f"{target.layer}\nchannel {target.channel}"]
        compare_neurons(model, x, [target], modes=modes, row_labels=rows, show=SHOW,
                        title=f"{name}: {text}; {predicted}", path=path)
    else:
        k = pred if target is None else target
        if not 0 <= k < len(probs):
            raise ValueError(f"target must be a class in [0, {len(probs) - 1}] (the model has "
                             f"{len(probs)} classes). Received: target={k}")
        text = f"target {label(k)}" + (" (the predicted class)" if target is None else "")
        compare_rules(model, x, k, cam_layer=explain.cam_layer(model), modes=modes, show=SHOW,
                      row_labels=[label(k)], title=f"{name}: {text}; {predicted}", path=path)
    return f"{path}: {text} under {', '.join(modes)}; {predicted}"
