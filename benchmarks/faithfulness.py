"""Which maps put their mass on the object, and which survive randomising the network?

    python benchmarks/faithfulness.py            # about 2 minutes on 2 cores
    python benchmarks/faithfulness.py --quick    # fewer images, for a smoke test
    python benchmarks/faithfulness.py --shipped  # the cascade on the shipped model

Trains the small shapes CNN (``minicnn.models.shapes_cnn``, seeded) on the synthetic
shapes set, then for each method scores the maps of held-out images (target: the
true class) against the ground-truth masks:

- **mass on object**: the mean share of ``|map|`` inside the mask
  (`explain.localization`); a map spread evenly scores the mask's area;
- **pointing game**: how often the map's largest pixel lies on the object;
- **rho, top layer random / all layers random**: the mean Spearman rank correlation
  of ``|map|`` before and after re-initialising the output layer (the class weights),
  and after re-initialising *every* layer (the first and last steps of Adebayo et
  al.'s cascade, `explain.randomization_test`). Near 1: the map hardly depends on
  what the network learned. Near 0: it does.

Prints one markdown table. Everything is seeded, so two runs print the same numbers.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import minicnn
from minicnn import explain, models
from minicnn.data import make_shapes
from minicnn.optim import Adam

CAM_LAYER = "relu3"   # the last conv block's feature maps (4x4 for 32x32 images)


def the_image(model, x, target):
    """Not an explanation: the image itself, as a baseline map (the shapes are brighter
    than their background, so it already localises well, and ignores the weights)."""
    return x


METHODS = {
    "saliency (gradient)": ("saliency", {}),
    "deconvnet": ("deconvnet", {}),
    "guided backprop": ("guided_backprop", {}),
    "Grad-CAM": ("grad_cam", {"layer": CAM_LAYER}),
    "guided Grad-CAM": ("guided_grad_cam", {"layer": CAM_LAYER}),
    "SmoothGrad (gradient, 25 x 15%)": ("smooth_grad", {"n_samples": 25, "noise": 0.15}),
    "integrated gradients (50 steps)": ("integrated_gradients", {"steps": 50}),
    "the image itself (not a method)": (the_image, {}),
}


def train(n_train: int, epochs: int, seed: int = 0):
    """The shapes CNN trained with `minicnn.train.fit` (Adam, seeded)."""
    from minicnn.train import fit

    X, y, _ = make_shapes(n_train, seed=seed)
    model = models.shapes_cnn(rng=seed)
    fit(model, X, y, epochs=epochs, batch_size=32, optimizer=Adam(model, lr=3e-3), rng=seed,
        progress=False)
    return model


def run_method(model, x, y, name, kwargs):
    if callable(name):
        return name(model, x, y)
    fn = explain.sanity.METHODS[name]
    return fn(model, x, y, **({"rng": 0} if name == "smooth_grad" else {}), **kwargs)


def shipped_cascade(model, n_images: int = 100) -> None:
    """The randomisation cascade on a Fashion-MNIST model, guided backprop vs. gradient."""
    from minicnn.data import load_fashion_mnist

    X, y = load_fashion_mnist("test")
    x, y = X[:n_images].astype(model.dtype), y[:n_images]
    accuracy = (model.predict(x) == y).mean()
    rows = {}
    for label, method in (("guided backprop", "guided_backprop"), ("gradient", "saliency"),
                          ("deconvnet", "deconvnet"),
                          ("Grad-CAM (relu3)", "grad_cam"),
                          ("integrated gradients", "integrated_gradients")):
        kwargs = {"layer": "relu3"} if method == "grad_cam" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows[label] = explain.randomization_test(model, x, y, method=method, rng=0,
                                                     **kwargs)
    steps = list(next(iter(rows.values())))
    print(f"Shipped Fashion-MNIST model, first {n_images} test images (accuracy "
          f"{accuracy:.1%}), target = true class; mean Spearman rho of |map|, cascading "
          f"randomisation from the top:\n")
    print("| method | " + " | ".join(steps) + " |")
    print("|---|" + "---:|" * len(steps))
    for label, scores in rows.items():
        print(f"| {label} | " + " | ".join(f"{scores[s]:.2f}" for s in steps) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs")
    parser.add_argument("--save", metavar="PATH", help="save the trained model there")
    parser.add_argument("--load", metavar="PATH", help="load a model saved with --save "
                        "instead of training")
    parser.add_argument("--shipped", action="store_true", help="instead: the randomisation "
                        "cascade on the shipped Fashion-MNIST model (minicnn.pretrained())")
    args = parser.parse_args(argv)
    if args.shipped:
        shipped_cascade(minicnn.load(args.load) if args.load else minicnn.pretrained())
        return
    n_train, epochs, n_eval, n_random = (1000, 2, 40, 10) if args.quick else (3000, 5, 200, 20)

    start = time.perf_counter()
    if args.load:
        model = minicnn.load(args.load)
        how = f"loaded from {args.load}"
    else:
        model = train(n_train, epochs)
        how = f"trained on {n_train} images for {epochs} epochs"
    if args.save:
        model.save(args.save)
    trained_in = time.perf_counter() - start
    x, y, masks = make_shapes(n_eval, seed=1)
    accuracy = (model.predict(x) == y).mean()

    rows = []
    for label, (name, kwargs) in METHODS.items():
        maps = run_method(model, x, y, name, kwargs)
        share, hit = explain.localization(maps, masks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # constant maps, reported as n/a
            scores = explain.randomization_test(model, x[:n_random], y[:n_random], method=name,
                                                rng=0, **kwargs)
        steps = list(scores.values())      # original, top layer random, ..., all random
        rows.append((label, share.mean(), hit.mean(), steps[1], steps[-1]))
    chance = masks.mean()           # a uniform map: share = mask area, pointing ~ area
    rows.append(("uniform map (chance)", chance, chance, float("nan"), float("nan")))

    print(f"Shapes CNN {how} ({trained_in:.0f} s); accuracy {accuracy:.1%} on the "
          f"{n_eval} held-out images scored below (target: the true class); randomisation "
          f"on the first {n_random} of them.\n")
    print("| method | mass on object | pointing game | rho, top layer random "
          "| rho, all layers random |")
    print("|---|---:|---:|---:|---:|")
    for label, share, hit, rho_top, rho_all in rows:
        top, everything = ("n/a" if np.isnan(r) else f"{r:.2f}" for r in (rho_top, rho_all))
        print(f"| {label} | {share:.2f} | {hit:.0%} | {top} | {everything} |")
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
