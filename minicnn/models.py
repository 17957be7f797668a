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

from pathlib import Path

from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
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


def _imagenet_net(features: list, side: int, weights, num_classes: int, rng,
                  dropout_first: bool = False) -> Sequential:
    """``features``, a flatten, then torchvision's classifier; loads ``weights`` if given.

    ``side`` is the size of the last feature map (7 for VGG, 6 for AlexNet).
    """
    fc1 = Dense(features[-3].out_channels * side * side, 4096, rng=rng)
    fc2 = Dense(4096, 4096, rng=rng)
    fc3 = Dense(4096, num_classes, rng=rng)
    if dropout_first:   # AlexNet: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear
        classifier = [Dropout(0.5), fc1, ReLU(), Dropout(0.5), fc2, ReLU(), fc3]
    else:               # VGG: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
        classifier = [fc1, ReLU(), Dropout(0.5), fc2, ReLU(), Dropout(0.5), fc3]
    model = Sequential([*features, Flatten(), *classifier], input_shape=(3, 224, 224))
    if weights is not None:
        from .torch_weights import load_torch_weights
        # atomic=False: read into the parameters 16 MB at a time (one copy of the weights
        # in memory, not two); on an error the half-loaded model is simply not returned
        load_torch_weights(model, weights, names=torchvision_names(features, classifier),
                           atomic=False)
    return model


def _vgg(config: str, weights, num_classes: int, rng) -> Sequential:
    rng = as_generator(rng)
    features, channels = [], 3
    for v in _VGG_CONFIGS[config]:
        if v == "M":
            features.append(MaxPool2D(2))
        else:
            features += [Conv2D(channels, v, 3, padding=1, rng=rng), ReLU()]
            channels = v
    return _imagenet_net(features, 7, weights, check_int(num_classes, "num_classes"), rng)


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

    Inputs must be (N, 3, H, W) with H and W from 224 to 255, so that pool5's output is
    7x7. There torchvision's ``AdaptiveAvgPool2d((7, 7))`` changes nothing, and the
    logits equal torchvision's. Other sizes are refused by fc1 with a ValueError
    (torchvision would average-pool them to 7x7): resize the image first, e.g. with
    `minicnn.data.imagenet.load_imagenet_image`.
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
                         flatten1 -> dropout1 -> fc1 9216->4096 -> relu6
                                  -> dropout2 -> fc2 4096->4096 -> relu7
                                  -> fc3 4096->num_classes

    ``weights``, ``num_classes`` and ``rng`` as in `vgg16`. Inputs must give a 6x6 map
    after pool3 (H and W from 223 to 254), where torchvision's
    ``AdaptiveAvgPool2d((6, 6))`` is the identity.
    """
    rng = as_generator(rng)
    features = [Conv2D(3, 64, 11, stride=4, padding=2, rng=rng), ReLU(), MaxPool2D(3, 2),
                Conv2D(64, 192, 5, padding=2, rng=rng), ReLU(), MaxPool2D(3, 2),
                Conv2D(192, 384, 3, padding=1, rng=rng), ReLU(),
                Conv2D(384, 256, 3, padding=1, rng=rng), ReLU(),
                Conv2D(256, 256, 3, padding=1, rng=rng), ReLU(), MaxPool2D(3, 2)]
    return _imagenet_net(features, 6, weights, check_int(num_classes, "num_classes"), rng,
                         dropout_first=True)
