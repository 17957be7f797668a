"""How fast is minicnn's Conv2D (float32, forward + backward)?

    python benchmarks/conv.py                    # 3 rounds, about 1 minute on 2 cores
    python benchmarks/conv.py --rounds 5 --repeats 31

One "step" is a forward pass plus the backward pass with all three gradients (dx,
dW, db). PyTorch's step (when it is installed; it is not a dependency) is
``torch.nn.functional.conv2d`` plus ``torch.autograd.grad`` for input, weight and
bias: the same work. Each side runs in its own process (see ``_harness.py``), with
the same number of threads; a run gives the median step time over ``--repeats``
steps after warm-up, and the table gives the median over the rounds with the
spread (min-max). Also shown: **GFLOP/s**, the step's useful arithmetic (3 GEMMs of
2*F*C*KH*KW*N*H_out*W_out flops: forward, dx, dW) divided by minicnn's time, and
**GEMM GFLOP/s**, NumPy's own speed on one float32 product of the forward GEMM's
shape: what the BLAS gives. The record goes to ``benchmarks/results/conv-*.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

SHAPES = [  # name, (N, C, H, W), F, kernel, padding
    ("VGG block", (32, 64, 32, 32), 64, 3, 1),
    ("LeNet", (64, 1, 28, 28), 32, 3, 1),
    ("deep 8x8", (16, 256, 8, 8), 256, 3, 1),
]


def gemm_flops(shape, f, k, pad) -> float:
    n, c, h, w = shape
    h_out, w_out = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    return 2.0 * f * c * k * k * n * h_out * w_out


def side_minicnn(repeats: int) -> dict:
    import numpy as np

    import minicnn
    out = {}
    for name, shape, f, k, pad in SHAPES:
        rng = np.random.default_rng(0)
        layer = minicnn.Conv2D(shape[1], f, k, padding=pad, rng=rng)
        x = rng.standard_normal(shape).astype(np.float32)
        dout = rng.standard_normal(layer.output_shape(shape)).astype(np.float32)

        def step():
            layer.forward(x)
            layer.backward(dout)

        n, c, _, _ = shape
        cols = int(gemm_flops(shape, f, k, pad) / (2 * f * c * k * k))
        a = rng.standard_normal((f, c * k * k)).astype(np.float32)
        b = rng.standard_normal((c * k * k, cols)).astype(np.float32)
        out[name] = {"seconds": _harness.median_seconds(step, repeats),
                     "gemm_seconds": _harness.median_seconds(lambda: a @ b, repeats)}
    return out


def side_torch(repeats: int) -> dict:
    import numpy as np
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    out = {}
    for name, shape, f, k, pad in SHAPES:
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_()
        w = torch.from_numpy(rng.standard_normal((f, shape[1], k, k)).astype(np.float32))
        b = torch.zeros(f, requires_grad=True)
        w.requires_grad_()
        with torch.no_grad():
            dout = torch.randn_like(torch.nn.functional.conv2d(x, w, b, padding=pad))

        def step():
            out = torch.nn.functional.conv2d(x, w, b, padding=pad)
            torch.autograd.grad(out, (x, w, b), dout)

        out[name] = {"seconds": _harness.median_seconds(step, repeats)}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _harness.add_arguments(parser, repeats=15)
    args = parser.parse_args(argv)
    runs = _harness.side_or_rounds(args, __file__,
                                   {"minicnn": side_minicnn, "torch": side_torch})
    if runs is None:   # this process was one side
        return
    sides = list(runs)
    rows = []
    for name, shape, f, k, pad in SHAPES:
        row = {"shape": name, "input": list(shape), "filters": f, "kernel": k, "padding": pad}
        for side in sides:
            row[f"{side}_seconds"] = _harness.spread([r["figures"][name]["seconds"]
                                                      for r in runs[side]])
        row["gemm_gflops"] = _harness.spread(
            [gemm_flops(shape, f, k, pad) / r["figures"][name]["gemm_seconds"] / 1e9
             for r in runs["minicnn"]])
        if "torch" in sides:
            row["ratio"] = _harness.spread([m["figures"][name]["seconds"]
                                            / t["figures"][name]["seconds"]
                                            for m, t in zip(runs["minicnn"], runs["torch"])])
        rows.append(row)
    path = _harness.write_record("conv", _harness.record("conv", args, runs, rows))

    print(f"float32 Conv2D forward + backward, {args.threads} thread(s); median (min-max) "
          f"of {args.rounds} rounds, each the median of {args.repeats} steps\n")
    print("| shape | minicnn ms | GFLOP/s | GEMM GFLOP/s |"
          + (" PyTorch ms | ratio |" if "torch" in sides else ""))
    print("|---" * (4 + 2 * ("torch" in sides)) + "|")
    for (name, shape, f, k, pad), row in zip(SHAPES, rows):
        gflops = 3 * gemm_flops(shape, f, k, pad) / row["minicnn_seconds"]["median"] / 1e9
        line = (f"| {name} {shape} -> {f}, {k}x{k} pad {pad} "
                f"| {_harness.fmt(row['minicnn_seconds'], 1e3)} | {gflops:.1f} "
                f"| {row['gemm_gflops']['median']:.1f} |")
        if "torch" in sides:
            line += (f" {_harness.fmt(row['torch_seconds'], 1e3)} "
                     f"| {_harness.fmt(row['ratio'], digits=2)}x |")
        print(line)
    print(f"\nrecord: {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
