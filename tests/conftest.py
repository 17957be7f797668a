"""Shared by the whole test suite: the run's header says which Fashion-MNIST test
images the tests see (the full test set, or the subset shipped in the package).

minicnn is imported inside the hook, not at module level, so a broken package still
reports its errors in the tests themselves.
"""


def pytest_report_header(config) -> str:
    try:
        from minicnn.data.fashion_mnist import data_hidden, find_fashion_mnist
    except Exception as err:  # noqa: BLE001 -- a header must never stop the run
        return f"Fashion-MNIST: cannot tell ({type(err).__name__}: {err})"
    try:
        folder = find_fashion_mnist("test")
    except FileNotFoundError:
        why = "hidden by MINICNN_HIDE_DATA" if data_hidden() else "not installed"
        return (f"Fashion-MNIST: full test set {why}; tests use the 2,000 test images "
                "shipped in the package, and tests that need the full set skip")
    return f"Fashion-MNIST: full test set found in {folder}"
