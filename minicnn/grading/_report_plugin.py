"""pytest plugin of the grader's test process (copied there by the grader).

It streams one JSON line per event to a report file the grader watches:
``start`` when a test begins, ``result`` when it ends (outcome, one-line reason,
details), ``collect_error`` when a test file cannot be imported, ``finish`` at the
end. The test process is trusted: it never runs the submission's code (that runs
in worker processes), and this file and the report live in a folder that only
the grader's user can open. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys

_REPORT = os.environ.pop("MINICNN_GRADER_REPORT", None)
_MAX_DETAILS = 6000


def _make_emitter():
    stream = open(_REPORT, "a", encoding="utf-8") if _REPORT else None

    def emit(**event):
        if stream is None:
            return
        stream.write(json.dumps(event) + "\n")
        stream.flush()

    return emit


_emit = _make_emitter()
_state: dict[str, dict] = {}


def _reason(report) -> str:
    """One line saying why a report failed or was skipped."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        text = re.sub(r"^[\w.]*(WorkerFailure|StudentCodeError|Failed): ", "", crash.message)
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
        text = str(longrepr[2])
    else:
        lines = [ln.strip() for ln in str(longrepr).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E ")]
        text = (errors[-1][1:] if errors else lines[-1] if lines else "failed")
    return " ".join(text.strip().split("\n")[0].split())[:300]


def _details(report) -> str:
    parts = [str(report.longrepr)] if report.longrepr else []
    for title, content in report.sections:
        if content.strip():
            parts.append(f"----- {title} -----\n{content}")
    return "\n".join(parts)[-_MAX_DETAILS:]


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")


def pytest_collectreport(report):
    if report.failed:
        _emit(event="collect_error", nodeid=report.nodeid, reason=_reason(report),
              details=_details(report))


def pytest_runtest_logstart(nodeid, location):
    _state[nodeid] = {"outcome": "passed", "reason": "", "details": "", "seen_call": False}
    _emit(event="start", nodeid=nodeid)


def pytest_runtest_setup(item):
    # Graded tests reach the submission through the `student` fixture only.
    if "minicnn" in sys.modules:
        raise RuntimeError("a graded test imported minicnn in the grader's test process")


def pytest_runtest_logreport(report):
    state = _state.setdefault(report.nodeid, {"outcome": "passed", "reason": "",
                                              "details": "", "seen_call": False})
    if report.when == "call":
        state["seen_call"] = True
    if state["outcome"] == "passed":
        if report.failed:
            where = "" if report.when == "call" else f" (in {report.when})"
            state.update(outcome="failed", reason=_reason(report) + where,
                         details=_details(report))
        elif report.skipped:
            state.update(outcome="skipped", reason="skipped: " + _reason(report))
    if report.when == "call" and report.outcome == "passed" and state["outcome"] == "passed":
        state["details"] = _details(report)
    if report.when == "teardown":
        _state.pop(report.nodeid, None)
        if state["outcome"] == "passed" and not state["seen_call"]:
            state.update(outcome="failed", reason="the test body did not run")
        _emit(event="result", nodeid=report.nodeid, outcome=state["outcome"],
              reason=state["reason"], details=state["details"])


def pytest_sessionfinish(session, exitstatus):
    _emit(event="finish", exitstatus=int(exitstatus))
