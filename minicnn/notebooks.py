"""Run the lecture notebooks and render them as self-contained HTML pages.

Used by ``python -m minicnn notebooks --execute [--html DIR]`` and by the test that
executes every notebook in CI. Executing needs ``nbclient``, ``nbformat`` and
``ipykernel`` (in requirements.txt). The HTML renderer is deliberately small (no
nbconvert): markdown headings, paragraphs, lists, emphasis and code; code cells;
text and PNG outputs embedded, so a lecturer can open the figures in a browser.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def find_notebooks(folder: str | Path | None = None) -> list[Path]:
    """The ``*.ipynb`` files of ``folder`` (default: the repo's ``notebooks/``), sorted."""
    folder = Path(folder) if folder is not None else NOTEBOOK_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebook folder at {str(folder)!r}")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def execute(path: str | Path, timeout: int = 600, cwd: str | Path | None = None):
    """Execute the notebook at ``path`` in a fresh kernel; returns the executed notebook.

    Raises ``nbclient.exceptions.CellExecutionError`` (with the failing cell's
    traceback) on the first error. The file itself is not changed.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<!\*)\*([^*\s][^*]*)\*(?!\*)", r"<em>\1</em>", text)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)


def markdown_to_html(source: str) -> str:
    """A small markdown subset: ``#`` headings, paragraphs, ``-``/``*``/``1.`` lists, fenced
    code, and inline code, bold, italics and links. Anything else shows as text."""
    out, paragraph, items, code = [], [], [], None

    def flush():
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in source.splitlines():
        if code is not None:
            if line.strip().startswith("```"):
                out.append(f"<pre>{html.escape(chr(10).join(code))}</pre>")
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        item = re.match(r"(?:[-*]|\d+\.)\s+(.*)", stripped)
        if stripped.startswith("```"):
            flush()
            code = []
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item:
            if paragraph:
                flush()
            items.append(item.group(1))
        elif not stripped:
            flush()
        elif items:
            items[-1] += " " + stripped
        else:
            paragraph.append(stripped)
    flush()
    return "\n".join(out)


def _output_html(output) -> str:
    if output.get("output_type") == "stream":
        return f'<pre class="out">{html.escape(output.get("text", ""))}</pre>'
    if output.get("output_type") == "error":
        return f'<pre class="err">{html.escape(output.get("ename", ""))}: ' \
               f'{html.escape(output.get("evalue", ""))}</pre>'
    data = output.get("data", {})
    if "image/png" in data:
        png = data["image/png"]
        png = png if isinstance(png, str) else base64.b64encode(png).decode()
        return f'<img src="data:image/png;base64,{png.strip()}">'
    if "text/plain" in data:
        return f'<pre class="out">{html.escape(data["text/plain"])}</pre>'
    return ""


def to_html(nb, title: str) -> str:
    """Render a notebook (nbformat node) as one self-contained HTML page."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f'<div class="md">{markdown_to_html(cell.source)}</div>')
        elif cell.cell_type == "code":
            parts.append(f'<pre class="code">{html.escape(cell.source)}</pre>')
            parts.extend(_output_html(o) for o in cell.get("outputs", []))
    style = ("body{max-width:60em;margin:2em auto;font-family:sans-serif;line-height:1.45}"
             "pre{padding:.5em;overflow-x:auto}pre.code{background:#f4f4f4;"
             "border-left:3px solid #88a}pre.err{background:#fee}img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
