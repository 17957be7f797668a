"""Command line: ``python -m minicnn {demo,explain,train,assignment,grade,notebooks} --help``.

Each subcommand is a short function that parses its arguments and calls the
library; errors in the user's arguments are printed as one line (no traceback)
and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """A problem with the user's arguments or files, printed as one clear line."""


def cmd_demo(args: argparse.Namespace) -> None:
    raise UsageError("the demo is not available yet")


def cmd_explain(args: argparse.Namespace) -> None:
    raise UsageError("explain is not available yet")


def cmd_train(args: argparse.Namespace) -> None:
    raise UsageError("train is not available yet")


def cmd_assignment_build(args: argparse.Namespace) -> None:
    from .grading import build_assignment
    path = build_assignment(args.name, args.out, check=not args.no_check)
    print(f"wrote {path}")


def cmd_grade(args: argparse.Namespace) -> None:
    from .grading import grade
    grade(args.assignment, args.submission, results=args.results, timeout=args.timeout)


def cmd_notebooks(args: argparse.Namespace) -> None:
    import time
    from pathlib import Path

    from . import notebooks
    paths = notebooks.find_notebooks(args.folder)
    if not paths:
        raise UsageError(f"no notebooks found in {args.folder or notebooks.NOTEBOOK_DIR}")
    if not args.execute:
        print("\n".join(str(p) for p in paths))
        print("add --execute to run them (and --html DIR to render them)")
        return
    for path in paths:
        start = time.perf_counter()
        nb = notebooks.execute(path, timeout=args.timeout)
        print(f"ran {path} in {time.perf_counter() - start:.1f} s")
        if args.html:
            out = Path(args.html) / f"{path.stem}.html"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(notebooks.to_html(nb, title=path.stem), encoding="utf-8")
            print(f"  wrote {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minicnn",
        description="minicnn: a pure-NumPy CNN for teaching guided backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="write the lecture figure (three gradient rules) as PNGs",
                       description="Explain the shipped Fashion-MNIST model's predictions on "
                                   "the shipped sample images under the three ReLU rules.")
    p.add_argument("--out", default="minicnn-demo", help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("explain", help="explain one image of your own")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("train", help="train a CNN on Fashion-MNIST or the shapes set")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("assignment", help="build an assignment's student release")
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = asub.add_parser("build", help="write the student release and the Gradescope zip")
    b.add_argument("name", help="assignment name, e.g. guided_backprop or cnn_layers")
    b.add_argument("--out", default="build", help="output folder (default: %(default)s)")
    b.add_argument("--no-check", action="store_true", help="skip the self-check grading runs")
    b.set_defaults(func=cmd_assignment_build)

    p = sub.add_parser("grade", help="grade a submission and write Gradescope's results.json")
    p.add_argument("--assignment", required=True, help="assignment name")
    p.add_argument("--submission", required=True, help="folder or .zip with the student's minicnn/")
    p.add_argument("--results", default="results.json", help="where to write results.json")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per test (default: 60)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("notebooks", help="list, execute and render the lecture notebooks")
    p.add_argument("--execute", action="store_true", help="run every notebook in a fresh kernel")
    p.add_argument("--html", metavar="DIR", help="with --execute: write one HTML page each")
    p.add_argument("--folder", help="notebook folder (default: the repo's notebooks/)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")
    p.set_defaults(func=cmd_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UsageError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
