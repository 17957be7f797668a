"""The explorer page (`minicnn.figures.explorer`, ``python -m minicnn explore``): what it
computes, checked against the library's own one-neuron calls, and the command line.
The page in a browser: tests/test_explorer_browser.py."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, explain
from minicnn.data import FASHION_MNIST_CLASSES, sample_images
from minicnn.figures.explorer import (
    build_explorer,
    chosen_neurons,
    neuron_maps,
    render_html,
    signed_tiles,
    tile_sheet,
)

RULES = ("standard", "deconvnet", "guided")


def tiny_model(seed: int = 0) -> Sequential:
    """A random CNN for 12x12 gray images: relu1 is 6x12x12 (864 neurons), relu2 4x6x6."""
    rng = np.random.default_rng(seed)
    return Sequential([Conv2D(1, 6, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(6, 4, 3, padding=1, rng=rng), ReLU(), Flatten(),
                       Dense(4 * 6 * 6, 3, rng=rng)], input_shape=(1, 12, 12))


def tiny_images(n: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 12, 12)).astype(np.float32)


def expected_tile(model, x, neuron, mode) -> np.ndarray:
    """The lecture's recipe for one neuron, drawn as `explain.signed_map` draws it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* does not fire")   # silent on purpose
        g = explain.gradient(model, x, neuron, mode)[0]
    return np.round(explain.signed_map(g) * 255).astype(np.uint8)


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_neuron_maps_are_the_one_neuron_gradient():
    """Many neurons at once (one image copy per neuron) give, for each neuron, the map of
    `explain.gradient` with a Neuron target, under each rule."""
    model = minicnn.pretrained()
    x = sample_images()[0][7:8]
    out = model.forward(x, until="relu3")[0]
    firing = [explain.Neuron("relu3", *map(int, p)) for p in np.argwhere(out > 0)[::97]]
    silent = explain.Neuron("relu3", *map(int, np.argwhere(out <= 0)[5]))
    neurons = [*firing, silent]
    maps = neuron_maps(model, x, neurons)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* does not fire")
        for mode in RULES:
            assert maps[mode].shape == (len(neurons), 1, 28, 28)
            for i, neuron in enumerate(neurons):
                one = explain.gradient(model, x, neuron, mode)[0]
                np.testing.assert_allclose(maps[mode][i], one, rtol=1e-5, atol=1e-7)
    # the silent neuron: zero under standard and guided (so the page need not compute
    # them), a pattern under deconvnet
    assert not maps["standard"][-1].any() and not maps["guided"][-1].any()
    assert np.abs(maps["deconvnet"][-1]).max() > 0


def test_chosen_neurons_every_neuron():
    model, x = tiny_model(), tiny_images(1)
    out = model.forward(x, until="relu2")[0]
    firing, silent = chosen_neurons(model, x, "relu2", every=True)
    acts = [out[n.position] for n in firing]
    assert all(a > 0 for a in acts) and acts == sorted(acts, reverse=True)
    assert all(out[n.position] <= 0 for n in silent)
    positions = sorted(n.position for n in firing + silent)
    assert positions == sorted(tuple(map(int, p)) for p in np.ndindex(*out.shape))


def test_chosen_neurons_strongest_per_channel():
    model, x = tiny_model(), tiny_images(1)
    out = model.forward(x, until="relu1")[0]
    firing, silent = chosen_neurons(model, x, "relu1", every=False)
    assert silent == []
    peaks = out.reshape(len(out), -1).max(axis=1)
    assert sorted(n.channel for n in firing) == [c for c in range(len(out)) if peaks[c] > 0]
    for n in firing:
        assert out[n.position] == peaks[n.channel]
    assert [out[n.position] for n in firing] == sorted(peaks[peaks > 0], reverse=True)


def test_signed_tiles_draw_like_signed_map():
    rng = np.random.default_rng(0)
    gray = rng.standard_t(2, size=(4, 1, 9, 7))
    gray[1] = 0                                               # a zero map: uniform gray
    gray[2] = 0
    gray[2, 0, 3, 3] = -2.0                                   # one pixel: scaled by the max
    rgb = rng.normal(size=(3, 3, 5, 6))
    for maps in (gray, rgb):
        want = np.stack([np.round(explain.signed_map(m) * 255).astype(np.uint8) for m in maps])
        np.testing.assert_array_equal(signed_tiles(maps), want)
    assert (signed_tiles(gray)[1] == 128).all()


def test_signed_maps_of_a_gray_image_are_drawn_in_red_blue(tiny_page):
    """The page colours a signed map's gray value v with matplotlib's RdBu_r at v / 255
    (docs/explain.md, "Colours": white = 0); a colour image's maps stay per channel."""
    from matplotlib import colormaps
    colours = np.array(tiny_page[2].data["signedColours"]).reshape(256, 3)
    rgba = np.asarray(colormaps["RdBu_r"](np.arange(256) / 255))
    np.testing.assert_array_equal(colours, np.round(rgba[:, :3] * 255))
    assert colours[128].min() > 240                            # zero: white
    assert colours[255, 0] > 2 * colours[255, 2]               # positive: red
    assert colours[0, 2] > 2 * colours[0, 0]                   # negative: blue
    rng = np.random.default_rng(4)
    colour_model = Sequential([Conv2D(3, 2, 3, padding=1, rng=rng), ReLU(), Flatten(),
                               Dense(2 * 6 * 6, 2, rng=rng)], input_shape=(3, 6, 6))
    x = rng.random((1, 3, 6, 6)).astype(np.float32)
    result = build_explorer(colour_model, x, ["a"], progress=False, workers=1)
    assert result.data["signedColours"] is None


def test_tile_sheet_puts_tile_i_at_row_i_div_columns():
    tiles = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    sheet = tile_sheet(tiles, 2)
    assert sheet.shape == (6, 6)
    for i in range(5):
        r, c = divmod(i, 2)
        np.testing.assert_array_equal(sheet[2 * r:2 * r + 2, 3 * c:3 * c + 3], tiles[i])
    assert not sheet[4:, 3:].any()


@pytest.fixture(scope="module")
def tiny_page():
    model, X = tiny_model(), tiny_images(3)
    return model, X, build_explorer(model, X, ["a", "b", "c"], ["cat", "dog", "eel"],
                                    progress=False, workers=2)


def test_page_data_matches_the_library(tiny_page):
    model, X, result = tiny_page
    data = result.data
    assert [(layer["name"], layer["every"]) for layer in data["layers"]] == [
        ("relu1", False), ("relu2", True)]                 # every neuron: the last layer
    assert data["cam"] == "relu2" and data["classes"] == ["cat", "dog", "eel"]
    scores = model.forward(X)
    for i, entry in enumerate(data["images"]):
        assert entry["name"] == "abc"[i]
        np.testing.assert_array_equal(decode(entry["png"]),
                                      np.round(X[i, 0] * 255).astype(np.uint8))
        assert [k for k, _ in entry["top"]] == list(np.argsort(-scores[i])[:3])
        assert len(entry["gradcam"]) == 3 and decode(entry["gradcam"][0]).shape == (12, 12, 3)
        for name, info in entry["layers"].items():
            out = model.forward(X[i:i + 1], until=name)[0]
            assert info["peak"] == pytest.approx(float(out.max()))
            fmaps = decode(info["fmaps"])
            c, h, w = out.shape
            expect = np.round(np.sqrt(np.clip(out / out.max(), 0, 1)) * 255)
            for ch in range(c):
                r, col = divmod(ch, info["fmapColumns"])
                np.testing.assert_array_equal(fmaps[r * h:(r + 1) * h, col * w:(col + 1) * w],
                                              expect[ch])
            peaks = out.reshape(c, -1).max(axis=1)
            if name == "relu2":                               # every neuron
                assert len(info["neurons"]) == out.size
                assert info["firing"] == int((out > 0).sum())
            else:                                             # each channel's strongest
                assert len(info["neurons"]) == info["firing"] == int((peaks > 0).sum())
            for rule in RULES:
                sheet = decode(info["maps"][rule])
                tiles = result.maps[(i, name, rule)]
                for k in (0, info["firing"] - 1, len(info["neurons"]) - 1):
                    ch, y, x, act, *box = info["neurons"][k]
                    r, col = divmod(k, info["columns"])
                    tile = sheet[r * 12:(r + 1) * 12, col * 12:(col + 1) * 12]
                    np.testing.assert_array_equal(tile, tiles[k])
                    assert act == pytest.approx(float(out[ch, y, x]), abs=1e-4)
                    assert tuple(box) == explain.receptive_field(model, name, y, x, (12, 12))
                    neuron = explain.Neuron(name, ch, y, x)
                    if k < info["firing"] or rule == "deconvnet":
                        assert np.abs(tile.astype(int) - expected_tile(
                            model, X[i:i + 1], neuron, rule)).max() <= 1
                    else:
                        assert (tile == 128).all()               # silent: exactly zero


def test_conv_layer_without_relu_gets_every_rule_for_negative_neurons():
    """Where a conv layer has no ReLU right after it, its feature maps are the conv's
    output: a neuron with a negative value still has standard and guided maps."""
    rng = np.random.default_rng(3)
    model = Sequential([Conv2D(1, 3, 3, padding=1, rng=rng), MaxPool2D(2), ReLU(),
                        Flatten(), Dense(3 * 5 * 5, 2, rng=rng)], input_shape=(1, 10, 10))
    x = tiny_images(1)[:, :, :10, :10]
    result = build_explorer(model, x, ["a"], progress=False, workers=1)
    info = result.data["images"][0]["layers"]["conv1"]
    assert result.data["layers"][0] == {"name": "conv1", "shape": [3, 10, 10],
                                        "relu": False, "every": True}
    negative = info["firing"]                       # the first neuron that does not fire
    ch, y, xx, act, *_ = info["neurons"][negative]
    assert act <= 0
    for rule in RULES:
        tile = result.maps[(0, "conv1", rule)][negative]
        want = expected_tile(model, x, explain.Neuron("conv1", ch, y, xx), rule)
        assert np.abs(tile.astype(int) - want).max() <= 1
        assert rule == "deconvnet" or (tile != 128).any()


def test_build_leaves_the_model_as_it_was(tiny_page):
    model, X, _ = tiny_page
    fresh = tiny_model()
    for a, b in zip(model.layers, fresh.layers):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])
        assert getattr(a, "mode", None) == getattr(b, "mode", None)


def test_html_is_self_contained_and_escapes_the_data(tiny_page):
    _, _, result = tiny_page
    data = dict(result.data, title="</script><script>alert(1)</script>")
    html = render_html(data)
    assert html.count("</script>") == 2                      # the data's and the page's
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"""@import|url\(\s*["']?https?:""", html)
    assert "/*EXPLORER-DATA*/" not in html


def test_bad_arguments():
    model, X = tiny_model(), tiny_images(2)
    with pytest.raises(ValueError, match="names must give one name per image"):
        build_explorer(model, X, ["a"], progress=False)
    with pytest.raises(ValueError, match="class_names must name the model's 3 classes"):
        build_explorer(model, X, ["a", "b"], ["x"], progress=False)
    with pytest.raises(TypeError, match="dtype"):
        build_explorer(model, X.astype(np.float64), ["a", "b"], progress=False)
    dense = Sequential([Flatten(), Dense(144, 3)], input_shape=(1, 12, 12))
    with pytest.raises(ValueError, match="no Conv2D layer"):
        build_explorer(dense, X, ["a", "b"], progress=False)


# -- the command line -----------------------------------------------------------------
def run(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minicnn", "explore", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("out, message", [
    ("{tmp}", "--out must be a file name ending in .html, but '{tmp}' is a folder"),
    ("{tmp}/page.png", "--out must be a file name ending in .html. Received: --out"),
    ("{tmp}/missing/page.html", "--out: the folder '{tmp}/missing' does not exist"),
])
def test_cli_checks_out(tmp_path, out, message):
    result = run("--out", out.format(tmp=tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {message.format(tmp=tmp_path)}")
    assert "Traceback" not in result.stderr


def test_cli_checks_images(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("--out", str(tmp_path / "p.html"), "--images", str(tmp_path / "empty"))
    assert result.returncode == 2 and "holds no image files" in result.stderr
    result = run("--out", str(tmp_path / "p.html"), "--images", str(tmp_path / "nope"))
    assert result.returncode == 2 and "--images must be a folder of image files" in result.stderr
    assert not (tmp_path / "p.html").exists()


def test_cli_writes_the_page_for_a_folder(tmp_path):
    X, y = sample_images()
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in (7, 9):
        Image.fromarray((X[k, 0] * 255).astype(np.uint8)).resize((56, 56)).save(
            folder / f"{FASHION_MNIST_CLASSES[k].lower()}.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "page.html"
    result = run("--out", str(out), "--images", str(folder), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "2 images" in result.stdout
    assert "2/2" in result.stderr                               # the progress bar
    html = out.read_text(encoding="utf-8")
    assert '"name":"ankle boot.png"' in html and '"name":"sneaker.png"' in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "photos"]  # no temp file
