"""Run graded test files against a submission in isolated subprocesses.

Each test file runs in its own ``python -I`` subprocess whose ``sys.path`` starts
with a private copy of the submission's ``minicnn/`` (no other ``minicnn`` is
importable). A small pytest plugin (:mod:`._report_plugin`) streams events to a
report file. The grader watches that file:

- a test that runs longer than ``timeout`` seconds is killed (with its whole
  process group) and scores 0;
- a test that kills the interpreter (``os._exit``, a segfault, ...) scores 0;
- in both cases the file is run again without the tests already decided, so every
  other test is still graded.

Standard library only: this module runs in the grader's process, which never
imports the submission.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_NAME = "_minicnn_report_plugin"
STARTUP_GRACE = 30.0  # extra seconds for interpreter start-up and test collection
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache",
                                "*.egg-info", ".ipynb_checkpoints")

# Run by ``python -I -c``: put our folders first, make every other minicnn
# unimportable, then hand over to pytest (or to the import check).
_BOOT = r"""
import os, sys
ours = sys.argv[1:4]
del sys.argv[1:4]
def _other_minicnn(p):
    return os.path.isfile(os.path.join(p or ".", "minicnn", "__init__.py"))
sys.path[:] = ours + [p for p in sys.path if p not in ours and not _other_minicnn(p)]
sys.meta_path[:] = [f for f in sys.meta_path
                    if "editable" not in getattr(f, "__module__", "") + repr(f)]
if sys.argv[1] == "--import-check":
    import minicnn
    print("MINICNN_FILE=" + os.path.realpath(minicnn.__file__))
else:
    import pytest
    raise SystemExit(pytest.main(sys.argv[1:]))
"""


@dataclass
class ItemResult:
    """The outcome of one collected test item (one parametrised case)."""

    nodeid: str
    outcome: str  # "passed", "failed" or "skipped"
    reason: str = ""
    details: str = ""


@dataclass
class FileResult:
    """Everything learnt from running one test file."""

    file: str
    items: dict[str, ItemResult] = field(default_factory=dict)
    problem: ItemResult | None = None  # applies to every test without an item result
    runs: int = 0
    seconds: float = 0.0


@dataclass
class Runner:
    """How to run tests: interpreter, submission package, time limit, user."""

    package_dir: Path  # the submission's minicnn/ folder
    timeout: float = 60.0
    python: str = sys.executable
    work_dir: Path | None = None
    run_as: str | None = None  # run the tests as this (non-root) user

    def _env(self, report: Path | None, package_copy: Path | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "PYTEST", "MINICNN_", "COV_"))}
        env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", MPLBACKEND="Agg",
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        if report is not None:
            env["MINICNN_GRADER_REPORT"] = str(report)
        if package_copy is not None:
            env["MINICNN_GRADER_PACKAGE_DIR"] = str(package_copy)
        return env

    def _prepare(self, prefix: str) -> tuple[Path, Path]:
        """A fresh run folder with a private copy of the package; returns (run, pkg)."""
        run_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.work_dir))
        pkg_root = run_dir / "submission"
        shutil.copytree(self.package_dir, pkg_root / "minicnn", ignore=IGNORE)
        return run_dir, pkg_root

    def _popen(self, cmd: list[str], cwd: Path, env: dict[str, str], out, err):
        kwargs = {}
        if self.run_as:  # drop root: the user's own uid and gid, no extra groups
            import pwd

            kwargs.update(user=self.run_as, group=pwd.getpwnam(self.run_as).pw_gid,
                          extra_groups=[])
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True, **kwargs)

    def _give_away(self, path: Path) -> None:
        """Let the unprivileged test user read and write its own run folder."""
        if not self.run_as:
            return
        for p in [path, *path.rglob("*")]:
            shutil.chown(p, user=self.run_as)

    def import_check(self) -> tuple[bool, str, str]:
        """Import the submission's package in a subprocess.

        Returns:
            ``(ok, reason, details)``; ``reason`` is one line, ``details`` the traceback.
        """
        run_dir, pkg_root = self._prepare("import-")
        self._give_away(run_dir)
        cmd = [self.python, "-I", "-B", "-c", _BOOT, str(pkg_root), str(run_dir), str(run_dir),
               "--import-check"]
        out_path, err_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = self._popen(cmd, run_dir, self._env(None, None), out, err)
            try:
                proc.wait(self.timeout + STARTUP_GRACE)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return (False, f"importing minicnn did not finish within "
                        f"{self.timeout + STARTUP_GRACE:g} s (an infinite loop at import time?)",
                        "")
            _kill(proc)  # anything the import started and left running
        stdout = out_path.read_text(errors="replace")
        stderr = _tidy(err_path.read_text(errors="replace"), pkg_root)
        shutil.rmtree(run_dir, ignore_errors=True)
        expected = os.path.realpath(pkg_root / "minicnn") + os.sep
        located = [ln[len("MINICNN_FILE="):] for ln in stdout.splitlines()
                   if ln.startswith("MINICNN_FILE=")]
        if proc.returncode == 0 and located and located[-1].startswith(expected):
            return True, "", ""
        if proc.returncode == 0:
            return False, "minicnn was not imported from the submission", stdout[-2000:]
        return False, ("importing minicnn failed: " + _last_error_line(stderr, proc.returncode)
                       + _where(stderr)), stderr[-6000:]

    def run_file(self, test_file: Path, support_files: list[Path]) -> FileResult:
        """Run one graded test file; rerun after a hang or crash until all are decided."""
        started = time.monotonic()
        result = FileResult(test_file.name)
        run_dir, pkg_root = self._prepare(test_file.stem + "-")
        tests_dir = run_dir / "tests"
        plugin_dir = run_dir / "plugin"
        tests_dir.mkdir()
        plugin_dir.mkdir()
        for path in [*support_files, test_file]:
            shutil.copy2(path, tests_dir / path.name)
        (tests_dir / "pytest.ini").write_text(
            "[pytest]\naddopts =\nmarkers =\n    points(n): points of a graded test\n")
        shutil.copy2(Path(__file__).with_name("_report_plugin.py"),
                     plugin_dir / f"{PLUGIN_NAME}.py")
        self._give_away(run_dir)
        package_copy = pkg_root / "minicnn"
        for attempt in range(1000):
            report = run_dir / f"report-{attempt}.jsonl"
            deselect = [arg for nodeid in result.items for arg in ("--deselect", nodeid)]
            cmd = [self.python, "-I", "-B", "-c", _BOOT, str(pkg_root), str(tests_dir),
                   str(plugin_dir), test_file.name, "-p", PLUGIN_NAME, "-p", "no:cacheprovider",
                   "-c", str(tests_dir / "pytest.ini"), "--rootdir", str(tests_dir),
                   "-q", "--tb=short", "-W", "default", *deselect]
            before = len(result.items)
            problem = self._one_run(cmd, tests_dir, run_dir, report, package_copy, result)
            result.runs += 1
            if problem is None:
                break
            if len(result.items) == before:  # no progress: the file as a whole is broken
                result.problem = problem
                break
        for item in [*result.items.values(), *([result.problem] if result.problem else [])]:
            item.reason = _tidy(item.reason, pkg_root, tests_dir)
            item.details = _tidy(item.details, pkg_root, tests_dir)
        result.seconds = time.monotonic() - started
        shutil.rmtree(run_dir, ignore_errors=True)
        return result

    def _one_run(self, cmd, cwd, run_dir, report, package_copy, result) -> ItemResult | None:
        """One pytest subprocess. Returns a file-level problem, or None if it finished."""
        report.touch()
        if self.run_as:
            shutil.chown(report, user=self.run_as)
        out_path, err_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
        current: str | None = None
        finished, timed_out = False, False
        collect_error: ItemResult | None = None
        with open(out_path, "wb") as out, open(err_path, "wb") as err, \
                open(report, "r", encoding="utf-8", errors="replace") as events:
            proc = self._popen(cmd, cwd, self._env(report, package_copy), out, err)
            last_event = time.monotonic()
            buffer = ""
            while True:
                returncode = proc.poll()
                buffer += events.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(event, dict):
                        continue
                    last_event = time.monotonic()
                    kind, nodeid = event.get("event"), str(event.get("nodeid", ""))
                    if kind == "start":
                        current = nodeid
                    elif kind == "result" and nodeid not in result.items:
                        outcome = event.get("outcome")
                        result.items[nodeid] = ItemResult(
                            nodeid, outcome if outcome in ("passed", "skipped") else "failed",
                            str(event.get("reason", "")), str(event.get("details", "")))
                        current = None
                    elif kind == "collect_error" and collect_error is None:
                        collect_error = ItemResult(
                            nodeid, "failed", "could not import the test file: "
                            + str(event.get("reason", "")), str(event.get("details", "")))
                    elif kind == "finish":
                        finished = True
                if returncode is not None:
                    break
                limit = self.timeout if current else self.timeout + STARTUP_GRACE
                if time.monotonic() - last_event > limit:
                    timed_out = True
                    _kill(proc)
                    break
                time.sleep(0.02)
            _kill(proc)  # also ends anything the tests started and left running
        stderr = err_path.read_text(errors="replace")
        stdout = out_path.read_text(errors="replace")
        if collect_error is not None:
            return collect_error
        if timed_out:
            if current:
                result.items[current] = ItemResult(
                    current, "failed", f"timed out after {self.timeout:g} s "
                    "(an infinite loop, or far too slow)", "")
                return ItemResult("", "failed", "timed out")
            return ItemResult("", "failed", "timed out while starting or collecting the tests",
                              stderr[-4000:])
        if finished and proc.returncode in (0, 1, 5):
            return None
        how = _describe_exit(proc.returncode)
        tail = (stderr.strip() or stdout.strip())[-4000:]
        if current:
            result.items[current] = ItemResult(
                current, "failed", f"the test crashed the Python process ({how})"
                + _fatal_error(stderr), tail)
            return ItemResult("", "failed", "crashed")
        if finished:
            return ItemResult("", "failed", f"pytest stopped with {how}: "
                              + _last_error_line(stdout + stderr, proc.returncode), tail)
        return ItemResult("", "failed", f"the test process ended before any test ran ({how}): "
                          + _last_error_line(stderr or stdout, proc.returncode), tail)


def _kill(proc: subprocess.Popen) -> None:
    """Kill the process and its whole process group (its session, started for it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        if proc.poll() is None:
            proc.kill()
    proc.wait()


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _tidy(text: str, *folders: Path) -> str:
    """Show paths as the student knows them (``minicnn/layers/relu.py``)."""
    for folder in folders:
        text = text.replace(str(folder) + os.sep, "")
    return text


def _where(traceback_text: str) -> str:
    """`` (minicnn/x.py, line 3)`` for the last frame of a traceback inside the package."""
    frames = re.findall(r'File "(minicnn[^"]*)", line (\d+)', traceback_text)
    return f" ({frames[-1][0]}, line {frames[-1][1]})" if frames else ""


def _fatal_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("Fatal Python error:"):
            return ": " + line.strip()
    return ""


def _last_error_line(text: str, returncode: int | None) -> str:
    """The most telling line of a traceback or log (``ModuleNotFoundError: ...``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt", "Exit")) and " " not in head:
            return line[:300]
    for line in reversed(lines):
        if line.startswith("E "):
            return line[1:].strip()[:300]
    return (lines[-1][:300] if lines else _describe_exit(returncode))
