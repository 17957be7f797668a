"""Saving and loading: round trips, atomic writes, no pickle, mismatched and corrupt files."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import minicnn
from minicnn import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
)


def make_model(in_channels=2, classes=5, seed=0):
    # input (2, 11, 9): conv -> (4, 6, 10), pool -> (4, 3, 5), conv 1x1 -> (3, 3, 5),
    # avgpool (1, 2) -> (3, 3, 2), flatten -> 18
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(in_channels, 4, (3, 2), stride=(2, 1), padding=1, rng=rng), ReLU("guided"),
        MaxPool2D(2), Conv2D(4, 3, 1, rng=rng), ReLU("deconvnet"), AvgPool2D((1, 2)),
        Flatten(), Dropout(0.3), Dense(18, 8, rng=rng), ReLU(name="act"),
        Dense(8, classes, rng=rng, name="scores"),
    ], input_shape=(in_channels, 11, 9))


def randomise_biases(model, seed=1):
    rng = np.random.default_rng(seed)
    for layer in model:
        if "b" in layer.params:
            layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    return model


def snapshot(model):
    return {key: value.copy() for key, value in model.parameters().items()}


def assert_unchanged(model, before):
    after = model.parameters()
    assert list(after) == list(before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def images(n=3, channels=2, dtype=np.float32):
    return np.random.default_rng(2).standard_normal((n, channels, 11, 9)).astype(dtype)


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------
def test_round_trip_with_minicnn_load(tmp_path):
    model = randomise_biases(make_model())
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = minicnn.load(path)
    assert isinstance(loaded, Sequential)
    assert repr(loaded) == repr(model)
    assert loaded.names() == model.names()
    assert [r.mode for r in loaded.relus()] == ["guided", "deconvnet", "standard"]
    assert loaded.input_shape == (2, 11, 9)
    assert loaded["dropout1"].p == 0.3
    assert loaded.dtype == np.float32
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[key], value)
        assert loaded.parameters()[key].dtype == np.float32
    x = images()
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.summary() == model.summary()


def test_round_trip_in_float64_and_with_a_string_path(tmp_path):
    model = make_model().astype(np.float64)
    path = str(tmp_path / "model64.npz")
    model.save(path)
    loaded = minicnn.load(path)
    assert loaded.dtype == np.float64
    x = images(dtype=np.float64)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_path_is_used_as_given(tmp_path):
    model = make_model()
    model.save(tmp_path / "weights")            # no .npz appended behind the user's back
    assert os.listdir(tmp_path) == ["weights"]
    minicnn.load(tmp_path / "weights")


def test_model_load_copies_weights_into_an_existing_model(tmp_path):
    source = randomise_biases(make_model(seed=0))
    source.save(tmp_path / "m.npz")
    target = make_model(seed=99)
    target.set_relu_mode("standard")
    arrays = dict(target.parameters())
    assert not np.array_equal(arrays["conv1.W"], source.parameters()["conv1.W"])
    assert target.load(tmp_path / "m.npz") is target
    for key, value in source.parameters().items():
        np.testing.assert_array_equal(target.parameters()[key], value)
        assert target.parameters()[key] is arrays[key]    # loaded in place
    assert [r.mode for r in target.relus()] == ["standard"] * 3   # weights only
    x = images()
    np.testing.assert_array_equal(target.forward(x), source.forward(x))


def test_float32_file_into_a_float64_model(tmp_path):
    make_model().save(tmp_path / "m.npz")
    target = make_model(seed=5).astype(np.float64)
    target.load(tmp_path / "m.npz")
    assert target.dtype == np.float64
    np.testing.assert_array_equal(target.parameters()["conv1.W"],
                                  make_model().parameters()["conv1.W"].astype(np.float64))


# --------------------------------------------------------------------------------------
# The file itself
# --------------------------------------------------------------------------------------
def test_file_loads_without_pickle(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    assert all(a.dtype.kind != "O" for a in arrays.values())
    assert set(arrays) == {"__architecture__", *model.parameters()}
    arch = json.loads(str(arrays["__architecture__"]))
    assert [layer["type"] for layer in arch["layers"]] == [
        "Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "AvgPool2D", "Flatten", "Dropout",
        "Dense", "ReLU", "Dense"]
    assert arch["layers"][1]["config"] == {"mode": "guided"}
    assert arch["input_shape"] == [2, 11, 9]


def test_save_leaves_no_temporary_file(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.npz")
    model.save(tmp_path / "m.npz")          # overwriting, too
    assert os.listdir(tmp_path) == ["m.npz"]


def test_saved_file_has_normal_permissions(tmp_path):
    make_model().save(tmp_path / "m.npz")
    (tmp_path / "reference").write_bytes(b"")    # what open() gives under this umask
    assert (os.stat(tmp_path / "m.npz").st_mode & 0o777
            == os.stat(tmp_path / "reference").st_mode & 0o777)


def test_failed_save_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    make_model(seed=0).save(path)
    original = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        make_model(seed=1).save(path)
    with pytest.raises(RuntimeError, match="disk full"):
        make_model(seed=1).save(tmp_path / "new.npz")
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["m.npz"]     # no temporary file, no new.npz
    minicnn.load(path)


# --------------------------------------------------------------------------------------
# Files that do not match the model
# --------------------------------------------------------------------------------------
def test_mismatched_channels_names_the_parameter_and_both_shapes(tmp_path):
    make_model(in_channels=3).save(tmp_path / "rgb.npz")
    model = make_model(in_channels=2)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"does not match the model: parameter 'conv1.W' has "
                                         r"shape \[4, 3, 3, 2\] in the file but \[4, 2, 3, 2\] "
                                         r"in the model"):
        model.load(tmp_path / "rgb.npz")
    assert_unchanged(model, before)


def test_mismatch_in_a_later_layer_changes_no_earlier_layer(tmp_path):
    make_model(classes=5, seed=0).save(tmp_path / "five.npz")
    model = make_model(classes=7, seed=1)            # conv1..fc1 match, "scores" does not
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"parameter 'scores.W' has shape \[8, 5\] in the file "
                                         r"but \[8, 7\] in the model"):
        model.load(tmp_path / "five.npz")
    assert_unchanged(model, before)


def test_missing_and_extra_parameters(tmp_path):
    small = Sequential([Flatten(), Dense(4, 3, rng=0)])
    big = Sequential([Flatten(), Dense(4, 3, rng=1), Dense(3, 2, rng=2)])
    small.save(tmp_path / "small.npz")
    big.save(tmp_path / "big.npz")
    before = snapshot(big)
    with pytest.raises(ValueError, match=r"parameter 'fc2.W' \(shape \[3, 2\]\) is missing "
                                         r"from the file"):
        big.load(tmp_path / "small.npz")
    assert_unchanged(big, before)
    before = snapshot(small)
    with pytest.raises(ValueError, match=r"the file has parameter 'fc2.W', which the model "
                                         r"lacks"):
        small.load(tmp_path / "big.npz")
    assert_unchanged(small, before)


def test_non_finite_weights_are_rejected(tmp_path):
    bad = make_model()
    bad["scores"].params["W"][0, 0] = np.nan
    bad.save(tmp_path / "nan.npz")
    model = make_model(seed=3)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"parameter 'scores.W' has non-finite values"):
        model.load(tmp_path / "nan.npz")
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="non-finite"):
        minicnn.load(tmp_path / "nan.npz")


# --------------------------------------------------------------------------------------
# Corrupt files
# --------------------------------------------------------------------------------------
def write_truncated(path):
    make_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_random(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def write_empty(path):
    path.write_bytes(b"")


def write_without_architecture(path):
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in make_model().parameters().items()})


def write_npy(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def write_object_array(path):
    with open(path, "wb") as f:
        np.savez(f, __architecture__=np.array([{"format": "minicnn-sequential"}], dtype=object))


def write_bad_json(path):
    with open(path, "wb") as f:
        np.savez(f, __architecture__=np.array("{not json"))


def write_wrong_format(path):
    with open(path, "wb") as f:
        np.savez(f, __architecture__=np.array(json.dumps({"format": "keras", "layers": []})))


def write_string_weights(path):
    model = make_model()
    arrays = dict(model.parameters())
    arrays["conv1.b"] = np.array(["a", "b", "c", "d"])
    arrays["__architecture__"] = np.array(json.dumps(minicnn.io.architecture(model)))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


CORRUPT = {
    "truncated": (write_truncated, r"could not read model file: '.*' is not a valid \.npz"),
    "random bytes": (write_random, r"could not read model file: '.*' is not a valid \.npz"),
    "empty": (write_empty, r"could not read model file: '.*' is not a valid \.npz"),
    "no architecture": (write_without_architecture,
                        r"is not a minicnn model file: it has no '__architecture__' entry"),
    ".npy inside": (write_npy, r"could not read model file: '.*' is not a valid \.npz"),
    "object array": (write_object_array,
                     r"entry '.*\.npy': arrays of dtype object are not accepted"),
    "bad json": (write_bad_json, r"the architecture JSON is corrupt"),
    "wrong format": (write_wrong_format, r"is not a minicnn model file \(format 'keras'\)"),
    "string weights": (write_string_weights,
                       r"parameter 'conv1.b' must hold floats, but has dtype <U1 in the file"),
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_corrupt_file_raises_value_error_and_changes_nothing(tmp_path, kind):
    write, message = CORRUPT[kind]
    path = tmp_path / "bad.npz"
    write(path)
    with pytest.raises(ValueError, match=message):
        minicnn.load(path)
    model = make_model(seed=4)
    before = snapshot(model)
    modes = [r.mode for r in model.relus()]
    with pytest.raises(ValueError, match=message):
        model.load(path)
    assert_unchanged(model, before)
    assert [r.mode for r in model.relus()] == modes


@pytest.mark.parametrize("change", [
    lambda arch: arch["layers"][0].update(type="Lambda"),
    lambda arch: arch["layers"][0]["config"].pop("kernel_size"),
    lambda arch: arch["layers"][0]["config"].update(kernel_size=0),
    lambda arch: arch.pop("layers"),
    lambda arch: arch["layers"][1]["config"].update(mode="sideways"),
])
def test_invalid_architecture_raises_value_error(tmp_path, change):
    model = make_model()
    arch = minicnn.io.architecture(model)
    change(arch)
    arrays = dict(model.parameters())
    arrays["__architecture__"] = np.array(json.dumps(arch))
    with open(tmp_path / "m.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match=r"m.npz"):
        minicnn.load(tmp_path / "m.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model file at '.*nowhere.npz'"):
        minicnn.load(tmp_path / "nowhere.npz")
    model = make_model()
    before = snapshot(model)
    with pytest.raises(FileNotFoundError, match="no model file at"):
        model.load(tmp_path / "nowhere.npz")
    assert_unchanged(model, before)


def test_a_directory_is_not_a_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        minicnn.load(tmp_path)


# --------------------------------------------------------------------------------------
# Crafted files: sizes are checked before anything is allocated


def write_huge_header(path):
    """A 1 KB file whose array header claims 10**12 floats (4 TB)."""
    model = make_model()
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    raw = buffer.getvalue() + model["conv1"].params["b"].tobytes()   # 16 real bytes
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__architecture__.npy",
                         _npy_bytes(np.array(json.dumps(minicnn.io.architecture(model)))))
        archive.writestr("conv1.b.npy", raw)


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_huge_kernel(path):
    """Real weights, but an architecture that declares a 100000x100000 kernel."""
    model = make_model()
    arch = minicnn.io.architecture(model)
    arch["layers"][0]["config"].update(in_channels=100000, out_channels=100000)
    arrays = dict(model.parameters())
    arrays["__architecture__"] = np.array(json.dumps(arch))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def write_huge_dense(path):
    model = make_model()
    arch = minicnn.io.architecture(model)
    arch["layers"][-1]["config"].update(in_features=10**9)
    arrays = dict(model.parameters())
    arrays["__architecture__"] = np.array(json.dumps(arch))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("write, message", [
    (write_huge_header, r"entry 'conv1.b.npy': the header declares shape \[1000000000000\] "
                        r"of float32 \(4000000000000 bytes\), but the entry stores 16 bytes"),
    (write_huge_kernel, r"declares layer 'conv1' with weights of shape "
                        r"\[100000, 100000, 3, 2\], but the file holds \[4, 2, 3, 2\]"),
    (write_huge_dense, r"declares layer 'scores' with weights of shape \[1000000000, 5\], "
                       r"but the file holds \[8, 5\]"),
])
def test_crafted_sizes_are_refused_before_allocating(tmp_path, write, message):
    path = tmp_path / "crafted.npz"
    write(path)
    assert path.stat().st_size < 20_000
    with pytest.raises(ValueError, match=message):
        minicnn.load(path)


def test_crafted_header_leaves_the_model_unchanged(tmp_path):
    write_huge_header(tmp_path / "crafted.npz")
    model = make_model(seed=4)
    before = snapshot(model)
    with pytest.raises(ValueError, match="the header declares shape"):
        model.load(tmp_path / "crafted.npz")
    assert_unchanged(model, before)


def test_limit_on_total_size(tmp_path):
    np.savez(tmp_path / "a.npz", a=np.zeros(100, np.float32), b=np.zeros(100, np.float32))
    assert set(minicnn.npz.read_npz(tmp_path / "a.npz", max_bytes=800)) == {"a", "b"}
    with pytest.raises(ValueError, match=r"take more than the limit of 799 bytes"):
        minicnn.npz.read_npz(tmp_path / "a.npz", max_bytes=799)


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_no_error_suggests_unpickling(tmp_path, kind):
    CORRUPT[kind][0](tmp_path / "bad.npz")
    with pytest.raises(ValueError) as info:
        minicnn.load(tmp_path / "bad.npz")
    assert "pickle" not in str(info.value).lower()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
@pytest.mark.parametrize("kind", ["truncated", "random bytes", "object array"])
def test_a_failed_load_closes_the_file(tmp_path, kind):
    CORRUPT[kind][0](tmp_path / "bad.npz")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(ValueError):
            minicnn.load(tmp_path / "bad.npz")
    assert len(os.listdir("/proc/self/fd")) == before
