"""Make the PyTorch test data in tests/data/ (run once, with PyTorch installed).

PyTorch is not a dependency of minicnn: this script is how the committed files were
made, and the tests read them without PyTorch. It writes:

- ``tiny_vgg.pth``: the ``state_dict`` of a small VGG-like network with torchvision's
  key names (``features.N.weight``, ``classifier.N.weight``), random weights, saved by
  ``torch.save``; ``tiny_vgg_legacy.pth``: the same in the pre-1.6 format;
  ``tiny_vgg.safetensors``: the same, written by hand below (JSON header + raw bytes);
- ``tiny_vgg_expected.npz``: an input batch, PyTorch's logits for it, and the input
  gradients of the target classes: the plain gradient and guided backpropagation
  (ReLU backward hooks that clamp negative gradients to zero);
- ``dtypes.pth`` and ``dtypes_expected.npz``: tensors of several dtypes, a transposed
  (non-contiguous) tensor and two views sharing one storage, with their values.

Usage: python scripts/make_torch_test_weights.py [--out tests/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn


class TinyVGG(nn.Module):
    """features -> flatten -> classifier, as torchvision's VGG (without its avgpool)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 5))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                   guided: bool) -> np.ndarray:
    """d(sum of the target scores)/dx; with ``guided``, negative gradients are
    clamped to zero at every ReLU on the way down (guided backpropagation)."""
    hooks = []
    if guided:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                hooks.append(module.register_full_backward_hook(
                    lambda m, grad_in, grad_out: (grad_in[0].clamp(min=0),)))
    x = x.clone().requires_grad_(True)
    scores = model(x)
    scores.gather(1, target[:, None]).sum().backward()
    for hook in hooks:
        hook.remove()
    return x.grad.numpy()


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """The .safetensors layout by hand: u64 header length, JSON header, raw data."""
    codes = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64"}
    header, chunks, begin = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy()
        data = data.astype(data.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": codes[tensors[name].dtype], "shape": list(data.shape),
                        "data_offsets": [begin, begin + data.nbytes]}
        chunks.append(data.tobytes())
        begin += data.nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    model = TinyVGG().eval()
    for p in model.parameters():   # biases away from zero, so a wrong one shows
        p.data.uniform_(-0.5, 0.5)
    state = model.state_dict()
    torch.save(state, out / "tiny_vgg.pth")
    torch.save(state, out / "tiny_vgg_legacy.pth", _use_new_zipfile_serialization=False)
    write_safetensors(state, out / "tiny_vgg.safetensors")

    x = torch.rand(3, 3, 16, 16)
    target = torch.tensor([0, 3, 4])
    with torch.no_grad():
        logits = model(x).numpy()
    np.savez(out / "tiny_vgg_expected.npz", x=x.numpy(), target=target.numpy(),
             logits=logits,
             saliency=input_gradient(model, x, target, guided=False),
             guided=input_gradient(model, x, target, guided=True),
             torch_version=np.array(torch.__version__))

    base = torch.arange(10, dtype=torch.float32) / 4
    dtypes = {
        "float16": torch.tensor([0.5, -1.25, 3.0], dtype=torch.float16),
        "float64": torch.tensor([[1e-300, 2.5], [-3.0, 4.0]], dtype=torch.float64),
        "bfloat16": torch.tensor([1.5, -2.0, 0.15625], dtype=torch.bfloat16),
        "int64": torch.tensor([-(2**40), 7], dtype=torch.int64),
        "uint8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "transposed": (torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8).t(),
        "view_a": base[2:7], "view_b": base[5:].reshape(1, 5),
        "scalar": torch.tensor(2.75),
    }
    torch.save(dtypes, out / "dtypes.pth")
    np.savez(out / "dtypes_expected.npz",
             **{k: (v.float() if v.dtype == torch.bfloat16 else v).numpy()
                for k, v in dtypes.items()})
    for path in sorted(out.glob("*")):
        print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
