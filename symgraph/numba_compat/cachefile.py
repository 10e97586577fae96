"""Numba's cache files, checksummed and self-healing (the mechanism behind
``symgraph/link/numba/healing.py``, which says what it is for), and where they live.

Private uses here:

* :func:`install_checked_cache` -- changes the class of one dispatcher's cache objects
  (``numba.core.caching.FunctionCache`` and ``IndexDataCacheFile``) to subclasses that
  override their methods (``save``, ``flush``, and the private ``_load_overload``,
  ``_save_overload``, ``_save_index``, ``_load_index``, ``_save_data``,
  ``_load_data``) and read their private attributes (``_cache_file``, ``_index_path``,
  ``_version``, ``_source_stamp``, ``_open_for_write``, ``_dump``, ``_data_path``,
  ``_data_name``);
* :func:`cache_index_path`, :func:`cache_has_entries` -- read the index of one
  dispatcher's cache;
* :func:`numba_cache_subdir` -- the folder name Numba uses under ``NUMBA_CACHE_DIR``
  (``_CacheLocator.get_suitable_cache_subpath``).

Public path for all of them: Numba's own cache, unchanged (files without checksums; a
garbled file makes Numba fail instead of healing), and no look into its index.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import pickle

__all__ = ["CorruptCacheFile", "TRAILER", "install_checked_cache", "cache_index_path",
           "cache_has_entries", "numba_cache_subdir"]

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


_classes: dict = {}


def _checked_classes():
    """The two subclasses, defined at first use (importing ``numba.core.caching`` only
    on the private path)."""
    if _classes:
        return _classes["cache"], _classes["file"]
    from numba.core.caching import FunctionCache, IndexDataCacheFile

    class _CheckedFile(IndexDataCacheFile):
        """Numba's index/data files with a checksum trailer after Numba's own pickles
        (plain Numba still reads them: ``pickle.loads`` stops at the pickle's end)."""

        def _write(self, path: str, body: bytes) -> None:
            with self._open_for_write(path) as f:
                f.write(body + TRAILER + hashlib.sha256(body).digest())

        def save(self, key, data):
            """Numba's ``save``, locked across processes from the index read to its
            write (two processes saving signatures of one function at once each took
            the first free data file name and kept only their own index entry), and
            writing the data file before the index entry that names it (a process
            loading meanwhile finds the entry only once its data is there)."""
            with self._sg_locked():
                overloads = self._load_index()
                name = overloads.get(key)
                if name is None:
                    used = set(overloads.values())
                    name = next(n for n in map(self._data_name, itertools.count(1))
                                if n not in used)
                self._save_data(name, data)
                if overloads.get(key) != name:
                    overloads[key] = name
                    self._save_index(overloads)

        def flush(self):
            with self._sg_locked():
                self._save_index({})

        def _sg_locked(self):
            lock = getattr(self, "_sg_lock", None)
            return lock(self._index_path) if lock is not None else contextlib.nullcontext()

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
            before = getattr(self, "_sg_before_load", None)
            if before is not None:
                before()
            try:
                cres = super()._load_overload(sig, target_context)
                found = getattr(getattr(cres, "signature", None), "args", None)
                if (cres is not None and found is not None and isinstance(sig, tuple)
                        and tuple(found) != sig):
                    raise CorruptCacheFile(self._cache_file._index_path,
                                           "lists another signature's machine code")
                return cres
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
            report = getattr(self, "_sg_report", None)
            if report is not None:
                report(err.path, err.why)
            try:
                self.flush()
            except OSError:
                pass  # a read-only cache: Numba compiles in memory

    _classes.update(cache=_HealingCache, file=_CheckedFile, bases=(FunctionCache,
                                                                   IndexDataCacheFile))
    return _HealingCache, _CheckedFile


def install_checked_cache(dispatcher, report, before_load=None, lock=None) -> bool:
    """Give ``dispatcher``'s disk cache (if it has one) checksummed files that heal: a
    damaged file is reported (``report(path, why)``), emptied, and counted as a miss,
    so Numba compiles afresh and its atomic save replaces the file. Only this
    dispatcher's objects change class; Numba itself is not patched. Returns whether the
    cache is (now) checked.

    Why symgraph needs it: Numba reads its ``.nbi``/``.nbc`` pickles letting any error
    but a missing file escape, so a truncated file made every later compile of that
    function fail, and a flipped bit in machine code went unnoticed.

    ``before_load()``, when given, runs before each load of machine code from the disk
    (a generated module registers the symbols that code calls: ``LinkTable.refresh``).
    ``lock(path)``, when given, is a context manager locking ``path`` across processes:
    each save holds it on the index from reading it to writing it back.

    Private (see the module docstring). Public path: Numba's cache as it is (returns
    False)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return False
    cache = getattr(dispatcher, "_cache", None)
    healing, checked = _checked_classes()
    base_cache, base_file = _classes["bases"]
    if type(cache) is base_cache:
        cache.__class__ = healing
        impl_file = cache._cache_file
        if type(impl_file) is base_file:
            impl_file.__class__ = checked
    if type(cache) is healing:
        cache._sg_report = report
        if lock is not None:
            cache._cache_file._sg_lock = lock
        if before_load is not None:
            cache._sg_before_load = before_load
        return True
    return False


def _cache_file(dispatcher):
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return None
    cache = getattr(dispatcher, "_cache", None)
    return getattr(cache, "_cache_file", None)


def cache_index_path(dispatcher) -> str | None:
    """The path of ``dispatcher``'s cache index (``.nbi``), for messages naming it.
    Private (``_cache._cache_file._index_path``); public path: None (messages name the
    signatures file instead)."""
    return getattr(_cache_file(dispatcher), "_index_path", None)


def cache_has_entries(dispatcher) -> bool:
    """Whether ``dispatcher``'s disk cache holds machine code for its current source (an
    unreadable index counts as none: loading it would heal it anyway). Private (reads
    the index, ``_load_index``); public path: False (symgraph then does not report a
    missing ``.sigs`` file beside cached code; the first call loads it anyway)."""
    f = _cache_file(dispatcher)
    if f is None or not os.path.exists(f._index_path):
        return False
    try:
        return bool(f._load_index())
    except Exception:  # noqa: BLE001
        return False


def numba_cache_subdir(py_file: str) -> str | None:
    """The name of the folder under ``NUMBA_CACHE_DIR`` where Numba keeps the cache of
    functions defined in ``py_file`` (the source folder's name and a SHA-1 of its path).

    Why: symgraph checks that folder is yours before Numba unpickles anything from it
    (``link/numba/trust.py``), and deletes the index of a module whose ``.links`` table
    is damaged. Private (``numba.core.caching._CacheLocator``); public path: None, and
    symgraph checks ``NUMBA_CACHE_DIR`` itself (what it holds can only be written by
    whoever can write it)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return None
    from numba.core.caching import _CacheLocator

    return _CacheLocator.get_suitable_cache_subpath(py_file)
