"""The worker: the only process that runs a submission's code.

The grader (or the student's own test run) starts it as a script::

    python -I -B worker.py REQUEST_FD REPLY_FD ARENA_FD ARENA_BYTES PACKAGE_PARENT \\
        MEMORY_MB NPROC UID GID

It imports ``minicnn`` from ``PACKAGE_PARENT`` (a folder holding only a copy of
the submission's ``minicnn/``) and then serves requests from the trusted side,
one at a time, over two pipes (never stdin/stdout: those belong to the
submission, which may print anything). A request asks to call a public function
or class by its dotted name (``minicnn.layers.ReLU``), to call a method of an
object the worker holds, or to read or set an attribute or item. Replies are
plain data: numbers, strings, lists, dicts, NumPy arrays of numeric or bool
dtype, an opaque handle for any other object, or the type, message and
traceback of an exception. Nothing is ever pickled.

Array arguments arrive in a shared memory "arena" (``ARENA_FD``): the student's
function sees them as ordinary writeable arrays, and the trusted side sees any
change the function makes to them with its own eyes (for the "does not modify
its input" tests) instead of trusting a report from this process.

Everything the worker says is a claim of the submission: this process may be
patched arbitrarily by the code it imports. The trusted side (``student.py``)
decodes replies strictly and makes every verdict itself.

This module is also the wire format used by ``student.py``: standard library and
NumPy only, no package-relative imports, so that it runs as a script.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import traceback
import types

FRAME = struct.Struct(">II")  # header bytes, payload bytes
MAX_HEADER = 1 << 20  # 1 MB of JSON
ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats
MAX_NDIM = 8
MAX_TEXT = 4000  # characters of an exception message or traceback
MAX_FILE = 64 << 20  # bytes: the largest file a worker may write (RLIMIT_FSIZE)
IMPORT_FAILED = "importing minicnn"  # how the trusted side's import messages start
# Modules the worker imports before it drops root privileges, so that a
# submission may import them even when the interpreter's own folder is not
# readable by the unprivileged user.
PRELOAD = ("numpy", "numpy.testing", "math", "time", "signal", "subprocess", "ctypes",
           "threading", "gc", "inspect", "glob", "pathlib", "shutil", "tempfile",
           "socket", "warnings", "random", "functools", "itertools", "collections",
           "dataclasses", "typing", "io", "re", "copy", "importlib", "zipfile", "secrets")


_MISSING = object()


class ProtocolError(Exception):
    """A frame that is malformed, too large, or not plain data."""


# --------------------------------------------------------------- wire format


def read_exactly(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read ``n`` bytes from ``fd``; EOFError if the other side closed it.

    With a ``deadline`` (a ``time.monotonic()`` value) raise TimeoutError when it
    passes; only the trusted side uses one.
    """
    import select
    import time

    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, header: dict, payload: bytes = b"") -> None:
    data = json.dumps(header).encode()
    message = FRAME.pack(len(data), len(payload)) + data + payload
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int, max_payload: int, deadline: float | None = None) -> tuple[dict, bytes]:
    """One frame: ``(header dict, payload bytes)``, both size-checked."""
    header_size, payload_size = FRAME.unpack(read_exactly(fd, FRAME.size, deadline))
    if header_size > MAX_HEADER or payload_size > max_payload:
        raise ProtocolError(f"a reply of {header_size + payload_size} bytes is over the limit "
                            f"({max_payload} bytes of arrays)")
    try:
        header = json.loads(read_exactly(fd, header_size, deadline))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"the reply is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the reply is not a JSON object")
    return header, read_exactly(fd, payload_size, deadline) if payload_size else b""


def dtype_ok(dtype) -> bool:
    """Bool, integer or float of at most 8 bytes, native byte order (else a handle)."""
    return (dtype.kind in ARRAY_KINDS and dtype.isnative and not dtype.fields
            and dtype.itemsize <= 8)


def check_shape(shape) -> tuple[int, ...]:
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(n) is int and 0 <= n < 2 ** 31 for n in shape)):
        raise ProtocolError(f"bad array shape {shape!r}")
    return tuple(shape)


# ------------------------------------------------------------------ the server


def encode(value, arrays: list, handles: dict, depth: int = 0):
    """A JSON-able description of ``value``; array bytes are appended to ``arrays``."""
    import numpy as np

    if depth > 20:
        raise ProtocolError("the value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -2 ** 63 <= value < 2 ** 64 else float(value)
    if isinstance(value, float):
        return {"__float__": repr(value)}  # keeps nan and inf exact
    if isinstance(value, (np.ndarray, np.generic)) and dtype_ok(np.asarray(value).dtype):
        array = np.ascontiguousarray(value)
        arrays.append(array.tobytes())
        kind = "__scalar__" if isinstance(value, np.generic) else "__array__"
        return {kind: [array.dtype.str, list(array.shape), len(arrays) - 1]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays, handles, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays, handles, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": [[k, encode(v, arrays, handles, depth + 1)]
                             for k, v in value.items()]}
    handle = len(handles) + 1
    handles[handle] = value
    return {"__handle__": [handle, type(value).__name__]}


class Server:
    """Evaluates requests against the submission's objects (in this process)."""

    def __init__(self, arena):
        self.arena = arena  # a writeable buffer shared with the trusted side
        self.handles: dict[int, object] = {}
        self.undo: list[tuple[object, str, object]] = []

    def decode(self, value):
        import numpy as np

        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        (tag, body), = value.items()
        if tag == "__float__":
            return float(body)
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in body)
        if tag == "__dict__":
            return {k: self.decode(v) for k, v in body}
        if tag == "__dtype__":
            return np.dtype(body).type
        if tag == "__handle__":
            return self.handles[body]
        if tag == "__shared__":
            dtype, shape, offset = body
            return np.ndarray(tuple(shape), np.dtype(dtype), buffer=self.arena, offset=offset)
        raise ProtocolError(f"unknown tag {tag!r}")

    def resolve(self, target: dict, last: bool = True):
        """The object a target names (``last=False``: its parent and final step)."""
        import importlib

        steps = [tuple(s) for s in target["path"]]
        if "handle" in target:
            obj = self.handles[target["handle"]]
        else:
            obj = importlib.import_module("minicnn")
        if not last:
            steps, final = steps[:-1], steps[-1]
        for kind, key in steps:
            if kind == "item":
                obj = obj[key]
            elif isinstance(obj, types.ModuleType) and not hasattr(obj, key):
                obj = importlib.import_module(f"{obj.__name__}.{key}")  # a submodule
            else:
                obj = getattr(obj, key)
        return obj if last else (obj, final)

    def handle(self, request: dict):
        op = request["op"]
        if op == "call":
            function = self.resolve(request["target"])
            return function(*self.decode(request["args"]), **self.decode(request["kwargs"]))
        if op == "get":
            return self.resolve(request["target"])
        if op == "set":
            parent, (kind, key) = self.resolve(request["target"], last=False)
            value = self.decode(request["value"])
            if kind == "attr":
                setattr(parent, key, value)
            else:
                parent[key] = value
            return None
        if op == "refuse":
            return self.refuse(request["names"], request["message"])
        if op == "reset":
            self.reset()
            return None
        raise ProtocolError(f"unknown op {op!r}")

    def refuse(self, names: list[str], message: str) -> list[str]:
        """Make every binding of the named functions raise AssertionError(message).

        ``names`` are dotted (``minicnn.layers.Conv2D.forward``). Every module of
        the package that binds one of these objects under any name gets the
        refusing function instead; returns the names that do not exist.
        """
        def refuse(*args, **kwargs):
            raise AssertionError(message)

        targets, missing = [], []
        for name in names:
            parts = name.split(".")
            try:
                obj = self.resolve({"path": [("attr", p) for p in parts[1:]]})
            except (AttributeError, ImportError):
                missing.append(name)
                continue
            targets.append(obj)
            if len(parts) > 2:
                owner = self.resolve({"path": [("attr", p) for p in parts[1:-1]]})
                if isinstance(owner, type):
                    self._patch(owner, parts[-1], refuse)
        for module in [m for n, m in sys.modules.items() if n.split(".")[0] == "minicnn"]:
            for key, value in list(vars(module).items()):
                if any(value is t for t in targets):
                    self._patch(module, key, refuse)
        return missing

    def _patch(self, owner, key: str, value) -> None:
        self.undo.append((owner, key, vars(owner).get(key, _MISSING)))
        setattr(owner, key, value)

    def reset(self) -> None:
        """Forget every handle and undo every refusal (between two tests)."""
        for owner, key, old in reversed(self.undo):
            if old is _MISSING:
                delattr(owner, key)
            else:
                setattr(owner, key, old)
        self.undo.clear()
        self.handles.clear()

    def answer(self, header: dict) -> tuple[dict, bytes]:
        """The reply frame for one request frame."""
        arrays: list[bytes] = []
        try:
            value = self.handle(header)
            reply = {"id": header.get("id"), "value": encode(value, arrays, self.handles)}
        except BaseException as exc:  # the submission's exception, reported as data
            arrays.clear()
            reply = {"id": header.get("id"), "error": {
                "type": type(exc).__name__, "message": str(exc)[:MAX_TEXT],
                "traceback": _traceback(exc)}}
        offsets, position = [], 0
        for data in arrays:
            offsets.append([position, len(data)])
            position += len(data)
        reply["arrays"] = offsets
        return reply, b"".join(arrays)


def _traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in frames if os.path.basename(f.filename) != "worker.py"]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines)[-MAX_TEXT:]


# ----------------------------------------------------------------- start-up


def _limit(memory_mb: int, nproc: int) -> None:
    import resource

    if memory_mb > 0:
        size = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE, MAX_FILE))  # no file over 64 MB


def _drop_privileges(uid: int, gid: int) -> None:
    """Become the unprivileged user for good (only when started as root)."""
    if uid < 0:
        return
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("could not drop privileges")


def _isolate_imports(package_parent: str) -> None:
    """Only the submission's copy of minicnn can be imported."""
    def holds_minicnn(path: str) -> bool:
        return os.path.isfile(os.path.join(path or ".", "minicnn", "__init__.py"))

    sys.path[:] = [package_parent] + [p for p in sys.path if not holds_minicnn(p)]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "editable" not in getattr(f, "__module__", "") + repr(f)]
    sys.dont_write_bytecode = True


def main(argv: list[str]) -> None:
    import importlib
    import mmap

    (request_fd, reply_fd, arena_fd, arena_bytes, memory_mb, nproc, uid,
     gid) = map(int, argv[:4] + argv[5:9])
    package_parent = argv[4]
    arena = mmap.mmap(arena_fd, arena_bytes)
    os.close(arena_fd)
    _limit(memory_mb, nproc)
    for name in PRELOAD if uid >= 0 else ("numpy",):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _drop_privileges(uid, gid)
    os.chdir(package_parent)
    _isolate_imports(package_parent)
    try:
        package = importlib.import_module("minicnn")
        hello = {"ready": True, "file": str(getattr(package, "__file__", ""))}
    except BaseException as exc:
        hello = {"ready": False, "error": {"type": type(exc).__name__,
                                           "message": str(exc)[:MAX_TEXT],
                                           "traceback": _traceback(exc)}}
    write_frame(reply_fd, hello)
    if not hello["ready"]:
        return
    server = Server(arena)
    while True:
        try:
            header, _ = read_frame(request_fd, 0)
        except EOFError:
            return
        reply, payload = server.answer(header)
        write_frame(reply_fd, reply, payload)


if __name__ == "__main__":
    main(sys.argv[1:])
