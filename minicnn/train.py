"""Training: `fit` a model with mini-batches, `evaluate` it, count its mistakes.

The whole training loop, one mini-batch at a time::

    scores = model.forward(x_batch, train=True)     # (B, K) class scores
    loss = loss_fn.forward(scores, y_batch)         # mean cross-entropy
    model.backward(loss_fn.backward(), input_grad=False)   # fills every layer's grads
    optimizer.step()                                # updates the parameters

`fit` adds shuffling, a progress bar, per-epoch validation, a `History`, a clear
error when the loss stops being finite, and optional checkpoints. On several cores
it splits each batch over worker threads (`TrainStep`: data parallelism).
"""

from __future__ import annotations

import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .layers._threads import one_blas_thread, one_thread
from .losses import SoftmaxCrossEntropy
from .sequential import Sequential
from .validation import (
    as_generator,
    check_int,
    check_output_path,
    check_overflow,
    check_size,
)


@dataclass
class History:
    """Per-epoch results of `fit`: one entry per epoch in each list.

    ``loss`` and ``accuracy`` are the means over the epoch's training batches
    (computed as the model trained, with ``train=True``); ``val_loss`` and
    ``val_accuracy`` are measured on ``val`` after each epoch (empty without ``val``).
    ``seconds`` is each epoch's wall-clock time; it is not compared by ``==``.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list, compare=False)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def plot(self, path=None):
        """Draw loss and accuracy per epoch (training and validation), side by side.

        Returns the matplotlib Figure; also saves it (e.g. as PNG) when ``path`` is given.
        """
        import matplotlib.pyplot as plt  # lazily: training never needs matplotlib

        epochs = np.arange(1, self.epochs + 1)
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, key, title in ((ax_loss, "loss", "Loss (cross-entropy)"),
                               (ax_acc, "accuracy", "Accuracy")):
            ax.plot(epochs, getattr(self, key), "o-", label="training")
            if getattr(self, f"val_{key}"):
                ax.plot(epochs, getattr(self, f"val_{key}"), "s--", label="validation")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_xticks(epochs)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig


def _progress_bar():
    """tqdm's widget in Jupyter when ipywidgets is installed, else its text bar (which
    works in a terminal and in Jupyter alike; tqdm.auto would warn without ipywidgets)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm


class TrainStep:
    """One step of mini-batch training: the lecture's loop, optionally on several cores.

    ``step(x, y)`` does, for one mini-batch::

        scores = model.forward(x, train=True)
        loss = loss_fn.forward(scores, y)
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()

    and returns ``(loss, scores)``. With ``workers=k > 1`` it uses *data parallelism*:
    the batch is cut into k parts, and k threads push the parts through k replicas
    of the model at the same time. A replica shares the model's parameter arrays but
    has its own caches and gradients. Since the loss is a mean over the batch, the
    model's gradient is the replicas' gradients averaged with weights
    ``part size / batch size``: the same gradient as with one worker, up to the order
    of float additions. NumPy releases Python's GIL inside its loops, so the threads
    do run at once.

    During a step the BLAS library (the matrix products) is held to one thread per
    worker (with threadpoolctl), also with ``workers=1``; outside the step it keeps its
    own thread count. OpenBLAS's threads busy-wait for work between products: when
    another process (a browser, a second notebook) keeps a core busy, a multi-threaded
    BLAS competes with it and with the step's own element-wise work, and a step takes
    several times longer (measured in docs/training.md). With ``workers=1`` the
    convolutions still use every core, through minicnn's own kernel threads
    (``layers/_threads.py``), which sleep rather than spin when idle; with several
    workers each replica's kernels run on its worker's thread only.
    """

    def __init__(self, model: Sequential, optimizer, workers: int = 1):
        self.model = model
        self.optimizer = optimizer
        self.workers = check_workers(workers)
        self.replicas, self._pool = [], None
        if self.workers > 1:
            self.replicas = [_replica(model) for _ in range(self.workers)]
            # Kept for all steps (a new pool would start new threads every step); its
            # threads end when this TrainStep is garbage-collected.
            self._pool = ThreadPoolExecutor(self.workers - 1)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Train on one batch; returns its mean loss and its scores. A non-finite loss
        raises FloatingPointError before any parameter changes."""
        self.model.zero_grad()
        with one_blas_thread():                 # one BLAS thread per worker
            if self.workers == 1 or len(x) < 2:
                loss, scores = _forward_backward(self.model, x, y)
            else:
                with one_thread():              # the workers already use every core
                    loss, scores = self._parallel(x, y)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss}")
        self.optimizer.step()
        return loss, scores

    def _parallel(self, x, y):
        bounds = np.linspace(0, len(x), min(self.workers, len(x)) + 1).astype(int)
        parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        jobs = [self._pool.submit(_forward_backward, replica, x[part], y[part])
                for replica, part in zip(self.replicas[1:], parts[1:])]
        results = [_forward_backward(self.replicas[0], x[parts[0]], y[parts[0]])]   # part 0
        results += [job.result() for job in jobs]
        weights = [(part.stop - part.start) / len(x) for part in parts]
        loss = sum(w * part_loss for w, (part_loss, _) in zip(weights, results))
        for i, layer in enumerate(self.model.layers):
            for key, param in layer.params.items():
                grad = sum(param.dtype.type(w) * replica.layers[i].grads[key]
                           for w, replica in zip(weights, self.replicas))
                layer.grads[key] = grad
        return loss, np.concatenate([scores for _, scores in results])


def _replica(model: Sequential) -> Sequential:
    """A copy of ``model`` that shares its parameter arrays (so the optimizer's updates
    reach it) but has its own forward caches and gradients. A Dropout layer gets its
    own random generator, seeded from the model's: two threads never share one."""
    layers = []
    for layer in model.layers:
        twin = copy.copy(layer)
        twin.cache, twin.grads = None, dict(layer.grads)
        if isinstance(getattr(layer, "rng", None), np.random.Generator):
            twin.rng = np.random.default_rng(layer.rng.integers(2**62))
        layers.append(twin)
    return Sequential(layers, input_shape=model.input_shape)


def _forward_backward(model: Sequential, x: np.ndarray, y: np.ndarray):
    """Forward, loss and backward (parameter gradients only) on one batch; returns
    ``(loss, scores)``. A non-finite loss is returned without running backward."""
    loss_fn = SoftmaxCrossEntropy()
    with np.errstate(over="ignore", invalid="ignore"):   # the caller checks the loss
        scores = model.forward(x, train=True)
        loss = loss_fn.forward(scores, y)
    if np.isfinite(loss):
        model.backward(loss_fn.backward(), input_grad=False)   # no dL/dx needed
    return loss, scores


MAX_WORKERS = 64


def check_workers(workers) -> int:
    """A number of worker threads: an int in [1, MAX_WORKERS] (each has a model replica)."""
    workers = check_int(workers, "workers")
    if workers > MAX_WORKERS:
        raise ValueError(f"workers must be at most {MAX_WORKERS} (one thread and one model "
                         f"replica each). Received: workers={workers}")
    return workers


def default_workers() -> int:
    """Threads `fit` trains with: the CPU cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                   # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def fit(model: Sequential, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
        optimizer, val: tuple[np.ndarray, np.ndarray] | None = None, rng=None,
        progress: bool = True, checkpoint=None, workers: int | None = None) -> History:
    """Train ``model`` on ``(X, y)`` with mini-batches; returns the `History`.

    Parameters
    ----------
    model : Sequential
        Its last layer must output class scores ``(N, K)``.
    X : (N, C, H, W) float array, in the model's dtype
    y : (N,) int array of class labels in ``[0, K)``
    epochs : int >= 1
        Passes over the whole training set.
    batch_size : int >= 1
        Images per gradient step; the last batch of an epoch may be smaller.
    optimizer : e.g. ``minicnn.optim.Adam(model, lr=1e-3)``
        Anything with a ``step()`` that reads ``model.gradients()``.
    val : (X_val, y_val), optional
        Evaluated after every epoch (``history.val_loss``, ``history.val_accuracy``).
    rng : np.random.Generator or int, optional
        Source of the order in which images are visited each epoch. A seed makes
        the run repeatable (together with the model's initial weights).
    progress : bool
        Show a progress bar (tqdm; works in a terminal and in Jupyter) with the
        running loss and accuracy.
    checkpoint : path, optional
        Save the model there after every epoch (atomically: a crash never leaves
        half a file).
    workers : int, optional
        Threads that share each batch (see `TrainStep`); default `default_workers()`,
        the CPU cores available (at most 4). ``workers=1`` runs the plain loop. While
        a parallel step runs, the BLAS library is held to one thread per worker.
        Runs with the same seeds and the same ``workers`` are repeatable.

    Raises
    ------
    FloatingPointError
        When a batch's loss is NaN or infinite; the message names the epoch and batch.
    """
    _check_data(model, X, y, "X", "y")
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError("optimizer must have a step() method, e.g. "
                        f"minicnn.optim.Adam(model). Received: optimizer={optimizer!r}")
    if getattr(optimizer, "model", model) is not model:
        raise ValueError(f"optimizer must update the model being trained, but it was made "
                         f"for another model; create it with {type(optimizer).__name__}(model)."
                         f" Received: optimizer={type(optimizer).__name__}(<another model>)")
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise TypeError(f"val must be a pair (X_val, y_val). Received: val of type "
                            f"{type(val).__name__}")
        _check_data(model, val[0], val[1], "val[0]", "val[1]")
    rng = as_generator(rng, where="fit")
    workers = default_workers() if workers is None else check_workers(workers)
    if checkpoint is not None:     # checked now, not after the first epoch's training
        checkpoint = check_output_path(checkpoint, "checkpoint", "fit")

    step = TrainStep(model, optimizer, workers)
    history = History()
    n = len(X)
    n_batches = -(-n // batch_size)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        total_loss, correct, seen = 0.0, 0, 0
        with _progress_bar()(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                  disable=not progress, leave=True) as bar:
            for batch in range(1, n_batches + 1):
                idx = order[(batch - 1) * batch_size:batch * batch_size]
                xb, yb = X[idx], y[idx]
                try:
                    loss, scores = step(xb, yb)
                except FloatingPointError as error:
                    raise FloatingPointError(
                        f"{error} at epoch {epoch}, batch {batch} of {n_batches}; training "
                        f"stopped. Try a smaller learning rate (the optimizer's lr) or "
                        f"check the data") from None
                total_loss += loss * len(idx)
                correct += int((scores.argmax(axis=1) == yb).sum())
                seen += len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                                refresh=False)
            history.loss.append(total_loss / seen)
            history.accuracy.append(correct / seen)
            if val is not None:
                val_loss, val_acc = evaluate(model, val[0], val[1])
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_acc)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                                val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.4f}")
        history.seconds.append(time.perf_counter() - start)
        if checkpoint is not None:
            model.save(checkpoint)
    return history


def evaluate(model: Sequential, X: np.ndarray, y: np.ndarray,
             batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(X, y)``, in batches,
    with ``train=False`` (dropout off). Returns ``(loss, accuracy)`` as floats."""
    _check_data(model, X, y, "X", "y")
    batch_size = check_int(batch_size, "batch_size")
    loss_fn = SoftmaxCrossEntropy()
    total_loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        scores = model.forward(X[i:i + batch_size], train=False)
        check_overflow(scores, X[i:i + batch_size], "evaluate", "the model's output", i)
        total_loss += loss_fn.forward(scores, y[i:i + batch_size]) * len(scores)
        correct += int((scores.argmax(axis=1) == y[i:i + batch_size]).sum())
    return total_loss / len(X), correct / len(X)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Count predictions per (true class, predicted class).

    Returns an int64 ``(num_classes, num_classes)`` array ``C`` with ``C[i, j]`` = the
    number of images of class ``i`` predicted as class ``j``: rows are the truth, the
    diagonal holds the correct predictions (as in scikit-learn).
    """
    num_classes = check_int(num_classes, "num_classes")
    check_size((num_classes, num_classes), np.int64, "the matrix", "confusion_matrix")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name} must be a 1-D array of integer labels. Received: "
                            f"{name} of shape {list(labels.shape)} and dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)][0]
            raise ValueError(f"{name} must hold labels in [0, {num_classes - 1}] for "
                             f"num_classes={num_classes}. Received: label {bad}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length. Received: "
                         f"{len(y_true)} and {len(y_pred)}")
    flat = y_true.astype(np.int64) * num_classes + y_pred
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


# -- argument checks -------------------------------------------------------------------

def _check_data(model, X, y, x_name: str, y_name: str) -> None:
    """Images and labels must be arrays of matching length, finite, in the model's dtype."""
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a minicnn Sequential. Received: "
                        f"model of type {type(model).__name__}")
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        raise TypeError(f"{x_name} must be a float32 or float64 numpy array. Received: "
                        f"{x_name} of type {type(X).__name__}"
                        + (f" and dtype {X.dtype}" if isinstance(X, np.ndarray) else ""))
    if X.dtype != model.dtype:
        raise TypeError(f"{x_name} must have the model's dtype {model.dtype}. Received: "
                        f"{x_name} of dtype {X.dtype}; convert it with "
                        f"{x_name}.astype(np.{model.dtype})")
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"{x_name} must be a non-empty batch (N, ...). Received: "
                         f"{x_name} of shape {list(X.shape)}")
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise TypeError(f"{y_name} must be a 1-D numpy array of integer labels. Received: "
                        f"{y_name} of type {type(y).__name__}"
                        + (f", shape {list(y.shape)} and dtype {y.dtype}"
                           if isinstance(y, np.ndarray) else ""))
    if len(X) != len(y):
        raise ValueError(f"{x_name} and {y_name} must have the same length. Received: "
                         f"{len(X)} images and {len(y)} labels")
    if not np.isfinite(X).all():
        raise ValueError(f"{x_name} must hold only finite values. Received: {x_name} with "
                         f"{int((~np.isfinite(X)).sum())} NaN or infinite entries")
