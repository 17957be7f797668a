"""The assignment handouts and starter notebooks: their code runs on the lowest Python
that pyproject.toml allows, and what they state matches the assignments' configs."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from minicnn.grading import list_assignments, load_assignment

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = REPO / "assignments"


def lowest_python() -> tuple[int, int]:
    """(3, 10) from pyproject.toml's ``requires-python = ">=3.10"``."""
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', text, re.M)
    assert match, "pyproject.toml must state requires-python as >=X.Y"
    return int(match[1]), int(match[2])


def python_blocks(markdown: str) -> list[str]:
    """The code of every ```python block of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


def check_syntax(source: str, version: tuple[int, int], where: str) -> None:
    """Parse ``source`` as Python ``version`` would, or fail naming ``where``.

    ``ast.parse(feature_version=...)`` rejects most newer syntax (``except*``, the
    ``type`` statement, PEP 695 generics, ...) but accepts a star inside an index
    (``a[:, *b]``, Python 3.11), which is looked for here.
    """
    try:
        tree = ast.parse(source, filename=where, feature_version=version)
    except SyntaxError as exc:
        pytest.fail(f"{where}: not valid Python {version[0]}.{version[1]}: {exc}")
    if version < (3, 11):
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple) \
                    and any(isinstance(e, ast.Starred) for e in node.slice.elts) \
                    and not _parenthesized(ast.get_source_segment(source, node.slice)):
                pytest.fail(f"{where}, line {node.lineno}: a star inside an index "
                            f"(a[:, *b]) needs Python 3.11; write a[(slice(None), *b)]")


def _parenthesized(text: str) -> bool:
    """True if ``text`` is one expression in parentheses: ``(a, *b)``, not ``(a), *b``."""
    if not text.startswith("("):
        return False
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position == len(text) - 1
    return False


def test_the_syntax_check_catches_newer_python():
    for newer in ("out[:, *neuron.position]", "out[(c), *rest]",
                  "try:\n    pass\nexcept* ValueError:\n    pass"):
        with pytest.raises(pytest.fail.Exception, match="3.11|3.10"):
            check_syntax(newer, (3, 10), "example")
    check_syntax("out[(slice(None), *neuron.position)]", (3, 10), "example")
    assert python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n") == ["x = 1\n"]


HANDOUTS = sorted(ASSIGNMENTS.rglob("*.md"))
NOTEBOOKS = sorted(ASSIGNMENTS.rglob("*.ipynb"))


@pytest.mark.parametrize("path", HANDOUTS, ids=[str(p.relative_to(REPO)) for p in HANDOUTS])
def test_handout_code_is_valid_on_the_lowest_python(path):
    for number, block in enumerate(python_blocks(path.read_text()), 1):
        check_syntax(block, lowest_python(), f"{path.name}, python block {number}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in NOTEBOOKS])
def test_starter_notebook_code_is_valid_on_the_lowest_python(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert cells
    for number, cell in enumerate(cells, 1):
        check_syntax(cell.source, lowest_python(), f"{path.name}, code cell {number}")
        assert cell.outputs == [] and cell.execution_count is None, \
            f"{path.name}: strip outputs before committing"


def test_instructors_readme_shows_the_real_config():
    """assignments/README.md quotes guided_backprop's assignment.json as it is."""
    blocks = re.findall(r"^```json\n(.*?)^```", (ASSIGNMENTS / "README.md").read_text(),
                        re.M | re.S)
    real = json.loads((ASSIGNMENTS / "guided_backprop" / "assignment.json").read_text())
    assert json.loads(blocks[0]) == real


# The parts of the guided_backprop handout, in its table's order, and their test files.
GUIDED_PARTS = ["rules", "neuron", "saliency", "visualize", "fooling"]


def test_guided_backprop_handout_states_the_real_points():
    """The handout's table gives each part's visible + hidden points and the total, as
    the graded tests score them."""
    spec = load_assignment("guided_backprop")
    text = (ASSIGNMENTS / "guided_backprop" / "README.md").read_text()
    rows = re.findall(r"^\| (\d)\. [^|]+\|[^|]+\|[^|]+\| (\d+) \+ (\d+) \|", text, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    for (number, visible, hidden), part in zip(rows, GUIDED_PARTS):
        tests = [t for t in spec.tests if t.id.split("::")[0].endswith(f"_part{number}_{part}.py")]
        assert tests, part
        assert (float(visible), float(hidden)) == (
            sum(t.points for t in tests if not t.hidden),
            sum(t.points for t in tests if t.hidden)), f"part {number} ({part})"
    assert f"**{spec.max_score:g} autograded" in text
    hidden = sum(t.points for t in spec.tests if t.hidden)
    assert f"hidden tests ({hidden:g} of the {spec.max_score:g} points)" in text
    for number, part in enumerate(GUIDED_PARTS, 1):
        assert f"test_visible_part{number}_{part}.py" in text


def test_every_assignment_has_a_handout_and_a_notebook():
    for name in list_assignments():
        assert (ASSIGNMENTS / name / "README.md").is_file()
        assert (ASSIGNMENTS / name / "starter.ipynb").is_file()
