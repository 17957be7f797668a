"""How fast is minicnn's MaxPool2D (float32, forward + backward)?

    python benchmarks/pool.py                 # a few seconds
    python benchmarks/pool.py --repeats 51

One "step" is ``MaxPool2D.forward`` plus ``backward`` (dx). When PyTorch is
installed (it is not a dependency), the same step in PyTorch is
``torch.nn.functional.max_pool2d(..., return_indices=True)`` plus
``torch.autograd.grad`` for the input, with as many threads as NumPy's OpenBLAS.
Medians over ``--repeats`` interleaved steps after warm-up; see ``conv.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

import minicnn

try:   # run as a script: benchmarks/ is on sys.path
    from _common import optional_torch
    from conv import median_times
except ImportError:
    from benchmarks._common import optional_torch
    from benchmarks.conv import median_times

SHAPES = [  # (N, C, H, W), kernel, stride
    ((32, 64, 32, 32), 2, 2),
    ((32, 64, 32, 32), 3, 2),
    ((64, 32, 28, 28), 2, 2),
    ((64, 32, 28, 28), 3, 2),
]


def pool_steps(shape, k, s, torch):
    rng = np.random.default_rng(0)
    layer = minicnn.MaxPool2D(k, stride=s)
    x = rng.standard_normal(shape).astype(np.float32)
    dout = rng.standard_normal(layer.output_shape(shape)).astype(np.float32)

    def minicnn_step():
        layer.forward(x)
        layer.backward(dout)

    steps = {"minicnn": minicnn_step}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_()
        tdout = torch.from_numpy(dout)

        def torch_step():
            out, _ = torch.nn.functional.max_pool2d(tx, k, s, return_indices=True)
            torch.autograd.grad(out, tx, tdout)

        steps["torch"] = torch_step
    return steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31, help="timed steps per shape")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)

    torch = optional_torch(args.no_torch)
    print(f"float32 MaxPool2D forward + backward, median of {args.repeats}\n")
    print("| input | window | minicnn ms |" + (" torch ms | ratio |" if torch else ""))
    print("|---" * (3 + 2 * (torch is not None)) + "|")
    for shape, k, s in SHAPES:
        t = median_times(pool_steps(shape, k, s, torch), args.repeats)
        row = f"| {shape} | {k}x{k} stride {s} | {t['minicnn'] * 1e3:.2f} |"
        if torch:
            row += f" {t['torch'] * 1e3:.2f} | {t['minicnn'] / t['torch']:.2f}x |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
