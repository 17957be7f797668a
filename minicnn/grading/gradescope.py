"""Entry point of the Gradescope autograder (called by ``run_autograder``).

Gradescope puts the student's upload in ``<root>/submission`` and this autograder's
files in ``<root>/source``, and reads ``<root>/results/results.json``. The root is
``/autograder`` on Gradescope; tests point it at a temporary folder.

When it runs as root and the user ``minicnn-student`` (made by ``setup.sh``)
exists, the submission's code runs as that user (in worker processes), the
autograder's source (hidden tests included) is made unreadable to it, and the
results folder is not writable by it. A results file is written whatever happens,
by this process only.
"""

from __future__ import annotations

import argparse
import os
import pwd
import traceback
from pathlib import Path

from .config import load_assignment
from .grader import grade, write_results

DEFAULT_USER = "minicnn-student"


def _test_user(requested: str | None) -> str | None:
    if os.geteuid() != 0:
        return None
    name = requested or os.environ.get("MINICNN_GRADER_USER", DEFAULT_USER)
    if not name or name == "root":
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        print(f"note: no user {name!r}; student code runs as root (see assignments/README.md)")
        return None
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the minicnn Gradescope autograder.")
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--root", default=os.environ.get("MINICNN_AUTOGRADER_ROOT",
                                                         "/autograder"))
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per test (default: the config's, else 60)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds for the whole grade (default: the config's, else 480)")
    parser.add_argument("--user", default=None, help="run student code as this user")
    args = parser.parse_args(argv)
    root = Path(args.root)
    results = root / "results" / "results.json"
    try:
        spec = load_assignment(args.assignment, root / "source")
        timeout = args.timeout or float(spec.raw.get("timeout", 60.0))
        deadline = args.deadline or float(spec.raw.get("deadline", 480.0))
        user = _test_user(args.user)
        if user:
            os.chmod(root / "source", 0o700)  # hidden tests and grader: root only
            results.parent.mkdir(parents=True, exist_ok=True)
            os.chown(results.parent, 0, 0)
            os.chmod(results.parent, 0o755)  # only root writes results.json
        grade(args.assignment, root / "submission", results, timeout=timeout,
              source_root=root / "source", run_as=user, deadline=deadline)
    except Exception as exc:  # the grader itself failed: still give Gradescope a result
        traceback.print_exc()
        write_results({
            "score": 0.0,
            "output": f"The autograder failed ({type(exc).__name__}). This is not your "
                      "fault: please tell the course staff.",
            "stdout_visibility": "hidden",
            "tests": [],
        }, results)
    return 0
