"""The lecture notebooks run top to bottom in a fresh kernel, and render as HTML.

Numbers quoted in the text are printed by the code. In a markdown cell, a number
written with a decimal point (``0.80``, ``-30.8``) or with a percent sign (``40 %``,
``65%``) is a quoted result: it must appear, written the same way, in the text output
of some code cell of the executed notebook (a space before ``%`` is ignored on both
sides). Numbers inside backticks are code (arguments such as ``noise=0.15``) and are
not checked; numbers without a decimal point or percent sign (counts, sizes, years)
are not either. ``test_notebook_runs_without_error`` applies the check to each
executed notebook, so it costs no extra run.
"""

import base64
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from minicnn import notebooks
from minicnn.data import fashion_mnist_test_set

NOTEBOOKS = notebooks.find_notebooks()
# The assignments' starter notebooks, run here against the reference solution: what a
# student who has finished every part runs.
STARTERS = sorted((Path(__file__).resolve().parents[1] / "assignments").glob("*/starter.ipynb"))

# a number with a percent sign, or with a decimal point, not part of a longer word/number
QUOTED = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?\s?%|(?<![\w.])-?\d+\.\d+(?![\w.%])")


def quoted_numbers(markdown: str) -> list[str]:
    """The quoted results of one markdown cell, normalised (no space before ``%``)."""
    text = re.sub(r"`[^`]*`", " ", markdown)                 # code spans are not checked
    return [re.sub(r"\s+%", "%", q) for q in QUOTED.findall(text)]


def printed_text(nb) -> str:
    """Everything the code cells printed or returned as text, spaces before % removed."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
    return re.sub(r"(\d)\s+%", r"\1%", "\n".join(parts))


def numbers_not_printed(nb) -> list[tuple[int, str]]:
    """(cell number, number) for each quoted number no code cell printed."""
    printed = printed_text(nb)
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for q in quoted_numbers(cell.source):
            number = q.lstrip("-")
            if not re.search(r"(?<![\d.])" + re.escape(number) + r"(?![\d])", printed):
                missing.append((i, q))
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_error(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = notebooks.execute(path, timeout=600)
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert numbers_not_printed(nb) == [], \
        f"{path.name}: numbers quoted in markdown (cell, number) that no code cell prints"
    assert any(o.get("output_type") in ("display_data", "execute_result")
               and "image/png" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])), \
        f"{path.name} shows no figure"
    if "fashion_mnist_test_set()" in path.read_text():
        # A notebook that loads test images prints which ones: the full test set where it
        # is installed, else the subset shipped in the package. The kernel inherits this
        # process's environment (so MINICNN_HIDE_DATA reaches it) and runs in the
        # notebook's folder (so ./data/fashion-mnist means <that folder>/data/...).
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                          for o in c.get("outputs", []) if o.get("output_type") == "stream")
        monkeypatch.chdir(path.parent)
        assert f"Test images: {fashion_mnist_test_set().description}" in printed


@pytest.mark.parametrize("path", STARTERS, ids=[p.parent.name for p in STARTERS])
def test_starter_notebook_runs_on_the_reference(path, monkeypatch):
    # The starters end their cells with plt.show(), as students do in Jupyter: the
    # kernel's own (inline) backend shows the figures, Agg would not.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = notebooks.execute(path, timeout=600)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    assert outputs, f"{path} printed nothing"
    if "matplotlib" in path.read_text():
        assert any("image/png" in o.get("data", {}) for o in outputs), \
            f"{path} shows no figure"


def test_there_are_starter_notebooks():
    assert {p.parent.name for p in STARTERS} >= {"cnn_layers", "guided_backprop"}


@pytest.mark.parametrize("path", NOTEBOOKS + STARTERS,
                         ids=[p.name for p in NOTEBOOKS] + [p.parent.name for p in STARTERS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: strip outputs before committing"


def test_quoted_numbers_must_be_printed():
    def notebook(markdown, printed):
        return nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(markdown),
            nbformat.v4.new_code_cell("...", outputs=[
                nbformat.v4.new_output("stream", name="stdout", text=printed)])])

    printed = "standard: 41% near zero, total -30.8\nrho    0.80\n"
    good = notebook("About 41 % of pixels, a total of -30.8, rho = 0.80, in 3 layers.",
                    printed)
    assert numbers_not_printed(good) == []
    bad = notebook("Only 40 % of pixels, a total of 30.80, rho 0.8; `noise=0.15` is code.",
                   printed)
    assert numbers_not_printed(bad) == [(0, "40%"), (0, "30.80"), (0, "0.8")]
    assert quoted_numbers("from 0.80 -> 0.43 (-30.8), 65%, 2017, 28x28, 1e-9") == \
        ["0.80", "0.43", "-30.8", "65%"]


def test_html_shows_tables_code_and_embedded_png():
    png = base64.b64encode(b"\x89PNG fake").decode()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Hello\n\n| rule | mask |\n|---|---|\n| guided | both |"),
        nbformat.v4.new_code_cell("print(1)", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="1\n"),
            nbformat.v4.new_output("display_data", data={"image/png": png}),
        ]),
    ])
    page = notebooks.to_html(nb, title="t")
    assert "<title>t</title>" in page
    assert "Hello" in page and "<table>" in page and "<td>guided</td>" in page
    assert "print" in page
    assert f"data:image/png;base64,{png}" in page


def test_cli_executes_and_renders(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(nb, folder / "one.ipynb")
    result = subprocess.run([sys.executable, "-m", "minicnn", "notebooks", "--execute",
                             "--folder", str(folder), "--html", str(tmp_path / "html")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "html" / "one.html").read_text()
    assert "<pre>42\n</pre>" in page   # the cell's output


def test_html_without_nbconvert_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from minicnn.__main__ import main
    monkeypatch.setattr(notebooks, "has_nbconvert", lambda: False)
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), folder / "one.ipynb")
    assert main(["notebooks", "--execute", "--folder", str(folder), "--html", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--html needs nbconvert" in err and "[html]" in err
