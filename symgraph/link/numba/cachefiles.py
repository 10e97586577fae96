"""symgraph's own cache index files: atomic writes, JSON reads, one warning per bad file,
and a lock for the read-modify-write of a file two processes share.

Why JSON: an index file is read before anything else of a cached graph; unpickling one
would run whatever code a pickle names (see ``trust.py``). JSON holds only data, so the
only Numba objects recorded there (argument types) go through :func:`encode_type` /
:func:`decode_type`, which know a fixed set of types.

Why a lock (:func:`file_lock`): an atomic write keeps a file whole, not its entries.
Two processes that each read an index, add their entry and write it back lose one of
the two entries; a ``.links`` table that lost a callee left cached machine code calling
an unregistered symbol (a jump to address 0: the process crashed), and Numba's own index
gave two signatures one data file. The kernels of a new graph compile on two processes
at once (``plan_compile.py``), so both happen.

Why one warning per file and process: a bad cache file is replaced by a fresh compile
(the caller does that); the user should learn once which file it was, not once per
function that happened to read it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
import warnings

from numba import types

__all__ = ["CacheFileWarning", "warn_rebuilt", "write_atomic", "read_json", "write_json",
           "encode_type", "decode_type", "UnsupportedType", "file_lock"]


class CacheFileWarning(UserWarning):
    """A cache file was missing, truncated or garbled; it is being rebuilt."""


_warned: set = set()
_count = [0]
_lock = threading.Lock()


def reports() -> int:
    """How many files :func:`warn_rebuilt` reported in this process so far."""
    return _count[0]


def warn_rebuilt(path: str, why: str, once: str | None = None) -> bool:
    """Warn (once per process and file) that ``path`` ``why`` and is being rebuilt.
    ``once``: a cause that is reported once per process, for the first file it meets (a
    cause that damages many files at once). Returns False when this file (or cause) was
    already reported."""
    key = path if once is None else ("cause", once)
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
        _count[0] += 1
    warnings.warn(f"symgraph: the cache file {path} {why}; compiling afresh and "
                  f"replacing it", CacheFileWarning, stacklevel=3)
    return True


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (readers see
    the old file or the new one, never a part)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


#: seconds :func:`file_lock` waits for another holder before going on without the lock
LOCK_WAIT = 60.0


@contextlib.contextmanager
def file_lock(path: str):
    """Hold an exclusive lock shared with other processes on ``path`` (through the file
    ``path + ".lock"``, which stays: deleting a lock file lets two holders in) for the
    read-modify-write of ``path``.

    The operating system releases the lock of a process that dies, so a crash never
    leaves it held. Where it cannot be taken (a read-only cache, a platform without
    ``fcntl``), or after :data:`LOCK_WAIT` seconds of another holder, the block runs
    without it: no worse than before the lock existed, and never stuck."""
    try:
        import fcntl
    except ImportError:   # not POSIX
        yield
        return
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            except OSError:
                break
        yield
    finally:
        os.close(fd)   # releases the lock


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_json(path: str, value) -> None:
    """Write ``value`` as ``{"sha256": ..., "data": ...}`` (atomically): a flipped bit
    that still parses (``"C"`` -> ``"A"``) is caught by the checksum."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    write_atomic(path, ('{"sha256":"%s","data":%s}' % (_digest(text), text)).encode())


_MISSING = object()


def read_json(path: str, check=None, missing=_MISSING):
    """The value :func:`write_json` wrote to ``path``; ``missing`` (default None) if there
    is no such file. An unreadable file (not UTF-8 JSON, a wrong checksum, or
    ``check(value)`` raises) is reported with :func:`warn_rebuilt` and gives ``missing``."""
    default = None if missing is _MISSING else missing
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return default
    try:
        outer = json.loads(raw.decode("utf-8"))
        if not (isinstance(outer, dict) and set(outer) == {"sha256", "data"}):
            raise ValueError("not a symgraph index file")
        text = json.dumps(outer["data"], separators=(",", ":"), sort_keys=True)
        if _digest(text) != outer["sha256"]:
            raise ValueError("checksum mismatch")
        value = outer["data"]
        if check is not None:
            value = check(value)
        return value
    except Exception as e:  # noqa: BLE001 - any garbling: rebuild
        warn_rebuilt(path, f"is unreadable ({type(e).__name__}: {str(e)[:80]})")
        return default


# -- Numba types as JSON ----------------------------------------------------------------
class UnsupportedType(TypeError):
    """A Numba type :func:`encode_type` cannot record."""


_SCALARS = {str(t): t for t in sorted(types.number_domain, key=str)}
_SCALARS.update({"bool": types.boolean, "none": types.none})


def encode_type(t):
    """A JSON value standing for the Numba type ``t`` (arrays, scalars, tuples, dtype
    classes, None); raises :class:`UnsupportedType` for others."""
    if isinstance(t, types.Array) and type(t) is types.Array:
        return {"array": [encode_type(t.dtype), t.ndim, t.layout, bool(t.mutable),
                          bool(t.aligned)]}
    if isinstance(t, types.BaseTuple) and type(t) in (types.UniTuple, types.Tuple):
        return {"tuple": [encode_type(x) for x in t.types]}
    if isinstance(t, types.NumberClass):
        return {"class": encode_type(t.instance_type)}
    if isinstance(t, types.DType):
        return {"dtype": encode_type(t.dtype)}
    if isinstance(t, types.Omitted):
        raise UnsupportedType(t)
    name = str(t)
    if _SCALARS.get(name) == t:
        return name
    raise UnsupportedType(f"{t!r} ({type(t).__name__})")


def decode_type(v):
    """The Numba type recorded as ``v`` by :func:`encode_type` (ValueError if malformed)."""
    if isinstance(v, str):
        try:
            return _SCALARS[v]
        except KeyError:
            raise ValueError(f"unknown scalar type {v!r}") from None
    if isinstance(v, dict) and len(v) == 1:
        (kind, x), = v.items()
        if kind == "array" and isinstance(x, list) and len(x) == 5:
            dtype, ndim, layout, mutable, aligned = x
            if (isinstance(ndim, int) and 0 <= ndim <= 32 and layout in ("C", "F", "A")
                    and isinstance(mutable, bool) and isinstance(aligned, bool)):
                return types.Array(decode_type(dtype), ndim, layout,
                                   readonly=not mutable, aligned=aligned)
        elif kind == "tuple" and isinstance(x, list):
            return types.BaseTuple.from_types([decode_type(e) for e in x])
        elif kind == "class":
            return types.NumberClass(decode_type(x))
        elif kind == "dtype":
            return types.DType(decode_type(x))
    raise ValueError(f"malformed type record {str(v)[:60]!r}")
