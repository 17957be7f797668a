"""Tests of the release builder and the autograder (minicnn.grading).

Most tests use a tiny fake source tree built in a temporary folder (a package
without NumPy, one assignment, four graded tests), so that the hang, crash,
syntax-error and stderr cases run in seconds. The last section builds and grades
the two real assignments.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from minicnn.grading import (
    ConfigError,
    MarkerError,
    blank_source,
    build_assignment,
    grade,
    grade_all,
    list_assignments,
    load_assignment,
    parse_blocks,
)
from minicnn.grading.markers import MARKER_LIKE_RE
from minicnn.grading.release import leaks, unzip_autograder, write_student_package

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- markers

MARKED = '''\
def add(a, b):
    """Sum."""
    # BEGIN SOLUTION fake other
    # HINT: return the sum of "a" and b.
    total = a + b
    return total
    # END SOLUTION


class Thing:
    def double(self, x):
        if x is None:
            # BEGIN SOLUTION
            return 0
            # END SOLUTION
        return 2 * x

    def triple(self, x):
        # BEGIN SOLUTION other
        # HINT: three times.
        return 3 * x
        # END SOLUTION
'''


def test_parse_blocks_reads_tags_hints_and_lines():
    blocks = parse_blocks(MARKED, "ops.py")
    assert [(b.begin, b.end) for b in blocks] == [(3, 7), (13, 15), (19, 22)]
    assert [b.tags for b in blocks] == [("fake", "other"), (), ("other",)]
    assert [b.hint for b in blocks] == ['return the sum of "a" and b.', None, "three times."]
    assert blocks[0].body == ["    total = a + b", "    return total"]
    assert blocks[1].indent == " " * 12
    assert blocks[1].belongs_to("fake") and blocks[1].belongs_to("anything")
    assert blocks[2].belongs_to("other") and not blocks[2].belongs_to("fake")


def test_blank_source_stubs_own_blocks_and_keeps_others_without_markers():
    text, blanked = blank_source(MARKED, "fake", "ops.py")
    assert [b.begin for b in blanked] == [3, 13]
    assert "    raise NotImplementedError('return the sum of \"a\" and b.')\n" in text
    assert "            raise NotImplementedError(" in text  # at the BEGIN's indentation
    assert "        return 3 * x\n" in text  # the other assignment's block is kept
    for gone in ("SOLUTION", "HINT", "total = a + b", "return 0", "three times"):
        assert gone not in text
    namespace: dict = {}
    exec(compile(text, "ops.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match='return the sum of "a" and b'):
        namespace["add"](1, 2)
    with pytest.raises(NotImplementedError, match="implement this block"):
        namespace["Thing"]().double(None)
    assert namespace["Thing"]().triple(2) == 6


def test_blank_source_without_markers_is_unchanged():
    assert blank_source("x = 1\n", "fake") == ("x = 1\n", [])


@pytest.mark.parametrize("text, message", [
    ("# BEGIN SOLUTION\nx = 1\n", "ops.py:1: BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "ops.py:2: END SOLUTION without a BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n",
     "ops.py:2: BEGIN SOLUTION inside the block opened at line 1"),
    ("# BEGIN SOLUTION a,b\n# END SOLUTION\n", "ops.py:1: expected assignment names"),
    ("# BEGIN SOLUTION\n# END SOLUTION fake\n", "ops.py:2: expected nothing after END"),
])
def test_malformed_markers_name_file_and_line(text, message):
    with pytest.raises(MarkerError, match=message):
        parse_blocks(text, "ops.py")


# --------------------------------------------------------- a fake source tree

FAKE_OPS = '''\
"""Tiny operations for the grading tests."""


def add(a, b):
    # BEGIN SOLUTION fake
    # HINT: add the two numbers.
    return a + b
    # END SOLUTION


def double(x):
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION


def triple(x):
    # BEGIN SOLUTION other
    return 3 * x
    # END SOLUTION
'''

FAKE_TESTS = {
    "conftest.py": (REPO / "tests/autograder/conftest.py").read_text(),
    "fake_helpers.py": "def same(a, b):\n    return a == b\n",
    "fake/test_visible_ops.py": '''\
import pytest
from fake_helpers import same


@pytest.fixture
def two():
    return 2


@pytest.mark.points(2)
def test_add(student, two):
    """add() adds."""
    assert same(student.add(two, 3), 5)


@pytest.mark.parametrize("x", [0, 1, 5])
def test_double(student, x):
    assert student.double(x) == 2 * x
''',
    "fake/test_hidden_ops.py": '''\
import pytest


@pytest.mark.points(3)
def test_add_hidden(student):
    assert student.add(-1, 1) == 0


def test_double_hidden(student):
    assert student.double(-4) == -8
''',
}


RUBRIC = """\
# Rubric (instructors only)

Model answer: add is commutative, so the order of a and b never matters.
| 1 | correct |
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def make_fake_source(root: Path) -> Path:
    write_tree(root, {
        "minicnn/__init__.py": "from .ops import add, double, triple\n",
        "minicnn/ops.py": FAKE_OPS,
        "assignments/fake/README.md": "# Fake\nImplement `add` and `double`.\n",
        "assignments/fake/instructor/rubric.md": RUBRIC,
        "assignments/fake/starter.ipynb": json.dumps(
            {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        "assignments/fake/assignment.json": json.dumps({
            "title": "Fake assignment", "visible": ["test_visible_*.py"],
            "hidden": ["test_hidden_*.py"], "hidden_visibility": "after_published",
            "prerequisites": ["other"],
            "points": {"test_hidden_ops.py::test_double_hidden": 1.5}}),
        "assignments/other/assignment.json": json.dumps({
            "title": "Other", "visible": ["*.py"], "hidden": []}),
        "tests/autograder/other/test_other.py": "def test_x():\n    pass\n",
        **{f"tests/autograder/{name}": text for name, text in FAKE_TESTS.items()},
    })
    return root


def submission(tmp_path: Path, ops: str, init: str | None = None) -> Path:
    """A submission folder whose minicnn/ops.py is ``ops``."""
    folder = tmp_path / "submission"
    write_tree(folder, {
        "minicnn/__init__.py": init or "from .ops import add, double, triple\n",
        "minicnn/ops.py": ops,
    })
    return folder


CORRECT = "def add(a, b):\n    return a + b\n\n\ndef double(x):\n    return 2 * x\n\n\n" \
          "def triple(x):\n    return 3 * x\n"


@pytest.fixture(scope="module")
def fake_source(tmp_path_factory) -> Path:
    return make_fake_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def fake_build(fake_source, tmp_path_factory) -> Path:
    return build_assignment("fake", tmp_path_factory.mktemp("out"), source_root=fake_source)


def scores(results: dict) -> dict[str, float]:
    return {t["name"]: t["score"] for t in results["tests"]}


def test_config_reads_points_from_marker_config_and_default(fake_source):
    spec = load_assignment("fake", fake_source)
    assert [(t.id, t.points, t.hidden) for t in spec.tests] == [
        ("test_hidden_ops.py::test_add_hidden", 3.0, True),
        ("test_hidden_ops.py::test_double_hidden", 1.5, True),
        ("test_visible_ops.py::test_add", 2.0, False),
        ("test_visible_ops.py::test_double", 1.0, False),
    ]
    assert spec.max_score == 7.5
    assert spec.tests[2].doc == "add() adds."
    assert list_assignments(fake_source) == ["fake", "other"]
    with pytest.raises(ConfigError, match="unknown assignment 'nope'.*known: fake, other"):
        load_assignment("nope", fake_source)


def test_config_rejects_unlisted_test_files(fake_source, tmp_path):
    root = make_fake_source(tmp_path)
    (root / "tests/autograder/fake/test_extra.py").write_text("def test_y():\n    pass\n")
    with pytest.raises(ConfigError, match=r"neither visible nor hidden: \['test_extra.py'\]"):
        load_assignment("fake", root)


def test_unknown_tag_is_an_error(tmp_path):
    root = make_fake_source(tmp_path / "src")
    ops = root / "minicnn/ops.py"
    ops.write_text(ops.read_text().replace("SOLUTION other", "SOLUTION othr"))
    with pytest.raises(MarkerError, match=r"ops.py:18: unknown assignment tag\(s\) \['othr'\]"):
        write_student_package(root / "minicnn", tmp_path / "out", "fake", ["fake", "other"])


# ------------------------------------------------------------------ building


def test_build_writes_student_folder_and_zips(fake_build):
    student = fake_build / "student"
    names = sorted(str(p.relative_to(student)) for p in student.rglob("*") if p.is_file())
    assert names == sorted([
        "README.md", "starter.ipynb", "conftest.py", "pyproject.toml", "requirements.txt",
        "minicnn/__init__.py", "minicnn/ops.py", "tests/conftest.py", "tests/fake_helpers.py",
        "tests/points.json", "tests/test_visible_ops.py", "tests/minicnn_grading/__init__.py",
        "tests/minicnn_grading/student.py", "tests/minicnn_grading/worker.py"])
    ops = (student / "minicnn/ops.py").read_text()
    assert "raise NotImplementedError('add the two numbers.')" in ops
    assert "return 3 * x" in ops and "return a + b" not in ops and "return 2 * x" not in ops
    assert json.loads((student / "tests/points.json").read_text()) == {
        "test_visible_ops.py::test_add": {"points": 2.0, "doc": "add() adds."},
        "test_visible_ops.py::test_double": {"points": 1.0, "doc": ""}}
    with zipfile.ZipFile(fake_build / "student.zip") as zf:
        assert sorted(zf.namelist()) == sorted(f"fake/{n}" for n in names)
    with zipfile.ZipFile(fake_build / "autograder.zip") as zf:
        listing = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt",
            "assignments/fake/assignment.json", "tests/autograder/conftest.py",
            "tests/autograder/fake/test_hidden_ops.py",
            "tests/autograder/fake/test_visible_ops.py",
            "minicnn_grading/gradescope.py"} <= set(listing)
    assert modes["run_autograder"] == 0o755 and modes["setup.sh"] == 0o755
    assert not any(n.startswith("minicnn/") for n in listing)  # no reference code


def test_leak_check_finds_solution_marker_and_hidden_test(fake_build, fake_source, tmp_path):
    spec = load_assignment("fake", fake_source)
    student = tmp_path / "student"
    shutil.copytree(fake_build / "student", student)
    blanked = write_student_package(fake_source / "minicnn", tmp_path / "pkg", "fake")
    assert leaks(student, spec, blanked) == []
    (student / "notes.md").write_text("    # END SOLUTION\n    return a + b\n"
                                      "| 1 | correct |\n")
    shutil.copy(fake_source / "tests/autograder/fake/test_hidden_ops.py", student / "x.py")
    found = leaks(student, spec, blanked)
    assert "notes.md:1: marker line '# END SOLUTION'" in found
    assert "notes.md:2: solution line 'return a + b'" in found
    assert "x.py: a copy of a hidden test" in found
    assert not [f for f in found if "instructor" in f]  # a short table row may occur anywhere


def test_leak_check_finds_the_instructors_answers(fake_build, fake_source, tmp_path):
    """A model answer pasted into the notebook, or the rubric copied into the release,
    stops the build; the real build ships neither."""
    spec = load_assignment("fake", fake_source)
    student = tmp_path / "student"
    shutil.copytree(fake_build / "student", student)
    assert not (student / "instructor").exists()
    blanked = write_student_package(fake_source / "minicnn", tmp_path / "pkg", "fake")
    answer = "Model answer: add is commutative, so the order of a and b never matters."
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [answer]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (student / "starter.ipynb").write_text(json.dumps(notebook))
    shutil.copytree(fake_source / "assignments/fake/instructor", student / "instructor")
    found = leaks(student, spec, blanked)
    assert f"starter.ipynb:1: a line of the instructor's files {answer[:60]!r}" in found
    assert "instructor/rubric.md: an instructor's file" in found


def test_student_release_runs_pytest_with_score_table(fake_build):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
                          cwd=fake_build / "student", capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "score (visible tests)" in out
    assert re.search(r"test_visible_ops.py::test_add +0/2 +FAIL +NotImplementedError: add the "
                     r"two numbers.", out)
    assert re.search(r"total +0/3", out)
    assert "test_hidden" not in out


# ------------------------------------------------------------------- grading


def test_reference_scores_full_marks_and_results_json(fake_source, tmp_path, capsys):
    results = grade("fake", fake_source, tmp_path / "r" / "results.json", timeout=20,
                    source_root=fake_source)
    assert results == json.loads((tmp_path / "r/results.json").read_text())
    assert results["score"] == results["max_score"] == 7.5
    assert results["stdout_visibility"] == "hidden"
    assert "visible tests 3 / 3 points" in results["output"]
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["test_visible_ops.py::test_add"] == {
        "name": "test_visible_ops.py::test_add", "score": 2.0, "max_score": 2.0,
        "status": "passed", "output": "Passed. add() adds.", "visibility": "visible"}
    assert by_name["test_hidden_ops.py::test_double_hidden"] == {
        "name": "test_hidden_ops.py::test_double_hidden", "score": 1.5, "max_score": 1.5,
        "status": "passed", "output": "Passed.", "visibility": "after_published"}
    table = capsys.readouterr().out
    assert "test_visible_ops.py::test_add" in table and "total" in table and "7.5/7.5" in table
    assert "for the instructor" not in table  # nothing suspicious in the reference


def test_untouched_release_scores_zero_and_shows_hint(fake_source, fake_build, tmp_path):
    results = grade("fake", fake_build / "student.zip", tmp_path / "results.json",
                    timeout=20, source_root=fake_source)
    assert results["score"] == 0 and results["max_score"] == 7.5
    by_name = {t["name"]: t for t in results["tests"]}
    visible = by_name["test_visible_ops.py::test_add"]
    assert visible["status"] == "failed"
    assert "NotImplementedError: add the two numbers." in visible["output"]
    hidden = by_name["test_hidden_ops.py::test_add_hidden"]
    assert hidden["output"].startswith("Failed. (This is a hidden test")
    assert "add(-1, 1)" not in json.dumps(results)  # hidden test source never shown
    assert "case [0] of 3: NotImplementedError" in by_name[
        "test_visible_ops.py::test_double"]["output"]


def test_hang_times_out_only_that_test(fake_source, tmp_path):
    ops = CORRECT.replace("    return a + b", "    while True:\n        pass")
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json", timeout=2,
                    source_root=fake_source, quiet=True)
    assert scores(results) == {
        "test_hidden_ops.py::test_add_hidden": 0, "test_hidden_ops.py::test_double_hidden": 1.5,
        "test_visible_ops.py::test_add": 0, "test_visible_ops.py::test_double": 1.0}
    add = next(t for t in results["tests"] if t["name"] == "test_visible_ops.py::test_add")
    assert "timed out after 2 s" in add["output"]


def test_crashes_cost_only_their_test(fake_source, tmp_path, capsys):
    ops = CORRECT.replace("    return a + b", "    import os\n    os._exit(3)").replace(
        "    return 2 * x", "    if x == 1:\n        import ctypes\n        ctypes.string_at(0)\n"
        "    if x == -4:\n        raise SystemExit(1)\n    return 2 * x")
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json", timeout=20,
                    source_root=fake_source)
    printed = capsys.readouterr().out
    assert "minicnn/ops.py:3: os._exit(3)" in printed  # flagged for the instructor
    assert scores(results) == {
        "test_hidden_ops.py::test_add_hidden": 0, "test_hidden_ops.py::test_double_hidden": 0,
        "test_visible_ops.py::test_add": 0, "test_visible_ops.py::test_double": 0}
    outputs = {t["name"]: t["output"] for t in results["tests"]}
    assert "crashed the Python process (exit code 3)" in outputs["test_visible_ops.py::test_add"]
    assert "case [1] of 3: the test crashed the Python process (killed by signal SIGSEGV)" \
        in outputs["test_visible_ops.py::test_double"]
    # the other cases of the crashed test were still run and passed
    assert results["execution_time"] < 60


def test_sys_exit_and_segfault_leave_other_tests_alone(fake_source, tmp_path):
    ops = CORRECT.replace("    return a + b", "    import ctypes\n    ctypes.string_at(0)")
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json", timeout=20,
                    source_root=fake_source, quiet=True)
    assert scores(results)["test_visible_ops.py::test_double"] == 1.0
    assert scores(results)["test_hidden_ops.py::test_double_hidden"] == 1.5
    assert results["score"] == 2.5


@pytest.mark.parametrize("ops, message", [
    ("def add(a, b) return a\n", "SyntaxError"),
    ("import does_not_exist\n", "ModuleNotFoundError: No module named 'does_not_exist'"),
])
def test_broken_import_scores_zero_everywhere_with_the_error(fake_source, tmp_path, ops,
                                                              message, capsys):
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json", timeout=20,
                    source_root=fake_source)
    assert results["score"] == 0 and len(results["tests"]) == 4
    assert all(message in t["output"] for t in results["tests"])  # hidden ones too
    assert message in results["output"]
    assert (tmp_path / "results.json").is_file()
    assert message in capsys.readouterr().out


def test_hang_at_import_scores_zero_and_finishes(fake_source, tmp_path, monkeypatch):
    monkeypatch.setattr("minicnn.grading.runner.STARTUP_GRACE", 1.0)
    results = grade("fake", submission(tmp_path, "while True:\n    pass\n"),
                    tmp_path / "results.json", timeout=1, source_root=fake_source, quiet=True)
    assert results["score"] == 0
    assert "importing minicnn did not finish within 2 s" in results["tests"][0]["output"]


def test_stderr_and_warnings_cost_nothing(fake_source, tmp_path):
    ops = "import os, sys, warnings\nprint('noise', file=sys.stderr)\n" + CORRECT.replace(
        "    return a + b", "    warnings.warn('careful')\n    os.write(2, b'raw stderr\\n')\n"
        "    print('to stderr', file=sys.stderr)\n    return a + b")
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json", timeout=20,
                    source_root=fake_source, quiet=True)
    assert results["score"] == 7.5


def test_missing_package_and_reference_not_importable(fake_source, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    results = grade("fake", empty, tmp_path / "results.json", source_root=fake_source,
                    quiet=True)
    assert results["score"] == 0
    assert "no minicnn/ package" in results["tests"][0]["output"]
    # The reference is on PYTHONPATH and in the working directory: still not used.
    monkeypatch.setenv("PYTHONPATH", str(fake_source))
    monkeypatch.chdir(fake_source)
    broken = submission(tmp_path, CORRECT, init="from .ops import add, double, triple\n"
                        "from .missing import thing\n")
    (fake_source / "minicnn/missing.py").write_text("thing = 1\n")
    try:
        results = grade("fake", broken, tmp_path / "results.json", source_root=fake_source,
                        quiet=True)
    finally:
        (fake_source / "minicnn/missing.py").unlink()
    assert results["score"] == 0
    assert "No module named 'minicnn.missing'" in results["tests"][0]["output"]


def test_submission_found_inside_nested_zip(fake_source, tmp_path):
    folder = submission(tmp_path, CORRECT)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*.py"):
            zf.write(path, "my-work/" + str(path.relative_to(folder)))
    results = grade("fake", archive, tmp_path / "results.json", source_root=fake_source,
                    quiet=True)
    assert results["score"] == 7.5


def _sandbox_user_available() -> bool:
    import pwd

    try:
        pwd.getpwnam("minicnn-student")
    except KeyError:
        return False
    return os.geteuid() == 0


@pytest.mark.parametrize("user", ["", pytest.param("minicnn-student", marks=pytest.mark.skipif(
    not _sandbox_user_available(), reason="needs root and the user minicnn-student"))])
def test_gradescope_zip_end_to_end(fake_build, fake_source, tmp_path, user):
    root = tmp_path / "autograder"
    os.chmod(tmp_path, 0o755)
    unzip_autograder(fake_build / "autograder.zip", root / "source")
    ops = CORRECT.replace("return 2 * x", "return x + x if x else 1")  # fails x == 0
    shutil.copytree(submission(tmp_path, ops) / "minicnn", root / "submission" / "minicnn")
    (root / "results").mkdir()
    env = {**os.environ, "MINICNN_AUTOGRADER_ROOT": str(root), "MINICNN_PYTHON": sys.executable,
           "MINICNN_GRADER_USER": user}
    proc = subprocess.run(["bash", str(root / "source/run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((root / "results/results.json").read_text())
    assert set(results) == {"score", "max_score", "output", "stdout_visibility",
                            "execution_time", "tests", "extra_data"}
    assert results["score"] == 6.5 and results["max_score"] == 7.5
    assert results["stdout_visibility"] == "hidden"
    assert results["extra_data"] == {"assignment": "fake"}
    tests = {t["name"]: t for t in results["tests"]}
    assert list(tests) == ["test_hidden_ops.py::test_add_hidden",
                           "test_hidden_ops.py::test_double_hidden",
                           "test_visible_ops.py::test_add", "test_visible_ops.py::test_double"]
    for t in tests.values():
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] == ("passed" if t["score"] == t["max_score"] else "failed")
        assert t["visibility"] == ("after_published" if "hidden" in t["name"] else "visible")
    assert tests["test_visible_ops.py::test_double"]["score"] == 0
    assert "case [0] of 3" in tests["test_visible_ops.py::test_double"]["output"]
    assert tests["test_hidden_ops.py::test_double_hidden"]["score"] == 1.5
    assert "6.5/7.5" in proc.stdout  # the table is in stdout, which only instructors see
    if user:
        assert (root / "source").stat().st_mode & 0o777 == 0o700
        assert (root / "results").stat().st_uid == 0


def test_gradescope_writes_results_even_when_the_grader_fails(tmp_path):
    root = tmp_path / "autograder"
    (root / "source" / "assignments").mkdir(parents=True)
    from minicnn.grading.gradescope import main

    assert main(["--assignment", "nope", "--root", str(root)]) == 0
    results = json.loads((root / "results/results.json").read_text())
    assert results["score"] == 0 and results["tests"] == []
    assert "autograder failed" in results["output"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_submission_runs_as_the_sandbox_user(fake_source, tmp_path):
    import pwd

    try:
        user = pwd.getpwnam("minicnn-student")
    except KeyError:
        pytest.skip("no user minicnn-student (created by .ci/run)")
    os.chmod(tmp_path, 0o755)
    ops = CORRECT.replace("    return a + b", f"""\
    import os
    ids = (os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
    if ids != ({user.pw_uid}, {user.pw_uid}, {user.pw_gid}, []):
        raise RuntimeError(f"running as {{ids}}")
    return a + b""")
    results = grade("fake", submission(tmp_path, ops), tmp_path / "results.json",
                    source_root=fake_source, run_as="minicnn-student", quiet=True)
    assert results["score"] == 7.5, results["tests"]


# ----------------------------------------------------------- real assignments

ASSIGNMENTS = ["cnn_layers", "guided_backprop"]


def test_real_assignments_are_listed_and_valid():
    import nbformat

    assert list_assignments() == ASSIGNMENTS
    for name in ASSIGNMENTS:
        spec = load_assignment(name)
        assert spec.root == REPO
        assert spec.visible_files and spec.hidden_files
        assert all(t.points > 0 for t in spec.tests)
        nbformat.validate(nbformat.read(REPO / "assignments" / name / "starter.ipynb", 4))
    files = [p.name for p in (REPO / "tests/autograder").rglob("test_*.py")]
    assert len(files) == len(set(files)), "graded test file names must be unique"


@pytest.fixture(scope="module")
def real_builds(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("releases")
    # check=True: leaks, import, reference = full marks, untouched release = zero
    return {name: build_assignment(name, out) for name in ASSIGNMENTS}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_real_release_contents(real_builds, name):
    spec = load_assignment(name)
    student = real_builds[name] / "student"
    assert (student / "README.md").read_text() == (spec.folder / "README.md").read_text()
    for must in ("starter.ipynb", "conftest.py", "pyproject.toml", "requirements.txt",
                 "minicnn/__init__.py", "tests/autograde_helpers.py"):
        assert (student / must).is_file(), must
    shipped = sorted(p.name for p in (student / "tests").glob("test_*.py"))
    assert shipped == spec.visible_files
    text = "\n".join(p.read_text() for p in student.rglob("*.py"))
    assert "NotImplementedError(" in text
    assert not [line for line in text.splitlines() if MARKER_LIKE_RE.match(line)]
    for hidden in spec.hidden_files:
        assert Path(hidden).stem not in text
    with zipfile.ZipFile(real_builds[name] / "autograder.zip") as zf:
        names = zf.namelist()
    assert {f"tests/autograder/{name}/{f}" for f in spec.hidden_files} <= set(names)
    assert not any(n.startswith("minicnn/") for n in names)


def test_real_release_grades_zero_with_hints(real_builds, tmp_path):
    blanked = write_student_package(REPO / "minicnn", tmp_path / "pkg", "guided_backprop")
    hints = {b.hint for b in blanked}
    results = grade("guided_backprop", real_builds["guided_backprop"] / "student.zip",
                    tmp_path / "results.json", timeout=60, quiet=True)
    assert results["score"] == 0 and results["max_score"] > 0
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert visible and all("NotImplementedError: " in t["output"] for t in visible)
    shown = " ".join(t["output"] for t in visible)
    assert all(hint in shown for hint in hints)


def test_naive_functions_that_call_the_fast_path_fail(tmp_path):
    """A cnn_layers submission whose naive functions hand the work to Conv2D, MaxPool2D
    or the fast helpers gets the right numbers, but their graded tests fail."""
    package = tmp_path / "submission" / "minicnn"
    shutil.copytree(REPO / "minicnn", package,
                    ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copytree(REPO / "minicnn" / "assets", package / "assets")
    delegating = {
        "layers/conv.py": [
            ("    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))\n"
             "    out = np.zeros((n, f, h_out, w_out), dtype=x.dtype)\n",
             "    return conv_forward(pad_images(x, (ph, pw)), w, b, (sh, sw))\n"),
            ("    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))\n"
             "    dx_pad = np.zeros_like(x_pad)\n",
             "    return conv_backward(dout, pad_images(x, (ph, pw)), w, (sh, sw), (ph, pw))\n")],
        "layers/pooling.py": [
            ("    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)\n",
             "    return MaxPool2D((kh, kw), (sh, sw)).forward(x)\n"),
            ("    dx = np.zeros_like(x)\n    for img in range(n):\n",
             "    layer = MaxPool2D((kh, kw), (sh, sw))\n    layer.forward(x)\n"
             "    return layer.backward(dout)\n    for img in range(n):\n")]}
    for name, edits in delegating.items():
        path = package / name
        text = path.read_text()
        for old, new in edits:
            assert text.count(old) == 1, (name, old)
            text = text.replace(old, new)
        path.write_text(text)

    results = grade("cnn_layers", package.parent, tmp_path / "results.json", timeout=60,
                    quiet=True)
    failed = {t["name"].split("::")[-1].split(" ")[0] for t in results["tests"]
              if t["score"] < t["max_score"]}
    assert failed == {"test_conv_forward_by_hand", "test_conv_forward_stride_and_padding",
                      "test_conv_backward_numerical", "test_maxpool_forward_by_hand",
                      "test_maxpool_backward_routes_to_argmax", "test_conv_forward_random",
                      "test_maxpool_backward_ties_go_to_the_first_maximum",
                      "test_maxpool_backward_with_many_ties",
                      "test_conv_backward_stride_two", "test_maxpool_overlapping_windows"}
    shown = [t["output"] for t in results["tests"]
             if t["score"] < t["max_score"] and t["visibility"] == "visible"]
    assert len(shown) == 6 and all("compute their result themselves" in o for o in shown)


# ------------------------------------------------------------------- batches


def test_batch_grading_writes_results_and_gradebook(fake_source, tmp_path, capsys):
    """A folder of submissions (folders and a zip), one of which hangs and one floods
    output: every student gets results.json and a gradebook row."""
    subs = tmp_path / "subs"
    for name, ops in (("alice", CORRECT),
                      ("bob", CORRECT.replace("    return a + b", "    while True:\n        pass")),
                      ("erin", "import os\nos.write(1, b'x' * (64 << 20))\n" + CORRECT)):
        shutil.copytree(submission(tmp_path / name, ops), subs / name)
    with zipfile.ZipFile(subs / "carol.zip", "w") as zf:
        zf.writestr("minicnn/__init__.py", "from .ops import add, double, triple\n")
        zf.writestr("minicnn/ops.py", CORRECT.replace("return 2 * x", "return 2 * x + 1"))
    results = grade_all("fake", subs, tmp_path / "out", tmp_path / "grades.csv", jobs=2,
                        timeout=2, source_root=fake_source)
    assert [r["score"] for r in results] == [7.5, 2.5, 5.0, 7.5]
    rows = list(csv.reader((tmp_path / "grades.csv").open()))
    assert rows[0] == ["student", "score", "max_score", "test_hidden_ops.py::test_add_hidden",
                       "test_hidden_ops.py::test_double_hidden",
                       "test_visible_ops.py::test_add", "test_visible_ops.py::test_double"]
    assert rows[1:] == [["alice", "7.5", "7.5", "3", "1.5", "2", "1"],
                        ["bob", "2.5", "7.5", "0", "1.5", "0", "1"],
                        ["carol", "5", "7.5", "3", "0", "2", "0"],
                        ["erin", "7.5", "7.5", "3", "1.5", "2", "1"]]
    for student in ("alice", "bob", "carol", "erin"):
        saved = json.loads((tmp_path / "out" / student / "results.json").read_text())
        assert saved == results[["alice", "bob", "carol", "erin"].index(student)]
    progress = capsys.readouterr().err
    assert "[4/4]" in progress and "submissions/min" in progress


@pytest.mark.parametrize("visibility, says", [
    ("hidden", "their results are not shown to you"),
    ("after_due_date", "shown after the due date"),
    ("after_published", "shown when grades are published")])
def test_summary_says_when_hidden_tests_are_shown(fake_source, visibility, says):
    from minicnn.grading.grader import Outcome, results_json

    spec = load_assignment("fake", fake_source)
    spec.hidden_visibility = visibility
    results = results_json(spec, [Outcome(t, True, "", "") for t in spec.tests], None, 1.0)
    assert says in results["output"]
    assert {t["visibility"] for t in results["tests"]} == {visibility, "visible"}


def test_releases_ship_only_the_answers_they_build_on(real_builds):
    """cnn_layers must not contain guided_backprop's answer; guided_backprop declares
    cnn_layers as a prerequisite and keeps its (working) layers."""
    neuron_answer = "seed[(slice(None), *neuron.position)] = 1"
    pool_answer = "out[:, :, i, j] = window.max(axis=(2, 3))"
    reference = {p: (REPO / "minicnn" / p).read_text()
                 for p in ("explain/core.py", "layers/pooling.py")}
    assert neuron_answer in reference["explain/core.py"]
    assert pool_answer in reference["layers/pooling.py"]
    cnn = real_builds["cnn_layers"] / "student/minicnn"
    guided = real_builds["guided_backprop"] / "student/minicnn"
    assert neuron_answer not in (cnn / "explain/core.py").read_text()
    assert pool_answer not in (cnn / "layers/pooling.py").read_text()
    assert neuron_answer not in (guided / "explain/core.py").read_text()
    assert pool_answer in (guided / "layers/pooling.py").read_text()


def test_real_release_self_check_passes_with_the_reference(real_builds, tmp_path):
    """The student's `python -m pytest` in a release: every visible test passes once the
    package is the reference (the self-check runs the code in-process)."""
    student = tmp_path / "student"
    shutil.copytree(real_builds["cnn_layers"] / "student", student)
    shutil.rmtree(student / "minicnn")
    shutil.copytree(REPO / "minicnn", student / "minicnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
                          cwd=student, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(student)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    spec = load_assignment("cnn_layers")
    visible = sum(t.points for t in spec.tests if not t.hidden)
    assert re.search(rf"total +{visible:g}/{visible:g}", proc.stdout)


def test_a_symlinked_package_is_refused(fake_source, tmp_path):
    """An upload whose minicnn/ is a link to another package (the reference, say)."""
    upload = tmp_path / "upload"
    (upload / "deep").mkdir(parents=True)
    (upload / "deep" / "minicnn").symlink_to(fake_source / "minicnn")
    results = grade("fake", upload, tmp_path / "results.json", source_root=fake_source,
                    quiet=True)
    assert results["score"] == 0
    assert "symbolic link" in results["tests"][0]["output"]


MISTAKES = {
    "every tied maximum gets the gradient": (
        "layers/pooling.py",
        "                    a, b = np.unravel_index(np.argmax(window), window.shape)\n"
        "                    dx[img, ch, i * sh + a, j * sw + b] += dout[img, ch, i, j]\n",
        "                    dx[img, ch, i * sh:i * sh + kh, j * sw:j * sw + kw] += (\n"
        "                        (window == window.max()) * dout[img, ch, i, j])\n",
        {"test_maxpool_backward_ties_go_to_the_first_maximum",
         "test_maxpool_backward_with_many_ties"}),
    "softmax without subtracting the row max": (
        "losses.py",
        "        shifted = scores - scores.max(axis=1, keepdims=True)\n",
        "        shifted = scores\n",
        {"test_softmax_cross_entropy_large_scores", "test_softmax_cross_entropy_is_stable"}),
    "the standard rule writes into dout": (
        "layers/relu.py",
        "        return dout * (x > 0)\n",
        "        dout[x <= 0] = 0\n        return dout\n",
        {"test_relu_backward_standard", "test_layers_do_not_modify_their_inputs"}),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_tests_catch_real_mistakes_and_only_those(tmp_path, mistake):
    """One classic mistake in the reference: exactly the tests about it fail, and no
    other test (a mutated dout no longer spoils later tests' inputs)."""
    file, old, new, expected = MISTAKES[mistake]
    package = tmp_path / "upload" / "minicnn"
    shutil.copytree(REPO / "minicnn", package,
                    ignore=shutil.ignore_patterns("__pycache__", "grading"))
    text = (package / file).read_text()
    assert text.count(old) == 1, old
    (package / file).write_text(text.replace(old, new))
    results = grade("cnn_layers", package.parent, tmp_path / "results.json", timeout=30,
                    quiet=True)
    failed = {t["name"].split("::")[-1] for t in results["tests"] if t["score"] < t["max_score"]}
    assert failed == expected


GUIDED_MISTAKES = {
    "the guided rule forgets g > 0": (
        "layers/relu.py", "    return dout * ((x > 0) & (dout > 0))\n",
        "    return dout * (x > 0)\n",
        {"test_guided_rule", "test_relu_layer_uses_its_mode", "test_rules_on_random_arrays",
         "test_neuron_through_a_network", "test_guided_backprop_of_a_class_score"}),
    "backprop also runs the stop layer's backward": (
        "explain/core.py", "            last = model.index(stop) + 1 if stop is not None else 0\n",
        "            last = model.index(stop) if stop is not None else 0\n",
        {"test_backprop_stops_at_a_layer", "test_neuron_through_a_network"}),
    "the neuron seed only for the first image (visible tests use one image)": (
        "explain/core.py", "    seed[(slice(None), *neuron.position)] = 1\n",
        "    seed[(0, *neuron.position)] = 1\n",
        {"test_neuron_batch_images_are_independent", "test_neuron_of_a_dense_layer",
         "test_neuron_through_a_network"}),
    "class saliency under the guided rule": (
        "explain/core.py", "    g = saliency(model, x, target)\n",
        "    g = guided_backprop(model, x, target)\n",
        {"test_class_saliency_matches_numerical",
         "test_class_saliency_is_the_true_gradient_whatever_the_relu_mode"}),
    "maximize does not shift the gradient back": (
        "explain/optimize.py", "            g = np.roll(g, (-dy, -dx), axis=(2, 3))\n", "",
        {"test_jittered_step_is_shifted_back"}),
    "fool's signed step is normalised instead": (
        "explain/optimize.py",
        "            fooled += step * (np.sign(g) if signed else normalized(g))\n",
        "            fooled += step * normalized(g)\n",
        {"test_signed_steps"}),
}


@pytest.mark.parametrize("mistake", list(GUIDED_MISTAKES))
def test_guided_backprop_tests_catch_real_mistakes(tmp_path, mistake):
    """One mistake a student could make in guided_backprop: exactly the graded tests
    about it fail (run in-process, as a student's own pytest does, to keep this quick)."""
    file, old, new, expected = GUIDED_MISTAKES[mistake]
    shutil.copytree(REPO / "minicnn", tmp_path / "minicnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests/autograder", tmp_path / "tests/autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "minicnn" / file
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
                           "tests/autograder/guided_backprop"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    failed = {line.split("::")[1].split(" ")[0].split("[")[0]
              for line in proc.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == expected, proc.stdout[-3000:]


def test_grade_leaves_the_callers_own_subprocesses_alone(fake_source, tmp_path):
    """grade() kills what the grading started, not the caller's other children, and
    gives back the subreaper setting it found."""
    from minicnn.grading.sandbox import set_subreaper

    before = set_subreaper(False)
    mine = subprocess.Popen(["sleep", "60"])
    try:
        results = grade("fake", fake_source, tmp_path / "results.json",
                        source_root=fake_source, quiet=True)
        assert results["score"] == 7.5
        assert mine.poll() is None, "grade() killed a subprocess it did not start"
        assert set_subreaper(before) is False
    finally:
        mine.kill()
        mine.wait()


def test_minicnn_python_given_as_a_name_on_path_becomes_an_absolute_path(monkeypatch):
    # The workers start with a minimal environment and no PATH to search, so a bare
    # name such as "python" must be resolved by the grader.
    from minicnn.grading import grader
    monkeypatch.setenv("MINICNN_PYTHON", Path(sys.executable).name)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert grader._python() == shutil.which(Path(sys.executable).name)
    assert Path(grader._python()).is_absolute()
    monkeypatch.delenv("MINICNN_PYTHON")
    assert grader._python() == sys.executable


def test_worker_preloads_every_standard_module_the_reference_imports():
    # As root the worker drops to the sandbox user after PRELOAD; an interpreter whose
    # own folder that user cannot read (e.g. under /root) then finds no further
    # standard-library module, so importing the reference solution must need none.
    script = textwrap.dedent(f"""
        import importlib, importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "worker", {str(Path(__file__).parents[1] / "minicnn/grading/worker.py")!r})
        worker = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(worker)
        for name in worker.PRELOAD:
            importlib.import_module(name)
        before = set(sys.modules)
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        import minicnn, minicnn.explain, minicnn.layers
        print(sorted(m for m in set(sys.modules) - before
                     if m.split(".")[0] in sys.stdlib_module_names))
    """)
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
