"""Command line: ``python -m minicnn COMMAND --help`` for demo, explain, explore, train,
assignment, grade and notebooks.

Each subcommand is a short function that checks its arguments and calls the
library; every command-line value (``--neuron 5,3,3``, ``--target sneaker``, ...) is
parsed here, never in the library. Errors in the user's arguments are printed as
one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .layers import RELU_MODES

# `train --dataset shapes`: the sizes of the generated training and test sets.
SHAPES_TRAIN_SIZE, SHAPES_TEST_SIZE = 8000, 2000


class UsageError(Exception):
    """A problem with the user's arguments or files, printed as one clear line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage block), exit 2."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def cmd_demo(args: argparse.Namespace) -> None:
    """Write the demo's figures (see `minicnn.figures.run_demo`); print each path and what
    it shows."""
    import time

    from .figures import run_demo
    output_folder(args.out, "--out")
    if is_torch_weights(args.model) or args.images is not None or args.layer is not None:
        return cmd_demo_photos(args)
    model = None
    if args.model is not None:
        from . import load
        model = load(args.model)
    else:
        print(VGG16_HINT)
    start = time.perf_counter()
    for path, what in run_demo(args.out, model=model, optimize=args.optimize):
        print(f"{path}\n    {what}")
    print(f"done in {time.perf_counter() - start:.1f} s")


# -- photographs and ImageNet networks with PyTorch weights (docs/photos.md) --------------
VGG16_HINT = ("for the lecture's photographs: get VGG-16's weights (vgg16-397923af.pth, "
              "528 MB; torchvision keeps it in ~/.cache/torch/hub/checkpoints/, or download "
              "https://download.pytorch.org/models/vgg16-397923af.pth by hand), then "
              "run: python -m minicnn demo --model vgg16-397923af.pth --images DIR")


def is_torch_weights(model: str | None) -> bool:
    """--model names PyTorch weights (.pth, .pt, .safetensors, ...) rather than a minicnn
    model, which is always a .npz file."""
    return model is not None and Path(model).suffix.lower() != ".npz"


def load_torchvision(path: str):
    """(model, architecture) from a torchvision weights file; prints what was found."""
    from .models import torchvision_model
    if not Path(path).is_file():
        raise FileNotFoundError(f"--model: no such file: {path}")
    model, arch = torchvision_model(path)
    print(f"{path}: {arch.name} ({model.num_parameters():,} parameters, "
          f"{arch.widths[-1]} classes)", flush=True)
    return model, arch


def imagenet_names(n_classes: int) -> list[str] | None:
    """ImageNet's class names for a 1000-class model, else None ("class k")."""
    from .data import imagenet_classes
    return imagenet_classes() if n_classes == 1000 else None


def cmd_demo_photos(args: argparse.Namespace) -> None:
    """The demo on a folder of photographs with an ImageNet network (`photo_demo`)."""
    import time

    from .data import load_imagenet_folder
    from .figures.photos import photo_demo

    if not is_torch_weights(args.model):
        raise UsageError("--images and --layer need --model with PyTorch weights of a VGG or "
                         "AlexNet (.pth or .safetensors), e.g. --model vgg16-397923af.pth")
    if args.images is None:
        raise UsageError("--model with PyTorch weights needs --images DIR, a folder of "
                         "photographs (JPEG, PNG, ...)")
    X, names = load_imagenet_folder(args.images)
    model, arch = load_torchvision(args.model)
    if args.layer is not None:
        model.index(args.layer)   # KeyError listing the layers
    start = time.perf_counter()
    print(f"{len(X)} photographs from {args.images}; for VGG-16 this takes minutes "
          f"(the progress bars count the maps)", flush=True)
    figures = photo_demo(args.out, model, X.astype(model.dtype), names,
                         imagenet_names(arch.widths[-1]), layer=args.layer)
    for path, what in figures:
        print(f"{path}\n    {what}")
    print(f"done in {time.perf_counter() - start:.1f} s")


def cmd_explain_photo(args: argparse.Namespace) -> None:
    """explain --image PHOTO --model WEIGHTS: the top class of an ImageNet network."""
    from .data import load_imagenet_image
    from .figures.photos import explain_photo

    given = [flag for flag, value in (("--layer", args.layer), ("--neuron", args.neuron),
                                      ("--channel", args.channel)) if value is not None]
    if given or args.invert:
        raise UsageError(f"{(given or ['--invert'])[0]} is for minicnn models; with PyTorch "
                         f"weights explain shows a class (--target). For single neurons: "
                         f"python -m minicnn demo --model {args.model} --images DIR "
                         f"--layer NAME")
    x = load_imagenet_image(args.image)
    model, arch = load_torchvision(args.model)
    names = imagenet_names(arch.widths[-1])
    target = None
    if args.target is not None:
        try:
            target = parse_class(args.target, names)
        except UsageError:
            named = " or an ImageNet class name" if names else ""
            raise UsageError(f"--target must be a class index{named} (e.g. 281 or tabby). "
                             f"Received: --target {args.target}") from None
    modes = RELU_MODES if args.mode == "all" else (args.mode,)
    _, top5 = explain_photo(model, x.astype(model.dtype), names, target=target, modes=modes,
                            name=Path(args.image).name, path=args.out)
    print("top 5: " + "; ".join(f"{c} {names[c] if names else f'class {c}'} ({p:.1%})"
                                for c, p in top5))
    shown = top5[0][0] if target is None else target
    print(f"{args.out}: class {shown} ({names[shown] if names else f'class {shown}'}) under "
          f"{', '.join(modes)}, with Grad-CAM and guided Grad-CAM")


def parse_neuron(spec: str) -> tuple[int, ...]:
    """``"5,3,3"`` -> (5, 3, 3); ``"12"`` -> (12,) for a dense layer."""
    try:
        values = tuple(int(v) for v in spec.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 3) or min(values) < 0:
        raise UsageError(f"--neuron must be C,Y,X (three ints >= 0, e.g. --neuron 5,3,3) or C "
                         f"for a dense layer. Received: --neuron {spec}")
    return values


def output_folder(value: str, flag: str) -> Path:
    """The folder an --out/--html option names; it may not exist yet, but it may not be
    a file."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} must be a folder, but {value!r} is a file. "
                         f"Received: {flag} {value}")
    return path


def join_negative_values(argv: list[str]) -> list[str]:
    """``["--neuron", "-1,0,0"]`` -> ``["--neuron=-1,0,0"]``: argparse would take a value
    that starts with a minus sign for an option, and say the option lacks its value."""
    joined: list[str] = []
    for token in argv:
        if (joined and joined[-1].startswith("--") and "=" not in joined[-1]
                and len(token) > 1 and token[0] == "-" and token[1].isdigit()):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def parse_class(spec: str, names: list[str] | None) -> int:
    """A class index, or (for the shipped model) a Fashion-MNIST class name."""
    try:
        return int(spec)
    except ValueError:
        pass
    lowered = [n.lower() for n in names or []]
    if spec.lower() in lowered:
        return lowered.index(spec.lower())
    known = f" or one of {names}" if names else ""
    raise UsageError(f"--target must be a class index{known}. Received: --target {spec}")


def parse_int(spec: str, flag: str) -> int:
    try:
        return int(spec)
    except ValueError:
        raise UsageError(f"{flag} must be an int. Received: {flag} {spec}") from None


def load_for(model, path, invert: bool = False):
    """Load an image file as a (1, C, H, W) batch fitting ``model``'s input."""
    from .data import load_image
    from .layers import Conv2D

    if model.input_shape is not None:
        channels, h, w = model.input_shape
        size = (h, w)
    else:
        convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
        channels, size = (convs[0].in_channels if convs else 3), None
    if channels not in (1, 3):
        raise UsageError(f"explain loads gray or RGB images; the model must take 1 or 3 input "
                         f"channels. Received: a model with {channels} input channels")
    x = load_image(path, size=size, grayscale=channels == 1)
    if invert:
        x = 1 - x
    return x.astype(model.dtype)


def cmd_explain(args: argparse.Namespace) -> None:
    """Explain one image file (see `minicnn.figures.explain_image`); warnings become one
    line each."""
    import warnings

    from . import data, explain, load, pretrained
    from .figures import explain_image

    layer, neuron, channel = args.layer, args.neuron, args.channel
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"--image: no such file: {args.image}")
    if args.target is not None and (layer, neuron, channel) != (None, None, None):
        raise UsageError("give either --target CLASS or --layer NAME with --neuron/--channel, "
                         "not both")
    if layer is not None and (neuron is None) == (channel is None):
        raise UsageError("--layer needs exactly one of --neuron C,Y,X or --channel C")
    if layer is None and (neuron is not None or channel is not None):
        raise UsageError("--neuron and --channel need --layer NAME (e.g. --layer relu3)")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise UsageError(f"--out must be an image file name ending in .png. "
                         f"Received: --out {args.out}")
    if not out.resolve().parent.is_dir():
        raise FileNotFoundError(f"--out: the folder {str(out.parent)!r} does not exist")

    if is_torch_weights(args.model):
        return cmd_explain_photo(args)
    model = load(args.model) if args.model is not None else pretrained()
    names = list(data.FASHION_MNIST_CLASSES) if args.model is None else None
    x = load_for(model, args.image, args.invert)
    if layer is not None:
        model.index(layer)   # KeyError listing the layers
        target = (explain.Neuron(layer, *parse_neuron(neuron)) if neuron is not None
                  else explain.Channel(layer, parse_int(channel, "--channel")))
    elif args.target is not None:
        target = parse_class(args.target, names)
        n_classes = model.forward(x).shape[-1]
        if not 0 <= target < n_classes:
            raise UsageError(f"--target {target} is out of range: the model has {n_classes} "
                             f"classes")
    else:
        target = None   # the predicted class
    modes = RELU_MODES if args.mode == "all" else (args.mode,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = explain_image(model, x, target, modes=modes, class_names=names,
                                name=Path(args.image).name, path=out)
    for message in dict.fromkeys(str(w.message) for w in caught):   # once each, in order
        print(f"warning: {message}", file=sys.stderr)
    print(summary)


def cmd_train(args: argparse.Namespace) -> None:
    """Train `models.fashion_cnn` (or `models.shapes_cnn`) with Adam, save it, print the
    test accuracy, and write a JSON record (command, seed, history, accuracy) beside it."""
    import json

    import numpy as np

    from . import __version__, data, models
    from .layers._threads import default_threads
    from .optim import SGD, Adam
    from .train import default_workers, evaluate, fit

    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--limit", args.limit), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be >= 1. Received: {flag} {value}")
    if args.val < 0:
        raise UsageError(f"--val must be >= 0. Received: --val {args.val}")
    if not (args.lr > 0 and np.isfinite(args.lr)):
        raise UsageError(f"--lr must be a positive number. Received: --lr {args.lr}")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out must be a .npz file. Received: --out {args.out}")
    if not out.parent.is_dir():
        raise UsageError(f"--out: the folder {str(out.parent)!r} does not exist")

    if args.dataset == "fashion-mnist":
        X, y = data.load_fashion_mnist("train")
        X_test, y_test = data.load_fashion_mnist("test")
        build = models.fashion_cnn
    else:   # fixed data seeds: --seed changes the network and the order, not the images
        X, y, _ = data.make_shapes(SHAPES_TRAIN_SIZE, seed=0)
        X_test, y_test, _ = data.make_shapes(SHAPES_TEST_SIZE, seed=1)
        build = models.shapes_cnn
    val = None
    if args.val:
        if args.val >= len(X):
            raise UsageError(f"--val must be smaller than the {len(X):,} training images. "
                             f"Received: --val {args.val}")
        X, y, val = X[:-args.val], y[:-args.val], (X[-args.val:], y[-args.val:])
    if args.limit is not None:
        X, y = X[:args.limit], y[:args.limit]

    rng = np.random.default_rng(args.seed)   # one stream: initial weights, then shuffling
    model = build(rng)
    if args.optimizer == "adam":
        optimizer = Adam(model, lr=args.lr)
    else:
        optimizer = SGD(model, lr=args.lr, momentum=0.9)
    workers = args.workers if args.workers is not None else default_workers()
    command = (f"python -m minicnn train --dataset {args.dataset} --epochs {args.epochs} "
               f"--out {args.out} --seed {args.seed} --batch-size {args.batch_size} "
               f"--lr {args.lr} --optimizer {args.optimizer} --workers {workers}"
               + (f" --limit {args.limit}" if args.limit is not None else "")
               + (f" --val {args.val}" if args.val else ""))
    print(f"training {build.__name__} ({model.num_parameters():,} parameters) on "
          f"{len(X):,} {args.dataset} images for {args.epochs} epoch(s), "
          f"{workers} worker thread(s)", flush=True)
    try:
        history = fit(model, X, y, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=optimizer, val=val, rng=rng, progress=not args.quiet,
                      workers=workers)
    except FloatingPointError as err:
        raise UsageError(str(err)) from None
    model.save(out)
    test_loss, test_acc = evaluate(model, X_test, y_test)
    print(f"test accuracy: {test_acc:.4f} on {len(X_test):,} test images "
          f"(test loss {test_loss:.4f})")
    record = {"command": command, "dataset": args.dataset, "seed": args.seed,
              "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "optimizer": args.optimizer, "workers": workers,
              # with one worker the convolutions' own threads also set the sums' order
              "kernel_threads": default_threads() if workers == 1 else 1,
              "train_images": len(X),
              "val_images": args.val,
              "test_images": len(X_test), "test_loss": test_loss, "test_accuracy": test_acc,
              "history": {"loss": history.loss, "accuracy": history.accuracy,
                          "val_loss": history.val_loss, "val_accuracy": history.val_accuracy,
                          "seconds": history.seconds},
              "minicnn": __version__, "numpy": np.__version__}
    record_path = out.with_suffix(".json")
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out} and {record_path}")
    if args.plot:
        history.plot(args.plot)
        print(f"wrote {args.plot}")


def cmd_assignment_build(args: argparse.Namespace) -> None:
    from .grading import BuildError, build_assignment
    output_folder(args.out, "--out")
    try:
        path = build_assignment(args.name, args.out, check=not args.no_check)
    except BuildError as err:
        raise UsageError(f"the build of {args.name!r} failed its self-check: {err}") from None
    print(f"wrote {path}")


def cmd_grade(args: argparse.Namespace) -> None:
    """Grade one submission (``--submission``) or a folder of them (``--submissions``)."""
    from .grading import SubmissionError, grade, grade_all, load_assignment
    if (args.submission is None) == (args.submissions is None):
        raise UsageError("give exactly one of --submission PATH and --submissions DIR")
    for flag, value in (("--timeout", args.timeout), ("--deadline", args.deadline)):
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be > 0. Received: {flag} {value}")
    users = [u for u in (args.user or "").split(",") if u]
    spec = load_assignment(args.assignment)
    timeout = args.timeout or float(spec.raw.get("timeout", 60.0))
    deadline = args.deadline or float(spec.raw.get("deadline", 480.0))
    if args.submissions is not None:
        out = args.results_dir or "results"
        grade_all(args.assignment, args.submissions, out, args.gradebook, jobs=args.jobs,
                  users=users, timeout=timeout, deadline=deadline)
        print(f"wrote {args.gradebook or out + '/grades.csv'} and one results.json per "
              f"student in {out}/")
        return
    if len(users) > 1:
        raise UsageError(f"--user: one user for one submission. Received: --user {args.user}")
    unreadable = submission_problem(args.submission)
    try:
        grade(args.assignment, args.submission, results=args.results, timeout=timeout,
              deadline=deadline, run_as=users[0] if users else None)
    except SubmissionError as err:
        raise UsageError(str(err)) from None
    if unreadable:   # the 0-point results.json is written; the exit status says it too
        raise UsageError(f"--submission: {unreadable} (wrote a 0-point "
                         f"{args.results or 'results.json'})")


def submission_problem(path: str) -> str | None:
    """Why the grader cannot find a minicnn package in ``path`` (missing, not a folder or
    zip, empty, unsafe), or None."""
    import tempfile

    from .grading import SubmissionError
    from .grading.grader import locate_package
    with tempfile.TemporaryDirectory(prefix="minicnn-check-") as work:
        try:
            locate_package(path, Path(work))
        except SubmissionError as err:
            return str(err)
    return None


def cmd_notebooks(args: argparse.Namespace) -> None:
    import time

    from . import notebooks
    paths = notebooks.find_notebooks(args.folder)
    if not paths:
        raise UsageError(f"no notebooks found in {args.folder or notebooks.NOTEBOOK_DIR}")
    if not args.execute:
        print("\n".join(str(p) for p in paths))
        print("add --execute to run them (and --html DIR to render them)")
        return
    if args.html:
        output_folder(args.html, "--html")
    if args.html and not notebooks.has_nbconvert():
        raise UsageError(f"--html needs nbconvert, an optional extra: {notebooks.HTML_EXTRA}")
    for path in paths:
        start = time.perf_counter()
        nb = notebooks.execute(path, timeout=args.timeout)
        print(f"ran {path} in {time.perf_counter() - start:.1f} s")
        if args.html:
            out = Path(args.html) / f"{path.stem}.html"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(notebooks.to_html(nb, title=path.stem), encoding="utf-8")
            print(f"  wrote {out}")


# `explore`: image files it reads from --images DIR, and at most how many (page size).
EXPLORE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
EXPLORE_MAX_IMAGES = 40


def cmd_explore(args: argparse.Namespace) -> None:
    """Write the explorer page (see `minicnn.figures.explorer`) for the shipped sample
    images or the image files of --images DIR."""
    import tempfile
    import time

    from . import data, load, pretrained
    from .figures.explorer import write_explorer

    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out must be a file name ending in .html, but {args.out!r} is a "
                         f"folder. Received: --out {args.out}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out must be a file name ending in .html. Received: --out {args.out}")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out: the folder {str(out.parent)!r} does not exist")
    try:   # find out now, not after a minute of building
        with tempfile.TemporaryFile(dir=out.resolve().parent):
            pass
    except OSError as err:
        raise UsageError(f"--out: cannot write into the folder {str(out.parent)!r} "
                         f"({err.strerror})") from None
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1. Received: --workers {args.workers}")
    model = load(args.model) if args.model is not None else pretrained()
    class_names = list(data.FASHION_MNIST_CLASSES) if args.model is None else None
    if args.images is None:
        X, y = data.sample_images()
        names = [data.FASHION_MNIST_CLASSES[k] for k in y]
        if model.input_shape not in (None, tuple(X.shape[1:])):
            raise UsageError(f"the sample images are 1x28x28 Fashion-MNIST images, but the "
                             f"model takes {'x'.join(map(str, model.input_shape))}; give "
                             f"--images DIR")
        X = (1 - X if args.invert else X).astype(model.dtype)
        what = "the shipped sample images"
    else:
        X, names = explore_images(model, args.images, args.invert)
        what = args.images
    source = "the shipped Fashion-MNIST model" if args.model is None else Path(args.model).name
    start = time.perf_counter()
    write_explorer(out, model, X, names, class_names, workers=args.workers,
                   title=f"minicnn explorer: {source}, {what}")
    megabytes = out.stat().st_size / 1e6
    print(f"wrote {out} ({megabytes:.1f} MB, {len(X)} images) in "
          f"{time.perf_counter() - start:.1f} s; open it in a web browser (it needs no network)")


def explore_images(model, folder: str, invert: bool):
    """The image files of ``folder`` (sorted by name) as one batch fitting ``model``, and
    their file names."""
    import numpy as np

    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"--images must be a folder of image files. Received: --images "
                         f"{folder}")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in EXPLORE_SUFFIXES)
    if not files:
        raise UsageError(f"--images: {folder!r} holds no image files "
                         f"({', '.join(EXPLORE_SUFFIXES)})")
    if len(files) > EXPLORE_MAX_IMAGES:
        raise UsageError(f"--images: the page holds at most {EXPLORE_MAX_IMAGES} images; "
                         f"{folder!r} has {len(files)}. Received: --images {folder}")
    images = [load_for(model, f, invert) for f in files]
    if len({x.shape for x in images}) > 1:
        raise UsageError("--images: the files have different sizes and the model does not "
                         "state its input size; resize them to one size first")
    return np.concatenate(images), [f.name for f in files]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m minicnn",
        description="minicnn: a pure-NumPy CNN for teaching guided backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="write the lecture's figures (three gradient rules) as PNGs",
                       description="Explain the shipped Fashion-MNIST model's predictions on "
                                   "the shipped sample images under the three ReLU rules "
                                   "(classes.png, neurons.png), then what neurons look for "
                                   "and the randomisation test (top_patches.png, "
                                   "randomization.png). With --model WEIGHTS.pth --images DIR: "
                                   "the same figures for photographs and a VGG or AlexNet.")
    p.add_argument("--out", default="minicnn-demo", help="output folder (default: %(default)s)")
    p.add_argument("--model", default=None,
                   help="a model .npz for Fashion-MNIST-sized images (default: the shipped "
                        "one), or PyTorch weights of a VGG or AlexNet (.pth, .safetensors, "
                        "e.g. vgg16-397923af.pth) with --images")
    p.add_argument("--images", default=None, metavar="DIR",
                   help="with PyTorch weights: a folder of photographs (JPEG, PNG, ...); "
                        "writes classes.png, neurons.png and top_patches.png for them")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="with --images: the conv layer whose neurons to show, e.g. relu9 "
                        "(default: two thirds of the way up, relu9 for VGG-16)")
    p.add_argument("--optimize", action="store_true",
                   help="also optimise the input: class visualisations, fooling images and "
                        "layer inversion (class_images.png, fooling.png, inversion.png)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("explain", help="explain one image of your own",
                       description="Explain one image file: a class score (default: the "
                                   "predicted class), one neuron or one feature map, under the "
                                   "three ReLU rules; writes a PNG.")
    p.add_argument("--image", required=True, help="PNG/JPEG file; resized to the model's input")
    p.add_argument("--model", default=None,
                   help="model .npz (default: the shipped Fashion-MNIST model), or PyTorch "
                        "weights of a VGG or AlexNet (.pth, .safetensors): the photograph is "
                        "then resized and centre-cropped to 224x224 as for ImageNet")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="class index (or Fashion-MNIST or ImageNet class name); default: "
                        "predicted class")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="layer of the neuron or channel, e.g. relu3")
    p.add_argument("--neuron", default=None, metavar="C,Y,X", help="neuron of --layer")
    p.add_argument("--channel", default=None, metavar="C", help="feature map of --layer")
    p.add_argument("--mode", default="all", choices=[*RELU_MODES, "all"],
                   help="ReLU rule (default: all three side by side)")
    p.add_argument("--invert", action="store_true",
                   help="use 1 - pixel (Fashion-MNIST shows light clothes on black)")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("train", help="train a CNN on Fashion-MNIST or the shapes set",
                       description="Train minicnn.models.fashion_cnn (Fashion-MNIST) or "
                                   "shapes_cnn (synthetic shapes: 8,000 training and 2,000 "
                                   "test images) with mini-batches, save it as .npz, and "
                                   "print its test accuracy. A JSON record of the run "
                                   "(command, seed, history, accuracy) is written beside "
                                   "the model.")
    p.add_argument("--dataset", required=True, choices=["fashion-mnist", "shapes"],
                   help="training data")
    p.add_argument("--epochs", type=int, required=True, help="passes over the training set")
    p.add_argument("--out", required=True, help="where to save the model (.npz)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights and the shuffling (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: %(default)s)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="adam, or sgd with momentum 0.9 (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N training images (for quick runs)")
    p.add_argument("--val", type=int, default=0, metavar="N",
                   help="hold out the last N training images and report the loss and "
                        "accuracy on them after every epoch (default: 0, train on all)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw the loss/accuracy history to this image file")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="threads that share each batch (data parallelism; default: the "
                        "CPU cores, at most 4). The same seed and the same N give the "
                        "same weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("assignment", help="build an assignment's student release")
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = asub.add_parser("build", help="write the student release and the Gradescope zip")
    b.add_argument("name", help="assignment name, e.g. guided_backprop or cnn_layers")
    b.add_argument("--out", default="build", help="output folder (default: %(default)s)")
    b.add_argument("--no-check", action="store_true", help="skip the self-check grading runs")
    b.set_defaults(func=cmd_assignment_build)

    p = sub.add_parser("grade", help="grade a submission (or a folder of them) and write "
                       "Gradescope's results.json")
    p.add_argument("--assignment", required=True, help="assignment name")
    p.add_argument("--submission", help="folder or .zip with the student's minicnn/")
    p.add_argument("--results", default="results.json",
                   help="with --submission: where to write results.json")
    p.add_argument("--submissions", metavar="DIR",
                   help="grade every sub-folder and .zip of DIR (one per student)")
    p.add_argument("--jobs", type=int, default=1, help="with --submissions: submissions "
                   "graded at the same time (default: 1)")
    p.add_argument("--gradebook", help="with --submissions: the CSV gradebook "
                   "(default: RESULTS_DIR/grades.csv)")
    p.add_argument("--results-dir", help="with --submissions: gets STUDENT/results.json "
                   "(default: results)")
    p.add_argument("--user", help="run the submission's code as this unprivileged user "
                   "(needs root); with --jobs N, N users separated by commas")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds of the submission's time per test (default: the "
                   "assignment's, else 60)")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds for a whole submission (default: the assignment's, else 480)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("notebooks", help="list, execute and render the lecture notebooks")
    p.add_argument("--execute", action="store_true", help="run every notebook in a fresh kernel")
    p.add_argument("--html", metavar="DIR", help="with --execute: write one HTML page each "
                   "(needs nbconvert: pip install -e .[html])")
    p.add_argument("--folder", help="notebook folder (default: the repo's notebooks/)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("explore", help="write one HTML page to click through neurons and "
                       "the three rules' maps",
                       description="Write one self-contained HTML page (no server, no "
                                   "network) for the lecture hall: choose an image and a "
                                   "layer, click a neuron, and see its maps under standard "
                                   "backprop, deconvnet and guided backprop, its receptive "
                                   "field, and Grad-CAM for the top classes. Everything is "
                                   "computed before the page is written.")
    p.add_argument("--out", required=True, metavar="HTML", help="where to write the page "
                   "(a file name ending in .html)")
    p.add_argument("--model", default=None, help="model .npz (default: the shipped "
                                                 "Fashion-MNIST model)")
    p.add_argument("--images", default=None, metavar="DIR",
                   help=f"a folder of image files (at most {EXPLORE_MAX_IMAGES}), resized to "
                        f"the model's input (default: the 10 shipped sample images)")
    p.add_argument("--invert", action="store_true",
                   help="use 1 - pixel (Fashion-MNIST shows light clothes on black)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="images explained at the same time (default: the CPU cores, at "
                        "most 4)")
    p.set_defaults(func=cmd_explore)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(join_negative_values(argv))
    try:
        args.func(args)
    except (UsageError, OSError, ValueError, TypeError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # e.g. piped into `head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
