"""Assignment configuration and the list of graded tests.

An assignment is a folder ``assignments/<name>/`` holding ``assignment.json``::

    {
      "title": "Guided backpropagation",
      "visible": ["test_visible_*.py"],          # globs in tests/autograder/<name>/
      "hidden": ["test_hidden_*.py"],
      "hidden_visibility": "after_published",    # or "hidden"
      "prerequisites": ["cnn_layers"],           # optional: assignments it builds on
      "timeout": 30,                              # optional: seconds per test
      "deadline": 480,                            # optional: seconds for a whole grade
      "default_points": 1,                        # optional
      "points": {"test_hidden_x.py::test_y": 3}   # optional, overrides the marker
    }

A release keeps the solutions of its prerequisites and blanks those of every
other assignment.

The graded tests are ``tests/autograder/<name>/*.py``. Their points come from a
``@pytest.mark.points(n)`` decorator on the test function, else from ``points`` in
the config, else ``default_points``. Everything here is read *statically* (with
:mod:`ast`), in the grader's own process: which tests exist and what they are worth
is never decided by code the student wrote.
"""

from __future__ import annotations

import ast
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


class ConfigError(ValueError):
    """A missing or malformed assignment configuration or graded test file."""


@dataclass(frozen=True)
class GradedTest:
    """One graded test function: the unit that scores points.

    ``id`` is ``"<file>::<function>"`` (or ``"<file>::<Class>::<method>"``); a
    parametrised test scores its points only if every case passes.
    """

    id: str
    file: str
    points: float
    hidden: bool
    doc: str

    @property
    def function(self) -> str:
        return self.id.split("::", 1)[1]


@dataclass
class Assignment:
    """An assignment's configuration, resolved against a source root."""

    name: str
    root: Path  # the source root: holds minicnn/, assignments/, tests/autograder/
    title: str
    visible_files: list[str]
    hidden_files: list[str]
    hidden_visibility: str
    tests: list[GradedTest]
    raw: dict
    prerequisites: list[str]

    @property
    def folder(self) -> Path:
        return self.root / "assignments" / self.name

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests" / "autograder" / self.name

    @property
    def shared_tests_dir(self) -> Path:
        """``tests/autograder/``: its conftest and helper modules ship with every run."""
        return self.root / "tests" / "autograder"

    @property
    def max_score(self) -> float:
        return sum(test.points for test in self.tests)

    def support_files(self) -> list[Path]:
        """Non-test ``.py`` files of ``tests/autograder/`` (conftest, helpers)."""
        return sorted(
            path for path in self.shared_tests_dir.glob("*.py")
            if not path.name.startswith("test_")
        )


def find_source_root(source_root: str | Path | None = None) -> Path:
    """The folder holding ``assignments/`` and ``tests/autograder/``.

    Defaults to the repository that contains this package, then to the current
    directory.
    """
    if source_root is not None:
        root = Path(source_root).resolve()
        if not (root / "assignments").is_dir():
            raise ConfigError(f"expected an assignments/ folder in source_root={str(root)!r}")
        return root
    candidates = [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in candidates:
        if (root / "assignments").is_dir() and (root / "tests" / "autograder").is_dir():
            return root
    raise ConfigError(
        "could not find the folder holding assignments/ and tests/autograder/ (looked in "
        + ", ".join(str(c) for c in candidates) + "); pass source_root"
    )


def list_assignments(source_root: str | Path | None = None) -> list[str]:
    """Names of the assignments under ``<source_root>/assignments``."""
    root = find_source_root(source_root)
    return sorted(p.parent.name for p in (root / "assignments").glob("*/assignment.json"))


def load_assignment(name: str, source_root: str | Path | None = None) -> Assignment:
    """Read and validate ``assignments/<name>/assignment.json`` and its tests."""
    root = find_source_root(source_root)
    config_path = root / "assignments" / name / "assignment.json"
    if not config_path.is_file():
        known = ", ".join(list_assignments(root)) or "none"
        raise ConfigError(f"unknown assignment {name!r} (no {config_path}); known: {known}")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid JSON: {exc}") from None
    for key in ("title", "visible", "hidden"):
        if key not in raw:
            raise ConfigError(f"{config_path}: missing key {key!r}")
    hidden_visibility = raw.get("hidden_visibility", "after_published")
    if hidden_visibility not in VISIBILITIES:
        raise ConfigError(
            f"{config_path}: hidden_visibility must be one of {VISIBILITIES}, "
            f"but got {hidden_visibility!r}"
        )
    tests_dir = root / "tests" / "autograder" / name
    if not tests_dir.is_dir():
        raise ConfigError(f"expected graded tests in {tests_dir}, but the folder is missing")
    files = sorted(p.name for p in tests_dir.glob("test_*.py"))
    visible = _match(files, raw["visible"])
    hidden = _match(files, raw["hidden"])
    if set(visible) & set(hidden):
        raise ConfigError(
            f"{config_path}: files both visible and hidden: {sorted(set(visible) & set(hidden))}"
        )
    unlisted = sorted(set(files) - set(visible) - set(hidden))
    if unlisted:
        raise ConfigError(
            f"{config_path}: test files neither visible nor hidden: {unlisted}"
        )
    if not files:
        raise ConfigError(f"no test_*.py files in {tests_dir}")
    overrides = raw.get("points", {})
    default = raw.get("default_points", 1)
    tests: list[GradedTest] = []
    for file in files:
        for test_id, points, doc in discover_tests(tests_dir / file):
            points = overrides.get(test_id, points if points is not None else default)
            if not isinstance(points, (int, float)) or points < 0:
                raise ConfigError(f"{test_id}: points must be a number >= 0, got {points!r}")
            tests.append(GradedTest(test_id, file, float(points), file in hidden, doc))
    unknown = sorted(set(overrides) - {t.id for t in tests})
    if unknown:
        raise ConfigError(f"{config_path}: 'points' names tests that do not exist: {unknown}")
    prerequisites = raw.get("prerequisites", [])
    if (not isinstance(prerequisites, list) or name in prerequisites
            or not all(isinstance(p, str) for p in prerequisites)):
        raise ConfigError(f"{config_path}: prerequisites must be a list of other "
                          f"assignments' names, but got {prerequisites!r}")
    return Assignment(name, root, raw["title"], visible, hidden, hidden_visibility, tests, raw,
                      prerequisites)


def _match(files: list[str], patterns: list[str]) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    return [f for f in files if any(fnmatch.fnmatch(f, pat) for pat in patterns)]


def discover_tests(path: Path) -> list[tuple[str, float | None, str]]:
    """``(id, points or None, first docstring paragraph)`` of each test in a file.

    Reads the file with :mod:`ast`; nothing is imported or run. Finds module-level
    ``test*`` functions and ``test*`` methods of ``Test*`` classes, and the
    ``points`` mark in their decorators (``@pytest.mark.points(2)``).
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: graded test file does not parse: {exc.msg}")
    found: list[tuple[str, float | None, str]] = []
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)

    def add(prefix: str, node: ast.FunctionDef, class_points: float | None) -> None:
        points = _points_of(node.decorator_list, path)
        summary = (ast.get_docstring(node) or "").strip().split("\n\n")[0]  # 1st paragraph
        found.append((f"{prefix}{node.name}", points if points is not None else class_points,
                      " ".join(summary.split())))

    for node in tree.body:
        if isinstance(node, functions) and node.name.startswith("test"):
            add(f"{path.name}::", node, None)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_points = _points_of(node.decorator_list, path)
            for item in node.body:
                if isinstance(item, functions) and item.name.startswith("test"):
                    add(f"{path.name}::{node.name}::", item, class_points)
    return found


def _points_of(decorators: list[ast.expr], path: Path) -> float | None:
    for dec in decorators:
        if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                and dec.func.attr == "points"):
            if (len(dec.args) != 1 or not isinstance(dec.args[0], ast.Constant)
                    or not isinstance(dec.args[0].value, (int, float))):
                raise ConfigError(
                    f"{path}:{dec.lineno}: expected @pytest.mark.points(<number>), "
                    f"but got {ast.unparse(dec)}"
                )
            return float(dec.args[0].value)
    return None
