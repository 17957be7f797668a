"""Run the graded tests of one submission, with the submission's code kept outside.

Two kinds of process, two sides of a trust boundary:

- the **test process** (trusted): ``pytest`` on the graded test files, started
  by the grader, with the grader's own rights. It never imports ``minicnn``
  (``BOOT`` removes every way to): tests reach the submission only through the
  ``student`` fixture (:mod:`.student`). A small plugin (:mod:`._report_plugin`)
  streams one JSON line per event to a report file in a folder only the grader
  can open;
- the **worker** (untrusted): started by the test process (:mod:`.sandbox`,
  :mod:`.worker`), in a folder holding a copy of the submission's ``minicnn/``
  and nothing else, as the sandbox user when there is one.

The grader watches the report file and enforces an overall deadline: past it,
the test process is killed and every test without a result fails. Per-test
deadlines are kept by the test process (``student.py``), on its side of the
pipe. Standard library only: this module runs in the grader's process.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .sandbox import (
    WorkerConfig,
    WorkerGone,
    WorkerProcess,
    child_pids,
    kill_descendants,
    user_ids,
)

PLUGIN_NAME = "_minicnn_report_plugin"
GRADING_PACKAGE = "minicnn_grading"  # the name of this package in the test process
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache",
                                "*.egg-info", ".ipynb_checkpoints")
STARTUP_GRACE = 30.0  # extra seconds for the worker's start-up and the import of minicnn
BACKSTOP = 120.0  # seconds past the per-test timeout before the test process is killed

# Run by ``python -I -c`` in the test process: our folders first, no minicnn
# importable at all, then pytest.
_BOOT = r"""
import os, sys
ours = sys.argv[1:4]
del sys.argv[1:4]
def _holds_minicnn(p):
    return os.path.isfile(os.path.join(p or ".", "minicnn", "__init__.py"))
sys.path[:] = ours + [p for p in sys.path if p not in ours and not _holds_minicnn(p)]
sys.meta_path[:] = [f for f in sys.meta_path
                    if "editable" not in getattr(f, "__module__", "") + repr(f)]
from minicnn_grading.sandbox import become_subreaper, kill_descendants
become_subreaper()
import pytest
try:
    code = pytest.main(sys.argv[1:])
finally:
    kill_descendants()
sys.exit(int(code))
"""


@dataclass
class ItemResult:
    """One pytest item (a test function, or one case of a parametrised one)."""

    nodeid: str
    outcome: str  # passed, failed, skipped
    reason: str = ""
    details: str = ""


@dataclass
class RunResult:
    """What the grader learnt from the test process."""

    items: dict[str, ItemResult] = field(default_factory=dict)
    problem: ItemResult | None = None  # applies to every test without an item result
    seconds: float = 0.0


@dataclass
class Runner:
    """Where, how long and as whom the submission's code runs."""

    package_dir: Path  # the submission's minicnn/ folder
    work_dir: Path  # private to the grader (0711 when a sandbox user must reach into it)
    timeout: float = 60.0  # seconds of the submission's time per test
    python: str = sys.executable  # the interpreter of the workers
    run_as: str | None = None  # run the workers as this (non-root) user
    memory_mb: int = 2048

    def worker_config(self) -> WorkerConfig:
        """A fresh worker folder: a copy of the submission's package, owned by the user."""
        folder = Path(tempfile.mkdtemp(prefix="worker-", dir=self.work_dir))
        # symlinks=True: a link to a file the grader can read stays a link (which the
        # sandbox user cannot follow), instead of becoming a copy of that file.
        shutil.copytree(self.package_dir, folder / "minicnn", ignore=IGNORE, symlinks=True)
        uid, gid = user_ids(self.run_as) if self.run_as else (-1, -1)
        if self.run_as:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, uid, gid, follow_symlinks=False)
        return WorkerConfig(str(folder), self.python, uid, gid, self.memory_mb,
                            nproc=256 if self.run_as else 0,
                            startup_seconds=self.timeout + STARTUP_GRACE)

    def import_check(self) -> tuple[bool, str, str]:
        """Start one worker and see whether it imports ``minicnn``.

        Returns:
            ``(ok, reason, details)``; ``reason`` is one line, ``details`` the traceback.
        """
        config = self.worker_config()
        startup = self.timeout + STARTUP_GRACE
        spare = child_pids()  # the caller's own subprocesses
        worker = WorkerProcess(config)
        try:
            hello = worker.wait_ready(time.monotonic() + startup)
        except WorkerGone as exc:
            if str(exc) == "timed out":
                return (False, f"importing minicnn did not finish within {startup:g} s (an "
                        "infinite loop at import time?)", "")
            return (False, f"importing minicnn crashed the Python process ({exc})",
                    worker.captured(0, 4000))
        finally:
            worker.stop()
            kill_descendants(spare=spare)
            shutil.rmtree(config.package_parent, ignore_errors=True)
        if hello.get("ready") is True:
            expected = os.path.realpath(Path(config.package_parent) / "minicnn") + os.sep
            if str(hello.get("file", "")).startswith(expected):
                return True, "", ""
            return False, "minicnn was not imported from the submission", ""
        error = hello.get("error") if isinstance(hello.get("error"), dict) else {}
        details = _tidy(str(error.get("traceback", ""))[-6000:], Path(config.package_parent))
        reason = f"{str(error.get('type'))[:100]}: {str(error.get('message'))[:300]}"
        return False, "importing minicnn failed: " + reason + _where(details), details

    def run(self, test_files: list[Path], support_files: list[Path], grading_dir: Path,
            deadline: float) -> RunResult:
        """Run the graded test files (in this order) until done or ``deadline``."""
        started = time.monotonic()
        result = RunResult()
        run_dir = Path(tempfile.mkdtemp(prefix="tests-", dir=self.work_dir))  # 0700
        lib, tests, plugin = run_dir / "lib", run_dir / "tests", run_dir / "plugin"
        shutil.copytree(grading_dir, lib / GRADING_PACKAGE, ignore=IGNORE)
        tests.mkdir()
        plugin.mkdir()
        for path in [*support_files, *test_files]:
            shutil.copy2(path, tests / path.name)
        (tests / "pytest.ini").write_text(
            "[pytest]\naddopts =\nmarkers =\n    points(n): points of a graded test\n")
        shutil.copy2(grading_dir / "_report_plugin.py", plugin / f"{PLUGIN_NAME}.py")
        worker = self.worker_config()
        config = run_dir / "config.json"
        config.write_text(json.dumps({"timeout": self.timeout, "worker": asdict(worker)}))
        report = run_dir / "report.jsonl"
        report.touch()
        cmd = [sys.executable, "-I", "-B", "-c", _BOOT, str(lib), str(tests), str(plugin),
               *[p.name for p in test_files], "-p", PLUGIN_NAME, "-p", "no:cacheprovider",
               "-c", str(tests / "pytest.ini"), "--rootdir", str(tests), "-q", "--tb=short",
               "-W", "default"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "MPLBACKEND": "Agg",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MINICNN_GRADER_REPORT": str(report), "MINICNN_GRADER_CONFIG": str(config)}
        out_path = run_dir / "output.txt"
        spare = child_pids()  # the caller's own subprocesses
        try:
            self._watch(cmd, tests, env, report, out_path, result, deadline)
        finally:
            kill_descendants(spare=spare)
            shutil.rmtree(worker.package_parent, ignore_errors=True)
        for item in [*result.items.values(), *([result.problem] if result.problem else [])]:
            item.reason = _tidy(item.reason, Path(worker.package_parent), tests)
            item.details = _tidy(item.details, Path(worker.package_parent), tests)
        shutil.rmtree(run_dir, ignore_errors=True)
        result.seconds = time.monotonic() - started
        return result

    def _watch(self, cmd, cwd, env, report, out_path, result, deadline) -> None:
        """Start the test process and read its events until it ends or must be killed."""
        current: str | None = None
        finished = False
        with open(out_path, "wb") as out, open(report, encoding="utf-8",
                                               errors="replace") as events:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            last_event = time.monotonic()
            buffer, stopped = "", None
            while True:
                returncode = proc.poll()
                buffer += events.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    try:
                        event = json.loads(line)
                    except ValueError:
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
                    elif kind == "collect_error" and result.problem is None:
                        result.problem = ItemResult(
                            nodeid, "failed", "could not import the test file: "
                            + str(event.get("reason", "")), str(event.get("details", "")))
                    elif kind == "finish":
                        finished = True
                if returncode is not None:
                    break
                now = time.monotonic()
                if now > deadline:
                    stopped = "not run: the grading time limit was reached"
                elif now - last_event > self.timeout + BACKSTOP:
                    stopped = "not run: the test process stopped responding"
                if stopped:
                    _kill(proc)
                    break
                time.sleep(0.02)
            _kill(proc)
        if current and current not in result.items:
            result.items[current] = ItemResult(current, "failed", stopped or "the test did "
                                               "not finish", "")
        if stopped:
            result.problem = result.problem or ItemResult("", "failed", stopped)
        elif not finished:
            tail = out_path.read_text(errors="replace")[-4000:]
            result.problem = result.problem or ItemResult(
                "", "failed", "the test process ended early: "
                + _last_error_line(tail, proc.returncode), tail)


def _kill(proc: subprocess.Popen) -> None:
    """Kill the process and its process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tidy(text: str, *folders: Path) -> str:
    """Show paths as the student knows them (``minicnn/layers/relu.py``)."""
    for folder in folders:
        text = text.replace(str(folder) + os.sep, "")
    return text


def _where(traceback_text: str) -> str:
    """`` (minicnn/x.py, line 3)`` for the last frame of a traceback inside the package."""
    frames = re.findall(r'File "(minicnn[^"]*)", line (\d+)', traceback_text)
    return f" ({frames[-1][0]}, line {frames[-1][1]})" if frames else ""


def _last_error_line(text: str, returncode: int | None) -> str:
    """The most telling line of a traceback or log (``ModuleNotFoundError: ...``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt", "Exit")) and " " not in head:
            return line[:300]
    return lines[-1][:300] if lines else f"exit code {returncode}"
