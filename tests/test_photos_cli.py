"""Photographs and PyTorch weights on the command line: ``explain --image --model W.pth``
and ``demo --model W.pth --images DIR`` (minicnn/figures/photos.py), with the small
VGG-like checkpoint of tests/data (recognised as "vgg-style"); bad input is one line
on stderr and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minicnn import __main__ as cli
from minicnn.__main__ import main
from minicnn.data import load_imagenet_folder
from minicnn.figures.photos import default_layer, photo, top_classes
from minicnn.models import torchvision_model

DATA = Path(__file__).parent / "data"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder with two photograph-sized images (JPEG and PNG, not square) and a text
    file that is not an image."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    scene = np.stack([xx / 400, yy / 300, 0.5 + 0 * xx], axis=2) * 200
    scene[100:200, 150:250] = [230, 120, 40]                       # an orange square
    Image.fromarray(scene.astype(np.uint8)).save(folder / "b_square.jpg", quality=90)
    noise = rng.integers(0, 256, (260, 240, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "a_noise.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def assert_png(path: Path, min_width: int = 400) -> None:
    assert path.read_bytes()[:8] == PNG
    assert Image.open(path).size[0] > min_width


# -- explain --------------------------------------------------------------------------------
@pytest.mark.parametrize("weights", ["tiny_vgg.pth", "tiny_vgg.safetensors",
                                     "tiny_vgg_legacy.pth"])
def test_explain_a_photo_with_pytorch_weights(tmp_path, photos, capsys, weights):
    out = tmp_path / "e.png"
    assert main(["explain", "--image", str(photos / "b_square.jpg"), "--model",
                 str(DATA / weights), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "vgg-style (2,557 parameters, 5 classes)" in stdout
    assert_png(out)
    # the printed top 5 is the model's own ranking of the preprocessed photograph
    model, _ = torchvision_model(DATA / weights)
    x = load_imagenet_folder(photos)[0][1:2]
    expected = top_classes(model, x, 5)
    line = next(s for s in stdout.splitlines() if s.startswith("top 5: "))
    assert [int(part.split()[0]) for part in line[7:].split("; ")] == [c for c, _ in expected]
    assert f"class {expected[0][0]}" in stdout.splitlines()[-1]


def test_explain_a_chosen_class_and_one_rule(tmp_path, photos, capsys):
    out = tmp_path / "e.png"
    assert main(["explain", "--image", str(photos / "a_noise.png"), "--model",
                 str(DATA / "tiny_vgg.pth"), "--target", "3", "--mode", "guided",
                 "--out", str(out)]) == 0
    assert "class 3" in capsys.readouterr().out.splitlines()[-1]
    assert_png(out, min_width=300)


@pytest.mark.parametrize("extra, message", [
    (["--target", "tabby"], "--target must be a class index (e.g. 281 or tabby)"),
    (["--target", "9"], "target must be a class in [0, 4]"),
    (["--layer", "relu2", "--neuron", "0,1,1"], "--layer is for minicnn models"),
    (["--invert"], "--invert is for minicnn models"),
])
def test_explain_photo_bad_arguments(tmp_path, photos, capsys, extra, message):
    code = main(["explain", "--image", str(photos / "a_noise.png"), "--model",
                 str(DATA / "tiny_vgg.pth"), "--out", str(tmp_path / "e.png"), *extra])
    assert code == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "e.png").exists()


def test_explain_refuses_weights_of_another_network(tmp_path, photos, capsys):
    from minicnn.safetensors import save_safetensors
    resnet = tmp_path / "resnet18.safetensors"
    save_safetensors({"conv1.weight": np.zeros((4, 3, 7, 7), np.float32),
                      "fc.weight": np.zeros((10, 4), np.float32)}, resnet)
    code = main(["explain", "--image", str(photos / "a_noise.png"), "--model", str(resnet),
                 "--out", str(tmp_path / "e.png")])
    assert code == 2
    line = one_error_line(capsys)
    assert "resnet18.safetensors" in line and "does not hold torchvision's vgg11" in line


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("hello, not weights"), "neither a PyTorch checkpoint"),
])
def test_explain_missing_or_unreadable_weights(tmp_path, photos, capsys, make, message):
    weights = tmp_path / "vgg16.pth"
    make(weights)
    code = main(["explain", "--image", str(photos / "a_noise.png"), "--model", str(weights),
                 "--out", str(tmp_path / "e.png")])
    assert code == 2
    line = one_error_line(capsys)
    assert message in line and "vgg16.pth" in line


def test_explain_an_image_that_is_not_one(tmp_path, capsys):
    fake = tmp_path / "cat.jpg"
    fake.write_text("not a jpeg")
    code = main(["explain", "--image", str(fake), "--model", str(DATA / "tiny_vgg.pth"),
                 "--out", str(tmp_path / "e.png")])
    assert code == 2
    assert "cannot read image file" in one_error_line(capsys)


# -- demo -----------------------------------------------------------------------------------
def test_demo_on_a_folder_of_photos(tmp_path, photos):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-m", "minicnn", "demo", "--model", str(DATA / "tiny_vgg.safetensors"),
         "--images", str(photos), "--out", str(tmp_path / "figs")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    for name, width in (("classes.png", 400), ("neurons.png", 400), ("top_patches.png", 200)):
        assert_png(tmp_path / "figs" / name, min_width=width)   # 2 patches: a narrow figure
        assert str(tmp_path / "figs" / name) in result.stdout
    assert "2 photographs" in result.stdout
    assert "relu2" in result.stdout            # default_layer of a net with two convs
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_demo_with_a_chosen_layer(tmp_path, photos, capsys):
    assert main(["demo", "--model", str(DATA / "tiny_vgg.pth"), "--images", str(photos),
                 "--layer", "conv1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "neurons of conv1" in out and "conv1's 3 busiest feature maps" in out
    assert_png(tmp_path / "neurons.png", min_width=300)


@pytest.mark.parametrize("args, message", [
    (["--model", "{tiny}", "--images", "{empty}"], "holds no image"),
    (["--model", "{tiny}", "--images", "{missing}"], "no folder at"),
    (["--model", "{tiny}"], "needs --images DIR"),
    (["--images", "{photos}"], "--images and --layer need --model with PyTorch weights"),
    (["--model", "{tiny}", "--images", "{photos}", "--layer", "relu9"], "no layer named 'relu9'"),
    (["--model", "{tiny}", "--images", "{photos}", "--layer", "fc1"],
     "layer must have feature maps (a layer before the classifier, e.g. 'relu2')"),
])
def test_demo_photo_bad_arguments(tmp_path, photos, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    values = {"tiny": DATA / "tiny_vgg.pth", "empty": tmp_path / "empty",
              "missing": tmp_path / "missing", "photos": photos}
    args = [a.format(**values) for a in args]
    assert main(["demo", *args, "--out", str(tmp_path / "figs")]) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "figs" / "classes.png").exists()


def test_demo_without_a_model_says_once_how_to_get_vgg16(tmp_path, capsys, monkeypatch):
    import minicnn.figures
    monkeypatch.setattr(minicnn.figures, "run_demo", lambda out, model=None, optimize=False: [])
    assert main(["demo", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    hints = [line for line in lines if "vgg16-397923af.pth" in line]
    assert hints == [cli.VGG16_HINT]
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in hints[0]
    assert "~/.cache/torch/hub/checkpoints/" in hints[0]


# -- the pieces -----------------------------------------------------------------------------
def test_load_imagenet_folder_sorts_and_skips_other_files(photos):
    X, names = load_imagenet_folder(photos)
    assert names == ["a_noise.png", "b_square.jpg"]
    assert X.shape == (2, 3, 224, 224) and X.dtype == np.float32
    # the centre of the orange square, unnormalised, is the orange of the file (JPEG: +-4)
    np.testing.assert_allclose(photo(X[1])[112, 112] * 255, [230, 120, 40], atol=4)


def test_default_layer():
    model, _ = torchvision_model(DATA / "tiny_vgg.pth")
    assert default_layer(model) == "relu2"


def test_rules_rows_show_the_photograph_not_the_normalized_numbers(photos):
    from minicnn.figures.photos import rules_rows
    model, _ = torchvision_model(DATA / "tiny_vgg.pth")
    X, _ = load_imagenet_folder(photos)
    rows, columns = rules_rows(model, X[1:2], [2], cam_layer="relu2", progress=False)
    assert columns[0] == "photograph" and columns[-2:] == ["Grad-CAM\n(relu2)",
                                                           "guided Grad-CAM"]
    first = rows[0][0]
    assert first.shape == (224, 224, 3) and 0 <= first.min() and first.max() <= 1
    np.testing.assert_allclose(first[112, 112] * 255, [230, 120, 40], atol=4)
    standard, guided = rows[0][1], rows[0][3]
    assert not np.allclose(standard, guided)            # the rules differ
    assert rows[0][4].image is first and rows[0][4].overlay.shape == (224, 224)
