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
from minicnn.models import (
    alexnet,
    detect_architecture,
    torchvision_model,
    vgg11,
    vgg13,
    vgg16,
    vgg19,
)
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
    assert vgg.names()[-10:] == ["pool5", "avgpool1", "flatten1", "fc1", "relu14", "dropout1",
                                 "fc2", "relu15", "dropout2", "fc3"]
    assert vgg["avgpool1"].output_size == (7, 7)
    for layer, (module, shape) in zip(weighted_layers(vgg), VGG16_KEYS.items()):
        torch_shape = layer.params["W"].shape[::-1] if isinstance(layer, Dense) \
            else layer.params["W"].shape
        assert torch_shape == shape, (layer.name, module)
        assert layer.params["b"].shape == (shape[0],)
    convs = [layer for layer in vgg if isinstance(layer, Conv2D)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


@pytest.mark.parametrize("side, identity", [(224, True), (240, True), (255, True),
                                            (223, False), (256, False), (448, False),
                                            (32, False)])
def test_vgg16_input_sizes(vgg, side, identity):
    # pool5 gives 7x7 from 224 to 255 pixels, where torchvision's AdaptiveAvgPool2d((7, 7))
    # (avgpool1) does nothing; for other sizes avgpool1 makes it 7x7 for fc1
    shape = (1, 3, side, side)
    for layer in vgg.layers[:vgg.index("pool5") + 1]:
        shape = layer.output_shape(shape)
    assert (shape == (1, 512, 7, 7)) == identity
    assert vgg["avgpool1"].output_shape(shape) == (1, 512, 7, 7)


def test_alexnet_layers_follow_torchvision():
    model = alexnet()
    assert model.num_parameters() == 61_100_840
    for layer, (module, shape) in zip(weighted_layers(model), ALEXNET_KEYS.items()):
        torch_shape = layer.params["W"].shape[::-1] if isinstance(layer, Dense) \
            else layer.params["W"].shape
        assert torch_shape == shape, (layer.name, module)
    assert model.names()[13:17] == ["avgpool1", "flatten1", "dropout1", "fc1"]
    for side, identity in ((223, True), (224, True), (254, True), (222, False), (255, False),
                           (63, False)):
        shape = (1, 3, side, side)
        for layer in model.layers[:model.index("pool3") + 1]:
            shape = layer.output_shape(shape)
        assert (shape == (1, 256, 6, 6)) == identity, side
        assert model["avgpool1"].output_shape(shape) == (1, 256, 6, 6)
    assert detect_architecture(torch_shapes(model)).name == "alexnet"


@pytest.mark.parametrize("build, count", [(vgg11, 132_863_336), (vgg13, 133_047_848),
                                          (vgg19, 143_667_240)])
def test_other_vggs(build, count):
    model = build(num_classes=10)
    assert model.num_parameters() == count - 4096 * 990 - 990   # 10 outputs, not 1000
    assert model["fc3"].params["W"].shape == (4096, 10)
    arch = detect_architecture(torch_shapes(model))
    assert (arch.name, arch.side, arch.widths) == (build.__name__, 7, [4096, 4096, 10])


def torch_shapes(model) -> dict[str, tuple]:
    """The state_dict shapes torchvision would save for ``model``: a layer's index in
    ``features`` is its position before avgpool1, in ``classifier`` after flatten1."""
    split, shapes = model.index("flatten1"), {}
    for i, layer in enumerate(model.layers):
        if layer.params:
            key = f"features.{i}" if i < split else f"classifier.{i - split - 1}"
            w = layer.params["W"]
            shapes[f"{key}.weight"] = w.shape[::-1] if isinstance(layer, Dense) else w.shape
            shapes[f"{key}.bias"] = layer.params["b"].shape
    return shapes


def test_detects_vgg16_from_torchvisions_keys():
    shapes = {}
    for module, shape in VGG16_KEYS.items():
        shapes.update({f"{module}.weight": shape, f"{module}.bias": shape[:1]})
    arch = detect_architecture(shapes, where="'vgg16.pth'")
    assert arch.name == "vgg16" and arch.side == 7 and arch.widths == [4096, 4096, 1000]
    assert arch.convs == [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
                          "M", 512, 512, 512, "M"]
    alex = {}
    for module, shape in ALEXNET_KEYS.items():
        alex.update({f"{module}.weight": shape, f"{module}.bias": shape[:1]})
    assert detect_architecture(alex).name == "alexnet"


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"fc.weight": (1000, 512)}), "has the key 'fc.weight'"),
    (lambda s: s.update({"features.1.running_mean": (64,)}), "batch norm"),
    (lambda s: s.pop("features.2.bias"), "features.2.weight has no bias"),
    (lambda s: s.update({"features.2.weight": (64, 64, 5, 5)}), "5x5 conv"),
    (lambda s: s.update({"features.2.weight": (64, 32, 3, 3)}), "takes 32 channels"),
    (lambda s: s.update({"classifier.0.weight": (4096, 25000)}), "not 512 channels"),
    (lambda s: s.update({"classifier.3.weight": (4096, 4000)}), "takes 4000 features"),
    (lambda s: [s.pop("features.28.weight"), s.pop("features.28.bias"),
                s.update({"features.30.weight": (512, 512, 3, 3), "features.30.bias": (512,)})],
     "features.30 follows features.26"),
    (lambda s: s.clear(), "no features"),
])
def test_detection_refuses_other_networks(change, message):
    shapes = {}
    for module, shape in VGG16_KEYS.items():
        shapes.update({f"{module}.weight": shape, f"{module}.bias": shape[:1]})
    change(shapes)
    with pytest.raises(ValueError, match=r"'net.pth' does not hold torchvision's vgg11, "
                                         r"vgg13, vgg16, vgg19 or alexnet") as err:
        detect_architecture(shapes, where="'net.pth'")
    assert message in str(err.value)


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


def test_torchvision_model_builds_alexnet_from_its_file(tmp_path):
    marks = write_marked_safetensors(tmp_path / "alexnet.safetensors", ALEXNET_KEYS)
    model, arch = torchvision_model(tmp_path / "alexnet.safetensors")
    assert arch.name == "alexnet" and model.num_parameters() == 61_100_840
    assert model["conv1"].params["W"].flat[0] == marks["features.0.weight"]
    assert model["fc1"].params["W"][0, 0] == marks["classifier.1.weight"]
    assert model["fc3"].params["b"][1] == marks["classifier.6.bias"] + 0.5


def test_torchvision_model_refuses_a_resnet_before_reading_it(tmp_path):
    path = tmp_path / "resnet.safetensors"
    write_marked_safetensors(path, {"conv1": (64, 3, 7, 7), "fc": (1000, 512)})
    with pytest.raises(ValueError, match=r"resnet.safetensors' does not hold torchvision's "
                                         r".*it has the key 'conv1\."):
        torchvision_model(path)
