"""Numba's cache files of symgraph's functions heal instead of failing.

Why: Numba reads its index (``.nbi``) and data (``.nbc``) files with ``pickle`` and lets
any error but a missing file escape: a truncated or garbled file made every later
compile of that function fail (``EOFError``, ``UnpicklingError``...) and was never
rewritten; a flipped bit inside the machine code went unnoticed and ran.

How: :func:`protect` changes the class of one dispatcher's cache objects (that object
only; Numba itself is not patched; the classes, which override Numba's private cache
methods, are in ``symgraph.numba_compat.cachefile``) to subclasses that

* append a trailer ``SGCK`` + SHA-256 of the file's bytes to every file they write,
  after Numba's own pickles, so plain Numba (a kernel called directly, another tool)
  still reads the files: ``pickle.loads`` stops at the pickle's end;
* verify the trailer on read (files without it, written by plain Numba, are only
  parsed), treat an index entry whose data file is missing as damage too, and
* save under a lock shared with other processes (``cachefiles.file_lock``), the data
  file before the index entry naming it: two processes compiling signatures of one
  function at once (``plan_compile.py``) no longer give both one data file, and an
  entry that names another signature's machine code is damage too;
* on damage, warn once naming the file (``cachefiles.warn_rebuilt``), empty the index
  (atomically, as Numba writes) and report a cache miss, so Numba compiles afresh and
  its save replaces the damaged file (atomically: Numba writes a temporary file and
  ``os.replace``-s it).

What this does not do: tell a *deliberately* edited pickle from ours; anyone who can
write the cache directory could also write a matching trailer. Those files are trusted
because the directory is (``trust.py``).

Numba internals: on a Numba version symgraph was not checked against, or with
``SYMGRAPH_NUMBA_FALLBACK=1``, :func:`protect` does nothing and Numba's cache behaves as
Numba's (``symgraph/numba_compat``).
"""
from __future__ import annotations

from symgraph.link.numba.cachefiles import file_lock, warn_rebuilt
from symgraph.numba_compat.cachefile import (
    TRAILER,
    CorruptCacheFile,
    cache_has_entries,
    cache_index_path,
    install_checked_cache,
)
from symgraph.numba_compat.dispatch import is_dispatcher

__all__ = ["protect", "protect_module", "CorruptCacheFile", "index_path", "has_entries",
           "TRAILER"]


def protect(dispatcher) -> None:
    """Give ``dispatcher``'s disk cache (if it has one) the behaviour above."""
    install_checked_cache(dispatcher, warn_rebuilt, lock=file_lock)


def protect_module(module) -> None:
    """:func:`protect` every Numba dispatcher defined at the top level of ``module``.

    A module with a link table (``extern.py``) re-reads it before any of its machine code
    is loaded from the disk: another process may have compiled and cached that code
    after this one read the table, and it calls the symbols of entries added since. So do
    the tables of the generated modules it imports (a scan kernel's step module): Numba
    links the step's code into the kernel, and with it calls of the step's callees."""
    tables = None   # found at the first load: the imports are loaded by then

    def before():
        nonlocal tables
        if tables is None:
            from symgraph.link.numba.cache import generated_imports

            deps = generated_imports(getattr(module, "_sg_source", ""), module.__name__)
            tables = [t for t in (getattr(m, "_sg_links", None) for m in [module] + deps)
                      if t is not None]
        for t in tables:
            t.refresh()
    for v in list(vars(module).values()):
        if is_dispatcher(v) and getattr(v, "py_func", None) is not None \
                and v.py_func.__module__ == module.__name__:
            install_checked_cache(v, warn_rebuilt, before, file_lock)
        elif is_dispatcher(v):
            protect(v)


def index_path(dispatcher) -> str | None:
    """The path of ``dispatcher``'s cache index (None when unknown)."""
    return cache_index_path(dispatcher)


def has_entries(dispatcher) -> bool:
    """Whether ``dispatcher``'s disk cache holds machine code for its current source
    (an unreadable index counts as none: loading it would heal it anyway)."""
    return cache_has_entries(dispatcher)
