"""Release builder and autograder for minicnn assignments.

- :func:`build_assignment` writes a student release (solution blocks blanked),
  its zip and a Gradescope autograder zip, and checks them;
- :func:`grade` runs the graded tests against a submission (its code only in
  worker processes, the verdicts in a test process it cannot reach), prints a
  score table and writes Gradescope's ``results.json``;
- :func:`grade_all` grades a folder of submissions into a CSV gradebook;
- :func:`list_assignments` names the assignments of a source tree.

Standard library only in the grader's process (pytest and NumPy in its test
process, NumPy in the workers): the grader must work when the student's package
is broken. See ``docs/grading.md``.
"""

from .batch import grade_all
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
    "grade_all",
    "list_assignments",
    "load_assignment",
    "parse_blocks",
]
