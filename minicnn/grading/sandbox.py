"""Start, talk to and stop worker processes; make sure none of their processes outlive them.

Standard library only: the grader's own process uses this module (for the import
check) without importing NumPy or the submission. See ``worker.py`` for what
runs inside a worker and ``student.py`` for the proxy the graded tests use.

Limits a worker cannot undo, because they are kept here, on the trusted side:

- every request has a deadline (``time.monotonic()`` value); output does not
  extend it. When it passes, the worker's process group is killed;
- the reply size is bounded and decoded strictly;
- the worker's stdout and stderr go to a pipe that a thread drains, keeping only
  the first ``output_limit`` bytes (printing gigabytes costs the grader nothing);
- the memory (RLIMIT_AS) and process (RLIMIT_NPROC) limits are set by the worker
  script before any submission code runs; a process cannot raise them again
  without root, and the worker drops root before importing the submission;
- :func:`kill_descendants` ends every process below the grader, including ones
  that called ``setsid`` and double-forked: the grader is a child subreaper, so
  orphans are re-parented to it rather than to init.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import mmap
import os
import pwd
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class WorkerConfig:
    """How to start a worker. Plain data: written to JSON for the test process."""

    package_parent: str  # a folder holding only the submission's minicnn/
    python: str
    uid: int = -1  # drop to this user (the grader must be root); -1: stay as we are
    gid: int = -1
    memory_mb: int = 2048
    nproc: int = 0  # RLIMIT_NPROC for the worker's user (0: none; ignored for root)
    arena_mb: int = 64  # shared memory for the arguments of one test
    output_limit: int = 64 * 1024  # bytes of printed output kept
    max_reply_mb: int = 64  # largest reply accepted (arrays included)
    startup_seconds: float = 60.0  # interpreter start-up, NumPy and minicnn imports


class WorkerGone(Exception):
    """The worker died, timed out, or broke the protocol; it has been stopped."""


class WorkerProcess:
    """One running worker: its pipes, shared arena and captured output."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.arena_bytes = config.arena_mb * 1024 * 1024
        self.arena_fd = _sealed_memfd(self.arena_bytes)
        self.arena = mmap.mmap(self.arena_fd, self.arena_bytes)
        request_r, self.request_w = os.pipe()
        self.reply_r, reply_w = os.pipe()
        out_r, out_w = os.pipe()
        cmd = [config.python, "-I", "-B", "-u", str(WORKER_SCRIPT), str(request_r), str(reply_w),
               str(self.arena_fd), str(self.arena_bytes), config.package_parent,
               str(config.memory_mb), str(config.nproc), str(config.uid), str(config.gid)]
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=config.package_parent, env=worker_env(), stdin=subprocess.DEVNULL,
                stdout=out_w, stderr=out_w, pass_fds=(request_r, reply_w, self.arena_fd),
                start_new_session=True)
        finally:
            for fd in (request_r, reply_w, out_w):
                os.close(fd)
        os.close(self.arena_fd)
        os.set_blocking(self.request_w, False)
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, args=(out_r,), daemon=True)
        self._drain.start()
        self.hello: dict | None = None

    def _drain_output(self, fd: int) -> None:
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                room = self.config.output_limit - len(self.output)
                self.output += chunk[:max(room, 0)]
                self.output_dropped += max(len(chunk) - max(room, 0), 0)
        finally:
            os.close(fd)

    def wait_ready(self, deadline: float) -> dict:
        """The worker's first frame: ``{"ready": True, "file": ...}`` or an import error."""
        from .worker import read_frame

        try:
            self.hello, _ = read_frame(self.reply_r, 0, deadline)
        except TimeoutError:
            self.stop()
            raise WorkerGone("timed out") from None
        except (EOFError, ValueError):
            self.stop()
            raise WorkerGone(self.describe_exit()) from None
        return self.hello

    def request(self, header: dict, deadline: float) -> tuple[dict, bytes]:
        """Send one request and wait for its reply until ``deadline``."""
        from .worker import FRAME, ProtocolError, read_frame

        data = json.dumps(header).encode()
        view = memoryview(FRAME.pack(len(data), 0) + data)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self.request_w], [], left)[1]:
                    raise TimeoutError
                view = view[os.write(self.request_w, view):]
            reply, payload = read_frame(self.reply_r, self.config.max_reply_mb << 20, deadline)
        except TimeoutError:
            self.stop()
            raise WorkerGone("timed out") from None
        except (EOFError, BrokenPipeError, OSError):
            self.stop()
            raise WorkerGone(self.describe_exit()) from None
        except ProtocolError as exc:
            self.stop()
            raise WorkerGone(f"the worker broke the protocol: {exc}") from None
        if reply.get("id") != header.get("id"):
            self.stop()
            raise WorkerGone("the worker broke the protocol: a reply to another request")
        return reply, payload

    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe_exit(self) -> str:
        """``exit code 3`` or ``killed by signal SIGSEGV``."""
        try:
            code = self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.stop()
            code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def stop(self) -> None:
        """Kill the worker's process group and close the pipes (idempotent)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for fd in (self.request_w, self.reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.request_w = self.reply_r = -1

    def captured(self, start: int = 0, limit: int = 4000) -> str:
        """Printed output since byte ``start``, at most ``limit`` bytes, as text."""
        text = bytes(self.output[start:start + limit]).decode("utf-8", "replace")
        if len(self.output) - start > limit or self.output_dropped:
            text += "\n[... more output not kept]"
        return text


def worker_env() -> dict[str, str]:
    """A minimal environment: nothing of the grader's leaks into the worker."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
            "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _sealed_memfd(size: int) -> int:
    """An anonymous shared file of ``size`` bytes that nobody can shrink or grow
    (so the worker cannot make the trusted side's mapping fault)."""
    fd = os.memfd_create("minicnn-arena", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd


# ----------------------------------------------------------- process hygiene


def user_ids(name: str) -> tuple[int, int]:
    """``(uid, gid)`` of a user; ValueError naming it when it does not exist."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError(f"expected an existing user for --user, but got {name!r}") from None
    if entry.pw_uid == 0:
        raise ValueError(f"--user must be an unprivileged user, but {name!r} is root")
    return entry.pw_uid, entry.pw_gid


PR_GET_CHILD_SUBREAPER = 37


def set_subreaper(on: bool) -> bool:
    """Adopt orphaned descendants, or stop (Linux ``PR_SET_CHILD_SUBREAPER``).

    Returns whether this process was a subreaper before; False if unsupported.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = ctypes.c_int(0)
        libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)
        return bool(before.value)
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """``set_subreaper(True)``: for processes that exist only to grade."""
    return set_subreaper(True)


def child_pids() -> set[int]:
    """The pids of this process's children now (to spare them in a later sweep)."""
    return {pid for pid, ppid, _, _ in _processes() if ppid == os.getpid()}


def _processes() -> list[tuple[int, int, str, int]]:
    """``(pid, ppid, state, uid)`` of every process in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid = int(status.split("\nUid:", 1)[1].split()[0])  # the real uid
        fields = stat[stat.rindex(")") + 2:].split()
        found.append((int(entry), int(fields[1]), fields[0], uid))
    return found


def kill_descendants(root: int | None = None, uid: int | None = None,
                     descendants: bool = True, spare: set[int] = frozenset(),
                     rounds: int = 100) -> int:
    """SIGKILL every process below ``root`` (default: this process; none if not
    ``descendants``) except the subtrees of the children in ``spare``, and, with
    ``uid``, every process of that user; repeat until none is left. Reaps the
    zombies among our own children (never a spared one). Returns how many were killed."""
    root = os.getpid() if root is None else root
    killed = 0
    for _ in range(rounds):
        table = _processes()
        children: dict[int, list[int]] = {}
        for pid, ppid, _, _ in table:
            children.setdefault(ppid, []).append(pid)
        stack = [p for p in children.get(root, []) if p not in spare] if descendants else []
        targets = set()
        while stack:
            pid = stack.pop()
            targets.add(pid)
            stack.extend(children.get(pid, []))
        if uid is not None:
            targets |= {pid for pid, _, _, owner in table if owner == uid}
        live = {pid for pid, _, state, _ in table if pid in targets and state != "Z"}
        live.discard(os.getpid())
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        if descendants:
            _reap({pid for pid in targets if pid in children.get(os.getpid(), [])})
        if not live:
            break
        time.sleep(0.01)
    return killed


def _reap(pids: set[int]) -> None:
    """Collect the exit status of those of our children (killed or exited orphans)."""
    for pid in pids:
        try:
            os.waitpid(pid, 0 if _is_dying(pid) else os.WNOHANG)
        except ChildProcessError:
            pass


def _is_dying(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")
