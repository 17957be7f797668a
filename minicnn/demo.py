"""The lecture's figures in one call, and the explanation of one image from disk.

`run_demo` is what ``python -m minicnn demo`` runs: the shipped Fashion-MNIST model
on the shipped sample images (no dataset, no network), written as PNGs:

- ``classes.png``: several images, each explained for its predicted class under
  the three rules, plus Grad-CAM and guided Grad-CAM;
- ``neurons.png``: the lecture's recipe on single neurons -- for each image the most
  strongly activated neurons (Zeiler & Fergus) of the last conv layer, and of an
  earlier one, under the three rules;
- ``top_patches.png`` and ``randomization.png``: beyond the lecture, see
  `minicnn.demo_beyond`.

`explain_file` is what ``python -m minicnn explain`` runs. Both raise ValueError,
KeyError or FileNotFoundError with a one-line message for bad arguments.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from . import explain, plot
from .layers import Conv2D, ReLU
from .sequential import Sequential

# How the figures draw a map: its positive part, on black (see docs/explain.md).
SHOW = "positive"
# Which shipped sample images (one per class) the demo shows.
CLASS_ROWS = (0, 1, 3, 5, 7, 9)       # T-shirt, trouser, dress, sandal, sneaker, ankle boot
NEURON_IMAGES = (0, 7, 9)             # T-shirt, sneaker, ankle boot


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
    """Grad-CAM's layer: the last conv layer's rectified feature maps (Selvaraju et al.)."""
    names = conv_activations(model)
    return names[-1] if names else None


def run_demo(out_dir: str | os.PathLike = "minicnn-demo", model: Sequential | None = None,
             images: np.ndarray | None = None, labels: np.ndarray | None = None,
             class_names: list[str] | None = None) -> list[tuple[Path, str]]:
    """Write the lecture's figures into ``out_dir``; return [(path, what it shows)].

    Defaults: ``minicnn.pretrained()`` on ``minicnn.data.sample_images()``.
    """
    from . import data, pretrained

    if model is None:
        model = pretrained()
    if images is None:
        images, labels = data.sample_images()
        images = images.astype(model.dtype)
        class_names = class_names or list(data.FASHION_MNIST_CLASSES)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = class_names or [f"class {k}" for k in range(1000)]
    activations = conv_activations(model)
    if not activations:
        raise ValueError("the demo needs a model with at least one Conv2D layer")

    # 1. classes: each image's predicted class under the three rules, plus Grad-CAM.
    rows = [i for i in CLASS_ROWS if i < len(images)] or list(range(min(6, len(images))))
    x = images[rows]
    probs = softmax(model.forward(x).astype(np.float64))
    pred = probs.argmax(axis=1)
    row_labels = [
        (f"{names[labels[r]]}\n" if labels is not None else "")
        + f"pred: {names[p]}\n({probs[i, p]:.0%})" for i, (r, p) in enumerate(zip(rows, pred))]
    classes_png = out / "classes.png"
    plot.compare_rules(
        model, x, pred, cam_layer=cam_layer(model), row_labels=row_labels, path=classes_png,
        show=SHOW, title="Why this class? Gradient of the predicted class score w.r.t. the "
                         "image (positive part)")

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
        plot.compare_neurons(
            model, images[[i for i, _, _ in picks]], [n for _, n, _ in picks],
            row_labels=neuron_labels, path=neurons_png, show=SHOW,
            title="One neuron at a time (the lecture's recipe): gradient 1 at the neuron, "
                  "0 at every other neuron of its layer")

    rules = "standard backprop, deconvnet and guided backprop"
    figures = [
        (classes_png, f"{len(rows)} sample images, each explained for its predicted class "
                      f"under {rules}, plus Grad-CAM ({cam_layer(model)}) and guided Grad-CAM"),
        (neurons_png, f"the most strongly activated neurons of {late}"
                      + (f" and {early}" if early else "")
                      + f" for {len(chosen)} images under the three rules, cropped to each "
                        "neuron's receptive field"
                      + ("; one row shows a neuron on an image where it does not fire: zero "
                         "under standard and guided, while deconvnet still draws a pattern"
                         if silent is not None else "")),
    ]
    # 3. beyond the lecture: the patches that excite neurons, and the randomisation test.
    from .demo_beyond import beyond_figures
    return figures + beyond_figures(out, model=model)


def find_silent(model: Sequential, images: np.ndarray, picks: list, chosen: list[int]):
    """Find one picked neuron that does not fire on another chosen image.

    Returns (index in picks, (image, neuron, label note)) or None. The note gives the
    neuron's input to its ReLU on that image (<= 0).
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
                return at, (j, neuron, f"\nsilent here ({value:.2g})")
    return None


# -- python -m minicnn explain ------------------------------------------------------------
def parse_neuron(spec: str) -> tuple[int, ...]:
    """``"5,3,3"`` -> (5, 3, 3); ``"12"`` -> (12,) for a dense layer."""
    try:
        values = tuple(int(v) for v in spec.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 3):
        raise ValueError(f"--neuron must be C,Y,X (three ints, e.g. --neuron 5,3,3) or C for a "
                         f"dense layer. Received: --neuron {spec}")
    return values


def parse_class(spec: str, names: list[str] | None) -> int:
    """A class index, or (for the shipped model) a Fashion-MNIST class name."""
    try:
        return int(spec)
    except ValueError:
        pass
    lowered = [n.lower() for n in names or []]
    if spec.lower() in lowered:
        return lowered.index(spec.lower())
    known = f" or one of {names}" if names else ""
    raise ValueError(f"--target must be a class index{known}. Received: --target {spec}")


def load_for(model: Sequential, path, invert: bool = False) -> np.ndarray:
    """Load an image file as a (1, C, H, W) batch fitting ``model``'s input."""
    from .data import load_image

    if model.input_shape is not None:
        channels, h, w = model.input_shape
        size = (h, w)
    else:
        convs = [la for la in model.layers if isinstance(la, Conv2D)]
        channels, size = (convs[0].in_channels if convs else 3), None
    if channels not in (1, 3):
        raise ValueError(f"explain loads gray or RGB images, but the model expects "
                         f"{channels} input channels")
    x = load_image(path, size=size, grayscale=channels == 1)
    if invert:
        x = 1 - x
    return x.astype(model.dtype)


def explain_file(image, out, model_path=None, target=None, layer=None, neuron=None,
                 channel=None, mode: str = "all", invert: bool = False) -> str:
    """Explain one image file; write the figure to ``out``; return a one-line summary."""
    from . import data, load, pretrained

    modes = plot.MODES if mode == "all" else (explain.core.check_mode(mode),)
    if not Path(image).is_file():
        raise FileNotFoundError(f"--image: no such file: {image}")
    if target is not None and (layer, neuron, channel) != (None, None, None):
        raise ValueError("give either --target CLASS or --layer NAME with --neuron/--channel, "
                         "not both")
    if layer is not None and (neuron is None) == (channel is None):
        raise ValueError("--layer needs exactly one of --neuron C,Y,X or --channel C")
    if layer is None and (neuron is not None or channel is not None):
        raise ValueError("--neuron and --channel need --layer NAME (e.g. --layer relu3)")
    if Path(out).suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise ValueError(f"--out must be an image file name ending in .png. Received: --out {out}")
    if not Path(out).resolve().parent.is_dir():
        raise FileNotFoundError(f"--out: the folder {str(Path(out).parent)!r} does not exist")

    model = load(model_path) if model_path is not None else pretrained()
    names = list(data.FASHION_MNIST_CLASSES) if model_path is None else None
    x = load_for(model, image, invert)
    probs = softmax(model.forward(x).astype(np.float64))[0]
    pred = int(probs.argmax())
    label = (lambda k: names[k]) if names else (lambda k: f"class {k}")
    predicted = f"predicted {label(pred)} ({probs[pred]:.0%})"
    if layer is not None:
        model.index(layer)   # KeyError listing the layers
        if neuron is not None:
            what = explain.Neuron(layer, *parse_neuron(neuron))
            text = str(what)
        else:
            what = explain.Channel(layer, _int(channel, "--channel"))
            text = f"channel {layer}[{what.channel}]"
        row = None if neuron is not None else [f"{layer}\nchannel {what.channel}"]
        plot.compare_neurons(model, x, [what], modes=modes, row_labels=row, show=SHOW,
                             title=f"{Path(image).name}: {text}; {predicted}", path=out)
    else:
        k = pred if target is None else parse_class(target, names)
        n_classes = probs.shape[0]
        if not 0 <= k < n_classes:
            raise ValueError(f"--target {k} is out of range: the model has {n_classes} classes")
        text = f"target {label(k)}" + (" (the predicted class)" if target is None else "")
        plot.compare_rules(model, x, k, cam_layer=cam_layer(model), modes=modes, show=SHOW,
                           row_labels=[label(k)],
                           title=f"{Path(image).name}: {text}; {predicted}", path=out)
    return f"{out}: {text} under {', '.join(modes)}; {predicted}"


def _int(spec, flag: str) -> int:
    try:
        return int(spec)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be an int. Received: {flag} {spec}") from None
