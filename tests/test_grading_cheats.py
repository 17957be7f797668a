"""Hostile submissions: each cheat must score exactly what the same code scores without it.

The fake assignment of ``test_grading.py`` (four graded tests, 7.5 points) is
graded against ``HONEST``: ``double`` works, ``add`` raises NotImplementedError,
so the honest score is 2.5. Each cheat adds code at import time or inside
``add``; the score must stay 2.5 (or 0 where the cheat breaks the package
itself, against a baseline that breaks it the same way).

Cheats that need the operating system's protection (file permissions, signals
between users, a process limit) run the worker as the unprivileged user
``minicnn-student`` and need root; CI creates that user (``.ci/run``). Without
a sandbox user these are not defended (docs/grading.md, threat model).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest
from test_grading import REPO, make_fake_source, write_tree

from minicnn.grading import build_assignment, grade, list_assignments, load_assignment
from minicnn.grading.release import write_student_package

SANDBOX_USER = "minicnn-student"
HONEST = '''\
def add(a, b):
    raise NotImplementedError("add the two numbers.")


def double(x):
    return 2 * x


def triple(x):
    return 3 * x
'''
HONEST_SCORE = 2.5


@pytest.fixture(scope="module")
def fake_source(tmp_path_factory) -> Path:
    return make_fake_source(tmp_path_factory.mktemp("source"))


def _user_exists() -> bool:
    try:
        pwd.getpwnam(SANDBOX_USER)
        return True
    except KeyError:
        return False


needs_sandbox_user = pytest.mark.skipif(
    not (hasattr(os, "geteuid") and os.geteuid() == 0 and _user_exists()),
    reason=f"needs root and the user {SANDBOX_USER} (created by .ci/run)")


def cheat(tmp_path: Path, fake_source: Path, *, at_import: str = "", in_add: str = "",
          run_as: str | None = None, timeout: float = 5, **kwargs) -> dict:
    """Grade HONEST plus the cheat's code; return results.json."""
    ops = HONEST.replace("def add(a, b):\n", "def add(a, b):\n" + in_add, 1)
    folder = write_tree(tmp_path / "upload", {
        "minicnn/__init__.py": at_import + "\nfrom .ops import add, double, triple\n",
        "minicnn/ops.py": ops})
    if run_as:
        os.chmod(tmp_path, 0o755)
    return grade("fake", folder, tmp_path / "results" / "results.json", timeout=timeout,
                 source_root=fake_source, run_as=run_as, quiet=True, **kwargs)


def outputs(results: dict) -> dict[str, str]:
    return {t["name"]: t["output"] for t in results["tests"]}


def test_honest_baseline(fake_source, tmp_path):
    results = cheat(tmp_path, fake_source)
    assert results["score"] == HONEST_SCORE


def test_patching_the_report_plugin_and_pytest_changes_nothing(fake_source, tmp_path):
    """The issue's 11-line cheat, and more: wrap anything that looks like a reporter,
    make every assert pass, rewrite pytest's outcomes, in the submission's process."""
    at_import = '''
import builtins, gc, sys
for name in ("_minicnn_report_plugin", "pytest", "_pytest.runner", "conftest"):
    try:
        __import__(name)
    except Exception:
        pass
for module in list(sys.modules.values()):
    for attr in ("_emit", "emit", "pytest_runtest_logreport"):
        if hasattr(module, attr):
            setattr(module, attr, lambda *a, **k: None)
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, "__name__", "") in ("emit", "_emit", "same"):
        try:
            obj.__code__ = (lambda *a, **k: True).__code__
        except Exception:
            pass
builtins.AssertionError = type("AssertionError", (Exception,), {})
'''
    results = cheat(tmp_path, fake_source, at_import=at_import)
    assert results["score"] == HONEST_SCORE


def test_hanging_while_printing_times_out(fake_source, tmp_path):
    """Output does not extend the per-test deadline."""
    in_add = "    import sys\n    while True:\n        print('still working...', flush=True)\n"
    started = time.monotonic()
    results = cheat(tmp_path, fake_source, in_add=in_add, timeout=2)
    assert results["score"] == HONEST_SCORE
    assert "timed out after 2 s" in outputs(results)["test_visible_ops.py::test_add"]
    assert time.monotonic() - started < 60


def test_overall_deadline_writes_results(fake_source, tmp_path):
    """Every call hangs, each test may take 60 s: the overall deadline (5 s) ends the
    grade during the first test, and results.json is written."""
    ops_hang = "    while True:\n        pass\n"
    folder = write_tree(tmp_path / "upload", {
        "minicnn/__init__.py": "from .ops import add, double, triple\n",
        "minicnn/ops.py": HONEST.replace("    return 2 * x", ops_hang).replace(
            '    raise NotImplementedError("add the two numbers.")\n', ops_hang)})
    started = time.monotonic()
    results = grade("fake", folder, tmp_path / "results.json", timeout=60, deadline=5,
                    source_root=fake_source, quiet=True)
    assert time.monotonic() - started < 30
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert results["score"] == 0
    assert "grading time limit" in outputs(results)["test_visible_ops.py::test_add"]


def test_an_object_equal_to_everything_is_not_a_value(fake_source, tmp_path):
    """add returns an object whose __eq__ is always True: it arrives as an opaque
    remote object, which equals nothing on the grader's side."""
    in_add = "    class Yes:\n        def __eq__(self, other):\n            return True\n" \
             "    return Yes()\n"
    assert cheat(tmp_path, fake_source, in_add=in_add)["score"] == HONEST_SCORE


@pytest.mark.parametrize("forgery", [
    "struct.pack('>II', 10, 1 << 31) + b'{\"id\": 1}'",  # claims 2 GB of arrays
    "struct.pack('>II', 5, 0) + b'{{{{{'",  # not JSON
    "struct.pack('>II', 60, 8) + b'{\"id\": 1, \"value\": {\"__array__\": [\"|O\", [1], 0]}, "
    "\"arrays\": [[0, 8]]}'.ljust(60) + bytes(8)",  # an object array
])
def test_forged_replies_on_the_protocol_pipe_are_rejected(fake_source, tmp_path, forgery):
    """add writes a forged frame on the worker's reply pipe, then stops."""
    in_add = f'''    import os, struct, sys, time
    fd = int(sys.argv[2])
    os.write(fd, {forgery})
    time.sleep(60)
'''
    results = cheat(tmp_path, fake_source, in_add=in_add, timeout=3)
    assert results["score"] == HONEST_SCORE
    assert "protocol" in outputs(results)["test_visible_ops.py::test_add"] or \
        "timed out" in outputs(results)["test_visible_ops.py::test_add"]


def test_huge_arrays_and_nan_score_nothing(fake_source, tmp_path):
    """A 200 MB reply is over the limit; NaN is not a number that passes."""
    in_add = "    import numpy as np\n    if a == 2:\n        return np.ones(25_000_000)\n" \
             "    return float('nan')\n"
    results = cheat(tmp_path, fake_source, in_add=in_add)
    assert results["score"] == HONEST_SCORE
    assert "over the limit" in outputs(results)["test_visible_ops.py::test_add"]


def test_memory_limit(fake_source, tmp_path):
    """Allocating 3 GB fails inside the worker (RLIMIT_AS); the grade goes on."""
    in_add = "    import numpy as np\n    np.ones(400_000_000)\n"
    results = cheat(tmp_path, fake_source, in_add=in_add, memory_mb=1024)
    assert results["score"] == HONEST_SCORE
    assert "MemoryError" in outputs(results)["test_visible_ops.py::test_add"]


def test_writing_a_huge_file_is_stopped(fake_source, tmp_path):
    """add writes 100 MB to a file: past 64 MB the write fails (RLIMIT_FSIZE)."""
    in_add = "    with open('big.bin', 'wb') as f:\n        for _ in range(100):\n" \
             "            f.write(bytes(1 << 20))\n"
    results = cheat(tmp_path, fake_source, in_add=in_add)
    assert results["score"] == HONEST_SCORE
    assert "File too large" in outputs(results)["test_visible_ops.py::test_add"]


def test_printing_a_gigabyte_costs_nothing(fake_source, tmp_path):
    at_import = "import os\nfor _ in range(1024):\n    os.write(1, b'x' * (1 << 20))\n"
    results = cheat(tmp_path, fake_source, at_import=at_import, timeout=20)
    assert results["score"] == HONEST_SCORE


DAEMON = '''
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(1.5)
            for _ in range(100):
                try:
                    with open({path!r}, "w") as f:
                        f.write('{{"score": 999}}')
                except OSError:
                    pass
                time.sleep(0.1)
        os._exit(0)
'''


def _assert_results_stay(path: Path, results: dict) -> None:
    time.sleep(3)  # longer than the daemon waits before it writes
    assert json.loads(path.read_text()) == results


def test_double_forked_daemon_does_not_outlive_the_grader(fake_source, tmp_path):
    """The issue's cheat: a setsid'd grandchild rewrites results.json after the grader
    exits. The grader is a child subreaper and kills every descendant at the end."""
    path = tmp_path / "results" / "results.json"
    results = cheat(tmp_path, fake_source, in_add=DAEMON.format(path=str(path)))
    assert results["score"] == HONEST_SCORE
    _assert_results_stay(path, results)


def _cnn_layers_stub(tmp_path: Path) -> Path:
    """The untouched cnn_layers release package (every graded test fails)."""
    spec = load_assignment("cnn_layers")
    package = tmp_path / "upload" / "minicnn"
    write_student_package(REPO / "minicnn", package, "cnn_layers", list_assignments(),
                          spec.prerequisites)
    return package


def test_real_assignment_cheats_score_zero(tmp_path):
    """On cnn_layers: patch numpy.testing and pytest.approx, and look for expected
    values in the callers' frames; the untouched release with this code scores 0."""
    package = _cnn_layers_stub(tmp_path)
    init = package / "__init__.py"
    init.write_text(init.read_text() + '''
import sys, numpy.testing
for name in dir(numpy.testing):
    if name.startswith("assert"):
        setattr(numpy.testing, name, lambda *a, **k: None)
try:
    import pytest
    pytest.approx = lambda *a, **k: a[0] if a else None
except ImportError:
    pass


def _answer_from_frames(*args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "want", "numeric"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    raise NotImplementedError("no expected value in reach")


from . import layers, losses
for _name in ("conv2d_naive", "conv2d_naive_backward", "maxpool_naive",
              "maxpool_naive_backward"):
    setattr(layers, _name, _answer_from_frames)
''')
    results = grade("cnn_layers", package.parent, tmp_path / "results.json", timeout=20,
                    quiet=True)
    assert results["max_score"] > 0
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["score"]]


# ------------------------------------------------- with a sandbox user (root)


def _processes_of(user: str) -> list[str]:
    out = subprocess.run(["ps", "-u", user, "-o", "pid=,args="], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def _snooping_add(fake_source: Path, path: Path, write: bool = True) -> str:
    """add reads every graded test file and report it can find, tries to rewrite them
    (if ``write``) and the results file, and shows what it read in its error message."""
    return f'''    import os
    found = []
    import glob, tempfile
    tops = [{str(fake_source)!r}, *glob.glob(tempfile.gettempdir() + "/minicnn-grade-*")]
    for top in tops:
        for folder, _, files in os.walk(top):
            for name in files:
                if name.startswith("test_") or name.endswith((".jsonl", "config.json")):
                    full = os.path.join(folder, name)
                    try:
                        found.append(open(full).read())
                        with open(full, "w" if {write} else "r") as f:
                            f.write("def test_add():\\n    pass\\n")
                    except OSError:
                        pass
    try:
        open({str(path)!r}, "w").write('{{"score": 999}}')
    except OSError:
        pass
    raise RuntimeError("found: " + " ".join(found)[:3000])
'''


def test_without_a_sandbox_user_the_submission_reads_hidden_tests(tmp_path):
    """Not defended without a sandbox user (and shown here so that the test below can
    fail): the worker has the grader's rights and finds the hidden test file."""
    source = make_fake_source(tmp_path / "source")
    path = tmp_path / "results" / "results.json"
    results = cheat(tmp_path, source, in_add=_snooping_add(source, path, write=False))
    assert "add(-1, 1)" in outputs(results)["test_visible_ops.py::test_add"]


@needs_sandbox_user
def test_sandbox_user_reads_and_writes_nothing_of_the_grader(fake_source, tmp_path):
    """The worker runs as the sandbox user: it cannot read the graded tests (hidden
    ones included) or the grader, rewrite them, or write the results file."""
    path = tmp_path / "results" / "results.json"
    path.parent.mkdir()
    path.write_text("{}")
    os.chmod(fake_source, 0o700)
    results = cheat(tmp_path, fake_source, in_add=_snooping_add(fake_source, path),
                    run_as=SANDBOX_USER)
    assert results["score"] == HONEST_SCORE
    text = json.dumps(results)
    assert "add(-1, 1)" not in text and "test_add_hidden" not in outputs(results)[
        "test_visible_ops.py::test_add"]
    assert "add(-1, 1)" in (fake_source / "tests/autograder/fake/test_hidden_ops.py"
                            ).read_text()  # the source is untouched
    assert json.loads(path.read_text()) == results


@needs_sandbox_user
def test_sandbox_user_cannot_kill_the_grader(fake_source, tmp_path):
    """add sends SIGKILL to its parent and to every process it can see."""
    in_add = '''    import os, signal
    for pid in [os.getppid()] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
'''
    results = cheat(tmp_path, fake_source, in_add=in_add, run_as=SANDBOX_USER)
    assert results["score"] == HONEST_SCORE


@needs_sandbox_user
def test_sandbox_user_fork_bomb_is_bounded_and_swept(fake_source, tmp_path):
    at_import = '''
import os, time
children = 0
while children < 5000:
    try:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        children += 1
    except OSError:
        break
'''
    results = cheat(tmp_path, fake_source, at_import=at_import, run_as=SANDBOX_USER,
                    timeout=10)
    assert results["score"] == HONEST_SCORE
    assert _processes_of(SANDBOX_USER) == []


@needs_sandbox_user
def test_sandbox_user_daemon_is_killed(fake_source, tmp_path):
    path = tmp_path / "results" / "results.json"
    results = cheat(tmp_path, fake_source, in_add=DAEMON.format(path=str(path)),
                    run_as=SANDBOX_USER)
    assert results["score"] == HONEST_SCORE
    assert _processes_of(SANDBOX_USER) == []
    _assert_results_stay(path, results)


def test_student_release_pip_install_brings_pytest(fake_source, tmp_path):
    """The handout's `pip install -e .` must install pytest, which the self-check runs."""
    import tomllib

    student = build_assignment("fake", tmp_path, source_root=fake_source, check=False)
    project = tomllib.loads((student / "student/pyproject.toml").read_text())["project"]
    assert any(dep.startswith("pytest") for dep in project["dependencies"])


@needs_sandbox_user
def test_sandbox_user_cannot_follow_a_symlink_to_the_hidden_tests(fake_source, tmp_path):
    """The upload holds a symlink to a hidden test file: the grader copies the link,
    not the file, and the sandbox user cannot follow it."""
    os.chmod(fake_source, 0o700)
    hidden = fake_source / "tests/autograder/fake/test_hidden_ops.py"
    in_add = '''    import os
    raise RuntimeError(open(os.path.join(os.path.dirname(__file__), "leak.py")).read())
'''
    ops = HONEST.replace("def add(a, b):\n", "def add(a, b):\n" + in_add, 1)
    folder = write_tree(tmp_path / "upload", {
        "minicnn/__init__.py": "from .ops import add, double, triple\n", "minicnn/ops.py": ops})
    (folder / "minicnn/leak.py").symlink_to(hidden)
    os.chmod(tmp_path, 0o755)
    results = grade("fake", folder, tmp_path / "results.json", timeout=5,
                    source_root=fake_source, run_as=SANDBOX_USER, quiet=True)
    assert results["score"] == HONEST_SCORE
    assert "add(-1, 1)" not in json.dumps(results)
    assert "Permission denied" in outputs(results)["test_visible_ops.py::test_add"]
