"""Solution markers: find the student's blocks in the reference code and blank them.

The reference source marks each piece of student work like this (shown indented so
that this docstring is not itself a marker)::

    def backward(self, dout):
        <BEGIN>  cnn_layers guided_backprop
        <HINT> each mode is one line; see the table in the docstring.
        ...solution lines...
        <END>

where ``<BEGIN>`` is the comment ``# BEGIN SOLUTION``, ``<HINT>`` the comment
``# HINT:`` and ``<END>`` the comment ``# END SOLUTION``. The words after
``BEGIN SOLUTION`` are assignment tags; a block without tags belongs to every
assignment. An optional hint comment as the first line inside the block is the
one-line hint of the stub.

For the release of assignment ``A`` every block of ``A`` becomes::

    raise NotImplementedError("<hint>")

at the indentation of the BEGIN line, and so does every block of another
assignment that ``A`` does not declare as a prerequisite (its answers must not
ship with ``A``); blocks of prerequisites keep their code. In both cases all
marker and hint lines are removed, so nothing marker-like reaches the student.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HINT = "implement this block (see the docstring above)"

BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\b(?P<tags>.*)$")
END_RE = re.compile(r"^[ \t]*#\s*END SOLUTION\b(?P<rest>.*)$")
HINT_RE = re.compile(r"^[ \t]*#\s*HINT:\s?(?P<hint>.*)$")
# Anything that looks like a marker, used to check that none reaches a release.
MARKER_LIKE_RE = re.compile(r"^[ \t]*#\s*(BEGIN SOLUTION|END SOLUTION|HINT:)")
TAG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class MarkerError(ValueError):
    """A malformed solution block (unbalanced, nested or badly tagged)."""


@dataclass
class Block:
    """One solution block of one file.

    Line numbers are 1-based and point at the BEGIN and END marker lines.
    """

    path: str
    begin: int
    end: int
    indent: str
    tags: tuple[str, ...]
    hint: str | None
    body: list[str] = field(default_factory=list)  # solution lines, hint excluded

    def belongs_to(self, assignment: str) -> bool:
        """True if this block is student work in ``assignment`` (untagged: all)."""
        return not self.tags or assignment in self.tags


def parse_blocks(text: str, path: str = "<string>") -> list[Block]:
    """Return the solution blocks of a source text, in order.

    Raises:
        MarkerError: an END without a BEGIN, a BEGIN inside a block, a block left
            open at the end of the file, or a malformed tag. The message names the
            file and the line.
    """
    blocks: list[Block] = []
    current: Block | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        begin, end = BEGIN_RE.match(line), END_RE.match(line)
        if begin:
            if current is not None:
                raise MarkerError(
                    f"{path}:{number}: BEGIN SOLUTION inside the block opened at line "
                    f"{current.begin}; blocks cannot be nested (close it with END SOLUTION)"
                )
            tags = tuple(begin["tags"].split())
            for tag in tags:
                if not TAG_RE.match(tag):
                    raise MarkerError(
                        f"{path}:{number}: expected assignment names after BEGIN SOLUTION, "
                        f"but got {tag!r}"
                    )
            current = Block(path, number, -1, begin["indent"], tags, None)
        elif end:
            if current is None:
                raise MarkerError(f"{path}:{number}: END SOLUTION without a BEGIN SOLUTION")
            if end["rest"].strip():
                raise MarkerError(
                    f"{path}:{number}: expected nothing after END SOLUTION, "
                    f"but got {end['rest'].strip()!r}"
                )
            current.end = number
            blocks.append(current)
            current = None
        elif current is not None:
            hint = HINT_RE.match(line)
            if hint and not current.body and current.hint is None:
                current.hint = hint["hint"].strip()
            else:
                current.body.append(line)
    if current is not None:
        raise MarkerError(
            f"{path}:{current.begin}: BEGIN SOLUTION is never closed (no END SOLUTION "
            "before the end of the file)"
        )
    return blocks


def stub_line(indent: str, hint: str | None) -> str:
    """The line that replaces a blanked block."""
    return f"{indent}raise NotImplementedError({(hint or DEFAULT_HINT)!r})"


def blank_source(text: str, assignment: str, path: str = "<string>",
                 also: frozenset[str] | set[str] = frozenset()) -> tuple[str, list[Block]]:
    """Release version of one source text for ``assignment``.

    Blocks of ``assignment`` and blocks of any assignment in ``also`` (other
    assignments whose answers must not ship in this release) are blanked.

    Returns:
        ``(new_text, blanked)``: the text with those blocks replaced by a
        ``raise NotImplementedError(hint)`` stub and every marker/hint line removed,
        and the list of blocks that were blanked.
    """
    blocks = parse_blocks(text, path)
    if not blocks:
        return text, []
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    blanked: list[Block] = []
    position = 0  # 0-based index of the next line to copy
    for block in blocks:
        out.extend(lines[position : block.begin - 1])
        if block.belongs_to(assignment) or any(tag in also for tag in block.tags):
            out.append(stub_line(block.indent, block.hint) + newline)
            blanked.append(block)
        else:
            out.extend(line + newline for line in block.body)
        position = block.end  # skip the END line
    out.extend(lines[position:])
    return "".join(out), blanked


def find_blocks(package_dir: str | Path) -> list[Block]:
    """All solution blocks of every ``.py`` file under ``package_dir``."""
    package_dir = Path(package_dir)
    blocks: list[Block] = []
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        blocks.extend(parse_blocks(text, str(path)))
    return blocks
