"""Training speed: minicnn beside PyTorch (CPU) on one Fashion-MNIST epoch.

Both train the same network with the same loop, batch size, optimizer, initial
weights, image order and thread count:

    conv(1->32, 3x3, pad 1) - ReLU - maxpool 2 - conv(32->64, 3x3, pad 1) - ReLU -
    maxpool 2 - flatten - dense(3136->128) - ReLU - dense(128->10),
    batch 64, Adam(lr=1e-3), cross-entropy.

The epoch time counts the training loop only (no evaluation). After each epoch both
models are evaluated on the 10,000 test images. PyTorch is not a dependency of
minicnn: without it the script times minicnn alone. Each side trains in its own
process, in alternating rounds (``--rounds``, see ``_harness.py``); the table gives
the median epoch time over the rounds with its spread, and the record goes to
``benchmarks/results/train-*.json``.

minicnn trains with `minicnn.train.TrainStep`, as `fit` does. With T threads it splits each
batch over T worker threads (data parallelism; one BLAS thread each), while PyTorch
uses T threads inside each operation. `--workers 1` times minicnn's plain loop, whose
matrix products use T BLAS threads and everything else one core.

    python benchmarks/train.py                 # 3 rounds of one epoch per side
    python benchmarks/train.py --epochs 3 --rounds 1   # test accuracy after 3 epochs
    python benchmarks/train.py --threads 1 --limit 6400   # a quick look
    python benchmarks/train.py --workers 1     # minicnn's plain one-worker loop
    python benchmarks/train.py --profile 300   # where minicnn's step goes, layer by layer
    python benchmarks/train.py --burn 1 --limit 3200 --no-torch   # beside a busy process
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="BLAS/PyTorch threads for both (default: all cores, %(default)s)")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N images only (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-torch", action="store_true", help="time minicnn only")
    parser.add_argument("--workers", type=int, default=None,
                        help="minicnn's data-parallel threads (default: --threads); 1 runs "
                             "the plain loop with a multi-threaded BLAS")
    parser.add_argument("--profile", type=int, metavar="STEPS", default=None,
                        help="instead: mean ms per layer over STEPS steps of minicnn's plain "
                             "one-worker loop")
    parser.add_argument("--burn", type=int, default=0, metavar="N",
                        help="keep N other processes busy (a pure-Python loop each) "
                             "during the run: training beside a busy browser, say")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side")
    parser.add_argument("--side", choices=["minicnn", "torch"], help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

# The thread count must be fixed before NumPy (and its BLAS) is imported.
_harness.set_threads(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import SoftmaxCrossEntropy, data, models  # noqa: E402
from minicnn.optim import Adam  # noqa: E402
from minicnn.train import TrainStep, evaluate  # noqa: E402


def minicnn_epoch(step, X, y, order, batch_size) -> float:
    """One epoch of ``step(x, y)`` (forward, loss, backward, Adam), as `fit` runs it;
    returns its wall-clock seconds."""
    start = time.perf_counter()
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        step(X[idx], y[idx])
    return time.perf_counter() - start


def profile(model, optimizer, X, y, steps, batch_size) -> None:
    """Mean forward and backward time of each layer (and the Adam step) per step, with
    the BLAS held to one thread as in `TrainStep`."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        _profile(model, optimizer, X, y, steps, batch_size)


def _profile(model, optimizer, X, y, steps, batch_size) -> None:
    loss_fn = SoftmaxCrossEntropy()
    order = np.random.default_rng(ARGS.seed).permutation(len(X))
    times = {name: [0.0, 0.0] for name in model.names() + ["loss", "adam"]}
    start = time.perf_counter()
    for step in range(steps):
        idx = order[(step * batch_size) % len(X):][:batch_size]
        out, labels = X[idx], y[idx]
        for layer in model.layers:
            t = time.perf_counter()
            out = layer.forward(out, train=True)
            times[layer.name][0] += time.perf_counter() - t
        t = time.perf_counter()
        loss_fn.forward(out, labels)
        grad = loss_fn.backward()
        times["loss"][0] += time.perf_counter() - t
        for i, layer in reversed(list(enumerate(model.layers))):
            t = time.perf_counter()   # conv1 skips dL/dx, as in Sequential.backward
            grad = layer.backward(grad, input_grad=False) if i == 0 else layer.backward(grad)
            times[layer.name][1] += time.perf_counter() - t
        t = time.perf_counter()
        optimizer.step()
        times["adam"][0] += time.perf_counter() - t
    total = time.perf_counter() - start
    print(f"minicnn, mean ms per training step over {steps} steps of batch {batch_size}, "
          f"{ARGS.threads} thread(s)")
    print(f"{'':>9}  {'forward':>7}  {'backward':>8}")
    for name, (forward, backward) in times.items():
        print(f"{name:>9}  {forward / steps * 1e3:>7.2f}  {backward / steps * 1e3:>8.2f}")
    print(f"{'step':>9}  {total / steps * 1e3:>7.2f}")


def torch_setup(model, threads: int, lr: float):
    """The same network in PyTorch, starting from minicnn's initial weights."""
    import torch
    torch.set_num_threads(threads)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    with torch.no_grad():
        for torch_layer, name in ((net[0], "conv1"), (net[3], "conv2")):
            torch_layer.weight.copy_(torch.from_numpy(model[name].params["W"]))
            torch_layer.bias.copy_(torch.from_numpy(model[name].params["b"]))
        for torch_layer, name in ((net[7], "fc1"), (net[9], "fc2")):   # minicnn: x @ W
            torch_layer.weight.copy_(torch.from_numpy(model[name].params["W"].T.copy()))
            torch_layer.bias.copy_(torch.from_numpy(model[name].params["b"]))
    return torch, net, torch.optim.Adam(net.parameters(), lr=lr)


def torch_epoch(torch, net, optimizer, X, y, order, batch_size) -> float:
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    start = time.perf_counter()
    for i in range(0, len(order), batch_size):
        idx = torch.from_numpy(order[i:i + batch_size])
        optimizer.zero_grad()
        loss = loss_fn(net(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def torch_accuracy(torch, net, X, y) -> float:
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(X[i:i + 256]).argmax(1) == y[i:i + 256]).sum())
                      for i in range(0, len(X), 256))
    return correct / len(X)


def run_side(side: str) -> dict:
    """Train one side for ``--epochs`` epochs in this process; its figures."""
    X, y = data.load_fashion_mnist("train")
    X_test, y_test = data.load_fashion_mnist("test")
    if ARGS.limit is not None:
        X, y = X[:ARGS.limit], y[:ARGS.limit]
    model = models.benchmark_cnn(ARGS.seed)   # the initial weights of both sides
    rng = np.random.default_rng(ARGS.seed)
    orders = [rng.permutation(len(X)) for _ in range(ARGS.epochs)]   # the same for both
    times, accuracies = [], []
    if side == "minicnn":
        step = TrainStep(model, Adam(model, lr=ARGS.lr), workers=ARGS.workers or ARGS.threads)
        for order in orders:
            times.append(minicnn_epoch(step, X, y, order, ARGS.batch_size))
            accuracies.append(evaluate(model, X_test, y_test)[1])
        extra = {"workers": step.workers}
    else:
        torch, net, optimizer = torch_setup(model, ARGS.threads, ARGS.lr)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)
        for order in orders:
            times.append(torch_epoch(torch, net, optimizer, tX, ty, order, ARGS.batch_size))
            accuracies.append(torch_accuracy(torch, net, torch.from_numpy(X_test),
                                             torch.from_numpy(y_test)))
        extra = {}
    return {"epoch_seconds": times, "test_accuracy": accuracies, "images": len(X), **extra}


def main() -> None:
    if ARGS.profile is not None:
        X, y = data.load_fashion_mnist("train")
        model = models.benchmark_cnn(ARGS.seed)
        profile(model, Adam(model, lr=ARGS.lr), X, y, ARGS.profile, ARGS.batch_size)
        return
    if ARGS.side:   # one side, in this process: print its figures as JSON
        print(json.dumps({"figures": run_side(ARGS.side),
                          "info": _harness.side_info(ARGS.threads)}))
        return

    sides = ["minicnn"] + (["torch"] if not ARGS.no_torch and _harness.torch_installed()
                           else [])
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(ARGS.burn)]
    try:
        runs = _harness.run_rounds(__file__, sides, ARGS.rounds, sys.argv[1:])
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    first = runs["minicnn"][0]
    print(f"{first['figures']['images']:,} training images, batch {ARGS.batch_size}, "
          f"Adam(lr={ARGS.lr}), {ARGS.threads} thread(s), minicnn workers="
          f"{first['figures']['workers']}, {ARGS.burn} other busy process(es); "
          f"{ARGS.rounds} rounds of {ARGS.epochs} epoch(s) "
          f"per side, each side in its own process")
    summary = {}
    for side in sides:
        epochs = [t for r in runs[side] for t in r["figures"]["epoch_seconds"]]
        summary[f"{side}_epoch_seconds"] = _harness.spread(epochs)
        summary[f"{side}_test_accuracy"] = [r["figures"]["test_accuracy"] for r in runs[side]]
    if "torch" in sides:
        summary["ratio"] = _harness.spread(
            [sum(m["figures"]["epoch_seconds"]) / sum(t["figures"]["epoch_seconds"])
             for m, t in zip(runs["minicnn"], runs["torch"])])
    record = {"benchmark": "train", "command": "python benchmarks/train.py "
              + " ".join(sys.argv[1:]), "rounds": ARGS.rounds, "epochs": ARGS.epochs,
              "threads": ARGS.threads, "batch_size": ARGS.batch_size, "limit": ARGS.limit,
              "busy_processes": ARGS.burn,
              "machine": _harness.machine(),
              "sides": {side: runs[side][0]["info"] for side in sides}, "results": summary}
    path = _harness.write_record("train", record)
    for side in sides:
        accuracy = ", ".join(f"{a:.4f}" for a in summary[f"{side}_test_accuracy"][0])
        print(f"{side:>8}: {_harness.fmt(summary[f'{side}_epoch_seconds'])} s per epoch; "
              f"test accuracy after each epoch (round 1): {accuracy}")
    if "torch" in sides:
        print(f"   ratio: {_harness.fmt(summary['ratio'], digits=2)}x PyTorch's time "
              "(median and spread over rounds)")
    print(f"record: {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
