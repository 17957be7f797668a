"""Ready-made networks: plain functions that return a `Sequential`, and the shipped
Fashion-MNIST model (`pretrained`).

Each takes ``rng`` (a seed or a ``np.random.Generator``) for the initial weights, so
the same seed gives the same network. Layers are left unnamed, so `Sequential`
names them ``conv1, relu1, pool1, conv2, ...`` in order.

Small networks for the course's datasets: `fashion_cnn`, `shapes_cnn`, `benchmark_cnn`.
ImageNet networks with torchvision's layer order, which load torchvision's weights
(``weights=path``, see docs/photos.md): `vgg11`, `vgg13`, `vgg16`, `vgg19`, `alexnet`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .layers import AdaptiveAvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from .sequential import Sequential, load
from .validation import as_generator, check_int, is_int

PRETRAINED_FILE = Path(__file__).parent / "assets" / "fashion_mnist_cnn.npz"


def fashion_cnn(rng=0) -> Sequential:
    """The shipped Fashion-MNIST model: three conv layers and two dense layers.

    ::

        (N, 1, 28, 28) conv1 3x3, 16 -> relu1 -> pool1 -> (N, 16, 14, 14)
                       conv2 3x3, 32 -> relu2 -> pool2 -> (N, 32, 7, 7)
                       conv3 3x3, 64 -> relu3          -> (N, 64, 7, 7)
                       flatten1 -> fc1 3136->128 -> relu4 -> fc2 128->10 -> (N, 10) scores

    All convolutions use padding 1, so only the pools shrink the image. conv3 has no
    pool after it: pooling 7x7 to 3x3 would drop a row and a column and cost about
    a point of test accuracy. 426,122 parameters (1.7 MB as float32).
    """
    rng = as_generator(rng)
    return Sequential([
        Conv2D(1, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(),
        Flatten(),
        Dense(64 * 7 * 7, 128, rng=rng), ReLU(),
        Dense(128, 10, rng=rng),
    ], input_shape=(1, 28, 28))


def shapes_cnn(rng=0, size: int = 32, num_classes: int = 4) -> Sequential:
    """A small CNN for the synthetic shapes set (``size`` x ``size`` gray images).

    ::

        (N, 1, S, S) conv1 3x3, 8 -> relu1 -> pool1 -> (N, 8, S/2, S/2)
                     conv2 3x3, 16 -> relu2 -> pool2 -> (N, 16, S/4, S/4)
                     conv3 3x3, 32 -> relu3 -> pool3 -> (N, 32, S/8, S/8)
                     flatten1 -> fc1 -> (N, num_classes) scores

    ``size`` must be a multiple of 8 (32 by default, as in `make_shapes`).
    """
    if not is_int(size) or size < 8 or size % 8:
        raise ValueError(f"size must be a positive multiple of 8. Received: size={size!r}")
    num_classes = check_int(num_classes, "num_classes")
    rng = as_generator(rng)
    side = size // 8
    return Sequential([
        Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(8, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(),
        Dense(32 * side * side, num_classes, rng=rng),
    ], input_shape=(1, size, size))


def benchmark_cnn(rng=0) -> Sequential:
    """The network of the speed benchmark (``benchmarks/train.py``), as in the
    PyTorch comparison: conv 1->32 and 32->64 (3x3, padding 1), each followed by
    ReLU and 2x2 max-pooling, then dense 3136->128, ReLU, dense 128->10."""
    rng = as_generator(rng)
    return Sequential([
        Conv2D(1, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(),
        Dense(64 * 7 * 7, 128, rng=rng), ReLU(),
        Dense(128, 10, rng=rng),
    ], input_shape=(1, 28, 28))


def pretrained() -> Sequential:
    """The `fashion_cnn` trained on Fashion-MNIST that ships with minicnn (see README)."""
    if not PRETRAINED_FILE.is_file():
        raise FileNotFoundError(f"the shipped model is missing from {str(PRETRAINED_FILE)!r}; "
                                "reinstall minicnn or run the training command in the README")
    return load(PRETRAINED_FILE)


# -- ImageNet networks with torchvision's layer order -------------------------------------
# A torchvision VGG or AlexNet is `features` (an nn.Sequential of convs, ReLUs, pools),
# an AdaptiveAvgPool2d, a flatten, and `classifier` (Linear, ReLU, Dropout, ...). Every
# torch module has its own index in its nn.Sequential, and minicnn has one layer for
# each, so the index of a minicnn layer in the list below is torchvision's index.
_VGG_CONFIGS = {   # torchvision's cfgs "A", "B", "D", "E": conv widths, "M" = 2x2 max-pool
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def torchvision_names(features: list, classifier: list) -> dict[str, str]:
    """{minicnn parameter: torchvision key} for layers named by a `Sequential`.

    The i-th layer of ``features`` with weights is ``features.<i>`` in torchvision,
    the i-th of ``classifier`` is ``classifier.<i>``: ``conv1.W`` <- ``features.0.weight``,
    ``conv1.b`` <- ``features.0.bias``, ..., ``fc3.W`` <- ``classifier.6.weight``
    (transposed, see `minicnn.load_torch_weights`).
    """
    names = {}
    for prefix, layers in (("features", features), ("classifier", classifier)):
        for i, layer in enumerate(layers):
            if layer.params:
                names[f"{layer.name}.W"] = f"{prefix}.{i}.weight"
                names[f"{layer.name}.b"] = f"{prefix}.{i}.bias"
    return names


def _imagenet_net(features: list, side: int, widths: list[int], weights, rng,
                  dropout_first: bool = False) -> Sequential:
    """``features``, torchvision's ``AdaptiveAvgPool2d((side, side))``, a flatten, then
    torchvision's classifier; loads ``weights`` if given.

    ``widths`` are the classifier's sizes, e.g. ``[4096, 4096, 1000]`` for VGG: one
    Linear for each, taking ``last conv's channels * side * side`` features at first.
    """
    sizes = [features[-3].out_channels * side * side, *widths]
    fcs = [Dense(n_in, n_out, rng=rng) for n_in, n_out in zip(sizes, sizes[1:])]
    classifier = []
    for fc in fcs[:-1]:
        if dropout_first:   # AlexNet: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear
            classifier += [Dropout(0.5), fc, ReLU()]
        else:               # VGG: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
            classifier += [fc, ReLU(), Dropout(0.5)]
    classifier.append(fcs[-1])
    model = Sequential([*features, AdaptiveAvgPool2D(side), Flatten(), *classifier],
                       input_shape=(3, 224, 224))
    if weights is not None:
        from .torch_weights import load_torch_weights
        # atomic=False: read into the parameters 16 MB at a time (one copy of the weights
        # in memory, not two); on an error the half-loaded model is simply not returned
        load_torch_weights(model, weights, names=torchvision_names(features, classifier),
                           atomic=False)
    return model


def _vgg_features(config: list, rng) -> list:
    """VGG's ``features``: a 3x3 conv (padding 1) and a ReLU for each width, a 2x2
    max-pool for each "M"."""
    features, channels = [], 3
    for v in config:
        if v == "M":
            features.append(MaxPool2D(2))
        else:
            features += [Conv2D(channels, v, 3, padding=1, rng=rng), ReLU()]
            channels = v
    return features


def _vgg(config: str, weights, num_classes: int, rng) -> Sequential:
    rng = as_generator(rng)
    num_classes = check_int(num_classes, "num_classes")
    return _imagenet_net(_vgg_features(_VGG_CONFIGS[config], rng), 7,
                         [4096, 4096, num_classes], weights, rng)


def vgg11(weights=None, num_classes: int = 1000, rng=0) -> Sequential:
    """VGG-11 (configuration "A"); see `vgg16`."""
    return _vgg("vgg11", weights, num_classes, rng)


def vgg13(weights=None, num_classes: int = 1000, rng=0) -> Sequential:
    """VGG-13 (configuration "B"); see `vgg16`."""
    return _vgg("vgg13", weights, num_classes, rng)


def vgg16(weights=None, num_classes: int = 1000, rng=0) -> Sequential:
    """VGG-16 (Simonyan & Zisserman 2015, configuration "D"), as torchvision builds it.

    ::

        (N, 3, 224, 224) conv1..conv2 3x3, 64  -> pool1 -> (N, 64, 112, 112)
                         conv3..conv4 3x3, 128 -> pool2 -> (N, 128, 56, 56)
                         conv5..conv7 3x3, 256 -> pool3 -> (N, 256, 28, 28)
                         conv8..conv10 3x3, 512 -> pool4 -> (N, 512, 14, 14)
                         conv11..conv13 3x3, 512 -> pool5 -> (N, 512, 7, 7)
                         avgpool1 -> (N, 512, 7, 7)
                         flatten1 -> fc1 25088->4096 -> relu14 -> dropout1
                                  -> fc2 4096->4096 -> relu15 -> dropout2
                                  -> fc3 4096->num_classes -> (N, num_classes) scores

    Every conv has padding 1 and a ReLU after it (relu1..relu13). 138,357,544
    parameters (528 MB as float32).

    Parameters
    ----------
    weights : path, optional
        A ``.pth`` or ``.safetensors`` file holding torchvision's ``state_dict``, e.g.
        ``~/.cache/torch/hub/checkpoints/vgg16-397923af.pth``. Keys map by
        `torchvision_names`: ``features.0.weight`` -> ``conv1.W``, ...,
        ``classifier.6.weight`` -> ``fc3.W``. Without it, random He-initialised weights.
    num_classes : int
        Outputs of the last layer (1000 for ImageNet).
    rng : seed or np.random.Generator
        For the initial (random) weights.

    Any input size from 32x32 up works, as in torchvision: ``avgpool1``
    (`minicnn.layers.AdaptiveAvgPool2D`, torchvision's ``AdaptiveAvgPool2d((7, 7))``)
    averages pool5's output to 7x7 for fc1. For 224 to 255 pixels a side pool5's
    output is already 7x7 and ``avgpool1`` changes nothing. ImageNet weights were
    trained on 224x224 crops: `minicnn.data.imagenet.load_imagenet_image` makes one.
    """
    return _vgg("vgg16", weights, num_classes, rng)


def vgg19(weights=None, num_classes: int = 1000, rng=0) -> Sequential:
    """VGG-19 (configuration "E"); see `vgg16`."""
    return _vgg("vgg19", weights, num_classes, rng)


def alexnet(weights=None, num_classes: int = 1000, rng=0) -> Sequential:
    """AlexNet as torchvision builds it (Krizhevsky 2014's "one weird trick" variant).

    ::

        (N, 3, 224, 224) conv1 11x11/4, 64, pad 2 -> relu1 -> pool1 3x3/2 -> (N, 64, 27, 27)
                         conv2 5x5, 192, pad 2    -> relu2 -> pool2 3x3/2 -> (N, 192, 13, 13)
                         conv3 3x3, 384 -> relu3 -> conv4 3x3, 256 -> relu4
                         conv5 3x3, 256 -> relu5 -> pool3 3x3/2         -> (N, 256, 6, 6)
                         avgpool1 -> (N, 256, 6, 6)
                         flatten1 -> dropout1 -> fc1 9216->4096 -> relu6
                                  -> dropout2 -> fc2 4096->4096 -> relu7
                                  -> fc3 4096->num_classes

    ``weights``, ``num_classes`` and ``rng`` as in `vgg16`. ``avgpool1``
    (torchvision's ``AdaptiveAvgPool2d((6, 6))``) gives fc1 a 6x6 map for any input
    from 63x63 up; it is the identity from 223 to 254 pixels a side.
    """
    rng = as_generator(rng)
    features = [Conv2D(3, 64, 11, stride=4, padding=2, rng=rng), ReLU(), MaxPool2D(3, 2),
                Conv2D(64, 192, 5, padding=2, rng=rng), ReLU(), MaxPool2D(3, 2),
                Conv2D(192, 384, 3, padding=1, rng=rng), ReLU(),
                Conv2D(384, 256, 3, padding=1, rng=rng), ReLU(),
                Conv2D(256, 256, 3, padding=1, rng=rng), ReLU(), MaxPool2D(3, 2)]
    widths = [4096, 4096, check_int(num_classes, "num_classes")]
    return _imagenet_net(features, 6, widths, weights, rng, dropout_first=True)


# -- which network a torchvision state_dict holds ------------------------------------------
class Architecture(NamedTuple):
    """What `detect_architecture` found in a state_dict.

    name : "vgg11", "vgg13", "vgg16", "vgg19", "alexnet", or "vgg-style" (a VGG with
        other widths or depths, e.g. a small one made for tests)
    convs : VGG's configuration, conv widths and "M" for each 2x2 max-pool (None for
        AlexNet)
    side : the size of the map the adaptive average pool gives the classifier (7 for VGG)
    widths : the classifier's Linear output sizes, e.g. [4096, 4096, 1000]
    """
    name: str
    convs: list | None
    side: int
    widths: list[int]


_ALEXNET_CONVS = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3),
                  8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
_KEY = re.compile(r"(features|classifier)\.(\d+)\.(weight|bias)")
_KNOWN = "torchvision's vgg11, vgg13, vgg16, vgg19 or alexnet"


def detect_architecture(shapes: Mapping[str, tuple[int, ...]],
                        where: str = "the weights") -> Architecture:
    """Which network a torchvision ``state_dict`` holds, from its keys and shapes alone.

    Parameters
    ----------
    shapes : {key: shape}, e.g. from `minicnn.torch_weights.read_torch_shapes`
    where : names the file in error messages

    The keys must be torchvision's ``features.<i>.weight``/``.bias`` and
    ``classifier.<i>.weight``/``.bias``. AlexNet is recognised by its five convs
    (11x11, 5x5, 3x3, 3x3, 3x3 at ``features.0, 3, 6, 8, 10``). A VGG's features are 3x3
    convs, each followed by a ReLU, so consecutive convs are 2 modules apart, or 3
    when a max-pool lies between them; the features are taken to end with a max-pool,
    as every VGG's do (the keys cannot show it). Its classifier is Linear, ReLU,
    Dropout, ..., Linear at ``classifier.0, 3, 6, ...``. The widths name the VGG
    (`_VGG_CONFIGS`); other widths give "vgg-style". The number of classes is read
    from the last Linear.

    Raises a ValueError naming ``where`` and what does not fit, e.g. for a ResNet or a
    VGG with batch norm (``vgg16_bn``).
    """
    def refuse(why: str) -> ValueError:
        return ValueError(f"{where} does not hold {_KNOWN} (nor a VGG-style network with "
                          f"their key names): {why}")

    convs, linears = {}, {}
    for key, shape in shapes.items():
        match = _KEY.fullmatch(key)
        if match is None:
            hint = " (batch norm: the vgg*_bn networks are not supported)" \
                if key.rsplit(".", 1)[-1] in ("running_mean", "running_var",
                                              "num_batches_tracked") else ""
            raise refuse(f"it has the key {key!r}{hint}")
        part, index, kind = match.group(1), int(match.group(2)), match.group(3)
        if kind == "weight":
            (convs if part == "features" else linears)[index] = tuple(shape)
    for key, shape in shapes.items():   # every weight has a bias of its output size
        part, index, kind = _KEY.fullmatch(key).groups()
        weights = convs if part == "features" else linears
        if kind == "bias" and (int(index) not in weights
                               or tuple(shape) != weights[int(index)][:1]):
            raise refuse(f"the key {key!r} of shape {list(shape)} is not the bias of a "
                         f"weight {part}.{index}.weight")
    for part, weights in (("features", convs), ("classifier", linears)):
        if not weights:
            raise refuse(f"it has no {part}.<i>.weight keys")
        for index, shape in weights.items():
            if f"{part}.{index}.bias" not in shapes:
                raise refuse(f"{part}.{index}.weight has no bias")
            if len(shape) != (4 if part == "features" else 2):
                raise refuse(f"{part}.{index}.weight has shape {list(shape)}, but a "
                             f"{'Conv2d' if part == 'features' else 'Linear'} weight has "
                             f"{4 if part == 'features' else 2} dimensions")
    indices = sorted(linears)
    widths = [linears[i][0] for i in indices]

    if {i: s[1:] for i, s in convs.items()} == {i: s[1:] for i, s in _ALEXNET_CONVS.items()} \
            and [s[0] for s in convs.values()] == [s[0] for s in _ALEXNET_CONVS.values()]:
        if indices != [1, 4, 6] or widths[:2] != [4096, 4096] or linears[1][1] != 9216:
            raise refuse(f"its features are AlexNet's, but its classifier is not "
                         f"(Linear weights {[list(linears[i]) for i in indices]} at "
                         f"classifier.{indices})")
        _check_chain(linears, indices, refuse)
        return Architecture("alexnet", None, 6, widths)

    config, channels, previous = [], 3, None
    for index in sorted(convs):
        out_channels, in_channels, kh, kw = convs[index]
        if (kh, kw) != (3, 3):
            raise refuse(f"features.{index}.weight is a {kh}x{kw} conv; VGG's are 3x3")
        if in_channels != channels:
            raise refuse(f"features.{index}.weight takes {in_channels} channels, but the "
                         f"layer before gives {channels}")
        gap = index if previous is None else index - previous
        if gap not in ((0,) if previous is None else (2, 3)):
            raise refuse(f"features.{index} follows features.{previous}: in a VGG the next "
                         f"conv comes 2 modules later (conv, ReLU) or 3 (with a max-pool)")
        if gap == 3:
            config.append("M")
        config.append(out_channels)
        channels, previous = out_channels, index
    config.append("M")
    if indices != list(range(0, 3 * len(indices), 3)):
        raise refuse(f"its classifier's Linear layers are at classifier.{indices}; VGG's "
                     f"are at classifier.0, 3, 6, ... (Linear, ReLU, Dropout, ...)")
    side = math.isqrt(linears[0][1] // channels)
    if side * side * channels != linears[0][1]:
        raise refuse(f"classifier.0.weight takes {linears[0][1]} features, which is not "
                     f"{channels} channels times a square map")
    _check_chain(linears, indices, refuse)
    names = [name for name, c in _VGG_CONFIGS.items() if c == config]
    name = names[0] if names and side == 7 and widths[:-1] == [4096, 4096] else "vgg-style"
    return Architecture(name, config, side, widths)


def _check_chain(linears: dict, indices: list[int], refuse) -> None:
    for a, b in zip(indices, indices[1:]):
        if linears[b][1] != linears[a][0]:
            raise refuse(f"classifier.{b}.weight takes {linears[b][1]} features, but "
                         f"classifier.{a} gives {linears[a][0]}")


def torchvision_model(weights, rng=0) -> tuple[Sequential, Architecture]:
    """Build the network a torchvision weights file holds and load it: (model, what).

    ``weights`` is a ``.pth`` or ``.safetensors`` file with a VGG's or AlexNet's
    ``state_dict`` (see `detect_architecture` for how it is recognised). The model is
    the one `vgg16` (...) builds, so ``vgg16-397923af.pth`` gives ``vgg16(weights=...)``.
    Only the keys and shapes are read before building, so a file of another network is
    refused before any memory goes to it.
    """
    from .torch_weights import read_torch_shapes
    arch = detect_architecture(read_torch_shapes(weights), where=repr(str(weights)))
    rng = as_generator(rng)
    if arch.name == "alexnet":
        return alexnet(weights, num_classes=arch.widths[-1], rng=rng), arch
    return _imagenet_net(_vgg_features(arch.convs, rng), arch.side, arch.widths, weights,
                         rng), arch
