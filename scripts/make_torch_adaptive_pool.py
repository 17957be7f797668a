"""Make tests/data/adaptive_pool_expected.npz with PyTorch (run once; PyTorch is not a
dependency of minicnn, the tests read the file without it).

It holds, for several input and output sizes, PyTorch's ``AdaptiveAvgPool2d`` output
and input gradient (``case<k>_x``, ``case<k>_dout``, ``case<k>_out``, ``case<k>_dx``,
``case<k>_output_size``); and the small network of ``tiny_vgg.pth`` with torchvision's
``AdaptiveAvgPool2d((4, 4))`` between its features and its classifier, run on images
that are not 16x16 (``vgg_x<side>``, its ``vgg_logits<side>`` and guided-backprop
maps ``vgg_guided<side>`` for target ``vgg_target``).

Usage: python scripts/make_torch_adaptive_pool.py [--out tests/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from make_torch_test_weights import TinyVGG, input_gradient  # this script's folder
from torch import nn

# (input H, W) -> output (OH, OW): shrinking unevenly, evenly, identity, growing
CASES = [((10, 13), (4, 5)), ((14, 14), (7, 7)), ((7, 9), (3, 3)), ((5, 3), (7, 7)),
         ((6, 6), (6, 6)), ((1, 1), (2, 3))]
SIDES = (12, 20)   # feature maps 3x3 and 5x5, pooled to 4x4


class PooledTinyVGG(TinyVGG):
    """The network of tiny_vgg.pth with torchvision's avgpool between its features and
    its classifier (no weights of its own, so it loads the same state_dict)."""

    def __init__(self):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data", type=Path)
    out = parser.parse_args().out
    torch.manual_seed(1)
    arrays = {}
    for k, (size, output_size) in enumerate(CASES):
        x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
        y = nn.AdaptiveAvgPool2d(output_size)(x)
        dout = torch.randn_like(y)
        y.backward(dout)
        arrays.update({f"case{k}_x": x.detach().numpy(), f"case{k}_dout": dout.numpy(),
                       f"case{k}_out": y.detach().numpy(), f"case{k}_dx": x.grad.numpy(),
                       f"case{k}_output_size": np.array(output_size)})

    model = PooledTinyVGG().eval()
    model.load_state_dict(torch.load(out / "tiny_vgg.pth", weights_only=True))
    target = torch.tensor([1, 4])
    arrays["vgg_target"] = target.numpy()
    for side in SIDES:
        x = torch.rand(2, 3, side, side)
        with torch.no_grad():
            arrays[f"vgg_logits{side}"] = model(x).numpy()
        arrays[f"vgg_x{side}"] = x.numpy()
        arrays[f"vgg_guided{side}"] = input_gradient(model, x, target, guided=True)
    arrays["torch_version"] = np.array(torch.__version__)
    np.savez(out / "adaptive_pool_expected.npz", **arrays)
    print(f"wrote {out / 'adaptive_pool_expected.npz'}")


if __name__ == "__main__":
    main()
