"""Release builder and autograder for minicnn assignments.

- :func:`build_assignment` writes a student release (solution blocks blanked),
  its zip and a Gradescope autograder zip, and checks them;
- :func:`grade` runs the graded tests against a submission in subprocesses,
  prints a score table and writes Gradescope's ``results.json``;
- :func:`list_assignments` names the assignments of a source tree.

Standard library (and pytest, in the test subprocesses) only: the grader must
work when the student's package is broken. See ``docs/grading.md``.
"""

from .config import ConfigError, list_assignments, load_assignment
from .grader import SubmissionError, grade
from .markers import MarkerError, blank_source, parse_blocks
from .release import BuildError, build_assignment

__all__ = [
    "BuildError",
    "ConfigError",
    "MarkerError",
    "SubmissionError",
    "blank_source",
    "build_assignment",
    "grade",
    "list_assignments",
    "load_assignment",
    "parse_blocks",
]
