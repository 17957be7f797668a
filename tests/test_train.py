"""Tests for minicnn.train (fit, evaluate, confusion_matrix, History) and the
``python -m minicnn train`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import Conv2D, Dense, Dropout, Flatten, ReLU, Sequential, SoftmaxCrossEntropy, models
from minicnn.data import make_shapes
from minicnn.optim import SGD, Adam
from minicnn.train import History, TrainStep, confusion_matrix, evaluate, fit

REPO = Path(__file__).resolve().parents[1]


def tiny_problem(n=96, seed=0):
    """Two classes of 1x8x8 images: a bright left half or a bright right half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    X[y == 0, :, :, :4] += 1
    X[y == 1, :, :, 4:] += 1
    return X, y


def tiny_model(seed=0):
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=seed), ReLU(), Flatten(),
                       Dense(4 * 8 * 8, 2, rng=seed)], input_shape=(1, 8, 8))


# ---------------------------------------------------------------- fit
def test_fit_reduces_the_loss():
    X, y = tiny_problem()
    model = tiny_model()
    history = fit(model, X, y, epochs=5, batch_size=16, optimizer=SGD(model, lr=0.05),
                  rng=0, progress=False)
    assert isinstance(history, History) and history.epochs == 5
    assert len(history.accuracy) == len(history.seconds) == 5
    assert history.val_loss == [] and history.val_accuracy == []
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.accuracy[-1] > 0.9


def test_fit_reaches_high_accuracy_on_shapes():
    """A small CNN learns the synthetic shapes (4 classes) in ~5 s of CPU time."""
    X, y, _ = make_shapes(3000, seed=0)
    X_val, y_val, _ = make_shapes(1000, seed=1)
    model = models.shapes_cnn(0)
    history = fit(model, X, y, epochs=4, batch_size=32, optimizer=Adam(model, lr=3e-3),
                  val=(X_val, y_val), rng=0, progress=False)
    assert len(history.val_accuracy) == 4
    assert history.val_accuracy[-1] >= 0.90, history
    assert evaluate(model, X_val, y_val)[1] == pytest.approx(history.val_accuracy[-1])


def test_fit_same_seed_same_history():
    X, y = tiny_problem()

    def run(seed):
        model = tiny_model(seed)
        return fit(model, X, y, epochs=2, batch_size=16, optimizer=Adam(model),
                   val=(X, y), rng=seed, progress=False), model

    (h1, m1), (h2, m2), (h3, _) = run(3), run(3), run(4)
    assert h1 == h2   # every loss and accuracy equal (epoch times are not compared)
    for key, value in m1.parameters().items():
        np.testing.assert_array_equal(value, m2.parameters()[key])
    assert h1.loss != h3.loss


# ---------------------------------------------------------- TrainStep (data parallelism)
def dropout_model(seed=0):
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=seed), ReLU(), Flatten(),
                       Dropout(0.3, rng=seed), Dense(4 * 8 * 8, 2, rng=seed)])


@pytest.mark.parametrize("workers, batch", [(2, 7), (3, 16), (4, 3), (3, 1)])
def test_parallel_step_gives_the_one_worker_step(workers, batch):
    """Splitting a batch over workers changes nothing but the order of float sums:
    the same loss, scores and updated weights as the plain loop (float64)."""
    X, y = tiny_problem()
    X = X.astype(np.float64)
    plain, parallel = tiny_model().astype(np.float64), tiny_model().astype(np.float64)
    plain_optimizer, loss_fn = Adam(plain, lr=0.01), SoftmaxCrossEntropy()
    step = TrainStep(parallel, Adam(parallel, lr=0.01), workers=workers)
    for start in (0, batch, 2 * batch):                   # three steps
        xb, yb = X[start:start + batch], y[start:start + batch]
        scores1 = plain.forward(xb, train=True)           # the lecture's loop, written out
        loss1 = loss_fn.forward(scores1, yb)
        plain.backward(loss_fn.backward())
        plain_optimizer.step()
        loss2, scores2 = step(xb, yb)
        assert loss2 == pytest.approx(loss1, rel=1e-12)
        np.testing.assert_allclose(scores2, scores1, rtol=1e-12, atol=1e-12)
    for key, value in plain.parameters().items():
        np.testing.assert_allclose(parallel.parameters()[key], value, rtol=1e-10,
                                   atol=1e-12, err_msg=key)
        assert not np.array_equal(value, tiny_model().astype(np.float64).parameters()[key])


def test_parallel_step_restores_the_blas_threads_and_stops_on_nan():
    from threadpoolctl import threadpool_info

    X, y = tiny_problem()
    model = tiny_model()
    before = [lib["num_threads"] for lib in threadpool_info()]
    step = TrainStep(model, SGD(model, lr=0.1), workers=2)
    step(X[:16], y[:16])
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    weights = {key: value.copy() for key, value in model.parameters().items()}
    X[20, 0, 3, 3] = np.nan                                  # in the second worker's part
    with pytest.raises(FloatingPointError, match="the loss became nan"):
        step(X[16:32], y[16:32])
    for key, value in model.parameters().items():           # no update from that batch
        np.testing.assert_array_equal(value, weights[key])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_step_runs_the_blas_on_one_thread_per_worker(workers):
    """Also the plain loop: a multi-threaded BLAS falls behind when another process
    keeps a core busy. Outside the step the BLAS keeps its own thread count."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []

    class Spy(ReLU):
        def forward(self, x, train=False):
            seen.append([lib["num_threads"] for lib in threadpool_info()
                         if lib["user_api"] == "blas"])
            return super().forward(x, train)

    X, y = tiny_problem()
    model = tiny_model()
    model = Sequential([*model.layers[:1], Spy(), *model.layers[1:]],
                       input_shape=model.input_shape)
    with threadpool_limits(limits=2, user_api="blas"):
        before = [lib["num_threads"] for lib in threadpool_info()]
        TrainStep(model, SGD(model, lr=0.1), workers=workers)(X[:16], y[:16])
        assert [lib["num_threads"] for lib in threadpool_info()] == before
    assert len(seen) == workers and all(counts and set(counts) == {1} for counts in seen)


def test_fit_with_workers_is_repeatable_also_with_dropout():
    X, y = tiny_problem()

    def run(make, workers):
        model = make(3)
        history = fit(model, X, y, epochs=2, batch_size=16, optimizer=Adam(model), rng=3,
                      progress=False, workers=workers)
        return history, model.parameters()

    for make in (tiny_model, dropout_model):
        (h1, p1), (h2, p2) = run(make, 2), run(make, 2)
        assert h1 == h2 and h1.loss[-1] < h1.loss[0]
        for key in p1:
            np.testing.assert_array_equal(p1[key], p2[key])
    h_plain, _ = run(tiny_model, 1)
    h_parallel, _ = run(tiny_model, 2)
    np.testing.assert_allclose(h_parallel.loss, h_plain.loss, rtol=1e-4)


def test_fit_shuffles_with_a_generator_too():
    X, y = tiny_problem()
    model = tiny_model()
    history = fit(model, X, y, epochs=1, batch_size=7, optimizer=Adam(model),
                  rng=np.random.default_rng(1), progress=False)
    assert history.epochs == 1   # 96 images, batches of 7: the last batch has 5


def test_fit_stops_on_a_non_finite_loss():
    X, y = tiny_problem()
    model = tiny_model()
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, batch \d+ of 6") as info:
        fit(model, X, y, epochs=3, batch_size=16, optimizer=SGD(model, lr=1e12),
            rng=0, progress=False)
    assert "learning rate" in str(info.value)


def test_fit_rejects_nan_images():
    X, y = tiny_problem()
    X[5, 0, 2, 2] = np.nan
    model = tiny_model()
    with pytest.raises(ValueError, match="X must hold only finite values.*1 NaN"):
        fit(model, X, y, epochs=1, batch_size=16, optimizer=SGD(model), progress=False)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1. Received: epochs=0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an int. Received: epochs=2.5"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1. Received: batch_size=0"),
    ({"optimizer": "adam"}, TypeError, "optimizer must have a step"),
    ({"val": [1, 2, 3]}, TypeError, "val must be a pair"),
    ({"workers": 0}, ValueError, "workers must be >= 1. Received: workers=0"),
    ({"workers": "2"}, TypeError, "workers must be an int. Received: workers='2'"),
])
def test_fit_argument_errors_name_the_argument(kwargs, error, message):
    X, y = tiny_problem()
    model = tiny_model()
    args = {"epochs": 1, "batch_size": 8, "optimizer": SGD(model), "progress": False}
    with pytest.raises(error, match=message.replace(".", r"\.").replace("(", r"\(")):
        fit(model, X, y, **{**args, **kwargs})


def test_fit_data_errors():
    X, y = tiny_problem()
    model = tiny_model()
    opt = SGD(model)
    with pytest.raises(ValueError, match="same length. Received: 96 images and 95 labels"):
        fit(model, X, y[:95], epochs=1, batch_size=8, optimizer=opt, progress=False)
    with pytest.raises(TypeError, match="model's dtype float32.*float64"):
        fit(model, X.astype(np.float64), y, epochs=1, batch_size=8, optimizer=opt)
    with pytest.raises(TypeError, match="integer labels"):
        fit(model, X, y.astype(np.float32), epochs=1, batch_size=8, optimizer=opt)
    with pytest.raises(TypeError, match="model must be a minicnn Sequential"):
        fit(object(), X, y, epochs=1, batch_size=8, optimizer=opt)


def test_checkpoint_is_written_each_epoch_and_loads(tmp_path):
    X, y = tiny_problem()
    model = tiny_model()
    path = tmp_path / "ckpt.npz"
    fit(model, X, y, epochs=2, batch_size=16, optimizer=Adam(model), rng=0,
        progress=False, checkpoint=path)
    loaded = minicnn.load(path)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]   # no temporary files left


def test_progress_bar_shows_loss_and_accuracy(capsys):
    X, y = tiny_problem()
    model = tiny_model()
    fit(model, X, y, epochs=1, batch_size=16, optimizer=SGD(model), val=(X, y), rng=0)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err and "val_acc=" in err


def test_history_plot_writes_a_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    history = History(loss=[1.0, 0.5, 0.3], accuracy=[0.5, 0.8, 0.9],
                      val_loss=[1.1, 0.6, 0.4], val_accuracy=[0.45, 0.75, 0.85])
    path = tmp_path / "history.png"
    fig = history.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    plt.close(fig)


# ---------------------------------------------------------------- evaluate, confusion_matrix
def test_evaluate_on_hand_computed_scores():
    # Flatten passes (N, 3) scores through unchanged, so the scores are the inputs.
    model = Sequential([Flatten()])
    scores = np.array([[0, 0, 0], [2, 0, 0], [0, 0, 5]], dtype=np.float32)
    y = np.array([0, 1, 2])
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(3), y]))
    for batch_size in (1, 2, 256):
        loss, acc = evaluate(model, scores, y, batch_size=batch_size)
        assert loss == pytest.approx(expected, rel=1e-6)
        assert acc == pytest.approx(2 / 3)   # row 0 ties (argmax picks class 0), row 1 is wrong
    with pytest.raises(ValueError, match="batch_size must be >= 1. Received: batch_size=0"):
        evaluate(model, scores, y, batch_size=0)


def test_confusion_matrix_by_hand():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=4)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0],
                                       [0, 1, 0, 0],
                                       [1, 0, 2, 0],
                                       [0, 0, 0, 0]])
    assert cm.sum() == 6 and np.trace(cm) == 4


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match=r"y_pred must hold labels in \[0, 2\].*label 3"):
        confusion_matrix([0, 1], [0, 3], num_classes=3)
    with pytest.raises(ValueError, match="same length. Received: 2 and 3"):
        confusion_matrix([0, 1], [0, 1, 1], num_classes=3)
    with pytest.raises(TypeError, match="y_true must be a 1-D array of integer labels"):
        confusion_matrix([0.5, 1.0], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="num_classes=0"):
        confusion_matrix([0], [0], num_classes=0)


# ---------------------------------------------------------------- command line
def run_cli(*args, cwd=None):
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "minicnn", "train", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("--dataset", "--epochs", "--out", "--seed", "--batch-size", "--lr", "--limit",
                 "--workers"):
        assert flag in result.stdout


def test_cli_tiny_training_run(tmp_path):
    out = tmp_path / "model.npz"
    result = run_cli("--dataset", "shapes", "--epochs", "1", "--limit", "200", "--val", "100",
                     "--out", str(out), "--plot", str(tmp_path / "h.png"), "--quiet",
                     "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout
    model = minicnn.load(out)
    assert len([layer for layer in model if isinstance(layer, Conv2D)]) == 3
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["train_images"] == 200 and record["seed"] == 0
    assert record["val_images"] == 100 and len(record["history"]["val_accuracy"]) == 1
    assert record["command"].startswith("python -m minicnn train --dataset shapes --epochs 1")
    assert record["command"].endswith("--workers 2 --limit 200 --val 100")
    assert record["workers"] == 2 and "2 worker thread(s)" in result.stdout
    assert record["kernel_threads"] == 1        # each worker's convolutions on its thread
    assert 0 <= record["test_accuracy"] <= 1
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist", "--epochs", "1"], "invalid choice: 'mnist'"),
    (["--dataset", "shapes", "--epochs", "0"], "--epochs must be >= 1. Received: --epochs 0"),
    (["--dataset", "shapes", "--epochs", "two"], "argument --epochs: invalid int value"),
    (["--dataset", "shapes", "--epochs", "1", "--lr", "-1"], "--lr must be a positive number"),
    (["--dataset", "shapes", "--epochs", "1", "--limit", "0"], "--limit must be >= 1"),
    (["--dataset", "shapes", "--epochs", "1", "--workers", "0"], "--workers must be >= 1"),
    (["--dataset", "shapes", "--epochs", "1", "--val", "8000"], "--val must be smaller than"),
    (["--epochs", "1"], "the following arguments are required: --dataset"),
])
def test_cli_bad_arguments_give_one_line_and_status_2(tmp_path, args, message):
    result = run_cli(*args, *([] if "--out" in args else ["--out", str(tmp_path / "m.npz")]))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_cli_rejects_an_out_path_that_is_not_npz(tmp_path):
    result = run_cli("--dataset", "shapes", "--epochs", "1", "--out", str(tmp_path / "m.pt"))
    assert result.returncode == 2
    expected = f"error: --out must be a .npz file. Received: --out {tmp_path / 'm.pt'}"
    assert result.stderr.strip() == expected
