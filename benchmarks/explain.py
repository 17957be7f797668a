"""Guided backprop through a VGG-16-shaped network at 224x224: minicnn vs. PyTorch + Captum.

    python benchmarks/explain.py               # about a minute on 2 cores
    python benchmarks/explain.py --repeats 9   # steadier medians on a busy machine
    python benchmarks/explain.py --no-torch    # minicnn's figures only
    python benchmarks/explain.py --float64     # both sides in float64: a correctness check

One explanation is ``minicnn.explain.guided_backprop(model, x, target)`` for one
1x3x224x224 float32 image and a class target, through VGG-16's layers (13 conv 3x3
pad 1, 5 max-pools 2x2, dense 25088->4096->4096->1000, ReLUs between) with random
He-normal weights from ``--seed``. The other side is ``captum.attr.GuidedBackprop``
on the same ``torch.nn`` architecture with the same weights, image and target, and
``torch.set_num_threads`` equal to NumPy's OpenBLAS thread count. PyTorch and Captum
are not dependencies: without them only minicnn's figures are printed.

Each side runs in its own worker process, so that its memory is its own. The workers
stay alive and take turns (ABBA order, a short pause between runs), so both see
the same machine load. Time: the median of ``--repeats`` runs after ``--warmup``;
the ratio is given both as the ratio of the medians and as the median of each
round's ratio (the two runs of a round are adjacent in time, which helps when other
jobs come and go); the verdict needs both within the target.
Memory, from ``/proc/self/status`` (Linux):

- **model RSS**: the worker's resident memory after importing its libraries,
  building the model and making the input, before any explanation;
- **peak RSS**: the highest resident memory while explaining (the peak counter is
  reset with ``/proc/self/clear_refs`` just before each run, so building the model
  does not count);
- **extra**: peak RSS minus model RSS, the memory an explanation needs beyond
  holding the model. The target is judged on this one: the model alone is about
  530 MB (the 25088x4096 float32 weight is 411 MB of it) and the libraries' own
  footprints differ (PyTorch's is a few hundred MB);
- **lifetime peak**: the worker's peak over its whole life, building the model
  included (``ru_maxrss`` read before the first reset, and the peaks after it).

Agreement: the relative error ``|a - b| / |b|`` (L2 norms) between the two maps and
their Spearman rank correlation. The weights, image and target are the same, so
only float32 rounding (different summation orders) should separate them.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

try:   # run as a script: benchmarks/ is on sys.path
    import _harness
    from _common import blas_threads
except ImportError:
    from benchmarks import _harness
    from benchmarks._common import blas_threads

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"]
DENSE = [25088, 4096, 4096, 1000]
TIME_TARGET = 1.5      # at most 1.5x Captum's time
MEMORY_TARGET = 1.0    # and at most Captum's memory


# -- memory (Linux) ------------------------------------------------------------------
def status_mb(key: str) -> float | None:
    """``VmRSS`` or ``VmHWM`` (peak RSS) of this process from /proc/self/status, in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def lifetime_peak_mb() -> float:
    """ru_maxrss of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the two models ------------------------------------------------------------------
def build_minicnn(seed: int):
    """VGG-16 as `minicnn.models.vgg16` builds it, He-normal weights from ``seed``."""
    import minicnn.models

    return minicnn.models.vgg16(rng=seed)


def build_torch(weights_path: str):
    """The same architecture in torch.nn, weights read one array at a time from the
    file minicnn's worker saved (dense W is (in, out) in minicnn, (out, in) in torch)."""
    import torch
    from torch import nn

    layers, c = [], 3
    for v in VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    layers.append(nn.Flatten())
    for i, (n_in, n_out) in enumerate(zip(DENSE, DENSE[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(DENSE) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).eval()
    weighted = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with np.load(weights_path) as saved, torch.no_grad():
        names = sorted({k.split(".")[0] for k in saved.files if k.endswith(".W")},
                       key=lambda name: (not name.startswith("conv"), int(name.lstrip("convfc"))))
        for module, name in zip(weighted, names, strict=True):
            w = saved[f"{name}.W"]
            module.weight.copy_(torch.from_numpy(w if w.ndim == 4 else w.T))
            module.bias.copy_(torch.from_numpy(saved[f"{name}.b"]))
    return model


# -- a worker: one side, one process ---------------------------------------------------
def worker(side: str, args) -> None:
    """Build one side, then answer "run" (one timed explanation) and "quit" on stdin."""
    def send(**message):
        print(json.dumps(message), flush=True)

    dtype = np.float64 if args.float64 else np.float32
    x = np.random.default_rng(args.seed + 1).standard_normal((1, 3, 224, 224)).astype(dtype)
    if side == "minicnn":
        from minicnn import explain

        model = build_minicnn(args.seed)
        if args.save_weights:                  # for the torch worker to copy
            model.save(os.path.join(args.workdir, "vgg16.npz"))
        if args.float64:
            model.astype(np.float64)

        def explain_once():
            return explain.guided_backprop(model, x, args.target)
    else:
        import torch
        from captum.attr import GuidedBackprop

        warnings.filterwarnings("ignore", message="Setting backward hooks")
        torch.set_num_threads(args.threads)
        model = build_torch(os.path.join(args.workdir, "vgg16.npz"))
        if args.float64:
            model.double()
        if not args.torch_param_grads:
            model.requires_grad_(False)
        tx = torch.from_numpy(x).requires_grad_()
        guided = GuidedBackprop(model)

        def explain_once():
            return guided.attribute(tx, target=args.target).detach().numpy()

    gc.collect()
    model_rss = status_mb("VmRSS")
    build_peak = lifetime_peak_mb()     # read now: resetting the peak also resets this
    if side == "minicnn":
        version, threads = f"numpy {np.__version__}", blas_threads()
    else:
        import captum
        version = f"torch {torch.__version__} + captum {captum.__version__}"
        threads = torch.get_num_threads()
    send(model_rss=model_rss, version=version, threads=threads)
    peaks, result = [], None
    for command in sys.stdin:
        if command.strip() == "quit":
            break
        gc.collect()
        can_reset = reset_peak()
        start = time.perf_counter()
        result = explain_once()
        seconds = time.perf_counter() - start
        peaks.append(status_mb("VmHWM") if can_reset else None)
        send(seconds=seconds)
    np.save(os.path.join(args.workdir, f"{side}.npy"), result)
    known = [p for p in peaks if p is not None]
    send(peak_rss=max(known) if known else None,
         lifetime_peak=max([build_peak, lifetime_peak_mb(), *known]))


class Worker:
    """The parent's handle on a worker process (JSON lines on its stdout)."""

    def __init__(self, side: str, args):
        command = [sys.executable, os.path.abspath(__file__), "--worker", side,
                   "--seed", str(args.seed), "--target", str(args.target),
                   "--threads", str(args.threads), "--workdir", args.workdir]
        if args.torch_param_grads:
            command.append("--torch-param-grads")
        if args.save_weights:
            command.append("--save-weights")
        if args.float64:
            command.append("--float64")
        self.side = side
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.info = self.receive()
        self.times: list[float] = []

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.side} worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def run(self, timed: bool) -> None:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        seconds = self.receive()["seconds"]
        if timed:
            self.times.append(seconds)

    def finish(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.info.update(self.receive())
        self.proc.wait()
        self.info["median"] = float(np.median(self.times))


# -- the parent: alternate the runs, compare, print --------------------------------------
def torch_available() -> bool:
    """Whether torch and captum can be imported (found without importing them here)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("torch", "captum"))
    except (ImportError, ValueError):
        return False


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per side first")
    parser.add_argument("--seed", type=int, default=0, help="weights; the image uses seed + 1")
    parser.add_argument("--target", type=int, default=0, help="the class explained")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch + Captum")
    parser.add_argument("--torch-param-grads", action="store_true",
                        help="leave requires_grad on torch's parameters (default: off, as "
                             "minicnn's explanations skip parameter gradients)")
    parser.add_argument("--float64", action="store_true",
                        help="both sides in float64: the maps should then agree to ~1e-15 "
                             "(a check of the whole stack); the timings are not the target's")
    parser.add_argument("--worker", choices=["minicnn", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--save-weights", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args)

    args.threads = blas_threads() or os.cpu_count() or 1
    with_torch = not args.no_torch and torch_available()
    if not args.no_torch and not with_torch:
        print("PyTorch and/or Captum are not installed: minicnn's figures only.")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = workdir
        print("building the model(s) ...", flush=True)
        args.save_weights = with_torch
        workers = [Worker("minicnn", args)]
        if with_torch:                          # after minicnn's: it copies its weights
            workers.append(Worker("torch", args))
        for _ in range(args.warmup):
            for w in workers:
                w.run(timed=False)
        for i in range(args.repeats):           # ABBA: neither side always goes first
            for w in (workers if i % 2 == 0 else workers[::-1]):
                time.sleep(0.5)                 # let the other side's threads go idle
                w.run(timed=True)
        for w in workers:
            w.finish()
        maps = {w.side: np.load(os.path.join(workdir, f"{w.side}.npy")) for w in workers}
    load_after = os.getloadavg()
    report(workers, maps, args, load_before, load_after)


def report(workers: list[Worker], maps: dict, args, load_before, load_after) -> None:
    """Print the setup line, the table, the agreement and the verdict."""
    dtype = "float64" if args.float64 else "float32"
    print(f"\nguided backprop, 1x3x224x224 {dtype}, VGG-16 shape, class {args.target}; "
          f"median of {args.repeats} runs after {args.warmup} warm-up")
    print("; ".join(f"{w.side} {w.info['version']}, {w.info['threads']} threads"
                    for w in workers))
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, on "
          f"{os.cpu_count()} CPUs\n")
    print("| side | time s | model RSS MB | peak RSS MB | extra MB | lifetime peak MB |")
    print("|---|---|---|---|---|---|")
    for w in workers:
        info = w.info
        extra = (None if info["peak_rss"] is None or info["model_rss"] is None
                 else info["peak_rss"] - info["model_rss"])
        info["extra"] = extra
        print(f"| {w.side} | {info['median']:.2f} | {fmt(info['model_rss'])} | "
              f"{fmt(info['peak_rss'])} | {fmt(extra)} | {fmt(info['lifetime_peak'])} |")
    mini = workers[0].info
    print(f"\nminicnn runs (s): {' '.join(f'{t:.2f}' for t in workers[0].times)}")
    record = {"benchmark": "explain", "command": "python benchmarks/explain.py "
              + " ".join(sys.argv[1:]), "repeats": args.repeats, "warmup": args.warmup,
              "dtype": dtype, "machine": _harness.machine(),
              "sides": {w.side: {**w.info, "times": w.times} for w in workers}}
    if len(workers) == 1:
        print(f"record: {os.path.relpath(_harness.write_record('explain', record))}")
        return
    ref = workers[1].info
    print(f"captum runs (s):  {' '.join(f'{t:.2f}' for t in workers[1].times)}")
    from minicnn.explain import spearman

    a, b = maps["minicnn"], maps["torch"]
    print(f"\nagreement: relative error |a - b| / |b| = "
          f"{np.linalg.norm(a - b) / np.linalg.norm(b):.2e}, Spearman rank correlation "
          f"{spearman(a, b):.6f}, max |a - b| / max |b| = "
          f"{np.abs(a - b).max() / np.abs(b).max():.2e}")
    if args.float64:
        print("float64: a correctness check; the targets are judged in float32")
        return
    # Paired: each round's two runs are adjacent in time, so their ratio holds up
    # better than the ratio of medians when other jobs come and go during the runs.
    time_ratio = mini["median"] / ref["median"]
    paired = float(np.median(np.array(workers[0].times) / np.array(workers[1].times)))
    print(f"paired minicnn / captum ratio per round: "
          f"{' '.join(f'{t / r:.2f}' for t, r in zip(workers[0].times, workers[1].times))}")
    lines = [f"time:   minicnn / captum = {time_ratio:.2f}x (ratio of medians), {paired:.2f}x "
             f"(median paired ratio); target <= {TIME_TARGET}x for both: "
             + ("met" if max(time_ratio, paired) <= TIME_TARGET else "MISSED")]
    if mini["extra"] is not None and ref["extra"]:
        memory_ratio = mini["extra"] / ref["extra"]
        lines.append(f"memory: minicnn / captum extra = {memory_ratio:.2f}x "
                     f"(target <= {MEMORY_TARGET}x): "
                     + ("met" if memory_ratio <= MEMORY_TARGET else "MISSED"))
    else:
        lines.append("memory: no peak-RSS reset on this system (/proc/self/clear_refs), "
                     "so no extra-memory comparison; see the lifetime peaks")
    print("\n".join(lines))
    record["agreement"] = {"relative_error": float(np.linalg.norm(a - b) / np.linalg.norm(b)),
                           "spearman": float(spearman(a, b))}
    print(f"record: {os.path.relpath(_harness.write_record('explain', record))}")


if __name__ == "__main__":
    main()
