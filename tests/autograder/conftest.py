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


@pytest.fixture
def naive_only(monkeypatch):
    """While the test runs, the library's fast convolution and pooling raise.

    A naive function (``conv2d_naive``, ``maxpool_naive`` and their backward passes)
    then passes only if it computes its result itself; calling ``Conv2D``,
    ``MaxPool2D`` or the helpers in ``minicnn/layers/_fast.py`` fails the test.
    """
    from minicnn.layers import _fast, conv, pooling

    def refuse(*args, **kwargs):
        raise AssertionError("the naive functions must compute their result themselves, "
                             "not call Conv2D, MaxPool2D or minicnn/layers/_fast.py")

    fast = [getattr(_fast, name) for name in ("conv_forward", "conv_backward", "im2col",
                                              "col2im")]
    for module in (_fast, conv, pooling):        # every name bound to a fast helper
        for name, value in list(vars(module).items()):
            if any(value is f for f in fast):
                monkeypatch.setattr(module, name, refuse)
    for layer in (conv.Conv2D, pooling.MaxPool2D):
        monkeypatch.setattr(layer, "forward", refuse)
        monkeypatch.setattr(layer, "backward", refuse)
