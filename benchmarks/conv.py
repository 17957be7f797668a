"""How fast is minicnn's Conv2D (float32, forward + backward)?

    python benchmarks/conv.py                 # about a minute on 2 cores
    python benchmarks/conv.py --repeats 31    # steadier medians on a busy machine

For each shape, one "step" is a forward pass plus the backward pass with all three
gradients (dx, dW, db). The table gives:

- **minicnn ms**: median time of one step of `minicnn.Conv2D`;
- **GFLOP/s**: the step's useful arithmetic (3 GEMMs of 2*F*C*KH*KW*N*H_out*W_out
  flops each: forward, dx, dW) divided by that time;
- **A @ B GFLOP/s**: NumPy's own speed on one float32 matrix product of the forward
  GEMM's shape, ``(F, C*KH*KW) @ (C*KH*KW, N*H_out*W_out)``: what the BLAS gives;
- **torch ms** and **ratio** (minicnn time / torch time), when PyTorch is installed
  (it is not a dependency): ``torch.nn.functional.conv2d`` forward plus
  ``torch.autograd.grad`` for the input, weight and bias -- the same work. PyTorch
  runs with as many threads as NumPy's OpenBLAS (both printed).

Timings are medians over ``--repeats`` steps after warm-up, with minicnn and torch
steps interleaved so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minicnn

try:   # run as a script: benchmarks/ is on sys.path
    from _common import optional_torch
except ImportError:
    from benchmarks._common import optional_torch

SHAPES = [  # name, (N, C, H, W), F, kernel, padding
    ("VGG block", (32, 64, 32, 32), 64, 3, 1),
    ("LeNet", (64, 1, 28, 28), 32, 3, 1),
    ("deep 8x8", (16, 256, 8, 8), 256, 3, 1),
]


def median_times(steps: dict, repeats: int, warmup: int = 3) -> dict:
    """Median seconds of each callable, run in turn (interleaved) ``repeats`` times."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def conv_steps(shape, f, k, pad, torch):
    """Callables for one step of minicnn, the raw GEMM and (maybe) torch."""
    rng = np.random.default_rng(0)
    n, c, h, w = shape
    layer = minicnn.Conv2D(c, f, k, padding=pad, rng=rng)
    layer.params["b"] = rng.standard_normal(f).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    h_out, w_out = layer.output_shape(shape)[2:]
    dout = rng.standard_normal((n, f, h_out, w_out)).astype(np.float32)

    def minicnn_step():
        layer.forward(x)
        layer.backward(dout)

    a = rng.standard_normal((f, c * k * k)).astype(np.float32)
    b = rng.standard_normal((c * k * k, n * h_out * w_out)).astype(np.float32)
    steps = {"minicnn": minicnn_step, "gemm": lambda: a @ b}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_()
        tw = torch.from_numpy(layer.params["W"]).requires_grad_()
        tb = torch.from_numpy(layer.params["b"]).requires_grad_()
        tdout = torch.from_numpy(dout)

        def torch_step():
            out = torch.nn.functional.conv2d(tx, tw, tb, padding=pad)
            torch.autograd.grad(out, (tx, tw, tb), tdout)

        steps["torch"] = torch_step
    gemm_flops = 2.0 * f * c * k * k * n * h_out * w_out
    return steps, gemm_flops


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per shape")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)

    torch = optional_torch(args.no_torch)
    print(f"float32 Conv2D forward + backward (dx, dW, db), median of {args.repeats}\n")
    header = "| shape | minicnn ms | GFLOP/s | A @ B GFLOP/s |"
    print(header + (" torch ms | ratio |" if torch else ""))
    print("|---" * (4 + 2 * (torch is not None)) + "|")
    for name, shape, f, k, pad in SHAPES:
        steps, gemm_flops = conv_steps(shape, f, k, pad, torch)
        t = median_times(steps, args.repeats)
        gflops = 3 * gemm_flops / t["minicnn"] / 1e9
        row = (f"| {name} {shape} -> {f}, {k}x{k}, pad {pad} | {t['minicnn'] * 1e3:.1f} "
               f"| {gflops:.1f} | {gemm_flops / t['gemm'] / 1e9:.1f} |")
        if torch:
            row += f" {t['torch'] * 1e3:.1f} | {t['minicnn'] / t['torch']:.2f}x |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
