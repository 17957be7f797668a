"""Build an assignment release: the student folder, its zip, and the autograder zip.

``build_assignment(name, out_dir)`` writes::

    out_dir/<name>/student/          the student's self-contained folder
    out_dir/<name>/student.zip       the same folder, zipped
    out_dir/<name>/autograder.zip    Gradescope autograder (setup.sh, run_autograder)

and then checks its own work (see :func:`check_release`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from .config import Assignment, find_source_root, list_assignments, load_assignment
from .grader import KNOWN_LINES_FILE, line_hash, run_tests
from .markers import MARKER_LIKE_RE, Block, MarkerError, blank_source, parse_blocks
from .runner import IGNORE, Runner

GRADER_PACKAGE = "minicnn_grading"  # name of this package inside autograder.zip
STUDENT_CLIENT = "minicnn_grading"  # tests/<this>/ of a release: student.py and worker.py
TEXT_SUFFIXES = {".py", ".md", ".txt", ".json", ".ipynb", ".toml", ".cfg", ".ini", ".sh", ""}
DEFAULT_DEPENDENCIES = ["numpy>=1.24", "matplotlib>=3.7", "tqdm>=4.60"]
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same source gives the same zip
# assignments/<name>/instructor/: model answers and the rubric of the written questions.
# Never copied into a release (nor into autograder.zip); the build checks that no line of
# it reached the student's files.
INSTRUCTOR_DIR = "instructor"
MIN_INSTRUCTOR_LINE = 30  # shorter lines ("| 3 | correct |", headings) may occur anywhere


class BuildError(RuntimeError):
    """The release could not be built, or failed one of its self-checks."""


def build_assignment(name: str, out_dir: str | Path, source_root: str | Path | None = None,
                     check: bool = True) -> Path:
    """Build the release of assignment ``name`` into ``out_dir/name`` and return that path.

    Args:
        name: an assignment under ``assignments/``.
        out_dir: where to write; ``out_dir/name`` is replaced if it exists.
        source_root: the folder holding ``minicnn/``, ``assignments/`` and
            ``tests/autograder/`` (default: this repository).
        check: run the self-checks (no solution, marker or hidden test in the
            release; the release imports; the reference passes every graded test;
            the untouched release fails every one).
    """
    spec = load_assignment(name, source_root)
    root = spec.root
    unknown = sorted(set(spec.prerequisites) - set(list_assignments(root)))
    if unknown:
        raise BuildError(f"{name}: prerequisites name no assignment: {unknown}")
    target = Path(out_dir).resolve() / name
    print(f"building {name!r} ({spec.title}) from {root} into {target}")
    _clear(target)
    student = target / "student"
    blanked = write_student_package(root / "minicnn", student / "minicnn", name,
                                    list_assignments(root), spec.prerequisites)
    files = sorted({b.path for b in blanked})
    own = sum(b.belongs_to(name) for b in blanked)
    print(f"  blanked {len(blanked)} solution block(s) in {len(files)} file(s): {own} of "
          f"{name!r}, {len(blanked) - own} of assignments it does not build on "
          f"(prerequisites: {', '.join(spec.prerequisites) or 'none'})")
    _write_student_files(spec, student)
    _zip_folder(student, target / "student.zip", prefix=name)
    _write_autograder_zip(spec, target / "autograder.zip")
    print(f"  wrote {student}, student.zip and autograder.zip "
          f"({len(spec.tests)} graded tests, {spec.max_score:g} points)")
    if check:
        check_release(spec, target, blanked)
    return target


def _clear(target: Path) -> None:
    for name in ("student", "autograder"):
        if (target / name).is_dir():
            shutil.rmtree(target / name)
    for name in ("student.zip", "autograder.zip"):
        (target / name).unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)


def write_student_package(src: Path, dst: Path, assignment: str,
                          known: list[str] | None = None,
                          prerequisites: list[str] = ()) -> list[Block]:
    """Copy the package ``src`` to ``dst`` with ``assignment``'s blocks blanked.

    The blocks of every other assignment in ``known`` that is not one of
    ``prerequisites`` are blanked too: a release never ships the answers of an
    assignment it does not build on. Every ``.py`` file loses its marker lines;
    caches and compiled files are not copied. Returns the blanked blocks (with
    their solution lines).

    Raises:
        MarkerError: malformed markers, a tag naming no known assignment, or no
            block at all for ``assignment``.
    """
    others = set(known or ()) - set(prerequisites) - {assignment}
    blanked: list[Block] = []
    shutil.copytree(src, dst, ignore=IGNORE)
    for path in sorted(dst.rglob("*.py")):
        original = src / path.relative_to(dst)
        text = original.read_text(encoding="utf-8")
        for block in parse_blocks(text, str(original)):
            unknown = [t for t in block.tags if known is not None and t not in known]
            if unknown:
                raise MarkerError(
                    f"{original}:{block.begin}: unknown assignment tag(s) {unknown}; "
                    f"known assignments: {known}")
        new_text, blocks = blank_source(text, assignment, str(original), others)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
        blanked.extend(blocks)
    if not any(b.belongs_to(assignment) for b in blanked):
        raise MarkerError(f"no solution block belongs to {assignment!r} in {src}")
    return blanked


def _dependencies(root: Path) -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return list(DEFAULT_DEPENDENCIES)
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        return list(data["project"]["dependencies"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return list(DEFAULT_DEPENDENCIES)


def _write_student_files(spec: Assignment, student: Path) -> None:
    for path in sorted(spec.folder.iterdir()):
        if path.name in ("assignment.json", INSTRUCTOR_DIR) or path.name.startswith("."):
            continue  # the config names the hidden tests; instructor/ holds the answers
        if path.is_dir():
            shutil.copytree(path, student / path.name, ignore=IGNORE)
        else:
            shutil.copy2(path, student / path.name)
    tests = student / "tests"
    tests.mkdir()
    for path in spec.support_files():
        shutil.copy2(path, tests / path.name)
    for name in spec.visible_files:
        shutil.copy2(spec.tests_dir / name, tests / name)
    points = {t.id: {"points": t.points, "doc": t.doc} for t in spec.tests if not t.hidden}
    (tests / "points.json").write_text(json.dumps(points, indent=2) + "\n", encoding="utf-8")
    client = tests / STUDENT_CLIENT
    client.mkdir()
    (client / "__init__.py").write_text(
        '"""How the tests reach your package: the `student` fixture (see student.py)."""\n')
    for module in ("student.py", "worker.py"):
        shutil.copy2(Path(__file__).with_name(module), client / module)
    shutil.copy2(Path(__file__).with_name("_student_conftest.py"), student / "conftest.py")
    deps = [*_dependencies(spec.root), "pytest>=7.4"]  # pytest: the self-check needs it
    (student / "requirements.txt").write_text("\n".join(deps) + "\n")
    (student / "pyproject.toml").write_text(STUDENT_PYPROJECT.format(
        name=spec.name, title=spec.title,
        deps=", ".join(json.dumps(d) for d in deps)), encoding="utf-8")


STUDENT_PYPROJECT = """\
# Student release of the minicnn assignment "{name}" ({title}).
# Install with `pip install -e .`, test with `python -m pytest`.
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "minicnn"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = [{deps}]

[tool.setuptools.packages.find]
include = ["minicnn*"]

[tool.setuptools.package-data]
minicnn = ["assets/*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image.
set -euo pipefail
cd /autograder/source
if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update
    apt-get install -y python3 python3-pip
fi
python3 -m pip install -r requirements.txt \\
    || python3 -m pip install --break-system-packages -r requirements.txt
# Student code runs as this unprivileged user (see assignments/README.md).
id -u minicnn-student >/dev/null 2>&1 \\
    || useradd --no-create-home --shell /usr/sbin/nologin minicnn-student
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope entry point for the minicnn assignment "{name}".
# The submission is read from $ROOT/submission, results go to
# $ROOT/results/results.json. MINICNN_AUTOGRADER_ROOT overrides the root
# (/autograder) and MINICNN_PYTHON the interpreter, for local runs.
ROOT="${{MINICNN_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{MINICNN_PYTHON:-python3}}"
cd "$ROOT" || exit 1
exec "$PYTHON" -I -c 'import sys; sys.path.insert(0, sys.argv[1]); \\
from {package}.gradescope import main; sys.exit(main(sys.argv[2:]))' \\
    "$ROOT/source" --assignment {name} --root "$ROOT"
"""


def _write_autograder_zip(spec: Assignment, path: Path) -> None:
    root = spec.root
    entries: dict[str, Path | str] = {
        "setup.sh": SETUP_SH,
        "run_autograder": RUN_AUTOGRADER.format(name=spec.name, package=GRADER_PACKAGE),
        "requirements.txt": "\n".join([*_dependencies(root), "pytest>=7.4"]) + "\n",
        f"assignments/{spec.name}/assignment.json": spec.folder / "assignment.json",
    }
    release = path.parent / "student" / "minicnn"
    entries[KNOWN_LINES_FILE] = json.dumps(sorted(
        {line_hash(line) for p in release.rglob("*.py")
         for line in p.read_text(encoding="utf-8").splitlines()}))
    for module in sorted(Path(__file__).parent.glob("*.py")):
        entries[f"{GRADER_PACKAGE}/{module.name}"] = module
    for support in spec.support_files():
        entries[f"tests/autograder/{support.name}"] = support
    for name in [*spec.visible_files, *spec.hidden_files]:
        entries[f"tests/autograder/{spec.name}/{name}"] = spec.tests_dir / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, content in entries.items():
            data = content.read_bytes() if isinstance(content, Path) else content.encode()
            executable = arcname in ("setup.sh", "run_autograder")
            _zip_write(zf, arcname, data, executable)


def _zip_write(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool) -> None:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def _zip_folder(folder: Path, path: Path, prefix: str) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            executable = bool(file.stat().st_mode & stat.S_IXUSR)
            _zip_write(zf, f"{prefix}/{file.relative_to(folder).as_posix()}",
                       file.read_bytes(), executable)


def unzip_autograder(zip_path: str | Path, source: str | Path) -> Path:
    """Extract an autograder zip the way Gradescope does (keeping executable bits)."""
    source = Path(source)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(source / info.filename, mode)
    return source


# --------------------------------------------------------------------- checks


def leaks(student: Path, spec: Assignment, blanked: list[Block]) -> list[str]:
    """Everything in ``student/`` that should not be there; empty if clean.

    Looks for marker or hint lines, lines of a blanked block that occur nowhere
    else in the reference package, compiled files, hidden test files (by name or by
    content), and the instructor's files (``instructor/``: by path, and any of their
    lines of at least ``MIN_INSTRUCTOR_LINE`` characters).
    """
    problems: list[str] = []
    answers = instructor_lines(spec.folder)
    secret = {line.strip() for b in blanked for line in b.body
              if len(line.strip()) >= 8 and not line.strip().startswith("#")}
    secret -= _public_lines(spec.root / "minicnn", blanked)
    hidden = {name: (spec.tests_dir / name).read_bytes() for name in spec.hidden_files}
    for path in sorted(p for p in student.rglob("*") if p.is_file()):
        rel = path.relative_to(student)
        if INSTRUCTOR_DIR in rel.parts:
            problems.append(f"{rel}: an instructor's file")
        if path.suffix in (".pyc", ".pyo") or "__pycache__" in rel.parts:
            problems.append(f"{rel}: compiled file")
            continue
        data = path.read_bytes()
        if data in hidden.values():
            problems.append(f"{rel}: a copy of a hidden test")
        if path.suffix not in TEXT_SUFFIXES:
            continue
        text = _text_of(path, data)
        for number, line in enumerate(text.splitlines(), 1):
            if MARKER_LIKE_RE.match(line):
                problems.append(f"{rel}:{number}: marker line {line.strip()!r}")
            elif line.strip() in secret:
                problems.append(f"{rel}:{number}: solution line {line.strip()!r}")
            elif line.strip() in answers:
                problems.append(f"{rel}:{number}: a line of the instructor's files "
                                f"{line.strip()[:60]!r}")
        for name in hidden:
            if Path(name).stem in text:
                problems.append(f"{rel}: names the hidden test file {name}")
    return problems


def instructor_lines(folder: Path) -> set[str]:
    """The stripped lines of ``folder/instructor/`` (model answers, rubric) long enough
    to be the instructor's own words (``MIN_INSTRUCTOR_LINE`` characters or more)."""
    lines: set[str] = set()
    for path in sorted((folder / INSTRUCTOR_DIR).rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = _text_of(path, path.read_bytes())
            lines |= {s for s in map(str.strip, text.splitlines())
                      if len(s) >= MIN_INSTRUCTOR_LINE}
    return lines


def _text_of(path: Path, data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            return "\n".join("".join(c.get("source", "")) for c in cells)
        except (ValueError, AttributeError):
            return text
    return text


def _public_lines(package: Path, blanked: list[Block]) -> set[str]:
    """Stripped lines of the reference package outside the blanked blocks."""
    inside: dict[str, set[int]] = {}
    for b in blanked:
        inside.setdefault(b.path, set()).update(range(b.begin, b.end + 1))
    public: set[str] = set()
    for path in package.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        skip = inside.get(str(path), set())
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if number not in skip:
                public.add(line.strip())
    return public


def check_release(spec: Assignment, target: Path, blanked: list[Block]) -> None:
    """The build's self-checks; raises :class:`BuildError` on the first failure."""
    student = target / "student"
    problems = leaks(student, spec, blanked)
    with zipfile.ZipFile(target / "student.zip") as zf:
        names = zf.namelist()
    problems += [f"student.zip: {n}" for n in names
                 if Path(n).name in spec.hidden_files or n.endswith((".pyc", "assignment.json"))
                 or INSTRUCTOR_DIR in Path(n).parts[1:]]
    _verdict("no solution line, marker or hidden test in the release", problems)

    with tempfile.TemporaryDirectory(prefix="minicnn-check-") as work:
        ok, reason, details = Runner(student / "minicnn", Path(work)).import_check()
    _verdict("the release imports", [] if ok else [f"{reason}\n{details}"])

    outcomes, problem = run_tests(spec, spec.root, timeout=120.0)
    failed = [f"{o.test.id}: {o.reason}" for o in outcomes if not o.passed]
    score = sum(o.score for o in outcomes)
    _verdict(f"the reference scores {score:g}/{spec.max_score:g}",
             failed + ([problem] if problem else []))

    outcomes, problem = run_tests(spec, student, timeout=120.0)
    passed = [f"{o.test.id} passes without the student's work (it must depend on a blanked "
              "block)" for o in outcomes if o.passed]
    score = sum(o.score for o in outcomes)
    _verdict(f"the untouched release scores {score:g}/{spec.max_score:g} "
             "(every graded test fails)", passed + ([problem] if problem else []))


def _verdict(what: str, problems: list[str]) -> None:
    if problems:
        print(f"  check: {what} ... FAILED")
        raise BuildError(f"release check failed: {what}:\n  " + "\n  ".join(problems[:30]))
    print(f"  check: {what} ... ok")


__all__ = ["BuildError", "build_assignment", "check_release", "find_source_root", "leaks",
           "unzip_autograder", "write_student_package"]
