"""Shared by the graded tests of every assignment (and shipped with the visible ones).

Registers the ``points`` marker: ``@pytest.mark.points(2)`` on a test says what it
is worth. The grader reads the marker from the file's text, so the points cannot be
changed by the code under test. Fixtures here must not import minicnn at module
level: a submission that does not import should fail its tests, not this file.
"""

import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")


@pytest.fixture
def rng():
    """A seeded generator: every run of a graded test sees the same numbers."""
    return np.random.default_rng(231)
