"""`python -m minicnn demo` and `python -m minicnn explain` write PNGs; bad arguments
give one line on stderr and exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from minicnn.__main__ import main
from minicnn.data import sample_images

SHIPPED = Path(minicnn.__file__).parent / "assets" / "fashion_mnist_cnn.npz"
needs_shipped = pytest.mark.skipif(not SHIPPED.is_file(),
                                   reason=f"the shipped model {SHIPPED} is not there yet")
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd=None):
    """The CLI in a subprocess. The timeout only guards against a hang: the demo takes
    about 10 s on a quiet 2-core machine, but several times that on a loaded one."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minicnn", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A small random CNN for 28x28 gray images, saved as a model file."""
    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                        Conv2D(4, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                        Flatten(), Dense(8 * 7 * 7, 10, rng=rng)], input_shape=(1, 28, 28))
    path = tmp_path_factory.mktemp("model") / "small.npz"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    """The shipped sneaker image as a PNG, 3 channels and larger, as a user's file might be."""
    x, _ = sample_images()
    gray = Image.fromarray((x[7, 0] * 255).astype(np.uint8)).resize((56, 56))
    path = tmp_path_factory.mktemp("img") / "sneaker.png"
    gray.convert("RGB").save(path)
    return path


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG
    assert Image.open(path).size[0] > 400


# -- demo -------------------------------------------------------------------------------
@needs_shipped
def test_demo_runs_on_the_shipped_model(tmp_path):
    result = run("demo", "--out", str(tmp_path / "figs"))
    assert result.returncode == 0, result.stderr
    for name in ("classes.png", "neurons.png"):
        assert_png(tmp_path / "figs" / name)
        assert str(tmp_path / "figs" / name) in result.stdout
    assert "Warning" not in result.stderr


@needs_shipped
def test_demo_default_folder_is_in_the_current_directory(tmp_path):
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "minicnn-demo" / "classes.png").is_file()


def test_demo_with_a_model_file(tmp_path, small_model):
    result = run("demo", "--out", str(tmp_path), "--model", str(small_model))
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "classes.png")
    assert_png(tmp_path / "neurons.png")
    lines = result.stdout.splitlines()
    assert lines[0] == str(tmp_path / "classes.png") and "Grad-CAM" in lines[1]


# -- explain ------------------------------------------------------------------------------
@needs_shipped
def test_explain_with_the_shipped_model(tmp_path, image_file):
    out = tmp_path / "e.png"
    result = run("explain", "--image", str(image_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert_png(out)
    assert "the predicted class" in result.stdout


@pytest.mark.parametrize("extra", [
    ["--target", "3"],
    ["--layer", "relu2", "--neuron", "0,3,3", "--mode", "guided"],
    ["--layer", "conv2", "--channel", "1", "--mode", "deconvnet"],
])
def test_explain_writes_a_png(tmp_path, small_model, image_file, extra):
    out = tmp_path / "e.png"
    code = main(["explain", "--image", str(image_file), "--model", str(small_model),
                 "--out", str(out), *extra])
    assert code == 0
    assert_png(out)


def test_explain_tells_about_a_silent_neuron(tmp_path, small_model, image_file, capsys):
    # the top-left corner of the image is black, so a neuron there may well not fire;
    # find one that does not and check the CLI says so in one line
    from minicnn import load
    from minicnn.__main__ import load_for
    model = load(small_model)
    acts = model.forward(load_for(model, image_file), until="conv1")[0]
    c, y, x = np.argwhere(acts <= 0)[0]
    code = main(["explain", "--image", str(image_file), "--model", str(small_model),
                 "--layer", "relu1", "--neuron", f"{c},{y},{x}", "--out", str(tmp_path / "n.png")])
    assert code == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("warning: neuron relu1[") and "does not fire" in err[0]


@pytest.mark.parametrize("extra, message", [
    (["--image", "missing.png"], "--image: no such file: missing.png"),
    (["--layer", "conv9", "--neuron", "0,0,0"], "no layer named 'conv9'; the layers are ["),
    (["--layer", "relu2", "--neuron", "abc"], "--neuron must be C,Y,X"),
    (["--layer", "relu2", "--neuron", "0,99,0"], "y=99 is not in [0, 14)"),
    (["--layer", "relu2", "--neuron", "0,1"], "--neuron must be C,Y,X"),
    (["--layer", "relu2", "--neuron", "-1,0,0"], "--neuron must be C,Y,X (three ints >= 0"),
    (["--neuron", "0,1,1"], "--neuron and --channel need --layer NAME"),
    (["--layer", "relu2"], "--layer needs exactly one of --neuron C,Y,X or --channel C"),
    (["--target", "3", "--layer", "relu2", "--channel", "0"], "give either --target CLASS"),
    (["--target", "12"], "--target 12 is out of range: the model has 10 classes"),
    (["--target", "shirt"], "--target must be a class index"),
    (["--layer", "relu2", "--channel", "x"], "--channel must be an int"),
])
def test_explain_bad_arguments_are_one_line(tmp_path, small_model, image_file, capsys, extra,
                                            message):
    args = ["explain", "--image", str(image_file), "--model", str(small_model),
            "--out", str(tmp_path / "e.png")]
    if extra[0] == "--image":
        args[1:3] = extra
        extra = []
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "e.png").exists()


def test_explain_bad_arguments_in_a_subprocess(tmp_path, small_model, image_file):
    for args in (["--image", str(tmp_path / "nope.png")],
                 ["--image", str(image_file), "--layer", "relu2", "--neuron", "1;2;3"]):
        result = run("explain", *args, "--model", str(small_model), "--out",
                     str(tmp_path / "e.png"))
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_explain_a_model_file_that_is_missing(tmp_path, image_file):
    result = run("explain", "--image", str(image_file), "--model", str(tmp_path / "m.npz"),
                 "--out", str(tmp_path / "e.png"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "m.npz" in result.stderr


@pytest.mark.parametrize("args, flag", [
    (["demo", "--out", "{file}"], "--out"),
    (["assignment", "build", "guided_backprop", "--out", "{file}"], "--out"),
    (["notebooks", "--execute", "--html", "{file}"], "--html"),
])
def test_an_output_folder_that_is_a_file_is_one_line(tmp_path, capsys, args, flag):
    """The commands that write a folder refuse a file, before any work, in one line."""
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"not a folder")
    assert main([a.format(file=taken) for a in args]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {flag} must be a folder, but {str(taken)!r} is a file. " \
                  f"Received: {flag} {taken}\n"
    assert taken.read_bytes() == b"not a folder"


def test_a_broken_notebook_is_named(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert main(["notebooks", "--folder", str(tmp_path), "--execute"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.ipynb' is not a readable notebook" in err, err


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nowhere", "submission not found"),
    (lambda tmp: tmp, "no minicnn/ package"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hi"))[0],
     "expected a folder or a .zip"),
])
def test_grade_an_unreadable_submission_exits_2_and_writes_zero(tmp_path, capsys, make,
                                                                message):
    """The 0-point results.json is still written; the exit status and one line say why."""
    submission = make(_empty_dir(tmp_path / "upload"))
    results = tmp_path / "results.json"
    assert main(["grade", "--assignment", "guided_backprop", "--submission",
                 str(submission), "--results", str(results)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("error: --submission: ")
    assert message in errors[0] and "wrote a 0-point" in errors[0]
    report = json.loads(results.read_text())
    from minicnn.grading import load_assignment
    assert report["score"] == 0
    assert report["max_score"] == load_assignment("guided_backprop").max_score > 0


def _empty_dir(path):
    path.mkdir()
    return path
