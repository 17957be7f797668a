"""Run each side of a benchmark in its own process, in alternating rounds, and keep a record.

Why separate processes: after a matrix product, OpenBLAS's threads (and PyTorch's
OpenMP threads) keep spinning for a while. In one process, whichever library runs
next shares the cores with the other's spinning threads and is slowed. So each side
(minicnn, PyTorch, ...) runs alone in a fresh interpreter, which prints one JSON
line of figures and exits; the rounds alternate the order (A B, B A, A B, ...) so
neither side always runs first on a warm or cold machine.

This module imports no numerical library: the parent process only starts the
sides, collects their figures and writes the record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent


def run_rounds(script: str, sides: list[str], rounds: int, args: list[str],
               env: dict | None = None) -> dict[str, list[dict]]:
    """Run ``python script --side S *args`` for every side, ``rounds`` times.

    Round r runs the sides in order when r is even and in reverse when it is odd.
    Returns ``{side: [figures of round 0, round 1, ...]}``, the figures being the
    JSON object each run printed on its last line of output.
    """
    figures: dict[str, list[dict]] = {side: [] for side in sides}
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            command = [sys.executable, script, "--side", side, *args]
            proc = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, **(env or {})})
            if proc.returncode != 0:
                sys.exit(f"{side} run failed (exit {proc.returncode}):\n{proc.stderr}")
            figures[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  round {r + 1}/{rounds}: {side} done", file=sys.stderr, flush=True)
            time.sleep(1.0)   # let the finished side's threads and caches go quiet
    return figures


def add_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """The options every side-by-side benchmark takes (``--side`` is for its own use)."""
    parser.add_argument("--rounds", type=int, default=3, help="processes per side")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed steps per shape")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="BLAS / PyTorch threads for both sides (default: %(default)s)")
    parser.add_argument("--no-torch", action="store_true", help="time minicnn only")
    parser.add_argument("--side", choices=["minicnn", "torch"], help=argparse.SUPPRESS)


def side_or_rounds(args, script: str, measure: dict) -> dict[str, list[dict]] | None:
    """With ``--side S``: run ``measure[S](repeats)`` in this process, print its figures as
    one JSON line and return None. Otherwise run the rounds (`run_rounds`) and return them.
    """
    if args.side:
        set_threads(args.threads)
        figures = measure[args.side](args.repeats)
        print(json.dumps({"figures": figures, "info": side_info(args.threads)}))
        return None
    sides = ["minicnn"] + (["torch"] if not args.no_torch and torch_installed() else [])
    return run_rounds(script, sides, args.rounds,
                      ["--repeats", str(args.repeats), "--threads", str(args.threads)])


def record(name: str, args, runs: dict[str, list[dict]], results) -> dict:
    """The JSON record of one benchmark run: its command, settings, machine, sides and
    results."""
    return {"benchmark": name, "command": f"python benchmarks/{name}.py "
            + " ".join(sys.argv[1:]), "rounds": args.rounds, "repeats": args.repeats,
            "threads": args.threads, "machine": machine(),
            "sides": {side: rounds[0]["info"] for side, rounds in runs.items()},
            "results": results}


def spread(values: list[float]) -> dict:
    """Median, minimum and maximum of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def fmt(s: dict, scale: float = 1.0, digits: int = 1) -> str:
    """'12.3 (11.9-13.0)': a median and its spread."""
    return (f"{s['median'] * scale:.{digits}f} "
            f"({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})")


def side_info(threads: int) -> dict:
    """What a side reports about itself: library versions and thread counts.

    Called inside a side's own process, after it imported its libraries.
    """
    import numpy as np
    from threadpoolctl import threadpool_info

    info = {"numpy": np.__version__, "threads": threads,
            "blas": [{k: pool.get(k) for k in ("internal_api", "version",
                                                 "num_threads", "architecture")}
                     for pool in threadpool_info() if pool.get("user_api") == "blas"]}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


def machine() -> dict:
    """Date, commit and machine of this run."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--", "minicnn",
                                            "benchmarks", ":!benchmarks/results")),
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": _cpu_model(), "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_record(name: str, record: dict) -> Path:
    """Write ``record`` to benchmarks/results/<name>-<UTC time>.json (atomically)."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def torch_installed() -> bool:
    """Whether PyTorch can be imported, asked in a separate process."""
    return subprocess.run([sys.executable, "-c", "import torch"],
                          capture_output=True).returncode == 0


def set_threads(threads: int) -> None:
    """Fix the BLAS/OpenMP thread count; call before NumPy or PyTorch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def median_seconds(step, repeats: int, warmup: int = 3) -> float:
    """Median wall-clock seconds of ``step()`` over ``repeats`` calls after warm-up."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
