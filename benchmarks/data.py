"""How long loading Fashion-MNIST and generating the shapes set take.

    python benchmarks/data.py
"""

import time

from minicnn.data import load_fashion_mnist, make_shapes


def timed(label, fn):
    start = time.perf_counter()
    fn()
    print(f"{label:<40} {time.perf_counter() - start:6.2f} s")


if __name__ == "__main__":
    timed("load_fashion_mnist('train') (60,000)", lambda: load_fashion_mnist("train"))
    timed("make_shapes(10000, size=32)", lambda: make_shapes(10000))
