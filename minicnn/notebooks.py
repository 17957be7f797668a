"""Run the lecture notebooks and render them as HTML pages.

Used by ``python -m minicnn notebooks --execute [--html DIR]`` and by the test that
executes every notebook in CI. Executing needs ``nbclient``, ``nbformat`` and
``ipykernel`` (in requirements.txt). Rendering uses nbconvert, Jupyter's own
converter, an optional extra (``pip install -e .[html]``): the page has the
markdown (tables included), the code and the outputs, with the figures embedded as
PNG, so a lecturer can open it in a browser without Jupyter.
"""

from __future__ import annotations

from pathlib import Path

HTML_EXTRA = "pip install -e .[html]   (or: pip install nbconvert)"

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
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:   # nbformat raises several kinds for a broken file
        raise ValueError(f"{str(path)!r} is not a readable notebook "
                         f"({type(err).__name__}: {err})") from None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    client.execute()
    return nb


def has_nbconvert() -> bool:
    """True when nbconvert (the optional extra ``html``) is installed."""
    try:
        import nbconvert  # noqa: F401
    except ImportError:
        return False
    return True


def to_html(nb, title: str) -> str:
    """Render a notebook (nbformat node) as one HTML page with its figures embedded."""
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        raise ImportError(f"rendering notebooks as HTML needs nbconvert: {HTML_EXTRA}") from None
    page, _ = HTMLExporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    return page
