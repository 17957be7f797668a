"""VGG-16 at 1x3x224x224: minicnn against PyTorch on the same random weights.

    python benchmarks/vgg16.py                 # 3 rounds; needs PyTorch for the weights
    python benchmarks/vgg16.py --rounds 5 --repeats 7

PyTorch is not a dependency of minicnn; this benchmark needs it to make the
weights. Steps, each in its own process (see ``_harness.py``):

1. ``prepare`` (PyTorch): torchvision's VGG-16 layout (``features``, ``avgpool``,
   ``classifier``) with torchvision's random initialisation and random biases, saved
   with ``torch.save`` to ``--work`` (528 MB; not kept in the repository), and one
   random input image.
2. ``torch`` and ``minicnn``, in alternating rounds: load the weights, then time the
   forward pass (logits of one image) and guided backpropagation (the gradient of the
   top class on the input, every ReLU clamping negative gradients), and save their
   results. PyTorch's guided backprop is ReLU backward hooks, as Captum implements it.
3. ``load``: peak memory of ``read_torch_weights`` alone and of ``vgg16(weights=...)``.

The parent compares both sides' logits and maps and writes the record to
``benchmarks/results/vgg16-*.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Start VmHWM again from the current resident memory (Linux: /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def torch_vgg16():
    """torchvision's VGG-16 ("D"), written out so torchvision is not needed."""
    import torch
    from torch import nn
    layers, channels = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]
            channels = v

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    model = VGG()
    for m in model.modules():   # torchvision's init, then random biases
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.uniform_(m.bias, -0.1, 0.1)
    return model.eval()


def side_prepare(work: Path) -> dict:
    import numpy as np
    import torch
    torch.manual_seed(0)
    torch.save(torch_vgg16().state_dict(), work / "vgg16.pth")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    np.save(work / "x.npy", x)
    return {"bytes": (work / "vgg16.pth").stat().st_size}


def side_torch(work: Path, repeats: int) -> dict:
    import numpy as np
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    start = time.perf_counter()
    model = torch_vgg16()
    model.load_state_dict(torch.load(work / "vgg16.pth", weights_only=True))
    load = time.perf_counter() - start
    x = torch.from_numpy(np.load(work / "x.npy"))

    def forward():
        with torch.no_grad():
            return model(x)

    logits = forward().numpy()
    target = int(logits.argmax())
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.register_full_backward_hook(lambda m, gin, gout: (gin[0].clamp(min=0),))

    def guided():
        xg = x.clone().requires_grad_(True)
        model(xg)[0, target].backward()
        return xg.grad

    load_peak = rss_mb("VmHWM")
    reset_peak()
    before = rss_mb()
    grad = guided().numpy()
    guided_peak = rss_mb("VmHWM") - before
    np.save(work / "torch_logits.npy", logits)
    np.save(work / "torch_guided.npy", grad)
    return {"load": load, "forward": _harness.median_seconds(forward, repeats, warmup=1),
            "guided": _harness.median_seconds(guided, repeats, warmup=1),
            "peak_rss_mb": load_peak, "guided_extra_mb": guided_peak}


def side_minicnn(work: Path, repeats: int) -> dict:
    import numpy as np

    from minicnn.explain import guided_backprop
    from minicnn.models import vgg16
    start = time.perf_counter()
    model = vgg16(weights=work / "vgg16.pth")
    load = time.perf_counter() - start
    x = np.load(work / "x.npy")
    logits = model.forward(x)
    target = int(logits.argmax())
    load_peak = rss_mb("VmHWM")
    reset_peak()
    before = rss_mb()
    grad = guided_backprop(model, x, target)
    guided_peak = rss_mb("VmHWM") - before
    np.save(work / "minicnn_logits.npy", logits)
    np.save(work / "minicnn_guided.npy", grad)
    return {"load": load,
            "forward": _harness.median_seconds(lambda: model.forward(x), repeats, warmup=1),
            "guided": _harness.median_seconds(lambda: guided_backprop(model, x, target),
                                              repeats, warmup=1),
            "peak_rss_mb": load_peak, "guided_extra_mb": guided_peak}


def side_load(work: Path, what: str) -> dict:
    """Peak memory of reading the checkpoint (``read``) or building vgg16 with it."""
    import numpy as np

    from minicnn.models import vgg16
    from minicnn.torch_weights import read_torch_weights
    np.zeros(1)
    before = rss_mb()
    start = time.perf_counter()
    if what == "read":
        weights = read_torch_weights(work / "vgg16.pth")
        held = sum(a.nbytes for a in weights.values()) / 2**20
    elif what == "vgg16-random":
        held = vgg16().num_parameters() * 4 / 2**20
    else:
        held = vgg16(weights=work / "vgg16.pth").num_parameters() * 4 / 2**20
    return {"seconds": time.perf_counter() - start, "rss_before_mb": before,
            "peak_mb": rss_mb("VmHWM"), "peak_above_start_mb": rss_mb("VmHWM") - before,
            "weights_mb": held}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per side")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per process")
    parser.add_argument("--threads", type=int, default=2, help="threads for both sides")
    parser.add_argument("--work", type=Path, default=Path("/tmp/minicnn-vgg16-bench"),
                        help="folder for the 528 MB checkpoint (default: %(default)s)")
    parser.add_argument("--side", choices=["prepare", "torch", "minicnn", "read",
                                           "vgg16-random", "vgg16-weights"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.side:
        _harness.set_threads(args.threads)
        if args.side == "prepare":
            figures = side_prepare(args.work)
        elif args.side == "torch":
            figures = side_torch(args.work, args.repeats)
        elif args.side == "minicnn":
            figures = side_minicnn(args.work, args.repeats)
        else:
            figures = side_load(args.work, args.side)
        print(json.dumps({"figures": figures, "info": _harness.side_info(args.threads)}))
        return

    if not _harness.torch_installed():
        sys.exit("this benchmark needs PyTorch to make the weights (pip install torch)")
    args.work.mkdir(parents=True, exist_ok=True)
    common = ["--work", str(args.work), "--threads", str(args.threads)]
    subprocess.run([sys.executable, __file__, "--side", "prepare", *common], check=True,
                   capture_output=True)
    runs = _harness.run_rounds(__file__, ["minicnn", "torch"], args.rounds,
                               ["--repeats", str(args.repeats), *common])
    memory = {what: _harness.run_rounds(__file__, [what], 1, common)[what][0]["figures"]
              for what in ("read", "vgg16-random", "vgg16-weights")}

    import numpy as np  # only now: the sides are done
    w = args.work
    logits = [np.load(w / f"{s}_logits.npy") for s in ("minicnn", "torch")]
    maps = [np.load(w / f"{s}_guided.npy") for s in ("minicnn", "torch")]
    parity = {
        "logits_max_abs_diff": float(np.abs(logits[0] - logits[1]).max()),
        "logits_max_abs": float(np.abs(logits[1]).max()),
        "same_top5": bool(np.array_equal(np.argsort(-logits[0][0])[:5],
                                         np.argsort(-logits[1][0])[:5])),
        "guided_max_abs_diff": float(np.abs(maps[0] - maps[1]).max()),
        "guided_max_abs": float(np.abs(maps[1]).max()),
    }
    results = {side: {k: _harness.spread([r["figures"][k] for r in runs[side]])
                      for k in ("load", "forward", "guided", "peak_rss_mb",
                                "guided_extra_mb")}
               for side in runs}
    ratios = {k: _harness.spread([m["figures"][k] / t["figures"][k]
                                  for m, t in zip(runs["minicnn"], runs["torch"])])
              for k in ("forward", "guided")}
    record = {"benchmark": "vgg16", "command": "python benchmarks/vgg16.py "
              + " ".join(argv if argv is not None else sys.argv[1:]),
              "rounds": args.rounds, "repeats": args.repeats, "threads": args.threads,
              "machine": _harness.machine(),
              "sides": {side: runs[side][0]["info"] for side in runs},
              "results": results, "ratios": ratios, "parity": parity, "memory": memory}
    path = _harness.write_record("vgg16", record)

    print(f"VGG-16, one 224x224 image, float32, {args.threads} threads; median (min-max) "
          f"of {args.rounds} rounds, each the median of {args.repeats} passes\n")
    print("| | minicnn s | PyTorch s | ratio |\n|---|---|---|---|")
    for k in ("forward", "guided"):
        print(f"| {k} | {_harness.fmt(results['minicnn'][k], digits=3)} "
              f"| {_harness.fmt(results['torch'][k], digits=3)} "
              f"| {_harness.fmt(ratios[k], digits=2)}x |")
    print(f"| load weights | {_harness.fmt(results['minicnn']['load'], digits=2)} "
          f"| {_harness.fmt(results['torch']['load'], digits=2)} | |")
    print(f"| peak RSS after loading, MB | "
          f"{_harness.fmt(results['minicnn']['peak_rss_mb'], digits=0)} "
          f"| {_harness.fmt(results['torch']['peak_rss_mb'], digits=0)} | |")
    print(f"| guided backprop: peak above the loaded model, MB | "
          f"{_harness.fmt(results['minicnn']['guided_extra_mb'], digits=0)} "
          f"| {_harness.fmt(results['torch']['guided_extra_mb'], digits=0)} | |")
    print(f"\nparity: {parity}")
    for what, m in memory.items():
        print(f"memory, {what}: peak {m['peak_above_start_mb']:.0f} MB above the "
              f"{m['rss_before_mb']:.0f} MB at start, for {m['weights_mb']:.0f} MB of "
              f"weights ({m['seconds']:.1f} s)")
    print(f"\nrecord: {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
