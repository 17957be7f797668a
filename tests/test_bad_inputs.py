"""A table of bad inputs against the public entry points: each must raise minicnn's own
clear error, whose message names the argument (and, for array contents, the image).

Every row is ``(id, call, error, message)``: ``call(tmp)`` must raise ``error`` with a
message matching the regular expression ``message``. ``tmp`` is a temporary folder
for rows that need files. After the table, tests that the edge cases which are *not*
errors give the right answer (empty batches, other image sizes for a fully
convolutional model, the accepted spellings of seeds and dtypes).
"""

from __future__ import annotations

import json
import signal
import zipfile

import numpy as np
import pytest

import minicnn
from minicnn import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, explain
from minicnn.explain import Channel, Neuron, Seed
from minicnn.gradcheck import check_layer
from minicnn.layers import relu_backward
from minicnn.models import benchmark_cnn, fashion_cnn, shapes_cnn
from minicnn.optim import SGD, Adam
from minicnn.train import confusion_matrix, evaluate, fit


# -- what the rows run on ---------------------------------------------------------
def tiny() -> Sequential:
    """(N, 1, 8, 8) -> conv1 (2, 8, 8) -> relu1 -> pool1 (2, 4, 4) -> fc1: 3 classes."""
    return Sequential([Conv2D(1, 2, 3, padding=1, rng=0), ReLU(), MaxPool2D(2), Flatten(),
                       Dense(32, 3, rng=0)], input_shape=(1, 8, 8))


def images(n: int = 3, size: int = 8, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(0).random((n, channels, size, size), dtype=np.float32)


def spoiled(value=np.nan, image: int = 1, n: int = 3) -> np.ndarray:
    """``images(n)`` with one pixel of ``image`` set to ``value`` (NaN or inf)."""
    x = images(n)
    x[image, 0, 2, 5] = value
    return x


def labels(n: int = 3) -> np.ndarray:
    return np.arange(n) % 3


def run_fit(model=None, X=None, y=None, **kwargs):
    model = tiny() if model is None else model
    kwargs = {"epochs": 1, "batch_size": 2, "optimizer": SGD(model), "progress": False,
              "workers": 1, **kwargs}
    return fit(model, images() if X is None else X, labels() if y is None else y, **kwargs)


def huge_image(image: int, n: int = 3) -> np.ndarray:
    """``images(n)`` with ``image`` scaled to 3e38: finite, but the forward pass overflows."""
    x = images(n)
    x[image] = 3e38
    return x


def diverging_fit():
    model = tiny()
    # With this order of the images (rng=0) the first step leaves the weights near
    # 1e30 and the second batch's scores overflow (other orders can kill every ReLU
    # instead, which keeps the loss finite).
    return run_fit(model, images(6), labels(6), epochs=30, optimizer=SGD(model, lr=1e30),
                   rng=0)


def maps(shape=(2, 4, 4), dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(1).random(shape).astype(dtype)


def same_relu_twice():
    relu = ReLU()
    return Sequential([Conv2D(1, 2, 3), relu, MaxPool2D(2), relu])


def same_conv_twice():
    conv = Conv2D(2, 2, 3)
    return Sequential([conv, ReLU(), conv])


def saved(tmp, name="model.npz"):
    path = tmp / name
    tiny().save(path)
    return path


def crafted_architecture(tmp):
    """A small file whose architecture declares a 100000 x 100000 conv kernel."""
    path = saved(tmp)
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    arrays = {name[:-4]: np.load(path)[name[:-4]] for name in entries}
    arch = json.loads(str(arrays["__architecture__"]))
    arch["layers"][0]["config"]["kernel_size"] = [100000, 100000]
    arrays["__architecture__"] = np.array(json.dumps(arch))
    np.savez(path, **arrays)
    return path


def truncated(tmp):
    path = saved(tmp)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def text_file(tmp):
    path = tmp / "notes.npz"
    path.write_text("not a model")
    return path


def no_architecture(tmp):
    path = tmp / "weights.npz"
    np.savez(path, w=np.zeros(3))
    return path


def other_model_file(tmp):
    path = tmp / "other.npz"
    Sequential([Flatten(), Dense(64, 3, rng=0)], input_shape=(1, 8, 8)).save(path)
    return path


NO_PICKLE = r"(?s)^(?!.*pickle)"   # the message never suggests unpickling

CASES = [
    # -- dtypes: only float32 and float64 ---------------------------------------
    ("Conv2D dtype=int32", lambda t: Conv2D(1, 2, 3, dtype=np.int32),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=int32"),
    ("Conv2D dtype=float16", lambda t: Conv2D(1, 2, 3, dtype=np.float16),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=float16"),
    ("Conv2D dtype=complex64", lambda t: Conv2D(1, 2, 3, dtype=np.complex64),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=complex64"),
    ("Conv2D dtype='foo'", lambda t: Conv2D(1, 2, 3, dtype="foo"),
     TypeError, r"dtype must be float32 or float64\. Received: dtype='foo'"),
    ("Conv2D dtype=None", lambda t: Conv2D(1, 2, 3, dtype=None),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=None"),
    ("Dense dtype=complex64", lambda t: Dense(4, 2, dtype=np.complex64),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=complex64"),
    ("Dense dtype=int64", lambda t: Dense(4, 2, dtype=np.int64),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=int64"),
    ("Dense dtype='float16'", lambda t: Dense(4, 2, dtype="float16"),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=float16"),
    ("Dense dtype=bool", lambda t: Dense(4, 2, dtype=bool),
     TypeError, r"dtype must be float32 or float64\. Received: dtype=bool"),
    ("Conv2D.astype(int32)", lambda t: Conv2D(1, 2, 3).astype(np.int32),
     TypeError, r"Conv2D\.astype: dtype must be float32 or float64\. Received: dtype=int32"),
    ("Dense.astype('foo')", lambda t: Dense(4, 2, name="fc").astype("foo"),
     TypeError, r"Dense\('fc'\)\.astype: dtype must be float32 or float64\. Received: dtype='foo'"),
    ("ReLU.astype(float16)", lambda t: ReLU().astype(np.float16),
     TypeError, r"ReLU\.astype: dtype must be float32 or float64\. Received: dtype=float16"),
    ("model.astype(int32)", lambda t: tiny().astype(np.int32),
     TypeError, r"astype: dtype must be float32 or float64\. Received: dtype=int32"),
    ("model.astype(complex128)", lambda t: tiny().astype(np.complex128),
     TypeError, r"astype: dtype must be float32 or float64\. Received: dtype=complex128"),
    ("model.astype('foo')", lambda t: tiny().astype("foo"),
     TypeError, r"astype: dtype must be float32 or float64\. Received: dtype='foo'"),
    ("model.astype(float16)", lambda t: tiny().astype(np.float16),
     TypeError, r"astype: dtype must be float32 or float64\. Received: dtype=float16"),

    # -- seeds: None, an int >= 0 or a np.random.Generator -----------------------
    ("Conv2D rng='seed'", lambda t: Conv2D(1, 2, 3, rng="seed"),
     TypeError, r"rng must be None, a seed \(an int >= 0\) or a np\.random\.Generator\. "
                r"Received: rng='seed'"),
    ("Conv2D rng=-1", lambda t: Conv2D(1, 2, 3, rng=-1),
     ValueError, r"rng must be an int >= 0\. Received: rng=-1"),
    ("Conv2D rng=1.5", lambda t: Conv2D(1, 2, 3, rng=1.5),
     TypeError, r"rng must be None, a seed .* Received: rng=1\.5"),
    ("Conv2D rng=RandomState", lambda t: Conv2D(1, 2, 3, rng=np.random.RandomState(0)),
     TypeError, r"rng must be None, a seed .* Received: rng=RandomState"),
    ("Dense rng=-1", lambda t: Dense(4, 2, rng=-1),
     ValueError, r"rng must be an int >= 0\. Received: rng=-1"),
    ("Dense rng=True", lambda t: Dense(4, 2, rng=True),
     TypeError, r"rng must be None, a seed .* Received: rng=True"),
    ("Dropout rng='seed'", lambda t: Dropout(0.5, rng="seed"),
     TypeError, r"rng must be None, a seed .* Received: rng='seed'"),
    ("Dropout rng=[1, 2]", lambda t: Dropout(0.5, rng=[1, 2]),
     TypeError, r"rng must be None, a seed .* Received: rng=\[1, 2\]"),
    ("fashion_cnn rng=-1", lambda t: fashion_cnn(rng=-1),
     ValueError, r"rng must be an int >= 0\. Received: rng=-1"),
    ("shapes_cnn rng=1.5", lambda t: shapes_cnn(rng=1.5),
     TypeError, r"rng must be None, a seed .* Received: rng=1\.5"),
    ("benchmark_cnn rng='seed'", lambda t: benchmark_cnn(rng="seed"),
     TypeError, r"rng must be None, a seed .* Received: rng='seed'"),
    ("fit rng=-1", lambda t: run_fit(rng=-1),
     ValueError, r"fit: rng must be an int >= 0\. Received: rng=-1"),
    ("smooth_grad rng='seed'", lambda t: explain.smooth_grad(tiny(), images(), 0, rng="seed"),
     TypeError, r"smooth_grad: rng must be None, a seed .* Received: rng='seed'"),
    ("smooth_grad rng=-1", lambda t: explain.smooth_grad(tiny(), images(), 0, rng=-1),
     ValueError, r"smooth_grad: rng must be an int >= 0\. Received: rng=-1"),
    ("randomization_test rng=1.5",
     lambda t: explain.randomization_test(tiny(), images(), 0, rng=1.5),
     TypeError, r"randomization_test: rng must be None, a seed .* Received: rng=1\.5"),
    ("check_layer seed=-1", lambda t: check_layer(ReLU(), maps(), seed=-1),
     ValueError, r"check_layer: seed must be an int >= 0\. Received: seed=-1"),
    ("check_layer seed=1.5", lambda t: check_layer(ReLU(), maps(), seed=1.5),
     TypeError, r"check_layer: seed must be an int >= 0\. Received: seed=1\.5"),

    # -- NaN and inf: explanations name the image --------------------------------
    ("gradient NaN pixel", lambda t: explain.gradient(tiny(), spoiled(), 0),
     ValueError, r"gradient: x must hold only finite values; image 1 has a NaN or infinite "
                 r"pixel\. Received: x with non-finite values in image 1$"),
    ("gradient +inf pixel", lambda t: explain.gradient(tiny(), spoiled(np.inf, 2), 0),
     ValueError, r"gradient: x must hold only finite values; image 2 has"),
    ("gradient -inf pixel", lambda t: explain.gradient(tiny(), spoiled(-np.inf, 0), 0),
     ValueError, r"gradient: x must hold only finite values; image 0 has"),
    ("saliency NaN", lambda t: explain.saliency(tiny(), spoiled(), 0),
     ValueError, r"x must hold only finite values; image 1"),
    ("deconvnet NaN", lambda t: explain.deconvnet(tiny(), spoiled(), 0),
     ValueError, r"x must hold only finite values; image 1"),
    ("guided_backprop NaN", lambda t: explain.guided_backprop(tiny(), spoiled(), 0),
     ValueError, r"x must hold only finite values; image 1"),
    ("guided_backprop Neuron NaN",
     lambda t: explain.guided_backprop(tiny(), spoiled(), Neuron("relu1", 0, 2, 2)),
     ValueError, r"x must hold only finite values; image 1"),
    ("grad_cam NaN", lambda t: explain.grad_cam(tiny(), spoiled(), 0, "relu1"),
     ValueError, r"grad_cam: x must hold only finite values; image 1"),
    ("guided_grad_cam inf", lambda t: explain.guided_grad_cam(tiny(), spoiled(np.inf), 0, "relu1"),
     ValueError, r"x must hold only finite values; image 1"),
    ("smooth_grad NaN", lambda t: explain.smooth_grad(tiny(), spoiled(), 0, n_samples=2),
     ValueError, r"smooth_grad: x must hold only finite values; image 1"),
    ("integrated_gradients NaN", lambda t: explain.integrated_gradients(tiny(), spoiled(), 0),
     ValueError, r"integrated_gradients: x must hold only finite values; image 1"),
    ("integrated_gradients NaN baseline",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline=np.nan),
     ValueError, r"integrated_gradients: baseline must hold only finite values\. Received: "
                 r"baseline with 1 NaN or infinite entries"),
    ("integrated_gradients baseline overflows float32",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline=1e300),
     ValueError, r"integrated_gradients: baseline must hold only finite values"),
    ("integrated_gradients baseline array with inf",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline=spoiled(np.inf)),
     ValueError, r"integrated_gradients: baseline must hold only finite values"),
    ("integrated_gradients baseline='black'",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline="black"),
     TypeError, r"integrated_gradients: baseline must be None, a number or an array of numbers"),
    ("occlusion NaN", lambda t: explain.occlusion(tiny(), spoiled(), 0, patch=4, stride=4),
     ValueError, r"occlusion: x must hold only finite values; image 1"),
    ("occlusion fill=nan", lambda t: explain.occlusion(tiny(), images(), 0, fill=np.nan),
     ValueError, r"occlusion: fill must be finite\. Received: fill=nan"),
    ("occlusion fill='grey'", lambda t: explain.occlusion(tiny(), images(), 0, fill="grey"),
     ValueError, r"occlusion: fill must be a number or \"mean\"\. Received: fill='grey'"),
    ("top_neurons NaN", lambda t: explain.top_neurons(tiny(), spoiled(image=0, n=1), "relu1"),
     ValueError, r"top_neurons: x must hold only finite values; image 0"),
    ("top_patches NaN", lambda t: explain.top_patches(tiny(), spoiled(), "relu1", 0, k=2),
     ValueError, r"top_patches: x must hold only finite values; image 1"),
    ("Seed target with NaN",
     lambda t: explain.gradient(tiny(), images(), Seed("fc1", np.array([1.0, np.nan, 0.0]))),
     ValueError, r"seed for layer 'fc1': seed must hold only finite values"),
    ("float seed array with inf",
     lambda t: explain.gradient(tiny(), images(), np.full((3, 3), np.inf, np.float32)),
     ValueError, r"seed for layer 'fc1': seed must hold only finite values\. Received: seed "
                 r"with 9 NaN"),
    ("Seed target of strings",
     lambda t: explain.gradient(tiny(), images(), Seed("fc1", np.array(["a", "b", "c"]))),
     TypeError, r"a seed for layer 'fc1' must be a numeric array\. Received: seed of dtype"),
    ("spearman NaN in a", lambda t: explain.spearman(np.array([1.0, np.nan, 2.0]), np.ones(3)),
     ValueError, r"spearman: a must hold only finite values\. Received: a with 1 NaN"),
    ("spearman inf in b", lambda t: explain.spearman(np.ones(3), np.array([1.0, np.inf, 2.0])),
     ValueError, r"spearman: b must hold only finite values"),
    ("spearman strings", lambda t: explain.spearman(np.array(["a", "b"]), np.ones(2)),
     TypeError, r"spearman: a must be an array of numbers\. Received: a of dtype"),
    ("localization NaN map",
     lambda t: explain.localization(np.full((4, 4), np.nan), np.ones((4, 4), bool)),
     ValueError, r"localization: map must hold only finite values\. Received: map with 16 NaN"),
    ("localization inf in a batch",
     lambda t: explain.localization(spoiled(np.inf)[:, 0], np.ones((8, 8), bool)),
     ValueError, r"localization: map must hold only finite values"),
    ("predict NaN", lambda t: tiny().predict(spoiled()),
     ValueError, r"predict: x must hold only finite values; image 1"),
    ("evaluate NaN", lambda t: evaluate(tiny(), spoiled(), labels()),
     ValueError, r"X must hold only finite values\. Received: X with 1 NaN"),
    ("fit NaN in val", lambda t: run_fit(val=(spoiled(), labels())),
     ValueError, r"val\[0\] must hold only finite values"),
    ("fit loss becomes inf or NaN", lambda t: run_fit(X=np.full((3, 1, 8, 8), 3e38, np.float32)),
     FloatingPointError, r"the loss became (nan|inf) at epoch 1, batch 1 of 2; training "
                         r"stopped\. Try a smaller learning rate"),
    ("fit diverges with a huge learning rate",
     lambda t: diverging_fit(),
     FloatingPointError, r"the loss became (nan|inf) at epoch 1, batch 2 of 3; training "
                         r"stopped\. Try a smaller learning rate"),

    # -- shapes -------------------------------------------------------------------
    ("forward 28x28 into an 8x8 model", lambda t: tiny().forward(images(2, 28)),
     ValueError, r"the model expects a batch of inputs of shape \(N, 1, 8, 8\): its "
                 r"input_shape is \(1, 8, 8\)\. Received: input of shape \[2, 1, 28, 28\]$"),
    ("forward 3 channels", lambda t: tiny().forward(images(2, 8, 3)),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\).* \[2, 3, 8, 8\]"),
    ("forward one image without batch", lambda t: tiny().forward(images(1)[0]),
     ValueError, r"shape \(N, 1, 8, 8\).*for one image use x\[None\]\. Received: input of "
                 r"shape \[1, 8, 8\]"),
    ("predict wrong size", lambda t: tiny().predict(images(2, 12)),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\)"),
    ("gradient wrong size", lambda t: explain.gradient(tiny(), images(2, 28), 0),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\).* \[2, 1, 28, 28\]"),
    ("grad_cam wrong size", lambda t: explain.grad_cam(tiny(), images(2, 16), 0, "relu1"),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\)"),
    ("fit wrong size", lambda t: run_fit(X=images(3, 28)),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\)"),
    ("fit wrong size on two workers", lambda t: run_fit(X=images(3, 28), workers=2),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 8, 8\)"),
    ("shipped model on 32x32 images",
     lambda t: minicnn.pretrained().predict(images(1, 32)),
     ValueError, r"expects a batch of inputs of shape \(N, 1, 28, 28\).* \[1, 1, 32, 32\]"),
    ("Flatten 1-D input", lambda t: Flatten().forward(np.zeros(5, np.float32)),
     ValueError, r"Flatten: input must have a batch dimension"),
    ("relu_backward mismatched shapes",
     lambda t: relu_backward(maps((2, 3)), maps((3, 2))),
     ValueError, r"relu_backward: dout must have the shape of x \[2, 3\]\. Received: dout of "
                 r"shape \[3, 2\]"),
    ("relu_backward broadcastable shapes",
     lambda t: relu_backward(maps((2, 3)), maps((1, 3))),
     ValueError, r"relu_backward: dout must have the shape of x \[2, 3\]"),
    ("relu_backward list", lambda t: relu_backward([1.0, -1.0], maps((2,))),
     TypeError, r"relu_backward: x must be a numpy array\. Received: x of type list"),
    ("relu_backward int dout", lambda t: relu_backward(maps((2,)), np.ones(2, int)),
     TypeError, r"relu_backward: dout must have dtype float32 or float64"),
    ("localization mask of another size",
     lambda t: explain.localization(maps((8, 8)), np.ones((6, 6), bool)),
     ValueError, r"localization: mask must be \(H, W\) = \[8, 8\] or \(N, H, W\) = \[1, 8, 8\]"
                 r".*Received: mask of shape \[6, 6\]"),
    ("localization batch mask of another length",
     lambda t: explain.localization(maps((2, 8, 8)), np.ones((3, 8, 8), bool)),
     ValueError, r"localization: mask must be .*Received: mask of shape \[3, 8, 8\]"),
    ("localization float mask", lambda t: explain.localization(maps(), maps()),
     TypeError, r"localization: mask must be a bool array\. Received: mask of dtype float32"),
    ("bilinear_resize size=8", lambda t: explain.bilinear_resize(maps(), 8),
     TypeError, r"bilinear_resize: size must be a pair of ints \(H, W\), e\.g\. \(8, 8\)\. "
                r"Received: size=8"),
    ("bilinear_resize size=(2.5, 4)", lambda t: explain.bilinear_resize(maps(), (2.5, 4)),
     TypeError, r"bilinear_resize: size must be a pair of ints \(H, W\)\. "
                r"Received: size=\(2\.5, 4\)"),
    ("bilinear_resize size=(0, 4)", lambda t: explain.bilinear_resize(maps(), (0, 4)),
     ValueError, r"bilinear_resize: size must be >= 1\. Received: size=\(0, 4\)"),
    ("bilinear_resize size=(4, -1)", lambda t: explain.bilinear_resize(maps(), (4, -1)),
     ValueError, r"bilinear_resize: size must be >= 1\. Received: size=\(4, -1\)"),
    ("bilinear_resize size=(4,)", lambda t: explain.bilinear_resize(maps(), (4,)),
     TypeError, r"bilinear_resize: size must be a pair of ints"),
    ("bilinear_resize size=None", lambda t: explain.bilinear_resize(maps(), None),
     TypeError, r"bilinear_resize: size must be a pair of ints \(H, W\)\. Received: size=None"),
    ("bilinear_resize int maps",
     lambda t: explain.bilinear_resize(np.ones((1, 2, 2), int), (4, 4)),
     TypeError, r"bilinear_resize: maps must have dtype float32 or float64"),
    ("bilinear_resize 2-D maps", lambda t: explain.bilinear_resize(maps((4, 4)), (8, 8)),
     ValueError, r"bilinear_resize: maps must have 3 dimensions\. "
                 r"Received: maps of shape \[4, 4\]"),
    ("bilinear_resize empty maps", lambda t: explain.bilinear_resize(maps((1, 0, 4)), (8, 8)),
     ValueError, r"bilinear_resize: maps must have h, w >= 1\. "
                 r"Received: maps of shape \[1, 0, 4\]"),
    ("bilinear_resize list", lambda t: explain.bilinear_resize([[[1.0]]], (2, 2)),
     TypeError, r"bilinear_resize: maps must be a numpy array"),
    ("receptive_field y past the output",
     lambda t: explain.receptive_field(tiny(), "relu1", 8, 0),
     ValueError, r"receptive_field: y must be in \[0, 7\]: layer 'relu1' has a 8x8 output for "
                 r"8x8 images\. Received: y=8"),
    ("receptive_field x past the pooled output",
     lambda t: explain.receptive_field(tiny(), "pool1", 0, 4),
     ValueError, r"receptive_field: x must be in \[0, 3\]: layer 'pool1' has a 4x4 output.* "
                 r"Received: x=4"),
    ("receptive_field past image_shape",
     lambda t: explain.receptive_field(Sequential([Conv2D(1, 1, 3)]), "conv1", 0, 6,
                                       image_shape=(8, 8)),
     ValueError, r"receptive_field: x must be in \[0, 5\]: layer 'conv1' has a 6x6 output"),
    ("receptive_field y=-1", lambda t: explain.receptive_field(tiny(), "relu1", -1, 0),
     ValueError, r"receptive_field: y must be >= 0\. Received: y=-1"),
    ("receptive_field y=1.5", lambda t: explain.receptive_field(tiny(), "relu1", 1.5, 0),
     TypeError, r"receptive_field: y must be an int\. Received: y=1\.5"),
    ("receptive_field x='3'", lambda t: explain.receptive_field(tiny(), "relu1", 0, "3"),
     TypeError, r"receptive_field: x must be an int\. Received: x='3'"),
    ("receptive_field image_shape=(0, 8)",
     lambda t: explain.receptive_field(tiny(), "relu1", 0, 0, image_shape=(0, 8)),
     ValueError, r"image_shape must be >= 1\. Received: image_shape=\(0, 8\)"),
    ("receptive_field after Flatten", lambda t: explain.receptive_field(tiny(), "fc1", 0, 0),
     ValueError, r"layer must be a spatial layer .*Received: layer='fc1'"),
    ("receptive_field model=None", lambda t: explain.receptive_field(None, "relu1", 0, 0),
     TypeError, r"receptive_field: model must be a minicnn Sequential\. Received: model of "
                r"type NoneType"),

    # -- Sequential ------------------------------------------------------------------
    ("Sequential(None)", lambda t: Sequential(None),
     TypeError, r"layers must be a list of minicnn layers\. Received: layers of type NoneType"),
    ("Sequential(layer)", lambda t: Sequential(ReLU()),
     TypeError, r"layers must be a list of layers; for a model of one layer write "
                r"Sequential\(\[layer\]\)\. Received: layers=ReLU"),
    ("Sequential('relu')", lambda t: Sequential("relu"),
     TypeError, r"layers must be a list of minicnn layers\. Received: layers of type str"),
    ("same ReLU twice", lambda t: same_relu_twice(),
     ValueError, r"this ReLU object appears twice \(layers\[1\] and layers\[3\]\)"),
    ("same Conv2D twice", lambda t: same_conv_twice(),
     ValueError, r"this Conv2D object appears twice \(layers\[0\] and layers\[2\]\)"),
    ("Sequential with a string layer", lambda t: Sequential([ReLU(), "flatten"]),
     TypeError, r"layers\[1\] must be a minicnn Layer\. Received: layers\[1\] of type str"),
    ("input_shape with a 0", lambda t: Sequential([ReLU()], input_shape=(1, 0, 8)),
     ValueError, r"input_shape must hold sizes >= 1\. Received: input_shape=\(1, 0, 8\)"),
    ("input_shape a string", lambda t: Sequential([ReLU()], input_shape="28x28"),
     TypeError, r"input_shape must be the shape of one input as a tuple of ints.* "
                r"Received: input_shape='28x28'"),
    ("input_shape with a float", lambda t: Sequential([ReLU()], input_shape=(1, 8.0, 8)),
     TypeError, r"input_shape must be the shape of one input.* "
                r"Received: input_shape=\(1, 8\.0, 8\)"),
    ("model[100]", lambda t: tiny()[100],
     IndexError, r"layer position 100 is out of range: the model has 5 layers \(positions 0 "
                 r"to 4, or -1 for the last\); its layers are \['conv1'"),
    ("model[-6]", lambda t: tiny()[-6],
     IndexError, r"layer position -6 is out of range: the model has 5 layers"),
    ("model[1.5]", lambda t: tiny()[1.5],
     TypeError, r"a model is indexed by a layer name \(str\) or a position \(int\)\. "
                r"Received: 1\.5 of type float"),
    ("model[None]", lambda t: tiny()[None],
     TypeError, r"a model is indexed by a layer name \(str\) or a position \(int\)\. "
                r"Received: None"),
    ("model['nope']", lambda t: tiny()["nope"],
     KeyError, r"no layer named 'nope'; the layers are \['conv1', 'relu1'"),
    ("forward until an unknown layer", lambda t: tiny().forward(images(), until="conv9"),
     KeyError, r"no layer named 'conv9'"),
    ("set_relu_mode('guidded')", lambda t: tiny().set_relu_mode("guidded"),
     ValueError, r"mode must be one of \('standard', 'deconvnet', 'guided'\)\. "
                 r"Received: mode='guidded'"),
    ("summary without input_shape", lambda t: Sequential([ReLU()]).summary(),
     ValueError, r"summary needs input_shape=\(C, H, W\)"),

    # -- optimizers and fit ---------------------------------------------------------
    ("fit(model_a, optimizer=Adam(model_b))",
     lambda t: run_fit(model=tiny(), optimizer=Adam(tiny())),
     ValueError, r"optimizer must update the model being trained, but it was made for another "
                 r"model; create it with Adam\(model\)\. Received: "
                 r"optimizer=Adam\(<another model>\)$"),
    ("fit(model_a, optimizer=SGD(model_b))",
     lambda t: run_fit(model=tiny(), optimizer=SGD(tiny())),
     ValueError, r"optimizer must update the model being trained.* SGD\(model\)"),
    ("Adam(model.parameters())", lambda t: Adam(tiny().parameters()),
     TypeError, r"Adam takes the model itself: Adam\(model\), not Adam\(model\.parameters\(\)\)"),
    ("SGD(None)", lambda t: SGD(None),
     TypeError, r"SGD: model must be a minicnn Sequential \(with parameters\(\) and "
                r"gradients\(\)\)\. Received: model of type NoneType"),
    ("Adam lr=-1", lambda t: Adam(tiny(), lr=-1),
     ValueError, r"lr must be >= 0\.0\. Received: lr=-1"),
    ("Adam lr=nan", lambda t: Adam(tiny(), lr=float("nan")),
     ValueError, r"lr must be finite\. Received: lr=nan"),
    ("SGD momentum=1", lambda t: SGD(tiny(), momentum=1),
     ValueError, r"momentum must be in \[0\.0, 1\.0\)\. Received: momentum=1"),
    ("Adam betas=0.9", lambda t: Adam(tiny(), betas=0.9),
     TypeError, r"betas must be a pair of floats\. Received: betas=0\.9"),
    ("fit optimizer=None", lambda t: run_fit(optimizer=None),
     TypeError, r"optimizer must have a step\(\) method.* Received: optimizer=None"),
    ("fit epochs=0", lambda t: run_fit(epochs=0),
     ValueError, r"epochs must be >= 1\. Received: epochs=0"),
    ("fit batch_size=1.5", lambda t: run_fit(batch_size=1.5),
     TypeError, r"batch_size must be an int\. Received: batch_size=1\.5"),
    ("fit workers=0", lambda t: run_fit(workers=0),
     ValueError, r"workers must be >= 1\. Received: workers=0"),
    ("fit int images", lambda t: run_fit(X=np.zeros((3, 1, 8, 8), int)),
     TypeError, r"X must be a float32 or float64 numpy array\. Received: X of type ndarray "
                r"and dtype int64"),
    ("fit float64 images into a float32 model", lambda t: run_fit(X=images().astype(float)),
     TypeError, r"X must have the model's dtype float32\. Received: X of dtype float64"),
    ("fit float labels", lambda t: run_fit(y=np.zeros(3)),
     TypeError, r"y must be a 1-D numpy array of integer labels"),
    ("fit length mismatch", lambda t: run_fit(y=labels(2)),
     ValueError, r"X and y must have the same length\. Received: 3 images and 2 labels"),
    ("fit val=(X,)", lambda t: run_fit(val=(images(),)),
     TypeError, r"val must be a pair \(X_val, y_val\)"),
    ("fit label out of range", lambda t: run_fit(y=np.array([0, 1, 5])),
     ValueError, r"y must hold labels in \[0, 2\] for 3 classes\. Received: label 5"),
    ("fit negative label", lambda t: run_fit(y=np.array([0, -1, 2])),
     ValueError, r"y must hold labels in \[0, 2\] for 3 classes\. Received: label -1"),
    ("evaluate batch_size=0", lambda t: evaluate(tiny(), images(), labels(), batch_size=0),
     ValueError, r"batch_size must be >= 1\. Received: batch_size=0"),
    ("confusion_matrix negative label",
     lambda t: confusion_matrix(np.array([0, -1]), np.array([0, 1]), 3),
     ValueError, r"y_true must hold labels in \[0, 2\] for num_classes=3\. Received: label -1"),
    ("shapes_cnn num_classes=0", lambda t: shapes_cnn(num_classes=0),
     ValueError, r"num_classes must be >= 1\. Received: num_classes=0"),
    ("shapes_cnn size=12", lambda t: shapes_cnn(size=12),
     ValueError, r"size must be a positive multiple of 8\. Received: size=12"),

    # -- layer arguments and inputs ---------------------------------------------------
    ("Conv2D in_channels=0", lambda t: Conv2D(0, 2, 3),
     ValueError, r"in_channels must be >= 1\. Received: in_channels=0"),
    ("Conv2D in_channels=1.5", lambda t: Conv2D(1.5, 2, 3),
     TypeError, r"in_channels must be an int\. Received: in_channels=1\.5"),
    ("Conv2D kernel_size=0", lambda t: Conv2D(1, 2, 0),
     ValueError, r"kernel_size must be >= 1\. Received: kernel_size=\(0, 0\)"),
    ("Conv2D kernel_size=(3, 3, 3)", lambda t: Conv2D(1, 2, (3, 3, 3)),
     TypeError, r"kernel_size must be an int or a pair of ints\. "
                r"Received: kernel_size=\(3, 3, 3\)"),
    ("Conv2D stride=0", lambda t: Conv2D(1, 2, 3, stride=0),
     ValueError, r"stride must be >= 1\. Received: stride=\(0, 0\)"),
    ("Conv2D padding=-1", lambda t: Conv2D(1, 2, 3, padding=-1),
     ValueError, r"padding must be >= 0\. Received: padding=\(-1, -1\)"),
    ("Dense out_features='4'", lambda t: Dense(3, "4"),
     TypeError, r"out_features must be an int\. Received: out_features='4'"),
    ("MaxPool2D(0)", lambda t: MaxPool2D(0),
     ValueError, r"kernel_size must be >= 1\. Received: kernel_size=\(0, 0\)"),
    ("AvgPool2D((2,))", lambda t: AvgPool2D((2,)),
     TypeError, r"kernel_size must be an int or a pair of ints\. Received: kernel_size=\(2,\)"),
    ("Dropout p=1", lambda t: Dropout(1),
     ValueError, r"p must be in \[0, 1\)\. Received: p=1"),
    ("Dropout p='a'", lambda t: Dropout("a"),
     TypeError, r"p must be a number\. Received: p='a'"),
    ("ReLU mode='guided2'", lambda t: ReLU("guided2"),
     ValueError, r"mode must be one of \('standard', 'deconvnet', 'guided'\)\. "
                 r"Received: mode='guided2'"),
    ("ReLU name=''", lambda t: ReLU(name=""),
     TypeError, r"name must be a non-empty string\. Received: name=''"),
    ("Conv2D forward wrong channels", lambda t: Conv2D(3, 2, 3).forward(images()),
     ValueError, r"Conv2D: input must have 3 channels \(dimension 1\)\. Received: input of "
                 r"shape \[3, 1, 8, 8\]"),
    ("Conv2D forward 3-D", lambda t: Conv2D(1, 2, 3).forward(images()[0]),
     ValueError, r"Conv2D: input must have 4 dimensions\. Received: input of shape \[1, 8, 8\]"),
    ("Conv2D forward int images", lambda t: Conv2D(1, 2, 3).forward(np.ones((1, 1, 4, 4), int)),
     TypeError, r"Conv2D: input must have dtype float32 or float64.* Received: input of dtype"),
    ("Conv2D forward float64 into float32",
     lambda t: Conv2D(1, 2, 3).forward(images().astype(np.float64)),
     TypeError, r"Conv2D: input must have dtype float32 \(the parameters' dtype\)"),
    ("Conv2D input smaller than the kernel",
     lambda t: Conv2D(1, 2, 5).forward(images(1, 3)),
     ValueError, r"Conv2D: input plus padding \(0, 0\) must be at least the kernel \(5, 5\)"),
    ("Dense forward wrong features", lambda t: Dense(5, 2).forward(maps((2, 4))),
     ValueError, r"Dense: input must have 5 features \(dimension 1\)\. Received: input of "
                 r"shape \[2, 4\]"),
    ("MaxPool2D input smaller than the window", lambda t: MaxPool2D(4).forward(images(1, 3)),
     ValueError, r"MaxPool2D: input must be at least the pooling window \(4, 4\)"),
    ("ReLU backward before forward", lambda t: ReLU().backward(maps()),
     RuntimeError, r"ReLU: backward\(\) was called before forward\(\)"),
    ("Conv2D backward wrong dout shape",
     lambda t: (lambda c: (c.forward(images()), c.backward(maps((3, 2, 5, 5)))))(Conv2D(1, 2, 3)),
     ValueError, r"Conv2D: dout must have shape \[3, 2, 6, 6\] \(the forward output's shape\)\. "
                 r"Received: dout of shape \[3, 2, 5, 5\]"),

    # -- explanation arguments --------------------------------------------------------
    ("gradient mode='nope'", lambda t: explain.gradient(tiny(), images(), 0, mode="nope"),
     ValueError, r"mode must be one of .* Received: mode='nope'"),
    ("gradient class 10 of 3", lambda t: explain.gradient(tiny(), images(), 10),
     ValueError, r"class target 10 is out of range: the model has 3 classes"),
    ("gradient target=1.5", lambda t: explain.gradient(tiny(), images(), 1.5),
     TypeError, r"target must be an int class.* Received: target=1\.5"),
    ("gradient neuron outside",
     lambda t: explain.gradient(tiny(), images(), Neuron("relu1", 5, 0, 0)),
     ValueError, r"is outside the output of layer 'relu1': channel=5 is not in \[0, 2\)"),
    ("gradient Channel outside",
     lambda t: explain.gradient(tiny(), images(), Channel("relu1", 2)),
     ValueError, r"channel=2 is not in \[0, 2\)"),
    ("gradient unknown layer", lambda t: explain.gradient(tiny(), images(), Neuron("nope", 0)),
     KeyError, r"no layer named 'nope'"),
    ("gradient model=None", lambda t: explain.gradient(None, images(), 0),
     TypeError, r"model must be a minicnn Sequential\. Received: model of type NoneType"),
    ("gradient x list", lambda t: explain.gradient(tiny(), [[0.0]], 0),
     TypeError, r"x must be a numpy array \(N, C, H, W\)\. Received: x of type list"),
    ("gradient x float64", lambda t: explain.gradient(tiny(), images().astype(float), 0),
     TypeError, r"x must have dtype float32 \(the model's dtype\).* "
                r"Received: x of dtype float64"),
    ("gradient empty batch", lambda t: explain.gradient(tiny(), images()[:0], 0),
     ValueError, r"x must be a non-empty batch \(N, C, H, W\).* "
                 r"Received: x of shape \[0, 1, 8, 8\]"),
    ("grad_cam on a dense layer", lambda t: explain.grad_cam(tiny(), images(), 0, "fc1"),
     ValueError, r"grad_cam: layer must have an \(N, K, h, w\) output; pick a conv layer\. "
                r"Received: layer='fc1'"),
    ("smooth_grad noise=-1", lambda t: explain.smooth_grad(tiny(), images(), 0, noise=-1),
     ValueError, r"noise must be a finite number >= 0\. Received: noise=-1"),
    ("smooth_grad n_samples=0", lambda t: explain.smooth_grad(tiny(), images(), 0, n_samples=0),
     ValueError, r"n_samples must be >= 1\. Received: n_samples=0"),
    ("integrated_gradients steps=0",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, steps=0),
     ValueError, r"steps must be >= 1\. Received: steps=0"),
    ("integrated_gradients baseline of another size",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline=maps((3, 1, 4, 4))),
     ValueError, r"baseline must be a number or an array broadcastable to x's \[3, 1, 8, 8\]"),
    ("occlusion patch larger than the image",
     lambda t: explain.occlusion(tiny(), images(), 0, patch=100),
     ValueError, r"patch must fit in the 8x8 image\. Received: patch=100"),
    ("occlusion stride=0", lambda t: explain.occlusion(tiny(), images(), 0, stride=0),
     ValueError, r"stride must be >= 1\. Received: stride=\(0, 0\)"),
    ("top_neurons k=0", lambda t: explain.top_neurons(tiny(), images(1), "relu1", k=0),
     ValueError, r"k must be an int in \[1, 2\]\. Received: k=0"),
    ("top_patches channel=99", lambda t: explain.top_patches(tiny(), images(), "relu1", 99, k=2),
     ValueError, r"channel must be an int in \[0, 1\] for layer 'relu1'\. Received: channel=99"),
    ("randomization_test method='nope'",
     lambda t: explain.randomization_test(tiny(), images(), 0, method="nope"),
     ValueError, r"method must be one of .* Received: method='nope'"),
    ("spearman shapes differ", lambda t: explain.spearman(np.ones(3), np.ones(4)),
     ValueError, r"spearman: a and b must have the same shape\. Received: a of shape \[3\] and "
                 r"b of shape \[4\]"),
    ("signed_map of a batch", lambda t: explain.signed_map(maps((2, 1, 4, 4))),
     ValueError, r"the map must be one image's, of shape \(C, H, W\) or \(H, W\).* Received: "
                 r"map of shape \[2, 1, 4, 4\]"),
    ("clip_percentile percentile=0", lambda t: explain.clip_percentile(maps(), 0),
     ValueError, r"percentile must be in \(0, 100\]\. Received: percentile=0"),

    # -- huge sizes: a clear error, not a MemoryError --------------------------------
    ("Conv2D out_channels=10**12", lambda t: Conv2D(1, 10**12, 3),
     ValueError, r"Conv2D: W would take [\d,]+ GiB, more than the limit of 4 GiB\. "
                 r"Received: W of shape \[1000000000000, 1, 3, 3\]"),
    ("Conv2D kernel_size=10**6", lambda t: Conv2D(1, 2, 10**6),
     ValueError, r"Conv2D: W would take [\d,]+ GiB.* W of shape \[2, 1, 1000000, 1000000\]"),
    ("Dense in_features=10**12", lambda t: Dense(10**12, 2),
     ValueError, r"Dense: W would take [\d,]+ GiB, more than the limit of 4 GiB"),
    ("shapes_cnn size=8 * 10**6", lambda t: shapes_cnn(size=8 * 10**6),
     ValueError, r"Dense: W would take [\d,]+ GiB"),
    ("confusion_matrix num_classes=10**12",
     lambda t: confusion_matrix(labels(), labels(), 10**12),
     ValueError, r"confusion_matrix: the matrix would take [\d,]+ GiB"),
    ("Conv2D padding=10**9 at forward", lambda t: Conv2D(1, 2, 3, padding=10**9).forward(images()),
     ValueError, r"Conv2D: the padded input would take [\d,]+ GiB.* Received: the padded input "
                 r"of shape \[3, 1, 2000000008, 2000000008\]"),
    ("summary of a huge input_shape", lambda t: tiny().summary(input_shape=(10**5, 10**5, 10**5)),
     ValueError, r"summary: an image of input_shape would take [\d,]+ GiB"),
    ("fit workers=10**12", lambda t: run_fit(workers=10**12),
     ValueError, r"workers must be at most 64 \(one thread and one model replica each\)\. "
                 r"Received: workers=1000000000000"),

    # -- overflow: finite inputs whose forward pass is not finite --------------------
    ("predict overflows", lambda t: tiny().predict(huge_image(1)),
     ValueError, r"predict: the model's output is not finite for image 1 \(the forward pass "
                 r"overflowed\): x must hold values in the range the model was trained on\. "
                 r"Received: image 1 with values up to 3e\+38"),
    ("predict overflows in a later batch", lambda t: tiny().predict(huge_image(2), batch_size=2),
     ValueError, r"predict: the model's output is not finite for image 2"),
    ("evaluate overflows", lambda t: evaluate(tiny(), huge_image(1), labels()),
     ValueError, r"evaluate: the model's output is not finite for image 1"),
    ("gradient overflows", lambda t: explain.gradient(tiny(), huge_image(0), 0),
     ValueError, r"explain: the output of layer 'fc1' is not finite for image 0"),
    ("guided_backprop Neuron overflows",
     lambda t: explain.guided_backprop(tiny(), huge_image(1), Neuron("relu1", 0, 1, 1)),
     ValueError, r"explain: the output of layer 'relu1' is not finite for image 1"),
    ("occlusion overflows", lambda t: explain.occlusion(tiny(), huge_image(2), 0, patch=4),
     ValueError, r"explain: the output of layer 'fc1' is not finite for image 2"),

    # -- display helpers -----------------------------------------------------------
    ("signed_map NaN", lambda t: explain.signed_map(np.full((4, 4), np.nan)),
     ValueError, r"map must hold only finite values\. Received: map with 16 NaN"),
    ("abs_max inf", lambda t: explain.abs_max(spoiled(np.inf)[1]),
     ValueError, r"map must hold only finite values\. Received: map with 1 NaN or infinite"),
    ("to_image NaN", lambda t: explain.to_image(spoiled()[1]),
     ValueError, r"map must hold only finite values"),
    ("positive_saliency strings", lambda t: explain.positive_saliency(np.array([["a"]])),
     TypeError, r"the map must be an array of numbers\. Received: map of dtype <U1"),
    ("signed_map percentile=True", lambda t: explain.signed_map(maps((4, 4)), True),
     TypeError, r"percentile must be a number in \(0, 100\]\. Received: percentile=True"),
    ("clip_percentile percentile='99'", lambda t: explain.clip_percentile(maps(), "99"),
     TypeError, r"percentile must be a number in \(0, 100\]\. Received: percentile='99'"),
    ("integrated_gradients baseline=True",
     lambda t: explain.integrated_gradients(tiny(), images(), 0, baseline=True),
     TypeError, r"integrated_gradients: baseline must be None, a number or an array"),
    ("summary input_shape=0", lambda t: tiny().summary(input_shape=0),
     TypeError, r"input_shape must be the shape of one input.* Received: input_shape=0"),
    ("summary input_shape=()", lambda t: tiny().summary(input_shape=()),
     TypeError, r"input_shape must be the shape of one input.* Received: input_shape=\(\)"),

    # -- gradient checking ---------------------------------------------------------
    ("check_layer of a function", lambda t: check_layer(np.tanh, maps()),
     TypeError, r"check_layer: layer must be a minicnn Layer\. Received: layer of type ufunc"),
    ("check_layer x=None", lambda t: check_layer(ReLU(), None),
     TypeError, r"check_layer: x must be an array of numbers\. Received: x of dtype object"),
    ("check_layer empty x", lambda t: check_layer(ReLU(), np.zeros((0, 3))),
     ValueError, r"check_layer: x must hold at least one value \(an empty x checks nothing\)"),
    ("check_layer NaN x", lambda t: check_layer(ReLU(), spoiled()),
     ValueError, r"check_layer: x must hold only finite values"),
    ("check_layer NaN dout",
     lambda t: check_layer(ReLU(), maps(), dout=np.full((2, 4, 4), np.nan)),
     ValueError, r"check_layer: dout must hold only finite values"),
    ("check_layer h=0", lambda t: check_layer(ReLU(), maps(), h=0),
     ValueError, r"check_layer: h must be a finite step > 0, such as 1e-5\. Received: h=0"),
    ("check_layer h=nan", lambda t: check_layer(ReLU(), maps(), h=float("nan")),
     ValueError, r"check_layer: h must be a finite step > 0.* Received: h=nan"),

    # -- file paths ----------------------------------------------------------------
    ("save path=None", lambda t: tiny().save(None),
     TypeError, r"save: path must be a file path \(a non-empty str or pathlib\.Path\)\. "
                r"Received: path=None"),
    ("save path=3", lambda t: tiny().save(3),
     TypeError, r"save: path must be a file path.* Received: path=3"),
    ("save into a missing folder", lambda t: tiny().save(t / "nope" / "m.npz"),
     ValueError, r"save: path must be in an existing folder, but '.*nope' is not one "
                 r"\(create it first\)\. Received: path='.*nope/m\.npz'"),
    ("save onto a folder", lambda t: tiny().save(t),
     ValueError, r"save: path must be a file path, but it is an existing folder"),
    ("save under a file", lambda t: tiny().save(saved(t) / "m.npz"),
     ValueError, r"save: path must be in an existing folder, but '.*model\.npz' is not one"),
    ("load path=None", lambda t: minicnn.load(None),
     TypeError, r"load: path must be a file path.* Received: path=None"),
    ("model.load path=''", lambda t: tiny().load(""),
     TypeError, r"load: path must be a file path.* Received: path=''"),
    ("fit checkpoint=3 (before training)", lambda t: run_fit(checkpoint=3),
     TypeError, r"fit: checkpoint must be a file path.* Received: checkpoint=3"),
    ("fit checkpoint in a missing folder", lambda t: run_fit(checkpoint=t / "no" / "m.npz"),
     ValueError, r"fit: checkpoint must be in an existing folder"),

    # -- model files (the crafted-file checks are in test_io.py) ---------------------
    ("load a missing file", lambda t: minicnn.load(t / "missing.npz"),
     FileNotFoundError, r"no model file at '.*missing\.npz'"),
    ("load a text file", lambda t: minicnn.load(text_file(t)),
     ValueError, NO_PICKLE + r".*notes\.npz' is not a valid \.npz file"),
    ("load a truncated file", lambda t: minicnn.load(truncated(t)),
     ValueError, NO_PICKLE + r".*model\.npz' is not a valid \.npz file"),
    ("load an npz without architecture", lambda t: minicnn.load(no_architecture(t)),
     ValueError, r"weights\.npz' is not a minicnn model file: it has no '__architecture__'"),
    ("load a declared 100000x100000 kernel", lambda t: minicnn.load(crafted_architecture(t)),
     ValueError, r"the architecture declares layer 'conv1' with weights of shape "
                 r"\[2, 1, 100000, 100000\], but the file holds \[2, 1, 3, 3\]"),
    ("model.load another architecture", lambda t: tiny().load(other_model_file(t)),
     ValueError, r"other\.npz' does not match the model: parameter 'conv1\.W' \(shape "
                 r"\[2, 1, 3, 3\]\) is missing from the file"),
]


@pytest.fixture(autouse=True)
def no_hang():
    """A row that runs for a minute has hung: fail it instead of waiting forever."""
    def hung(signum, frame):
        raise TimeoutError("this bad input hung for 60 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("call, error, message",
                         [pytest.param(call, error, message, id=name)
                          for name, call, error, message in CASES])
def test_bad_input_gets_a_clear_error(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)


def test_the_table_covers_every_kind():
    names = [name for name, *_ in CASES]
    assert len(names) == len(set(names))      # pytest ids stay unique
    assert len(CASES) >= 150


# -- edge cases that are not errors, and their right answers -------------------------
def test_flatten_and_a_model_take_an_empty_batch():
    out = Flatten().forward(np.zeros((0, 2, 4, 4), np.float32))
    assert out.shape == (0, 32) and out.dtype == np.float32
    assert tiny().forward(images()[:0]).shape == (0, 3)


def test_a_model_without_dense_layers_takes_other_image_sizes():
    model = Sequential([Conv2D(1, 2, 3, padding=1, rng=0), ReLU(), MaxPool2D(2)],
                       input_shape=(1, 8, 8))
    assert model.forward(images(2, 12)).shape == (2, 2, 6, 6)


def test_layer_errors_pass_unchanged_when_the_image_size_is_right():
    model = Sequential([Flatten(), Dense(5, 2)], input_shape=(1, 8, 8))   # 64 != 5
    with pytest.raises(ValueError, match=r"^Dense\('fc1'\): input must have 5 features"):
        model.forward(images())


@pytest.mark.parametrize("seed", [0, np.int64(7), 2**40])
def test_int_seeds_of_any_int_type_are_repeatable(seed):
    a, b = Conv2D(1, 2, 3, rng=seed), Conv2D(1, 2, 3, rng=int(seed))
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    expected = np.random.default_rng(int(seed)).standard_normal((2, 1, 3, 3)) * np.sqrt(2 / 9)
    np.testing.assert_allclose(a.params["W"], expected.astype(np.float32), rtol=1e-6)


def test_a_generator_is_used_as_given():
    rng = np.random.default_rng(3)
    first = Dense(4, 2, rng=rng).params["W"]
    second = Dense(4, 2, rng=rng).params["W"]        # the stream continues
    assert not np.array_equal(first, second)
    assert Dense(4, 2, rng=None).params["W"].shape == (4, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64", float,
                                   np.dtype("float64")])
def test_accepted_dtypes(dtype):
    layer = Conv2D(1, 2, 3, dtype=dtype)
    assert layer.params["W"].dtype == np.dtype(dtype)
    assert tiny().astype(dtype).dtype == np.dtype(dtype)
    assert Dense(2, 3).astype(dtype).params["b"].dtype == np.dtype(dtype)


def test_a_refused_astype_changes_nothing():
    model = tiny()
    with pytest.raises(TypeError):
        model.astype(np.int32)
    assert model.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.parameters().values())


def test_model_indexing_that_works():
    model = tiny()
    assert model[-1] is model.layers[4] and model[np.int64(1)] is model.layers[1]
    assert model["pool1"] is model.layers[2] and model[1:3] == model.layers[1:3]


def test_receptive_field_inside_the_output_is_unchanged():
    # conv1 3x3 pad 1 then pool 2x2: pool1 neuron (3, 3) reads relu1 rows 6..7, which
    # read image rows 5..8; clipped to the 8x8 image: rows 5..7, bottom exclusive 8.
    assert explain.receptive_field(tiny(), "pool1", 3, 3) == (5, 5, 9, 9)
    assert explain.receptive_field(tiny(), "pool1", 3, 3, image_shape=(8, 8)) == (5, 5, 8, 8)


def test_bilinear_resize_takes_a_list_size():
    m = maps((1, 2, 2))
    np.testing.assert_array_equal(explain.bilinear_resize(m, [2, 2]), m)   # identity
    assert explain.bilinear_resize(m, (4, 6)).shape == (1, 4, 6)


def test_a_finite_baseline_and_fill_still_work():
    ig = explain.integrated_gradients(tiny(), images(), 0, baseline=0.5, steps=4)
    assert ig.shape == (3, 1, 8, 8) and np.isfinite(ig).all()
    occ = explain.occlusion(tiny(), images(), 0, patch=4, stride=4, fill=np.float32(0.5))
    assert occ.shape == (3, 8, 8) and np.isfinite(occ).all()


def test_a_bad_checkpoint_is_refused_before_any_training(tmp_path):
    model = tiny()
    before = {key: value.copy() for key, value in model.parameters().items()}
    with pytest.raises(ValueError, match="checkpoint must be in an existing folder"):
        run_fit(model, checkpoint=tmp_path / "missing" / "model.npz")
    for key, value in model.parameters().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert list(tmp_path.iterdir()) == []          # and nothing was written anywhere
