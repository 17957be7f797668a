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
from torch import nn

# (input H, W) -> output (OH, OW): shrinking unevenly, evenly, identity, growing
CASES = [((10, 13), (4, 5)), ((14, 14), (7, 7)), ((7, 9), (3, 3)), ((5, 3), (7, 7)),
         ((6, 6), (6, 6)), ((1, 1), (2, 3))]
SIDES = (12, 20)   # feature maps 3x3 and 5x5, pooled to 4x4


def tiny_vgg() -> nn.Module:
    """The network of scripts/make_torch_test_weights.py, with torchvision's avgpool."""
    class TinyVGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
            self.classifier = nn.Sequential(
                nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 5))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return TinyVGG()


def guided_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    hooks = [m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    x = x.clone().requires_grad_(True)
    model(x).gather(1, target[:, None]).sum().backward()
    for hook in hooks:
        hook.remove()
    return x.grad.numpy()


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

    model = tiny_vgg().eval()
    model.load_state_dict(torch.load(out / "tiny_vgg.pth", weights_only=True))
    target = torch.tensor([1, 4])
    arrays["vgg_target"] = target.numpy()
    for side in SIDES:
        x = torch.rand(2, 3, side, side)
        with torch.no_grad():
            arrays[f"vgg_logits{side}"] = model(x).numpy()
        arrays[f"vgg_x{side}"] = x.numpy()
        arrays[f"vgg_guided{side}"] = guided_gradient(model, x, target)
    arrays["torch_version"] = np.array(torch.__version__)
    np.savez(out / "adaptive_pool_expected.npz", **arrays)
    print(f"wrote {out / 'adaptive_pool_expected.npz'}")


if __name__ == "__main__":
    main()
