"""How fast is minicnn's MaxPool2D (float32, forward + backward)?

    python benchmarks/pool.py                    # 3 rounds, about 45 s on 2 cores
    python benchmarks/pool.py --rounds 5 --repeats 51

One "step" is ``MaxPool2D.forward`` plus ``backward`` (dx). PyTorch's step (when it
is installed; it is not a dependency) is ``torch.nn.functional.max_pool2d`` plus
``torch.autograd.grad`` for the input. Each side runs in its own process with the
same number of threads, in alternating rounds (see ``_harness.py``); the table gives
the median over the rounds (min-max) of each run's median step time. The record goes
to ``benchmarks/results/pool-*.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

SHAPES = [  # (N, C, H, W), kernel, stride
    ((32, 64, 32, 32), 2, 2),
    ((32, 64, 32, 32), 3, 2),
    ((64, 32, 28, 28), 2, 2),
    ((64, 32, 28, 28), 3, 2),
]


def label(shape, k, s) -> str:
    return f"{shape} {k}x{k} stride {s}"


def side_minicnn(repeats: int) -> dict:
    import numpy as np

    import minicnn
    out = {}
    for shape, k, s in SHAPES:
        rng = np.random.default_rng(0)
        layer = minicnn.MaxPool2D(k, stride=s)
        x = rng.standard_normal(shape).astype(np.float32)
        dout = rng.standard_normal(layer.output_shape(shape)).astype(np.float32)

        def step():
            layer.forward(x)
            layer.backward(dout)

        out[label(shape, k, s)] = _harness.median_seconds(step, repeats)
    return out


def side_torch(repeats: int) -> dict:
    import numpy as np
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    out = {}
    for shape, k, s in SHAPES:
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_()
        with torch.no_grad():
            dout = torch.randn_like(torch.nn.functional.max_pool2d(x, k, s))

        def step():
            out, _ = torch.nn.functional.max_pool2d(x, k, s, return_indices=True)
            torch.autograd.grad(out, x, dout)

        out[label(shape, k, s)] = _harness.median_seconds(step, repeats)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _harness.add_arguments(parser, repeats=31)
    args = parser.parse_args(argv)
    runs = _harness.side_or_rounds(args, __file__,
                                   {"minicnn": side_minicnn, "torch": side_torch})
    if runs is None:   # this process was one side
        return
    sides = list(runs)
    rows = []
    for shape, k, s in SHAPES:
        name = label(shape, k, s)
        row = {"input": list(shape), "kernel": k, "stride": s}
        for side in sides:
            row[f"{side}_seconds"] = _harness.spread([r["figures"][name] for r in runs[side]])
        if "torch" in sides:
            row["ratio"] = _harness.spread([m["figures"][name] / t["figures"][name]
                                            for m, t in zip(runs["minicnn"], runs["torch"])])
        rows.append(row)
    path = _harness.write_record("pool", _harness.record("pool", args, runs, rows))

    print(f"float32 MaxPool2D forward + backward, {args.threads} thread(s); median (min-max) "
          f"of {args.rounds} rounds, each the median of {args.repeats} steps\n")
    print("| input | window | minicnn ms |" + (" PyTorch ms | ratio |" if "torch" in sides
                                                else ""))
    print("|---" * (3 + 2 * ("torch" in sides)) + "|")
    for (shape, k, s), row in zip(SHAPES, rows):
        line = (f"| {shape} | {k}x{k} stride {s} "
                f"| {_harness.fmt(row['minicnn_seconds'], 1e3, 2)} |")
        if "torch" in sides:
            line += (f" {_harness.fmt(row['torch_seconds'], 1e3, 2)} "
                     f"| {_harness.fmt(row['ratio'], digits=2)}x |")
        print(line)
    print(f"\nrecord: {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
