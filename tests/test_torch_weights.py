"""Reading PyTorch weights without PyTorch (minicnn/torch_weights.py).

The files in tests/data/ were made by PyTorch (scripts/make_torch_test_weights.py);
these tests read them with minicnn only. Hostile files are built here by hand.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.explain import gradient
from minicnn.models import torchvision_names
from minicnn.safetensors import read_safetensors, save_safetensors
from minicnn.torch_weights import load_torch_weights, read_torch_weights

DATA = Path(__file__).parent / "data"
TINY_FILES = ["tiny_vgg.pth", "tiny_vgg_legacy.pth", "tiny_vgg.safetensors"]


def tiny_vgg():
    """minicnn's twin of the script's TinyVGG, and its torchvision-style names."""
    features = [Conv2D(3, 4, 3, padding=1, rng=1), ReLU(), MaxPool2D(2),
                Conv2D(4, 8, 3, padding=1, rng=2), ReLU(), MaxPool2D(2)]
    classifier = [Dense(128, 16, rng=3), ReLU(), Dropout(0.5), Dense(16, 5, rng=4)]
    model = Sequential([*features, Flatten(), *classifier], input_shape=(3, 16, 16))
    return model, torchvision_names(features, classifier)


def snapshot(model):
    return {k: v.copy() for k, v in model.parameters().items()}


def assert_unchanged(model, before):
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


# -- parity with PyTorch -------------------------------------------------------------
@pytest.mark.parametrize("filename", TINY_FILES)
def test_logits_and_gradients_match_pytorch(filename):
    expected = np.load(DATA / "tiny_vgg_expected.npz")
    model, names = tiny_vgg()
    assert names["conv2.W"] == "features.3.weight" and names["fc2.b"] == "classifier.3.bias"
    load_torch_weights(model, DATA / filename, names=names)
    x, target = expected["x"], expected["target"]
    np.testing.assert_allclose(model.forward(x), expected["logits"], rtol=1e-5, atol=1e-5)
    for mode, key in (("standard", "saliency"), ("guided", "guided")):
        grad = gradient(model, x, target, mode=mode)
        assert np.abs(expected[key]).max() > 1e-3   # the stored map is not all zeros
        np.testing.assert_allclose(grad, expected[key], rtol=1e-4, atol=1e-6, err_msg=mode)
    # guided backprop differs from the plain gradient on this input
    assert not np.allclose(expected["saliency"], expected["guided"])


def test_the_three_formats_hold_the_same_weights():
    first = read_torch_weights(DATA / TINY_FILES[0])
    for filename in TINY_FILES[1:]:
        other = read_torch_weights(DATA / filename)
        assert sorted(other) == sorted(first)
        for key in first:
            np.testing.assert_array_equal(other[key], first[key], err_msg=f"{filename} {key}")
    assert first["classifier.0.weight"].shape == (16, 128)   # PyTorch's (out, in)


def test_default_names_pair_layers_and_modules_in_file_order():
    named, names = tiny_vgg()
    load_torch_weights(named, DATA / "tiny_vgg.pth", names=names)
    by_order, _ = tiny_vgg()
    load_torch_weights(by_order, DATA / "tiny_vgg.pth")   # state_dict order = module order
    for key, value in named.parameters().items():
        np.testing.assert_array_equal(by_order.parameters()[key], value)


def test_default_names_fail_clearly_on_sorted_safetensors():
    # safetensors writers sort names: "classifier" comes before "features"
    model, _ = tiny_vgg()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"key 'classifier.0.weight' has shape \[16, 128\], but "
                                         r"'conv1.W'.*pass names="):
        load_torch_weights(model, DATA / "tiny_vgg.safetensors")
    assert_unchanged(model, before)


def test_dtypes_strides_offsets_and_shared_storages():
    expected = np.load(DATA / "dtypes_expected.npz")
    weights = read_torch_weights(DATA / "dtypes.pth")
    assert sorted(weights) == sorted(expected.files)
    for key in expected.files:
        assert weights[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(weights[key], expected[key], err_msg=key)
    assert weights["bfloat16"].dtype == np.float32
    np.testing.assert_array_equal(weights["view_b"], [[1.25, 1.5, 1.75, 2.0, 2.25]])
    np.testing.assert_array_equal(weights["transposed"][:, 0], [0, 0.125, 0.25, 0.375])


def test_dense_weights_are_transposed(tmp_path):
    # a Linear(2 -> 3) with weight[out, in]: minicnn computes x @ W + b with W = weight.T
    weight = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    bias = np.array([0.5, 0, -1], dtype=np.float32)
    model = Sequential([Dense(2, 3)])
    save_safetensors({"0.weight": weight, "0.bias": bias}, tmp_path / "w.safetensors")
    load_torch_weights(model, tmp_path / "w.safetensors")
    out = model.forward(np.array([[1, 10]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[21.5, 43, 64]])   # weight @ [1, 10] + bias


# -- refusing code -------------------------------------------------------------------
class Payload:
    """Pickles as a call of ``func(*args)``: what a hostile checkpoint does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def write_checkpoint(path, data_pkl: bytes, storages=None, prefix="archive",
                     byteorder="little"):
    """A zip laid out as torch.save writes it."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")
    return path


def legacy_checkpoint(path, main_pickle: bytes):
    header = b"".join(pickle.dumps(v, protocol=2) for v in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    path.write_bytes(header + main_pickle + pickle.dumps([], protocol=2))
    return path


def hostile_pickles(marker: Path) -> dict[str, tuple[bytes, str]]:
    """{case: (pickle bytes, the global the error must name)}; each would create marker."""
    return {
        "os.system": (pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2),
                      f"{os.system.__module__}.system"),
        "eval": (pickle.dumps(Payload(eval, f"open({str(marker)!r}, 'w')"), protocol=4),
                 "builtins.eval"),
        "Popen": (pickle.dumps(Payload(subprocess.Popen, ["touch", str(marker)]), protocol=4),
                  "subprocess.Popen"),
        "inside a state_dict": (
            pickle.dumps({"0.weight": Payload(os.system, f"touch {marker}")}, protocol=2),
            f"{os.system.__module__}.system"),
    }


def test_the_hostile_pickle_really_runs_code_with_plain_pickle(tmp_path):
    # the control: plain pickle.loads of the same bytes creates the file
    marker = tmp_path / "pwned"
    data = hostile_pickles(marker)["os.system"][0]
    subprocess.run([sys.executable, "-c", "import pickle, sys; "
                    "pickle.loads(sys.stdin.buffer.read())"], input=data, check=True)
    assert marker.exists()


@pytest.mark.parametrize("case", ["os.system", "eval", "Popen", "inside a state_dict"])
@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_checkpoint_that_runs_code_is_refused_and_never_runs(tmp_path, case, layout):
    marker = tmp_path / "pwned"
    data, refused = hostile_pickles(marker)[case]
    path = tmp_path / "evil.pth"
    if layout == "zip":
        write_checkpoint(path, data)
    else:
        legacy_checkpoint(path, data)
    model, _ = tiny_vgg()
    before = snapshot(model)
    with pytest.raises(ValueError) as info:
        load_torch_weights(model, path)
    message = str(info.value)
    assert "evil.pth" in message and "refusing" in message
    assert refused in message or refused.replace("builtins", "__builtin__") in message
    assert not marker.exists()
    assert_unchanged(model, before)


# -- sizes are checked before anything is allocated ----------------------------------
def _s(text: str) -> bytes:
    raw = text.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def _i(n: int) -> bytes:
    return b"I%d\n" % n


def state_dict_pickle(tensors: dict[str, tuple]) -> bytes:
    """The pickle torch.save writes, assembled opcode by opcode, for
    ``{name: (storage key, storage numel, offset, size, stride)}`` of float32 tensors."""
    out = b"\x80\x02ccollections\nOrderedDict\n)R("
    for name, (key, numel, offset, size, stride) in tensors.items():
        out += _s(name) + b"ctorch._utils\n_rebuild_tensor_v2\n("
        out += b"(" + _s("storage") + b"ctorch\nFloatStorage\n" + _s(key) + _s("cpu")
        out += _i(numel) + b"tQ" + _i(offset)
        out += b"(" + b"".join(map(_i, size)) + b"t(" + b"".join(map(_i, stride)) + b"t"
        out += b"\x89ccollections\nOrderedDict\n)RtR"
    return out + b"u."


def test_the_hand_made_pickle_reads_like_pytorchs(tmp_path):
    storage = np.arange(6, dtype="<f4")
    pkl = state_dict_pickle({"w": ("0", 6, 0, (2, 3), (3, 1)), "t": ("0", 6, 1, (2,), (3,))})
    weights = read_torch_weights(write_checkpoint(tmp_path / "ok.pth", pkl,
                                                  {"0": storage.tobytes()}))
    np.testing.assert_array_equal(weights["w"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(weights["t"], [1, 4])


@pytest.mark.parametrize("tensor, storage_bytes, message", [
    (("0", 10**12, 0, (10**12,), (1,)), 24, r"storage '0' should hold 4000000000000 bytes, "
                                            r"but the archive has 24"),
    (("0", 6, 0, (10**6, 10**6), (1, 1)), 24, r"tensor 'w' of shape \[1000000, 1000000\] "
                                              r"reaches element"),
    (("0", 6, 4, (3,), (1,)), 24, r"reaches element 7 of a storage of 6 elements"),
    (("1", 6, 0, (6,), (1,)), 24, r"storage '1' should hold 24 bytes, but the archive has "
                                  r"no such entry"),
    (("0", 6, 0, (2, 3), (-3, 1)), 24, r"invalid tensor layout"),
])
def test_inconsistent_sizes_are_refused(tmp_path, tensor, storage_bytes, message):
    path = write_checkpoint(tmp_path / "bad.pth", state_dict_pickle({"w": tensor}),
                            {"0": bytes(storage_bytes)})
    with pytest.raises(ValueError, match=message):
        read_torch_weights(path)


@pytest.mark.parametrize("state", [
    _s("stride").join([b"}", b"(J\x00\x00\xff\xffts"]),        # {"stride": (-65536,)}
    _s("stride").join([b"N}", b"(J\x00\x00\xff\xffts\x86"]),   # (None, {...}): slot state
])
def test_a_pickle_cannot_change_a_tensor_after_it_was_checked(tmp_path, state):
    # BUILD (b) sets attributes on the object below it: here the tensor reference,
    # to a negative stride that would read memory outside the storage
    pkl = state_dict_pickle({"w": ("0", 6, 0, (6,), (1,))})
    path = write_checkpoint(tmp_path / "build.pth", pkl[:-2] + state + b"bu.",
                            {"0": np.arange(6, dtype="<f4").tobytes()})
    with pytest.raises(ValueError, match="the pickled data is invalid"):
        read_torch_weights(path)


@pytest.mark.parametrize("atomic", [True, False])
def test_a_big_endian_checkpoint(tmp_path, atomic):
    pkl = state_dict_pickle({"0.weight": ("0", 6, 0, (3, 2), (2, 1)),
                             "0.bias": ("1", 3, 0, (3,), (1,))})
    weight = np.arange(6, dtype=np.float32).reshape(3, 2) / 4
    path = write_checkpoint(tmp_path / "big.pth", pkl, {
        "0": weight.astype(">f4").tobytes(), "1": np.array([1, 2, 3], ">f4").tobytes()},
        prefix="vgg16-397923af", byteorder="big")
    np.testing.assert_array_equal(read_torch_weights(path)["0.weight"], weight)
    model = Sequential([Dense(2, 3)])
    load_torch_weights(model, path, atomic=atomic)
    np.testing.assert_array_equal(model["fc1"].params["W"], weight.T)
    np.testing.assert_array_equal(model["fc1"].params["b"], [1, 2, 3])


def test_max_bytes_limits_the_total(tmp_path):
    path = write_checkpoint(tmp_path / "big.pth", state_dict_pickle(
        {"w": ("0", 6, 0, (6,), (1,))}), {"0": bytes(24)})
    assert read_torch_weights(path, max_bytes=24)["w"].shape == (6,)
    with pytest.raises(ValueError, match=r"more than the limit of 23 bytes \(max_bytes\)"):
        read_torch_weights(path, max_bytes=23)


@pytest.mark.parametrize("content, message", [
    (b"not a checkpoint at all", "neither a PyTorch checkpoint"),
    (b"", "neither a PyTorch checkpoint"),
])
def test_other_files_are_refused(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_torch_weights(path)


def test_a_whole_model_or_training_checkpoint_is_refused(tmp_path):
    pkl = pickle.dumps({"epoch": 3, "model": {}}, protocol=2)
    with pytest.raises(ValueError, match=r"entry 'epoch' holds int, not a tensor"):
        read_torch_weights(write_checkpoint(tmp_path / "ckpt.pth", pkl))
    with pytest.raises(ValueError, match="holds list, not a state_dict"):
        read_torch_weights(write_checkpoint(tmp_path / "list.pth", pickle.dumps([1, 2])))


def test_truncated_zip_is_a_clear_error(tmp_path):
    data = (DATA / "tiny_vgg.pth").read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.pth"):
        read_torch_weights(path)


def test_home_folder_in_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.pth").write_bytes((DATA / "tiny_vgg.pth").read_bytes())
    assert "features.0.weight" in read_torch_weights("~/w.pth")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no weights file"):
        read_torch_weights(DATA / "nope.pth")


# -- .safetensors ----------------------------------------------------------------------
def write_safetensors(path, header, data: bytes, length=None):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes((len(text) if length is None else length).to_bytes(8, "little")
                     + text + data)
    return path


@pytest.mark.parametrize("header, data, message", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(4),
     r"the tensors take 8 bytes, but the file holds 4"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8),
     r"shape \[3\] of F32 takes 12 bytes, but data_offsets \[0, 8\] span 8"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8),
     r"starts at byte 4, but the previous one ends at byte 0"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8),
     r"starts at byte 4, but the previous one ends at byte 8"),
    ({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8),
     r"dtype 'C64' is not supported"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4),
     r"invalid shape \[-1\]"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, bytes(4),
     r"invalid data_offsets \[8, 4\]"),
    ({"a": {"dtype": "F32", "shape": [1]}}, bytes(4), r"exactly dtype, shape and data_offsets"),
    ({"a": [1, 2]}, bytes(4), r"exactly dtype, shape and data_offsets"),
    (b'{"a": 1, "a": 2}', b"", r"names a tensor twice: \['a'\]"),
    (b'{"a": ', b"", r"not valid JSON"),
])
def test_bad_safetensors_headers_are_refused(tmp_path, header, data, message):
    path = write_safetensors(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(ValueError, match=message):
        read_torch_weights(path)


def test_safetensors_header_must_be_an_object(tmp_path):
    path = write_safetensors(tmp_path / "list.safetensors", b"[1, 2]", b"")
    with pytest.raises(ValueError, match="must be a JSON object, but is list"):
        read_safetensors(path)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        read_safetensors(tmp_path / "missing.safetensors")


def test_safetensors_header_length_beyond_the_file(tmp_path):
    path = write_safetensors(tmp_path / "bad.safetensors", {}, b"", length=10**15)
    with pytest.raises(ValueError, match="invalid .safetensors header length 1000000000000000"):
        read_torch_weights(path)


def test_save_safetensors_round_trip(tmp_path):
    arrays = {"b": np.arange(6, dtype=np.float16).reshape(2, 3), "a": np.array([True, False]),
              "c": np.array([-5, 2**40], dtype=np.int64), "d": np.zeros((0, 3), np.float32),
              "e": np.arange(12, dtype=np.float64).reshape(3, 4).T}
    save_safetensors(arrays, tmp_path / "x.safetensors")
    back = read_torch_weights(tmp_path / "x.safetensors")
    assert list(back) == ["a", "b", "c", "d", "e"]
    for key, value in arrays.items():
        assert back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)
    with pytest.raises(TypeError, match="complex128"):
        save_safetensors({"z": np.zeros(2, complex)}, tmp_path / "z.safetensors")


# -- load_torch_weights: every mismatch is an error, and the model stays as it was --------
@pytest.fixture
def tiny_weights():
    return read_torch_weights(DATA / "tiny_vgg.pth")


def _save(tmp_path, weights):
    path = tmp_path / "w.safetensors"
    save_safetensors(weights, path)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("features.3.bias"),
     r"key 'features.3.bias' \(for 'conv2.b'\) is missing from the file"),
    (lambda w: w.update(extra=np.zeros(2, np.float32)),
     r"the file's key 'extra' is not used by any parameter"),
    (lambda w: w.update({"features.0.weight": np.zeros((4, 3, 5, 5), np.float32)}),
     r"key 'features.0.weight' has shape \[4, 3, 5, 5\], but 'conv1.W' of shape "
     r"\[4, 3, 3, 3\] needs \[4, 3, 3, 3\]"),
    (lambda w: w.update({"classifier.0.weight": np.zeros((128, 16), np.float32)}),
     r"key 'classifier.0.weight' has shape \[128, 16\], but 'fc1.W' of shape \[128, 16\] "
     r"needs \[16, 128\] \(a Linear weight: out_features, in_features\)"),
    (lambda w: w.update({"features.0.bias": np.arange(4)}),
     r"key 'features.0.bias' must hold floats, but has dtype int64"),
    (lambda w: w["features.3.weight"].__setitem__((0, 0, 0, 0), np.nan),
     r"key 'features.3.weight' has non-finite values"),
])
def test_mismatches_are_errors_and_leave_the_model_unchanged(tmp_path, tiny_weights, change,
                                                             message):
    model, names = tiny_vgg()
    change(tiny_weights)
    path = _save(tmp_path, tiny_weights)
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        load_torch_weights(model, path, names=names)
    assert_unchanged(model, before)


def test_bad_names_are_errors(tiny_weights):
    model, names = tiny_vgg()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"names mentions 'conv9.W', which is not a parameter"):
        load_torch_weights(model, DATA / "tiny_vgg.pth", names={**names, "conv9.W": "x"})
    partial = dict(names)
    del partial["fc2.b"]
    with pytest.raises(ValueError, match=r"names has no entry for the model's parameter 'fc2.b'"):
        load_torch_weights(model, DATA / "tiny_vgg.pth", names=partial)
    with pytest.raises(ValueError, match=r"several parameters to the file key "
                                         r"'features.0.bias'"):
        load_torch_weights(model, DATA / "tiny_vgg.pth",
                           names={**names, "conv2.b": "features.0.bias"})
    with pytest.raises(TypeError, match="names must map"):
        load_torch_weights(model, DATA / "tiny_vgg.pth", names=["conv1.W"])
    with pytest.raises(TypeError, match="model must be a minicnn Sequential"):
        load_torch_weights(object(), DATA / "tiny_vgg.pth")
    assert_unchanged(model, before)


def test_default_names_count_mismatch(tmp_path):
    model = Sequential([Dense(2, 3), ReLU(), Dense(3, 1)])
    path = _save(tmp_path, {"0.weight": np.zeros((3, 2), np.float32),
                            "0.bias": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"cannot pair the file's modules \['0'\] with the "
                                         r"model's layers \['fc1', 'fc2'\]"):
        load_torch_weights(model, path)


def test_load_torch_weights_is_exported():
    assert minicnn.load_torch_weights is load_torch_weights
    assert "load_torch_weights" in minicnn.__all__


@pytest.mark.filterwarnings("ignore:.*maps are constant:RuntimeWarning")   # random weights
def test_explanations_accept_the_loaded_network():
    from minicnn.explain import (
        grad_cam,
        guided_grad_cam,
        occlusion,
        randomization_test,
        receptive_field,
        smooth_grad,
    )
    expected = np.load(DATA / "tiny_vgg_expected.npz")
    model, names = tiny_vgg()
    load_torch_weights(model, DATA / "tiny_vgg.pth", names=names)
    x, target = expected["x"], expected["target"]
    cam = grad_cam(model, x, target, layer="relu2")
    assert cam.shape == (3, 16, 16) and cam.min() >= 0 and cam.max() > 0
    assert guided_grad_cam(model, x, target, layer="relu2").shape == x.shape
    assert smooth_grad(model, x, target, n_samples=4, rng=0).shape == x.shape
    assert occlusion(model, x, target, patch=4, stride=4).shape == (3, 16, 16)
    # conv 3x3 pad 1, pool 2, conv 3x3 pad 1, pool 2: pool2's first neuron sees 10x10
    assert receptive_field(model, "pool2", 0, 0) == (-3, -3, 7, 7)
    rho = randomization_test(model, x, target, rng=0)
    assert list(rho) == ["original", "fc2", "fc1", "conv2", "conv1"]


# -- atomic=False: straight into the parameters, a block at a time ----------------------
@pytest.mark.parametrize("filename", TINY_FILES)
def test_streaming_load_gives_the_same_weights(filename):
    atomic, names = tiny_vgg()
    load_torch_weights(atomic, DATA / filename, names=names)
    streamed, _ = tiny_vgg()
    load_torch_weights(streamed, DATA / filename, names=names, atomic=False)
    for key, value in atomic.parameters().items():
        np.testing.assert_array_equal(streamed.parameters()[key], value, err_msg=key)


def test_streaming_a_dense_weight_in_several_blocks(tmp_path):
    # 5000 x 1000 float32 is 20 MB: read as two blocks of rows (16 MB at most each)
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5000, 1000)).astype(np.float32)   # torch (out, in)
    bias = rng.standard_normal(5000).astype(np.float32)
    save_safetensors({"0.weight": weight, "0.bias": bias}, tmp_path / "big.safetensors")
    model = Sequential([Dense(1000, 5000)])
    load_torch_weights(model, tmp_path / "big.safetensors", atomic=False)
    np.testing.assert_array_equal(model["fc1"].params["W"], weight.T)
    np.testing.assert_array_equal(model["fc1"].params["b"], bias)


@pytest.mark.parametrize("atomic", [True, False])
def test_a_transposed_tensor_in_the_file(tmp_path, atomic):
    # weight (3, 2) stored as the transpose of a (2, 3) storage: strides (1, 3)
    pkl = state_dict_pickle({"0.weight": ("0", 6, 0, (3, 2), (1, 3)),
                             "0.bias": ("1", 3, 0, (3,), (1,))})
    path = write_checkpoint(tmp_path / "t.pth", pkl, {
        "0": np.arange(6, dtype="<f4").tobytes(), "1": np.array([1, 2, 3], "<f4").tobytes()})
    model = Sequential([Dense(2, 3)])
    load_torch_weights(model, path, atomic=atomic)
    weight = np.arange(6, dtype=np.float32).reshape(2, 3).T   # weight[o, i] = storage[o + 3i]
    np.testing.assert_array_equal(model["fc1"].params["W"], weight.T)


def test_streaming_stops_at_a_non_finite_tensor(tmp_path, tiny_weights):
    tiny_weights["classifier.3.bias"][2] = np.inf
    path = _save(tmp_path, tiny_weights)
    model, names = tiny_vgg()
    with pytest.raises(ValueError, match=r"key 'classifier.3.bias' has non-finite values"):
        load_torch_weights(model, path, names=names, atomic=False)
