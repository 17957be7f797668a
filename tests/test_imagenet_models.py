"""VGG and AlexNet with torchvision's layer order and parameter names (minicnn/models.py).

PyTorch parity on real weights is checked with the small network of
tests/test_torch_weights.py; here: the full-size architectures, their names and shapes
against torchvision's state_dict keys, and a checkpoint with exactly those keys.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from minicnn import Conv2D, Dense, Dropout, MaxPool2D, ReLU
from minicnn.models import alexnet, vgg11, vgg13, vgg16, vgg19
from minicnn.torch_weights import load_torch_weights

# torchvision's vgg16().state_dict(): module -> weight shape (biases are (out,))
VGG16_KEYS = {
    "features.0": (64, 3, 3, 3), "features.2": (64, 64, 3, 3),
    "features.5": (128, 64, 3, 3), "features.7": (128, 128, 3, 3),
    "features.10": (256, 128, 3, 3), "features.12": (256, 256, 3, 3),
    "features.14": (256, 256, 3, 3), "features.17": (512, 256, 3, 3),
    "features.19": (512, 512, 3, 3), "features.21": (512, 512, 3, 3),
    "features.24": (512, 512, 3, 3), "features.26": (512, 512, 3, 3),
    "features.28": (512, 512, 3, 3),
    "classifier.0": (4096, 25088), "classifier.3": (4096, 4096), "classifier.6": (1000, 4096),
}
ALEXNET_KEYS = {
    "features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
    "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
    "features.10": (256, 256, 3, 3),
    "classifier.1": (4096, 9216), "classifier.4": (4096, 4096), "classifier.6": (1000, 4096),
}


@pytest.fixture(scope="module")
def marked_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg16") / "vgg16.safetensors"
    return path, write_marked_safetensors(path, VGG16_KEYS)


@pytest.fixture(scope="module")
def vgg(marked_checkpoint):
    return vgg16(weights=marked_checkpoint[0])


def weighted_layers(model):
    return [layer for layer in model if layer.params]


def test_vgg16_layers_follow_torchvision(vgg):
    assert vgg.num_parameters() == 138_357_544   # torchvision's documented count
    kinds = [type(layer) for layer in vgg]
    assert kinds.count(Conv2D) == 13 and kinds.count(MaxPool2D) == 5
    assert kinds.count(ReLU) == 15 and kinds.count(Dropout) == 2 and kinds.count(Dense) == 3
    assert vgg.names()[-9:] == ["pool5", "flatten1", "fc1", "relu14", "dropout1", "fc2",
                                "relu15", "dropout2", "fc3"]
    for layer, (module, shape) in zip(weighted_layers(vgg), VGG16_KEYS.items()):
        torch_shape = layer.params["W"].shape[::-1] if isinstance(layer, Dense) \
            else layer.params["W"].shape
        assert torch_shape == shape, (layer.name, module)
        assert layer.params["b"].shape == (shape[0],)
    convs = [layer for layer in vgg if isinstance(layer, Conv2D)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


@pytest.mark.parametrize("side, ok", [(224, True), (240, True), (255, True), (223, False),
                                      (256, False), (448, False)])
def test_vgg16_input_sizes(vgg, side, ok):
    # pool5 must give 7x7, where torchvision's AdaptiveAvgPool2d((7, 7)) does nothing
    shape = (1, 3, side, side)
    for layer in vgg.layers[:vgg.index("pool5") + 1]:
        shape = layer.output_shape(shape)
    assert (shape == (1, 512, 7, 7)) == ok


def test_alexnet_layers_follow_torchvision():
    model = alexnet()
    assert model.num_parameters() == 61_100_840
    for layer, (module, shape) in zip(weighted_layers(model), ALEXNET_KEYS.items()):
        torch_shape = layer.params["W"].shape[::-1] if isinstance(layer, Dense) \
            else layer.params["W"].shape
        assert torch_shape == shape, (layer.name, module)
    assert model.names()[13:16] == ["flatten1", "dropout1", "fc1"]
    for side, ok in ((223, True), (224, True), (254, True), (222, False), (255, False)):
        shape = (1, 3, side, side)
        for layer in model.layers[:model.index("pool3") + 1]:
            shape = layer.output_shape(shape)
        assert (shape == (1, 256, 6, 6)) == ok, side


@pytest.mark.parametrize("build, count", [(vgg11, 132_863_336), (vgg13, 133_047_848),
                                          (vgg19, 143_667_240)])
def test_other_vggs(build, count):
    model = build(num_classes=10)
    assert model.num_parameters() == count - 4096 * 990 - 990   # 10 outputs, not 1000
    assert model["fc3"].params["W"].shape == (4096, 10)


def write_marked_safetensors(path, keys: dict[str, tuple]) -> dict[str, float]:
    """A .safetensors file with exactly ``keys`` (module -> weight shape), all zeros but
    for the first two numbers of each tensor: (mark, mark + 0.5). Returns the marks.

    The zeros are a sparse file, so writing 528 MB takes no time and no disk."""
    header, begin, marks = {}, 0, {}
    for module, shape in keys.items():
        for suffix, tensor_shape in (("weight", shape), ("bias", shape[:1])):
            nbytes = 4 * int(np.prod(tensor_shape))
            header[f"{module}.{suffix}"] = {"dtype": "F32", "shape": list(tensor_shape),
                                            "data_offsets": [begin, begin + nbytes]}
            marks[f"{module}.{suffix}"] = float(len(marks) + 1)
            begin += nbytes
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        start = f.tell()
        f.truncate(start + begin)
        for key, spec in header.items():
            f.seek(start + spec["data_offsets"][0])
            f.write(np.array([marks[key], marks[key] + 0.5], dtype="<f4").tobytes())
    return marks


def test_vgg16_loads_torchvision_keys_and_shapes(vgg, marked_checkpoint):
    marks = marked_checkpoint[1]
    for layer, module in zip(weighted_layers(vgg), VGG16_KEYS):
        w, b = layer.params["W"], layer.params["b"]
        mark = marks[f"{module}.weight"]
        if isinstance(layer, Dense):   # torch weight[0, 0], weight[0, 1] = W[0, 0], W[1, 0]
            assert (w[0, 0], w[1, 0]) == (mark, mark + 0.5), layer.name
        else:
            assert (w.flat[0], w.flat[1]) == (mark, mark + 0.5), layer.name
        assert float(w.sum(dtype=np.float64)) == 2 * mark + 0.5, layer.name
        assert (b[0], b[1]) == (marks[f"{module}.bias"], marks[f"{module}.bias"] + 0.5)
    assert vgg["conv13"].params["W"].flat[0] == marks["features.28.weight"]
    assert vgg["fc3"].params["b"][0] == marks["classifier.6.bias"]


def test_vgg16_refuses_a_checkpoint_of_another_network(vgg, tmp_path):
    write_marked_safetensors(tmp_path / "alexnet.safetensors", ALEXNET_KEYS)
    names = {}
    for layer, module in zip(weighted_layers(vgg), VGG16_KEYS):
        names.update({f"{layer.name}.W": f"{module}.weight", f"{layer.name}.b": f"{module}.bias"})
    before = vgg["conv1"].params["W"].copy()
    with pytest.raises(ValueError, match=r"key 'features.0.weight' has shape \[64, 3, 11, 11\], "
                                         r"but 'conv1.W' of shape \[64, 3, 3, 3\]"):
        load_torch_weights(vgg, tmp_path / "alexnet.safetensors", names=names)
    np.testing.assert_array_equal(vgg["conv1"].params["W"], before)


@pytest.mark.parametrize("shape", [(600_000, 4), (3, 5), (1, 2**22)])
def test_dense_init_in_blocks_gives_the_numbers_of_one_draw(shape):
    # Dense draws W about 16 MB at a time (VGG-16's fc1 would need 822 MB in float64);
    # the numbers are those of one float64 draw, scaled, then converted
    reference = np.random.default_rng(7).standard_normal(shape) * np.sqrt(2.0 / shape[0])
    for dtype in (np.float32, np.float64):
        w = Dense(*shape, rng=7, dtype=dtype).params["W"]
        assert w.dtype == dtype
        np.testing.assert_array_equal(w, reference.astype(dtype))
