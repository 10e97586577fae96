"""Numba's cache files of symgraph's functions heal instead of failing.

Why: Numba reads its index (``.nbi``) and data (``.nbc``) files with ``pickle`` and lets
any error but a missing file escape: a truncated or garbled file made every later
compile of that function fail (``EOFError``, ``UnpicklingError``...) and was never
rewritten; a flipped bit inside the machine code went unnoticed and ran.

How: :func:`protect` changes the class of one dispatcher's cache objects (that object
only; Numba itself is not patched) to subclasses that

* append a trailer ``SGCK`` + SHA-256 of the file's bytes to every file they write,
  after Numba's own pickles, so plain Numba (a kernel called directly, another tool)
  still reads the files: ``pickle.loads`` stops at the pickle's end;
* verify the trailer on read (files without it, written by plain Numba, are only
  parsed), treat an index entry whose data file is missing as damage too, and
* on damage, warn once naming the file (``cachefiles.warn_rebuilt``), empty the index
  (atomically, as Numba writes) and report a cache miss, so Numba compiles afresh and
  its save replaces the damaged file (atomically: Numba writes a temporary file and
  ``os.replace``-s it).

What this does not do: tell a *deliberately* edited pickle from ours; anyone who can
write the cache directory could also write a matching trailer. Those files are trusted
because the directory is (``trust.py``).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle

from numba.core.caching import FunctionCache, IndexDataCacheFile

from symgraph.link.numba.cachefiles import warn_rebuilt

__all__ = ["protect", "protect_module", "CorruptCacheFile", "index_path", "has_entries"]

TRAILER = b"SGCK"
_TLEN = len(TRAILER) + 32


class CorruptCacheFile(Exception):
    """A Numba cache file that cannot be what Numba wrote (not an OSError on purpose:
    Numba treats those as a plain miss)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) >= _TLEN and data[-_TLEN:-32] == TRAILER:
        body = data[:-_TLEN]
        if hashlib.sha256(body).digest() != data[-32:]:
            raise CorruptCacheFile(path, "does not match its checksum (garbled)")
        return body
    return data


class _CheckedFile(IndexDataCacheFile):
    """Numba's index/data files with a checksum trailer (see the module docstring)."""

    def _write(self, path: str, body: bytes) -> None:
        with self._open_for_write(path) as f:
            f.write(body + TRAILER + hashlib.sha256(body).digest())

    def _save_index(self, overloads):
        body = (pickle.dumps(self._version, protocol=-1)
                + self._dump((self._source_stamp, overloads)))
        self._write(self._index_path, body)

    def _load_index(self):
        try:
            body = _read(self._index_path)
        except FileNotFoundError:
            return {}
        try:
            f = io.BytesIO(body)
            version = pickle.load(f)
            if version != self._version:
                return {}   # another Numba's index: a miss, as in Numba
            stamp, overloads = pickle.loads(f.read())
            if not isinstance(overloads, dict):
                raise TypeError(type(overloads).__name__)
        except Exception as e:  # noqa: BLE001 - any garbling
            raise CorruptCacheFile(self._index_path,
                                   f"is unreadable ({type(e).__name__})") from e
        return overloads if stamp == self._source_stamp else {}

    def _save_data(self, name, data):
        self._write(self._data_path(name), self._dump(data))

    def _load_data(self, name):
        path = self._data_path(name)
        try:
            body = _read(path)
        except FileNotFoundError:
            raise CorruptCacheFile(path, "is missing (its index lists it)") from None
        try:
            return pickle.loads(body)
        except Exception as e:  # noqa: BLE001
            raise CorruptCacheFile(path, f"is unreadable ({type(e).__name__})") from e


class _HealingCache(FunctionCache):
    """A FunctionCache whose damaged files are a miss, reported once, then replaced."""

    def _load_overload(self, sig, target_context):
        try:
            return super()._load_overload(sig, target_context)
        except CorruptCacheFile as e:
            self._heal(e)
        except Exception as e:  # noqa: BLE001 - unpickled, but not a valid entry
            self._heal(CorruptCacheFile(self._cache_file._index_path,
                                        f"holds an unusable entry ({type(e).__name__})"))
        return None

    def _save_overload(self, sig, data):
        try:
            super()._save_overload(sig, data)
        except CorruptCacheFile as e:   # the index went bad since the load
            self._heal(e)
            super()._save_overload(sig, data)

    def _heal(self, err: CorruptCacheFile) -> None:
        warn_rebuilt(err.path, err.why)
        try:
            self.flush()
        except OSError:
            pass  # a read-only cache: Numba compiles in memory


def protect(dispatcher) -> None:
    """Give ``dispatcher``'s disk cache (if it has one) the behaviour above."""
    cache = getattr(dispatcher, "_cache", None)
    if type(cache) is FunctionCache:
        cache.__class__ = _HealingCache
        impl_file = cache._cache_file
        if type(impl_file) is IndexDataCacheFile:
            impl_file.__class__ = _CheckedFile


def protect_module(module) -> None:
    """:func:`protect` every Numba dispatcher defined at the top level of ``module``."""
    from numba.core.dispatcher import Dispatcher

    for v in list(vars(module).values()):
        if isinstance(v, Dispatcher):
            protect(v)


def index_path(dispatcher) -> str | None:
    cache = getattr(dispatcher, "_cache", None)
    f = getattr(cache, "_cache_file", None)
    return getattr(f, "_index_path", None)


def has_entries(dispatcher) -> bool:
    """Whether ``dispatcher``'s disk cache holds machine code for its current source
    (an unreadable index counts as none: loading it would heal it anyway)."""
    cache = getattr(dispatcher, "_cache", None)
    f = getattr(cache, "_cache_file", None)
    if f is None or not os.path.exists(f._index_path):
        return False
    try:
        return bool(f._load_index())
    except Exception:  # noqa: BLE001
        return False
