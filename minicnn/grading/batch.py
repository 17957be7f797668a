"""Grade a whole class: every submission of a folder, a few at a time, into a gradebook.

``grade_all`` finds the submissions (each sub-folder or ``.zip`` of the folder is
one student, named after it), grades each one in its own grader process
(:func:`.grader.grade`, so that one submission's processes can be found and
killed without touching another's), writes ``<out>/<student>/results.json`` and
a CSV gradebook (student, score, max score, one column per graded test), and
prints one progress line per submission. A grader process that fails or runs
past the deadline still gives its student a results file (score 0, the reason).

When submissions run as sandbox users, each of the ``jobs`` grading slots needs
its own user: two submissions running at the same time as one user could read
or kill each other. Standard library only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .config import load_assignment
from .grader import write_results
from .sandbox import child_pids, kill_descendants, set_subreaper, user_ids

# Run by ``python -I -c`` for one submission: loads this package from its folder as
# ``minicnn_grading`` (standard library only; not the minicnn library around it).
_CHILD = r"""
import importlib.util, json, os, sys
folder = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "minicnn_grading", os.path.join(folder, "__init__.py"),
    submodule_search_locations=[folder])
package = importlib.util.module_from_spec(spec)
sys.modules["minicnn_grading"] = package
spec.loader.exec_module(package)
from minicnn_grading.grader import grade
grade(quiet=True, **json.loads(sys.argv[2]))
"""


def find_submissions(folder: str | Path) -> list[tuple[str, Path]]:
    """``(student, path)`` for each sub-folder and ``.zip`` of ``folder``, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"expected a folder of submissions, but got {str(folder)!r}")
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "__MACOSX")):
            continue
        if path.is_dir() or path.suffix == ".zip":
            found.append((path.stem if path.is_file() else path.name, path))
    if not found:
        raise ValueError(f"no sub-folder or .zip (one per student) in {str(folder)!r}")
    names = [_safe(name) for name, _ in found]  # the names of their results folders
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two submissions would share a results folder (a folder and a "
                         f"zip of the same name?): {twice}")
    return found


def _safe(name: str) -> str:
    """A folder name for a student: letters, digits and ``._@-``; the rest becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name).strip(".") or "_"


def grade_all(assignment: str, submissions: str | Path, out_dir: str | Path,
              gradebook: str | Path | None = None, *, jobs: int = 1,
              users: list[str] | tuple[str, ...] = (), timeout: float | None = None,
              deadline: float | None = None, source_root: str | Path | None = None,
              python: str | None = None, progress: bool = True) -> list[dict]:
    """Grade every submission in the folder ``submissions``; see the module docstring.

    Args:
        assignment: the assignment's name.
        submissions: a folder with one sub-folder or ``.zip`` per student.
        out_dir: gets ``<student>/results.json`` for each student.
        gradebook: the CSV file to write (default ``<out_dir>/grades.csv``).
        jobs: submissions graded at the same time.
        users: sandbox users, at least one per job (empty: no sandbox, with a warning).
        timeout, deadline: seconds per test and per submission (default: the config's).

    Returns:
        The results dicts, in the order of the submissions.
    """
    spec = load_assignment(assignment, source_root)
    found = find_submissions(submissions)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1. Received: jobs={jobs}")
    if users and len(users) < jobs:
        raise ValueError(f"--jobs {jobs} needs {jobs} sandbox users, one per job (two "
                         f"submissions running as one user could read or kill each "
                         f"other), but got {len(users)}: {list(users)}")
    for user in users:
        user_ids(user)
    timeout = timeout or float(spec.raw.get("timeout", 60.0))
    deadline = deadline or float(spec.raw.get("deadline", 480.0))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not users:
        from .grader import warn_unsandboxed
        warn_unsandboxed()
    spare = child_pids()  # the caller's own subprocesses
    was_subreaper = set_subreaper(True)
    free_users = list(users[:jobs])
    lock = threading.Lock()
    done: list[str] = []
    started = time.monotonic()

    def one(entry: tuple[str, Path]) -> dict:
        student, path = entry
        with lock:
            user = free_users.pop() if free_users else None
        try:
            results = _grade_one(spec, path, out_dir / _safe(student) / "results.json",
                                 timeout, deadline, user, python)
        finally:
            with lock:
                if user:  # whatever that user still runs belongs to this submission
                    kill_descendants(uid=user_ids(user)[0], descendants=False)
                    free_users.append(user)
        with lock:
            done.append(student)
            if progress:
                _progress(len(done), len(found), student, results, spec.max_score,
                          time.monotonic() - started)
        return results

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            all_results = list(pool.map(one, found))
    finally:
        kill_descendants(spare=spare)
        set_subreaper(was_subreaper)
    write_gradebook(spec, found, all_results,
                    Path(gradebook) if gradebook else out_dir / "grades.csv")
    return all_results


def _grade_one(spec, path: Path, results: Path, timeout: float, deadline: float,
               user: str | None, python: str | None) -> dict:
    """Grade one submission in a grader subprocess; always returns a results dict."""
    args = {"assignment": spec.name, "submission": str(path.resolve()),
            "results": str(results.resolve()), "timeout": timeout, "deadline": deadline,
            "source_root": str(spec.root), "python": python, "run_as": user}
    package_folder = str(Path(__file__).resolve().parent)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", _CHILD, package_folder,
                                   json.dumps(args)], stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=deadline + 120)
            problem = None if proc.returncode == 0 else f"exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            problem = f"the grader did not finish within {deadline + 120:g} s"
        log.seek(0)
        tail = log.read()[-3000:].decode("utf-8", "replace")
    if results.is_file():
        try:
            return json.loads(results.read_text(encoding="utf-8"))
        except ValueError:
            problem = problem or "results.json is not valid JSON"
    report = {"score": 0.0, "max_score": spec.max_score, "tests": [],
              "output": f"The autograder failed ({problem}). This is not your fault: please "
                        "tell the course staff.", "stdout_visibility": "hidden",
              "extra_data": {"assignment": spec.name, "grader_log": tail}}
    write_results(report, results)
    return report


def _progress(done: int, total: int, student: str, results: dict, max_score: float,
              seconds: float) -> None:
    """One line per graded submission: count, student, score, rate, time left."""
    rate = done / seconds if seconds > 0 else 0.0
    left = (total - done) / rate if rate > 0 else 0.0
    print(f"[{done}/{total}] {student}: {results.get('score', 0):g}/{max_score:g}  "
          f"({rate * 60:.1f} submissions/min, about {left / 60:.1f} min left)",
          file=sys.stderr, flush=True)


def write_gradebook(spec, found: list[tuple[str, Path]], results: list[dict],
                    path: Path) -> Path:
    """The CSV gradebook: student, score, max_score, then one column per graded test."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    ids = [t.id for t in spec.tests]
    writer.writerow(["student", "score", "max_score", *ids])
    for (student, _), report in zip(found, results):
        scores = {t.get("name"): t.get("score") for t in report.get("tests", [])}
        writer.writerow([student, f"{report.get('score', 0):g}", f"{spec.max_score:g}",
                         *[f"{scores.get(i, 0):g}" for i in ids]])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path
