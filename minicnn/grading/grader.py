"""Grade a submission: run the graded tests, print a score table, write results.json.

The grader process imports only the standard library. It reads which tests exist
and what they are worth from the test files themselves (statically, see
:mod:`.config`), runs them against the submission in subprocesses (see
:mod:`.runner`), and writes Gradescope's ``results.json``. A submission that
cannot be found, does not import, hangs or crashes still gets a results file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .config import Assignment, GradedTest, load_assignment
from .runner import Runner, RunResult
from .sandbox import child_pids, kill_descendants, set_subreaper, user_ids
from .worker import IMPORT_FAILED

MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
DEFAULT_DEADLINE = 480.0  # seconds for a whole grade (Gradescope's default limit is 600)
HIDDEN_FAILED = "Failed. (This is a hidden test: its details are not shown.)"
HIDDEN_SHOWN = {  # the end of the summary's sentence on hidden tests, per visibility
    "hidden": "; their results are not shown to you.",
    "after_due_date": " and are shown after the due date.",
    "after_published": " and are shown when grades are published.",
    "visible": " and are listed below."}
# Things a submission has no reason to touch; listed for the instructor only.
SUSPICIOUS = re.compile(
    r"\b(pytest|_pytest|conftest|autograde\w*|sys\.modules|builtins|os\._exit|ctypes|"
    r"settrace|setprofile|gc\.get_objects|/proc/self|MINICNN_GRADER\w*|results\.json)\b")


class SubmissionError(Exception):
    """The submission holds no usable ``minicnn`` package."""


@dataclass
class Outcome:
    """The graded result of one test function."""

    test: GradedTest
    passed: bool
    reason: str  # one line, for the table
    details: str  # traceback and captured output, for visible tests
    submission_problem: bool = False  # the failure is the package's, not the test's

    @property
    def score(self) -> float:
        return self.test.points if self.passed else 0.0


def locate_package(submission: str | Path, work_dir: Path) -> Path:
    """Find the ``minicnn/`` package inside a submission folder or zip.

    Accepts the package folder itself, a folder holding it (at any depth up to 4,
    the shallowest wins), or a ``.zip`` of either (also a zip inside the folder, as
    Gradescope may leave an uploaded archive unpacked).
    """
    path = Path(submission)
    if not path.exists():
        raise SubmissionError(f"submission not found: {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise SubmissionError(f"expected a folder or a .zip, but got the file {path.name}")
        path = _unzip(path, work_dir / "unzipped")
    if path.name == "minicnn" and (path / "__init__.py").is_file():
        return path
    found = _search(path)
    if found is None:
        for archive in sorted(path.rglob("*.zip")):
            if zipfile.is_zipfile(archive):
                found = _search(_unzip(archive, work_dir / f"unzipped-{archive.stem}"))
                if found is not None:
                    break
    if found is None:
        raise SubmissionError(
            "no minicnn/ package (a folder named minicnn holding __init__.py) in the "
            "submission; upload the minicnn folder of your release, or a zip of it")
    if not (found.resolve().is_relative_to(path.resolve())
            or found.resolve().is_relative_to(work_dir.resolve())):
        raise SubmissionError("the minicnn folder of the submission is a symbolic link to "
                              "somewhere else; upload the folder itself")
    return found


def _search(root: Path, depth: int = 4) -> Path | None:
    level = [root]
    for _ in range(depth + 1):
        for folder in level:
            candidate = folder / "minicnn"
            if (candidate / "__init__.py").is_file():
                return candidate
        level = sorted(
            child for folder in level for child in folder.iterdir()
            if child.is_dir() and not child.name.startswith((".", "__MACOSX", "__pycache__"))
        )
    return None


def _unzip(archive: Path, target: Path) -> Path:
    target.mkdir(mode=0o700, parents=True, exist_ok=True)  # not for other sandbox users
    with zipfile.ZipFile(archive) as zf:
        if sum(info.file_size for info in zf.infolist()) > MAX_UNZIPPED_BYTES:
            raise SubmissionError(f"{archive.name} unpacks to more than 500 MB")
        for info in zf.infolist():
            destination = (target / info.filename).resolve()
            if not str(destination).startswith(str(target.resolve()) + os.sep):
                raise SubmissionError(f"{archive.name}: unsafe path {info.filename!r}")
        zf.extractall(target)
    return target


def _test_id(nodeid: str) -> str:
    """``file.py::test_f[case]`` -> ``file.py::test_f``."""
    return nodeid.split("[", 1)[0]


def _outcome(test: GradedTest, run: RunResult) -> Outcome:
    items = [item for nodeid, item in run.items.items()
             if _test_id(nodeid.rpartition("/")[2]) == test.id]
    if not items:
        if run.problem is not None:
            return Outcome(test, False, run.problem.reason, run.problem.details)
        return Outcome(test, False, "the test was not run (not collected)", "")
    bad = [item for item in items if item.outcome != "passed"]
    if not bad:
        return Outcome(test, True, "", items[0].details if len(items) == 1 else "")
    first = bad[0]
    case = first.nodeid.rpartition("/")[2][len(test.id):]
    prefix = f"case {case} of {len(items)}: " if case else ""
    return Outcome(test, False, prefix + first.reason, first.details)


def run_tests(assignment: Assignment, submission: str | Path, timeout: float = 60.0, *,
              python: str | None = None, run_as: str | None = None,
              deadline: float | None = None,
              memory_mb: int = 2048) -> tuple[list[Outcome], str | None]:
    """Run every graded test of ``assignment`` against ``submission``.

    ``timeout`` is the submission's time per test; ``deadline`` a
    ``time.monotonic()`` value after which every test without a result fails.

    Returns:
        ``(outcomes, problem)`` where ``problem`` is a one-line description of a
        submission-level failure (missing package, failed import) or None.
    """
    deadline = deadline if deadline is not None else time.monotonic() + DEFAULT_DEADLINE
    with tempfile.TemporaryDirectory(prefix="minicnn-grade-") as work:
        work_dir = Path(work)
        if run_as:
            os.chmod(work_dir, 0o711)  # the user may enter its own folder, list nothing
        try:
            package = locate_package(submission, work_dir)
        except SubmissionError as exc:
            return [Outcome(t, False, str(exc), "", True) for t in assignment.tests], str(exc)
        runner = Runner(package, work_dir, timeout=timeout, python=python or _python(),
                        run_as=run_as, memory_mb=memory_mb)
        files = [assignment.tests_dir / f
                 for f in [*assignment.visible_files, *assignment.hidden_files]]
        run = runner.run(files, assignment.support_files(), Path(__file__).parent, deadline)
        problem = _import_problem(run)
        if problem is not None:
            return [Outcome(t, False, *problem, True) for t in assignment.tests], problem[0]
        return [_outcome(t, run) for t in assignment.tests], None


def _import_problem(run: RunResult) -> tuple[str, str] | None:
    """``(reason, details)`` when no test could run because minicnn does not import
    (every test failed in setup with the same import message), else None."""
    items = list(run.items.values())
    reasons = {item.reason.removesuffix(" (in setup)") for item in items}
    if (len(reasons) == 1 and all(item.outcome == "failed" for item in items)
            and next(iter(reasons)).startswith(IMPORT_FAILED)):
        return next(iter(reasons)), items[0].details
    return None


def _python() -> str:
    """The interpreter for the test and worker processes: $MINICNN_PYTHON (a name on
    PATH is made absolute, as the workers' minimal environment has no PATH to search)
    or this one."""
    name = os.environ.get("MINICNN_PYTHON")
    if not name:
        return sys.executable
    return shutil.which(name) or name


def results_json(assignment: Assignment, outcomes: list[Outcome], problem: str | None,
                 seconds: float) -> dict:
    """Gradescope's results.json as a dict (scores decided here, in the grader)."""
    tests = []
    for o in outcomes:
        visibility = assignment.hidden_visibility if o.test.hidden else "visible"
        if o.passed:
            output = "Passed." + (f" {o.test.doc}" if o.test.doc else "")
        elif o.test.hidden and not o.submission_problem:
            output = HIDDEN_FAILED
        else:
            output = f"Failed: {o.reason}" + (f"\n\n{o.details}" if o.details else "")
            if o.test.doc:
                output = f"{o.test.doc}\n{output}"
        tests.append({"name": o.test.id, "score": o.score, "max_score": o.test.points,
                      "status": "passed" if o.passed else "failed", "output": output,
                      "visibility": visibility})
    visible = [o for o in outcomes if not o.test.hidden]
    summary = (f"{assignment.title}: visible tests {sum(o.score for o in visible):g} / "
               f"{sum(o.test.points for o in visible):g} points.")
    if any(o.test.hidden for o in outcomes):
        summary += " Hidden tests count toward the score" + HIDDEN_SHOWN[
            assignment.hidden_visibility]
    if problem:
        summary = f"Your submission could not be graded: {problem}\n\n{summary}"
    return {
        "score": sum(o.score for o in outcomes),
        "max_score": assignment.max_score,
        "output": summary,
        "stdout_visibility": "hidden",
        "execution_time": round(seconds, 1),
        "tests": tests,
        "extra_data": {"assignment": assignment.name},
    }


def write_results(results: dict, path: str | Path) -> Path:
    """Write results.json atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(results, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def format_table(assignment: Assignment, outcomes: list[Outcome], width: int = 80) -> str:
    """The score table: test, points, PASS/FAIL, one-line reason; then the total."""
    name_w = max([len("test"), *(len(o.test.id) for o in outcomes)])
    lines = [f"{assignment.title} ({assignment.name})",
             f"{'test':<{name_w}}  {'kind':<7} {'points':>9}  result  reason"]
    for o in outcomes:
        points = f"{o.score:g}/{o.test.points:g}"
        reason = o.reason if len(o.reason) <= width else o.reason[: width - 3] + "..."
        lines.append(f"{o.test.id:<{name_w}}  {'hidden' if o.test.hidden else 'visible':<7} "
                     f"{points:>9}  {'PASS' if o.passed else 'FAIL':<6}  {reason}")
    total = sum(o.score for o in outcomes)
    lines.append(f"{'total':<{name_w}}  {'':<7} {f'{total:g}/{assignment.max_score:g}':>9}")
    return "\n".join(lines)


KNOWN_LINES_FILE = "known_lines.json"  # in autograder.zip: hashes of the release's lines


def line_hash(line: str) -> str:
    return hashlib.sha1(line.strip().encode()).hexdigest()[:16]


def known_lines(source_root: Path) -> set[str]:
    """Hashes of the lines the course ships (they are not the student's own).

    From the reference package when grading from the source tree, else from the
    list that ``build_assignment`` put into ``autograder.zip``.
    """
    package = source_root / "minicnn"
    if package.is_dir():
        return {line_hash(line) for path in package.rglob("*.py")
                for line in path.read_text(errors="replace").splitlines()}
    listing = source_root / KNOWN_LINES_FILE
    if listing.is_file():
        return set(json.loads(listing.read_text()))
    return set()


def suspicious_lines(package: Path, known: set[str] = frozenset(), limit: int = 20) -> list[str]:
    """Lines the student wrote that mention grading internals (for a human to review)."""
    hits = []
    for path in sorted(p for p in package.rglob("*.py") if not p.is_symlink()):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if SUSPICIOUS.search(line) and line_hash(line) not in known:
                hits.append(f"{path.relative_to(package.parent)}:{number}: {line.strip()[:100]}")
                if len(hits) >= limit:
                    return hits
    return hits


def grade(assignment: str, submission: str | Path, results: str | Path | None = None,
          timeout: float = 60.0, source_root: str | Path | None = None, *,
          python: str | None = None, run_as: str | None = None, quiet: bool = False,
          deadline: float | None = None, memory_mb: int = 2048) -> dict:
    """Grade ``submission`` (a folder or zip holding ``minicnn/``) for ``assignment``.

    Runs the visible and hidden graded tests (``timeout`` seconds of the
    submission's time per test; at most ``deadline`` seconds in all, default
    480), prints the score table unless ``quiet``, writes Gradescope's
    ``results.json`` to ``results`` (default ``./results.json``) and returns it.
    ``run_as`` names the unprivileged user the submission's code runs as (the
    grader must be root); every process of that user is killed at the end. One
    grade at a time per process (use :func:`.batch.grade_all` for many).
    """
    started = time.monotonic()
    spec = load_assignment(assignment, source_root)
    uid = None
    if run_as:
        if os.geteuid() != 0:
            raise ValueError(f"run_as={run_as!r} needs the grader to run as root")
        uid = user_ids(run_as)[0]
        if not quiet and _readable_by_others(spec.root / "minicnn" / "__init__.py"):
            print(f"warning: the reference package {spec.root / 'minicnn'} is readable by "
                  f"every user, {run_as} included: a submission could import it (make it "
                  "private: chmod o-rx on the checkout)", file=sys.stderr)
    else:
        warn_unsandboxed()
    # Orphans of the grading become ours (not init's), so that none outlives it; the
    # caller's own subprocesses, started before, are left alone.
    spare = child_pids()
    was_subreaper = set_subreaper(True)
    try:
        outcomes, problem = run_tests(
            spec, submission, timeout, python=python, run_as=run_as, memory_mb=memory_mb,
            deadline=started + (deadline if deadline is not None else DEFAULT_DEADLINE))
    finally:
        kill_descendants(uid=uid, spare=spare)
        set_subreaper(was_subreaper)
    report = results_json(spec, outcomes, problem, time.monotonic() - started)
    path = write_results(report, results if results is not None else "results.json")
    if not quiet:
        print(format_table(spec, outcomes))
        if problem:
            print(f"\nThe submission could not be graded: {problem}")
            details = next((o.details for o in outcomes if o.details), "")
            if details:
                print(details.rstrip())
        _print_review_notes(submission, known_lines(spec.root))
        print(f"\nresults written to {path} ({report['execution_time']:g} s)")
    return report


def _readable_by_others(path: Path) -> bool:
    """True if users other than the owner can read ``path`` (by the "other" mode bits
    of the file and the search bits of every folder above it)."""
    if not path.is_file():
        return False
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    return all(os.stat(folder).st_mode & stat.S_IXOTH for folder in path.resolve().parents)


_warned = False


def warn_unsandboxed() -> None:
    """Say once per process that the submission runs with the grader's permissions."""
    global _warned
    if not _warned:
        _warned = True
        print("warning: no sandbox user: the submission's code runs with your own "
              "permissions and can read and change your files (as root, pass --user NAME; "
              "see docs/grading.md)", file=sys.stderr)


def _print_review_notes(submission: str | Path, known: set[str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        try:
            package = locate_package(submission, Path(work))
        except SubmissionError:
            return
        hits = suspicious_lines(package, known)
    if hits:
        print("\nfor the instructor: lines of the submission that touch grading internals "
              "(review by hand):")
        for hit in hits:
            print("  " + hit)
