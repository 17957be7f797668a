"""The explorer: one self-contained HTML page to click through neurons in a lecture.

``python -m minicnn explore --out explorer.html`` calls `write_explorer`. Everything the
page shows is computed here, in Python, before the page is written; the page itself
only picks which precomputed picture to draw (``minicnn/assets/explorer.html``, plain
HTML, CSS and a short script, no network).

For every image the page holds:

- the input, the predicted class and the top classes, with Grad-CAM for each of them
  (at `explain.cam_layer`, over the image);
- for every conv layer's feature maps (`explain.conv_activations`, e.g. relu1..relu3):
  all its feature maps, and for chosen neurons of it the map of each of the three rules
  (`explain.backprop` of a one-hot seed under "standard", "deconvnet", "guided") and the
  neuron's receptive field (`explain.receptive_field`).

Which neurons: in the last conv layer, if it is small (at most ``ALL_NEURONS`` neurons
per image, e.g. the shipped model's relu3, 64 x 7 x 7), every neuron; in the other
layers, the strongest neuron of each feature map that fires (`explain.top_neurons`,
Zeiler & Fergus). A neuron of a ReLU layer that does not fire gets only its deconvnet
map: its standard and guided maps are exactly zero (its ReLU passes no gradient).

Pictures are stored as PNG data URIs: the neuron maps of one (image, layer, rule) as
one sheet of tiles, tile ``i`` for neuron ``i`` of the layer's list, each the size of
the image, in the gray values of `explain.signed_map` (128 is zero; brighter positive,
darker negative). The page colours them with ``SIGNED_CMAP`` (``RdBu_r``: white = 0, red
positive, blue negative; docs/explain.md, "Colours") through the 256 colours of
`signed_colours`; maps of a colour image stay per channel, mid-gray = 0.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import explain
from ..explain import display
from ..explain.core import check_input
from ..io import atomic_write
from ..layers import RELU_MODES, ReLU
from ..layers._threads import one_blas_thread, one_thread
from ..sequential import Sequential
from ..train import check_workers, default_workers
from .panels import SIGNED_CMAP

TEMPLATE = Path(__file__).resolve().parent.parent / "assets" / "explorer.html"
ALL_NEURONS = 4096        # a last conv layer with at most this many neurons shows them all
TOP_CLASSES = 3           # classes listed per image, each with its Grad-CAM
MAX_BATCH_PIXELS = 2**19  # image copies per backward pass: at most this many input values
RULE_TITLES = {"standard": "standard backprop", "deconvnet": "deconvnet",
               "guided": "guided backprop"}


@dataclass
class Explorer:
    """What `build_explorer` computed: ``data`` is the page's JSON (pictures as PNG data
    URIs); ``maps`` keeps the neuron maps as uint8 arrays for tests,
    ``maps[(image, layer, rule)]`` of shape (neurons, H, W) or (neurons, H, W, 3)."""

    data: dict
    maps: dict


def png_uri(pixels: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as a ``data:image/png;base64,...`` URI."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def signed_colours() -> list[int]:
    """The page's colour for each gray value ``v`` = 0..255 of a signed map: ``SIGNED_CMAP``
    (``RdBu_r``) at ``v / 255``, as 768 numbers ``r0, g0, b0, r1, ...`` in 0..255.
    ``v`` = 128 (zero) is white, 255 dark red, 0 dark blue."""
    from matplotlib import colormaps
    rgb = colormaps[SIGNED_CMAP](np.arange(256) / 255)[:, :3]
    return [int(v) for v in to_uint8(rgb).ravel()]


def to_uint8(picture: np.ndarray) -> np.ndarray:
    """A picture in [0, 1] as uint8 0..255 (rounded)."""
    return np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)


def tile_sheet(tiles: np.ndarray, columns: int) -> np.ndarray:
    """Lay ``(n, h, w[, 3])`` tiles out row by row, ``columns`` per row; tile ``i`` sits
    at row ``i // columns``, column ``i % columns``. Unused places stay 0."""
    n, h, w = tiles.shape[:3]
    rows = -(-n // columns)
    sheet = np.zeros((rows * h, columns * w, *tiles.shape[3:]), dtype=tiles.dtype)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return sheet


def sheet_columns(n: int) -> int:
    """Tiles per row of a sheet of ``n`` tiles: about square."""
    return max(1, int(np.ceil(np.sqrt(n))))


def chosen_neurons(model: Sequential, x: np.ndarray, layer: str,
                   every: bool) -> tuple[list[explain.Neuron], list[explain.Neuron]]:
    """The neurons of ``layer`` the page explains for the one image ``x`` (1, C, H, W):
    ``(firing, silent)``.

    With ``every``: every neuron that fires (activation > 0), strongest first, and
    every other neuron (channel by channel, row by row). Otherwise: the strongest
    neuron of each feature map that fires (`explain.top_neurons`), strongest first,
    and no silent ones.
    """
    with explain.preserved_state(model):
        out = model.forward(x, until=layer)[0]                      # (C, h, w)
    if not every:
        strongest = explain.top_neurons(model, x, layer, k=out.shape[0])
        return [n for n in strongest if out[n.position] > 0], []
    where = np.argwhere(out > 0)
    order = np.argsort(-out[tuple(where.T)], kind="stable")
    firing = [explain.Neuron(layer, *(int(i) for i in where[k])) for k in order]
    silent = [explain.Neuron(layer, *(int(i) for i in p)) for p in np.argwhere(out <= 0)]
    return firing, silent


def neuron_maps(model: Sequential, x: np.ndarray, neurons: Sequence[explain.Neuron],
                modes: Sequence[str] = RELU_MODES) -> dict[str, np.ndarray]:
    """Each neuron's gradient on the image under each rule: ``{mode: (n, C, H, W)}``.

    The lecture's recipe (`explain.gradient` with a `Neuron` target), for many neurons
    of one layer at once: the image is repeated once per neuron, and copy ``i`` gets a
    seed that is 1 at neuron ``i`` and 0 elsewhere. One forward pass serves the three
    rules (`explain.backprop` restores what it changes).
    """
    layer = neurons[0].layer
    per_pass = max(1, MAX_BATCH_PIXELS // x[0].size)
    maps = {mode: [] for mode in modes}
    for start in range(0, len(neurons), per_pass):
        chunk = neurons[start:start + per_pass]
        batch = np.repeat(x, len(chunk), axis=0)
        with explain.preserved_state(model):
            out = model.forward(batch, until=layer)
            seed = np.zeros_like(out)
            for i, neuron in enumerate(chunk):
                seed[(i, *neuron.position)] = 1
            for mode in modes:
                maps[mode].append(explain.backprop(model, seed, layer, mode))
    return {mode: np.concatenate(parts) for mode, parts in maps.items()}


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def cam_overlay(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The image (H, W) or (H, W, 3) in gray with the heat map ``cam`` (H, W) in [0, 1]
    over it (jet colours, half opacity, as `figures.panels.Panel` draws it): uint8
    (H, W, 3)."""
    from matplotlib import colormaps
    gray = image if image.ndim == 2 else image.mean(axis=2)
    heat = colormaps["jet"](cam)[..., :3]
    return to_uint8(0.5 * gray[..., None] + 0.5 * heat)


def feature_maps(out: np.ndarray) -> tuple[str, int, float]:
    """A layer's feature maps ``(C, h, w)`` as one sheet (a data URI), its columns and
    the layer's largest activation. Every map shares one scale, so the strongest show
    brightest: brightness ``sqrt(value / max)`` (0 and below: black), the square root
    so that weaker activations stay visible on a projector."""
    peak = float(out.max())
    pictures = np.sqrt(np.clip(out / peak, 0, 1)) if peak > 0 else np.zeros_like(out)
    columns = sheet_columns(len(out))
    return png_uri(tile_sheet(to_uint8(pictures), columns)), columns, peak


def signed_tiles(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Each map of ``maps`` (n, C, H, W) as `explain.signed_map` draws it, for all maps
    at once, in uint8: (n, H, W) for C = 1, (n, H, W, 3) for C = 3.

    Per map: ``s`` = the ``percentile`` of ``|g|`` (its maximum if that is 0), and the
    picture is ``0.5 + 0.5 * clip(g / s, -1, 1)``; a map that is zero everywhere is
    uniformly gray (128).
    """
    g = maps.astype(np.float64)
    flat = np.abs(g).reshape(len(g), -1)
    s = np.percentile(flat, percentile, axis=1)
    s = np.where(s > 0, s, flat.max(axis=1))
    scale = np.where(s > 0, s, 1.0)[:, None, None, None]
    pictures = 0.5 + 0.5 * np.clip(g / scale, -1.0, 1.0)
    pictures = pictures[:, 0] if g.shape[1] == 1 else pictures.transpose(0, 2, 3, 1)
    return to_uint8(pictures)


def explain_layer(model: Sequential, x: np.ndarray, layer: str, every: bool, maps: dict,
                  index: int) -> dict:
    """The page's data for one layer of the image ``x`` (1, C, H, W): its feature maps,
    its explained neurons (`chosen_neurons`) as ``[channel, y, x, activation, top, left,
    bottom, right]`` (receptive field box, bottom/right exclusive) and their maps, one
    tile sheet per rule. Fills ``maps[(index, layer, rule)]``."""
    with explain.preserved_state(model):
        out = model.forward(x, until=layer)[0]
    sheet, columns, peak = feature_maps(out)
    firing, silent = chosen_neurons(model, x, layer, every)
    neurons = firing + silent
    info = {"fmaps": sheet, "fmapColumns": columns, "peak": peak, "firing": len(firing),
            "neurons": [], "columns": sheet_columns(len(neurons)), "maps": {}}
    for n in neurons:
        box = explain.receptive_field(model, layer, n.y, n.x, image_shape=x.shape[2:])
        info["neurons"].append([n.channel, n.y, n.x, round(float(out[n.position]), 4), *box])
    if not neurons:
        return info
    grads = neuron_maps(model, x, firing) if firing else {}
    if silent and isinstance(model[layer], ReLU):
        # A silent neuron's own ReLU passes no gradient: its standard and guided maps are
        # zero, and only the deconvnet rule (which ignores that ReLU) draws one.
        dead = neuron_maps(model, x, silent, modes=("deconvnet",))["deconvnet"]
        rest = {mode: dead if mode == "deconvnet" else np.zeros_like(dead)
                for mode in RELU_MODES}
    elif silent:     # a conv layer with no ReLU after it: every rule draws something
        rest = neuron_maps(model, x, silent)
    for mode in RELU_MODES if silent else ():
        grads[mode] = np.concatenate([grads[mode], rest[mode]]) if firing else rest[mode]
    for mode in RELU_MODES:
        maps[(index, layer, mode)] = tiles = signed_tiles(grads[mode])
        info["maps"][mode] = png_uri(tile_sheet(tiles, info["columns"]))
    return info


def explain_image(model: Sequential, x: np.ndarray, layers: Sequence[dict], cam: str | None,
                  maps: dict, index: int) -> dict:
    """The page's data for one image ``x`` (1, C, H, W): the image, its top classes with
    their Grad-CAM, and `explain_layer` for each of ``layers`` (the page's layer list:
    dicts with "name" and "every"). Fills ``maps`` (see `Explorer`)."""
    image = display.to_image(x[0])
    probs = softmax(model.forward(x).astype(np.float64))[0]
    top = [int(k) for k in np.argsort(-probs, kind="stable")[:TOP_CLASSES]]
    entry = {"png": png_uri(to_uint8(image)),
             "top": [[k, float(probs[k])] for k in top], "gradcam": [], "layers": {}}
    if cam is not None:
        cams = explain.grad_cam(model, np.repeat(x, len(top), axis=0), np.array(top), cam)
        entry["gradcam"] = [png_uri(cam_overlay(image, c)) for c in cams]
    for layer in layers:
        entry["layers"][layer["name"]] = explain_layer(model, x, layer["name"], layer["every"],
                                                       maps, index)
    return entry


def build_explorer(model: Sequential, images: np.ndarray, names: Sequence[str],
                   class_names: Sequence[str] | None = None, title: str = "minicnn explorer",
                   progress: bool = True, workers: int | None = None) -> Explorer:
    """Compute everything the explorer page shows.

    Parameters
    ----------
    model : Sequential with at least one Conv2D layer
    images : (N, C, H, W) array in ``model.dtype``, C = 1 or 3
    names : N labels for the images (shown under each)
    class_names : the model's class names, or None for "class 0", "class 1", ...
    progress : show a tqdm progress bar (one step per image)
    workers : threads that explain images at the same time, each with a copy of the
        model (default: `train.default_workers`, the CPU cores, at most 4)

    Returns
    -------
    `Explorer`. The model is left as it was.
    """
    from tqdm.auto import tqdm

    check_input(model, images, "build_explorer")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"build_explorer: images must be (N, C, H, W) with C = 1 or 3. "
                         f"Received: images of shape {list(images.shape)}")
    if len(names) != len(images):
        raise ValueError(f"build_explorer: names must give one name per image. Received: "
                         f"{len(names)} names for {len(images)} images")
    layers = explain.conv_activations(model)
    if not layers:
        raise ValueError("build_explorer: the model has no Conv2D layer, so no feature maps "
                         "to explore")
    n_classes = model.forward(images[:1]).shape[-1]
    if class_names is None:
        class_names = [f"class {k}" for k in range(n_classes)]
    if len(class_names) != n_classes:
        raise ValueError(f"build_explorer: class_names must name the model's {n_classes} "
                         f"classes. Received: {len(class_names)} names")
    height, width = images.shape[2:]
    shapes = {}
    for layer in layers:
        with explain.preserved_state(model):
            shapes[layer] = list(model.forward(images[:1], until=layer).shape[1:])
    data = {
        "title": title, "classes": list(class_names), "size": [height, width],
        "cam": explain.cam_layer(model), "rules": list(RELU_MODES),
        "ruleTitles": [RULE_TITLES[m] for m in RELU_MODES],
        # signed maps of a one-channel image are coloured on the page; of a colour image not
        "signedColours": signed_colours() if images.shape[1] == 1 else None,
        "layers": [{"name": layer, "shape": shapes[layer], "relu": isinstance(model[layer], ReLU),
                    "every": layer == layers[-1] and int(np.prod(shapes[layer])) <= ALL_NEURONS}
                   for layer in layers],
        "images": [],
    }
    maps: dict = {}
    workers = default_workers() if workers is None else check_workers(workers)
    workers = min(workers, len(images))
    entries: list = [None] * len(images)

    stop = threading.Event()   # set when one worker fails or the user presses Ctrl-C

    def run(first: int, replica: Sequential) -> None:
        for i in range(first, len(images), workers):     # every workers-th image
            if stop.is_set():
                return
            entries[i] = explain_image(replica, images[i:i + 1], data["layers"], data["cam"],
                                       maps, i)
            entries[i]["name"] = str(names[i])
            bar.update(1)

    # Data parallelism over the images: each thread has its own copy of the model (its own
    # caches), and the BLAS library (and with several workers the convolution kernels)
    # are held to one thread each, so the workers share the cores.
    with tqdm(total=len(images), desc="explorer", unit="image", disable=not progress) as bar, \
            one_blas_thread(), \
            one_thread() if workers > 1 else contextlib.nullcontext(), \
            ThreadPoolExecutor(workers) as pool:
        jobs = [pool.submit(run, w, copy.deepcopy(model) if w else model)
                for w in range(workers)]
        try:
            for job in jobs:
                job.result()                               # raises a worker's error here
        except BaseException:
            stop.set()                                     # the others stop after their image
            raise
    data["images"] = entries
    return Explorer(data, maps)


def render_html(data: dict) -> str:
    """The page: the template with ``data`` as JSON in its data script."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    template = TEMPLATE.read_text(encoding="utf-8")
    return template.replace("/*EXPLORER-DATA*/", text, 1)


def write_explorer(path: str | os.PathLike, model: Sequential, images: np.ndarray,
                   names: Sequence[str], class_names: Sequence[str] | None = None,
                   title: str = "minicnn explorer", progress: bool = True,
                   workers: int | None = None) -> Explorer:
    """Build the explorer (`build_explorer`) and write its page to ``path`` atomically."""
    path = Path(path)
    result = build_explorer(model, images, names, class_names, title, progress, workers)
    html = render_html(result.data).encode("utf-8")
    atomic_write(path, lambda f: f.write(html))
    return result
