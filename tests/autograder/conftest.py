"""Shared by the graded tests of every assignment (and shipped with the visible ones).

Graded tests never import ``minicnn``: they reach the code under test through the
``student`` fixture (``minicnn_grading/student.py`` next to this file in a student
release, ``minicnn/grading/student.py`` in the repository), so that when the grader
runs them the student's code lives in a separate worker process and cannot touch
the tests, their expected values or their verdicts. In the student's own
``python -m pytest`` (and in the project's CI, on the reference) the same calls
run in-process.

Registers the ``points`` marker: ``@pytest.mark.points(2)`` on a test says what it
is worth. The grader reads the marker from the file's text.
"""

import numpy as np
import pytest

try:  # the grader's test process and the student release
    from minicnn_grading.student import Student, WorkerFailure, open_backend
except ImportError:  # the project's own test run, on the reference package
    from minicnn.grading.student import Student, WorkerFailure, open_backend

# The library's fast convolution and pooling, refused by `naive_only`.
FAST_PATHS = [
    "minicnn.layers._fast.conv_forward", "minicnn.layers._fast.conv_backward",
    "minicnn.layers._fast.im2col", "minicnn.layers._fast.col2im",
    "minicnn.layers.Conv2D.forward", "minicnn.layers.Conv2D.backward",
    "minicnn.layers.MaxPool2D.forward", "minicnn.layers.MaxPool2D.backward",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")


@pytest.fixture(scope="session")
def _student_backend():
    backend, timeout = open_backend()
    yield backend, timeout
    backend.close()


@pytest.fixture
def student(_student_backend):
    """The student's ``minicnn`` package: ``student.layers.ReLU()``, ``student.get(...)``."""
    backend, timeout = _student_backend
    try:
        backend.begin_test(timeout)
    except WorkerFailure as exc:  # e.g. minicnn does not import
        pytest.fail(str(exc), pytrace=False)
    yield Student(backend)
    printed = backend.end_test()
    if printed.strip():
        print("output of the student's code:\n" + printed)


@pytest.fixture
def rng():
    """A seeded generator: every run of a graded test sees the same numbers."""
    return np.random.default_rng(231)


@pytest.fixture
def naive_only(student):
    """While the test runs, the library's fast convolution and pooling raise.

    A naive function (``conv2d_naive``, ``maxpool_naive`` and their backward passes)
    then passes only if it computes its result itself; calling ``Conv2D``,
    ``MaxPool2D`` or the helpers in ``minicnn/layers/_fast.py`` fails the test.
    (A check for an honest shortcut, not a defence: code that copies the fast
    helpers passes it.)
    """
    student.refuse(FAST_PATHS, "the naive functions must compute their result themselves, "
                   "not call Conv2D, MaxPool2D or minicnn/layers/_fast.py")
