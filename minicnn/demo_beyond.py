"""The demo's second set of figures: what neurons look for, and a sanity check.

`beyond_figures(out_dir)` writes, from the shipped Fashion-MNIST model,

1. ``top_patches.png``: for four feature maps of the last conv layer (after its
   ReLU: ``relu3`` on the shipped model), the nine test-image
   patches that excite each most and their guided-backprop reconstructions
   (Zeiler & Fergus 2014, figure 2);
2. ``randomization.png``: guided backprop and the plain gradient of one sample image
   as the model's layers are re-initialised from the top (Adebayo et al. 2018).
   Guided backprop's map barely changes; the gradient's falls apart.

It takes a few seconds: the patch search runs over the first ``n_search`` (2,000)
Fashion-MNIST test images, from the full test set when it is installed, else from the
2,000 that ship in the package (``minicnn.data.fashion_mnist_test_set``), so the
figure is the same on every machine for ``n_search <= 2000``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from . import explain
from .model import Sequential
from .plot_beyond import plot_randomization, plot_top_patches


def _search_images(dtype, n_search: int) -> tuple[np.ndarray, str, str]:
    """The first ``n_search`` Fashion-MNIST test images: from the full test set when it
    is installed, else from the 2,000 shipped in the package; a short note saying which
    (for the title) and the test set's one-line description (for the printout)."""
    from .data import fashion_mnist_test_set

    test = fashion_mnist_test_set()
    X = test.X[:n_search]
    where = (f"the first {len(X):,} test images, from the "
             + ("full test set" if test.source == "full" else "subset shipped in the package"))
    searched = (test.description if len(X) == len(test.X)
                else f"the first {len(X):,} images of {test.description}")
    return X.astype(dtype), where, searched


def _busiest_channels(model: Sequential, X: np.ndarray, layer: str, n: int) -> list[int]:
    """The ``n`` channels of ``layer`` with the largest mean (over images) peak activation,
    so the figure shows feature maps that fire, not dead ones."""
    with explain.preserved_state(model):
        out = model.forward(X[:500], until=layer)
    peaks = out.reshape(out.shape[0], out.shape[1], -1).max(axis=2).mean(axis=0)
    return [int(c) for c in np.argsort(-peaks, kind="stable")[:n]]


def beyond_figures(out_dir, model: Sequential | None = None,
                   n_search: int = 2000) -> list[tuple[Path, str]]:
    """Write the top-patches and randomisation figures into ``out_dir``.

    Parameters
    ----------
    out_dir : folder (created if needed)
    model : defaults to `minicnn.pretrained()`
    n_search : how many test images the patch search looks through

    Returns
    -------
    list of ``(path, description)``, one per figure.
    """
    from . import pretrained
    from .data import sample_images
    from .demo import conv_activations

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = pretrained() if model is None else model
    layer = conv_activations(model)[-1]
    X, where, searched = _search_images(model.dtype, n_search)
    k = min(9, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # a dead neuron's map is zero: shown, not warned
        results = [explain.top_patches(model, X, layer, channel, k=k, mode="guided")
                   for channel in _busiest_channels(model, X, layer, 4)]
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
