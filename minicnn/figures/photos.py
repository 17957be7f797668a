"""The lecture's figures for photographs and ImageNet networks (VGG, AlexNet).

The images here are ImageNet-normalized (`minicnn.data.imagenet.preprocess_imagenet`):
the network sees ``(pixel - mean) / std``, but every figure shows the photograph
itself (`photo`, which undoes the normalization). Gradients are drawn centred on
gray (`explain.display.signed_map`): gray is zero, brighter and darker are positive
and negative, each colour channel on its own. That is the look of the lecture's cat:
plain backprop a gray, noisy map; guided backprop sharp edges.

- `explain_photo`: one photograph, its top class under the three rules, Grad-CAM and
  guided Grad-CAM (``python -m minicnn explain --image cat.jpg --model vgg16.pth``);
- `photo_demo`: the demo's figures for a folder of photographs
  (``python -m minicnn demo --model vgg16.pth --images DIR``): ``classes.png``,
  ``neurons.png`` and ``top_patches.png``;
- `rules_rows`, `neuron_rows`, `photo_top_patches`: the pieces they are made of.

Every function that draws returns a matplotlib ``Figure`` and, given ``path=``, writes
it there atomically (see `minicnn.figures.panels`). Long work shows a tqdm progress
bar on stderr (``progress=False`` hides it).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import explain
from ..data.imagenet import unnormalize_imagenet
from ..explain import display
from ..layers import Conv2D, MaxPool2D, ReLU
from ..sequential import Sequential
from .beyond import plot_top_patches
from .lecture import MODE_TITLES, MODES, softmax, support_box
from .panels import Panel, grid

# The rules' maps are drawn centred on gray, clipped at this percentile of |g|.
PERCENTILE = 99.5


def photo(x: np.ndarray) -> np.ndarray:
    """One ImageNet-normalized image (1, 3, H, W) or (3, H, W) as the photograph
    (H, W, 3) in [0, 1]."""
    x = np.asarray(x)
    x = x[None] if x.ndim == 3 else x
    return unnormalize_imagenet(x)[0].transpose(1, 2, 0)


def top_classes(model: Sequential, x: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` most probable classes for one image (1, C, H, W): [(class, probability)],
    most probable first."""
    with explain.preserved_state(model):
        probs = softmax(model.forward(x).astype(np.float64))[0]
    return _ranked(probs, k)


def _ranked(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(c), float(probs[c])) for c in order]


def _label(k: int, class_names: Sequence[str] | None) -> str:
    return class_names[k] if class_names is not None and k < len(class_names) else f"class {k}"


def _progress(total: int, what: str, progress: bool):
    from tqdm.std import tqdm
    return tqdm(total=total, desc=what, unit="map", disable=not progress, leave=False)


def default_layer(model: Sequential) -> str:
    """The conv layer whose neurons the demo shows by default: the rectified feature
    maps two thirds of the way up (VGG-16: ``relu9``, the middle of its fourth block;
    AlexNet: ``relu4``), where neurons respond to parts of objects and their receptive
    fields are still smaller than the image."""
    layers = explain.conv_activations(model)
    if not layers:
        raise ValueError("the model has no Conv2D layer, so it has no feature maps to show")
    return layers[(2 * len(layers)) // 3]


def rules_rows(model: Sequential, X: np.ndarray, targets: Sequence[int],
               modes: Sequence[str] = MODES, cam_layer: str | None = None,
               progress: bool = True) -> tuple[list[list], list[str]]:
    """The panels of one row per image: the photograph, ``targets[i]``'s map under each
    rule, then (with ``cam_layer``) Grad-CAM over the photograph and guided Grad-CAM
    (guided backprop times Grad-CAM). Returns (rows, column titles).

    ``X`` is (N, 3, H, W), ImageNet-normalized; images are explained one at a time.
    """
    columns = ["photograph", *(MODE_TITLES.get(m, m) for m in modes)]
    if cam_layer is not None:
        columns += [f"Grad-CAM\n({cam_layer})", "guided Grad-CAM"]
    rows = []
    with _progress(len(X) * (len(modes) + (cam_layer is not None)), "explaining classes",
                   progress) as bar:
        for i, target in enumerate(targets):
            x = X[i:i + 1]
            maps = {}
            for mode in modes:
                maps[mode] = explain.gradient(model, x, int(target), mode)[0]
                bar.update()
            picture = photo(x)
            row = [picture, *(display.signed_map(maps[m], PERCENTILE) for m in modes)]
            if cam_layer is not None:
                cam = explain.grad_cam(model, x, int(target), cam_layer)[0]
                bar.update()
                guided = maps["guided"] if "guided" in maps else \
                    explain.guided_backprop(model, x, int(target))[0]
                row += [Panel(picture, overlay=cam),
                        display.signed_map(guided * cam, PERCENTILE)]
            rows.append(row)
    return rows, columns


def explain_photo(model: Sequential, x: np.ndarray, class_names: Sequence[str] | None = None,
                  target: int | None = None, modes: Sequence[str] = MODES, name: str = "photo",
                  path: str | os.PathLike | None = None, progress: bool = True):
    """The lecture's figure for one photograph: (figure, top-5 [(class, probability)]).

    Parameters
    ----------
    x : (1, 3, H, W) ImageNet-normalized (e.g. `minicnn.data.imagenet.load_imagenet_image`)
    class_names : the model's class names (e.g. `imagenet_classes()`), for the labels
    target : the class to explain; None for the most probable one
    name : what the title calls the photograph (e.g. its file name)
    """
    with explain.preserved_state(model):
        probs = softmax(model.forward(x).astype(np.float64))[0]
    top5 = _ranked(probs, 5)
    k = top5[0][0] if target is None else target
    n_classes = len(probs)
    if not 0 <= k < n_classes:
        raise ValueError(f"target must be a class in [0, {n_classes - 1}] (the model has "
                         f"{n_classes} classes). Received: target={k}")
    rows, columns = rules_rows(model, x, [k], modes, explain.cam_layer(model), progress)
    ranking = "\n".join(f"{i + 1}. {_label(c, class_names)} {p:.1%}"
                        for i, (c, p) in enumerate(top5))
    what = "the top class" if target is None else "the chosen class"
    title = (f"{name}: why {_label(k, class_names)!r} ({what})? Gradient of its score "
             f"w.r.t. the photograph; gray = 0")
    return grid(rows, columns, [f"top {len(top5)}:\n{ranking}"], title, path, cell=2.4), top5


def neuron_rows(model: Sequential, X: np.ndarray, layer: str, per_image: int = 2,
                modes: Sequence[str] = MODES, progress: bool = True
                ) -> tuple[list[list], list[str], list[str]]:
    """For each image, its ``per_image`` most strongly activated neurons of ``layer``
    (each from another feature map, Zeiler & Fergus) under each rule, cropped to the
    neuron's receptive field. Returns (rows, column titles, row labels).

    Each row: the photograph with the receptive field boxed in red, the photograph
    cropped to it, then each rule's map of that neuron, cropped the same way.
    """
    rows, labels = [], []
    with _progress(len(X) * per_image * len(modes), f"explaining neurons of {layer}",
                   progress) as bar:
        for i in range(len(X)):
            x = X[i:i + 1]
            picture = photo(x)
            for neuron in explain.top_neurons(model, x, layer, k=per_image):
                maps = {}
                for mode in modes:
                    maps[mode] = explain.gradient(model, x, neuron, mode)[0]
                    bar.update()
                box = support_box(list(maps.values())) or (0, 0, *x.shape[2:])
                y0, x0, y1, x1 = box
                rows.append([Panel(picture, box=box), picture[y0:y1, x0:x1],
                             *(display.signed_map(maps[m][:, y0:y1, x0:x1], PERCENTILE)
                               for m in modes)])
                labels.append(f"{layer} ch {neuron.channel}\n@ ({neuron.y}, {neuron.x})")
    columns = ["photograph", "receptive field", *(MODE_TITLES.get(m, m) for m in modes)]
    return rows, columns, labels


def busiest_channels(model: Sequential, X: np.ndarray, layer: str, n: int) -> list[int]:
    """The ``n`` feature maps of ``layer`` with the largest mean peak over the images
    ``X``, strongest first (`explain.busiest_channels`, one image at a time so that a
    folder of photographs never has all its activations in memory)."""
    peaks = None
    with explain.preserved_state(model):
        for i in range(len(X)):
            out = model.forward(X[i:i + 1], until=layer)[0]
            peak = out.reshape(out.shape[0], -1).max(axis=1).astype(np.float64)
            peaks = peak if peaks is None else peaks + peak
    return [int(c) for c in np.argsort(-peaks, kind="stable")[:n]]


def photo_top_patches(model: Sequential, X: np.ndarray, layer: str, channels: Sequence[int],
                      k: int, mode: str = "guided", title: str | None = None,
                      path: str | os.PathLike | None = None, progress: bool = True):
    """Zeiler & Fergus's figure over a folder of photographs: for each feature map in
    ``channels``, the ``k`` photographs' patches that excite it most and their
    ``mode`` reconstructions (`explain.top_patches`), the patches shown as photographs."""
    results = []
    with _progress(len(channels), f"top patches of {layer}", progress) as bar:
        for channel in channels:
            r = explain.top_patches(model, X, layer, channel, k=k, mode=mode, batch_size=4)
            results.append(dataclasses.replace(
                r, patches=[unnormalize_imagenet(p[None])[0] for p in r.patches]))
            bar.update()
    return plot_top_patches(results, title=title, path=path)


# -- the demo for photographs -----------------------------------------------------------
MAX_ROWS = 6          # classes.png shows at most this many photographs
NEURON_IMAGES = 3     # neurons.png: the first photographs, 2 neurons each
PATCH_CHANNELS = 3    # top_patches.png: the busiest feature maps, up to 6 patches each


def photo_demo(out_dir: str | os.PathLike, model: Sequential, X: np.ndarray,
               names: Sequence[str], class_names: Sequence[str] | None = None,
               layer: str | None = None, progress: bool = True) -> list[tuple[Path, str]]:
    """Write the lecture's figures for the photographs ``X`` into ``out_dir``; return
    [(path, what it shows)].

    Parameters
    ----------
    X : (N, 3, H, W) ImageNet-normalized photographs
        (`minicnn.data.imagenet.load_imagenet_folder`)
    names : one name per photograph (its file name), for the row labels
    class_names : the model's class names (`imagenet_classes()` for ImageNet)
    layer : the conv layer whose neurons ``neurons.png`` and ``top_patches.png`` show,
        e.g. ``"relu9"``; default `default_layer`

    Figures: ``classes.png``, the first photographs (at most ``MAX_ROWS``) each
    explained for its top class under the three rules, with Grad-CAM and guided
    Grad-CAM; ``neurons.png``, the most strongly firing neurons of ``layer`` in the
    first ``NEURON_IMAGES`` photographs under the three rules, cropped to their
    receptive fields; ``top_patches.png``, over all the photographs, the patches that
    excite ``layer``'s busiest feature maps most, with their guided-backprop
    reconstructions.
    """
    if len(X) != len(names):
        raise ValueError(f"names must give one name per photograph: {len(X)} photographs, "
                         f"{len(names)} names")
    if len(X) == 0:
        raise ValueError("photo_demo needs at least one photograph")
    layer = default_layer(model) if layer is None else layer
    # the features: the convs, ReLUs and max-pools before the adaptive pool or flatten
    end = next((i for i, lyr in enumerate(model.layers)
                if not isinstance(lyr, (Conv2D, ReLU, MaxPool2D))), len(model.layers))
    if layer not in model.names()[:end]:
        model.index(layer)   # a KeyError listing the layers, if there is no such layer
        raise ValueError(f"layer must have feature maps (a layer before the classifier, e.g. "
                         f"{default_layer(model)!r}). Received: layer={layer!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cam = explain.cam_layer(model)

    shown = X[:MAX_ROWS]
    tops = [top_classes(model, shown[i:i + 1], 1)[0] for i in range(len(shown))]
    rows, columns = rules_rows(model, shown, [c for c, _ in tops], cam_layer=cam,
                               progress=progress)
    labels = [f"{name}\n{_label(c, class_names)}\n({p:.1%})"
              for name, (c, p) in zip(names, tops)]
    classes_png = out / "classes.png"
    grid(rows, columns, labels, "Why this class? Gradient of the top class score w.r.t. the "
         "photograph (gray = 0)", classes_png, cell=2.2)

    first = X[:NEURON_IMAGES]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* does not fire")
        rows, columns, labels = neuron_rows(model, first, layer, progress=progress)
    labels = [f"{names[i // 2]}\n{label}" for i, label in enumerate(labels)]
    neurons_png = out / "neurons.png"
    grid(rows, columns, labels, f"One neuron of {layer} at a time: gradient 1 at the "
         f"neuron, 0 elsewhere in its layer", neurons_png, cell=2.0)

    channels = busiest_channels(model, X, layer, PATCH_CHANNELS)
    k = min(6, len(X))
    patches_png = out / "top_patches.png"
    title = f"Top patches of {layer}" if k < 5 else \
        f"What {layer}'s busiest feature maps look for, over {len(X)} photographs"
    photo_top_patches(model, X, layer, channels, k, title=title, path=patches_png,
                      progress=progress)

    return [
        (classes_png, f"{len(shown)} photographs, each explained for its top class under "
                      f"standard backprop, deconvnet and guided backprop, plus Grad-CAM "
                      f"({cam}) and guided Grad-CAM"),
        (neurons_png, f"the 2 most strongly activated neurons of {layer} in "
                      f"{len(first)} photographs under the three rules, cropped to each "
                      f"neuron's receptive field"),
        (patches_png, f"for {layer}'s {len(channels)} busiest feature maps, the {k} "
                      f"photographs' patches that excite each most, and their "
                      f"guided-backprop reconstructions"),
    ]
