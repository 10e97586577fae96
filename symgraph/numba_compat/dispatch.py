"""Numba dispatchers: loading cached machine code, native entry points, disk caches.

Private uses here (each named, each with its public path):

* :func:`compiler_lock` -- Numba's global compiler lock;
* :func:`load_cached_overload` -- a ``CompileResult`` from the disk cache without the
  target context's refresh (``Cache._load_overload``, ``rtsys.initialize``,
  ``insert_user_function``, ``add_overload``), its library's bitcode parsed only when
  something links against it (``lazylib.py``);
* :func:`native_entry` -- the address of a compiled overload's native function
  (``cres.library``, ``cres.fndesc``);
* :func:`disable_disk_cache` -- replace a dispatcher's disk cache by ``NullCache``.

Public ones, kept here so that the callers touch no dispatcher attributes at all:
:func:`compile_public`, :func:`cache_folder`, :func:`drop_disk_cache`,
:func:`is_dispatcher`.
"""
from __future__ import annotations

import threading

__all__ = ["compiler_lock", "load_cached_overload", "compile_public", "native_entry",
           "cache_folder", "drop_disk_cache", "disable_disk_cache", "is_dispatcher"]

_public_lock = threading.RLock()


def compiler_lock():
    """The lock to hold while deciding whether to load or compile an overload.

    Private: ``numba.core.compiler_lock.global_compiler_lock``, the lock Numba's own
    compiler holds; loading an overload by hand (:func:`load_cached_overload`) must not
    interleave with a compile of the same dispatcher in another thread. Public path: an
    ordinary re-entrant lock of symgraph's own (``Dispatcher.compile`` then takes Numba's
    lock itself)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return _public_lock
    from numba.core.compiler_lock import global_compiler_lock

    return global_compiler_lock


def load_cached_overload(dispatcher, args: tuple) -> bool:
    """Install ``dispatcher``'s overload for ``args`` (a tuple of Numba types) from
    Numba's disk cache, without refreshing the target context. Returns False when the
    cache has no usable entry (the caller compiles). Call it holding
    :func:`compiler_lock`.

    Why: before every load from its cache Numba refreshes the target context, and the
    first refresh in a process imports every lowering registry Numba has (and, through
    the BLAS check of ``numba.np.arraymath``, scipy.linalg): most of the time a new
    process took to load a cached training function (docs/benchmarks.md). Cached machine
    code needs none of it, only the runtime's symbols (``rtsys.initialize``).

    Private: ``dispatcher._cache._load_overload`` (under its
    ``_guard_against_spurious_io_errors``), ``numba.core.runtime.rtsys.initialize``,
    then what ``Dispatcher.compile`` does on a cache hit (``_cache_hits``,
    ``targetctx.insert_user_function``, ``add_overload``). Public path (other Numba
    versions, or ``SYMGRAPH_NUMBA_FALLBACK=1``): returns False without looking, and the
    caller's :func:`compile_public` lets Numba load it (with the refresh)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return False
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "_load_overload", None)
    guard = getattr(cache, "_guard_against_spurious_io_errors", None)
    if load is None or guard is None:
        return False
    from numba.core.runtime import rtsys

    ctx = dispatcher.targetctx
    from symgraph.numba_compat.lazylib import lazy_bitcode

    rtsys.initialize(ctx)  # idempotent: registers the NRT symbols cached code calls
    from symgraph.numba_compat.bysymbol import StaleCallee

    try:
        with guard(), lazy_bitcode(ctx):   # bitcode parsed only if linked against
            cres = load(args, ctx)
    except StaleCallee:   # its machine code calls a callee that changed: compile anew
        drop_disk_cache(dispatcher)
        return False
    except Exception:  # noqa: BLE001 - e.g. a changed cache format: let Numba handle it
        return False
    if cres is None or cres.objectmode:
        return False
    dispatcher._cache_hits[args] += 1
    ctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
    dispatcher.add_overload(cres)
    return True


def compile_public(dispatcher, args: tuple) -> bool:
    """``dispatcher.compile(args)``: Numba loads the overload from its disk cache or
    compiles it. Returns True when it came from the cache (``dispatcher.stats``'s miss
    count did not move), as :func:`load_cached_overload` would have. Public API only."""
    stats = getattr(dispatcher, "stats", None)
    misses = getattr(stats, "cache_misses", None)
    before = sum(misses.values()) if misses is not None else None
    dispatcher.compile(args)
    if before is None:
        return True
    return sum(dispatcher.stats.cache_misses.values()) == before


def native_entry(dispatcher, args: tuple):
    """``(address, return_type)`` of the native function of ``dispatcher``'s compiled
    overload for ``args`` (compiled or loaded already), the function Numba's calling
    convention calls (``llvm.call_native``).

    Private: ``dispatcher.overloads[args]``'s ``library.get_pointer_to_function`` of
    ``fndesc.llvm_func_name``. Why: ``link/numba/extern.py`` registers that address under
    a stable symbol so generated graphs call a kernel compiled (and cached) once instead
    of linking its code into every graph. Public path: none needed; without the
    internals the graph calls the dispatcher and Numba links it in."""
    cres = dispatcher.overloads[tuple(args)]
    addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    return addr, cres.signature.return_type


def cache_folder(dispatcher) -> str | None:
    """The folder of ``dispatcher``'s disk cache (``.nbi``/``.nbc``), None without one.
    Public: ``Dispatcher.stats.cache_path`` (was ``dispatcher._cache.cache_path``)."""
    stats = getattr(dispatcher, "stats", None)
    return getattr(stats, "cache_path", None)


def drop_disk_cache(dispatcher) -> None:
    """Empty ``dispatcher``'s disk cache and compile afresh the overloads it already holds
    (their machine code may come from that cache). Public: ``Dispatcher.recompile()``,
    which flushes the cache first (was ``_cache.flush()`` and then ``recompile()``)."""
    dispatcher.recompile()


def disable_disk_cache(dispatcher) -> bool:
    """Make ``dispatcher`` compile in memory from now on, never loading nor saving its
    disk cache. Returns whether it could.

    Private: replaces ``dispatcher._cache`` by a ``numba.core.caching.NullCache``. Why:
    a generated module whose cached machine code calls symbols nothing registers (its
    ``.links`` table is damaged) and whose cache files cannot be deleted (a read-only
    cache) must not load that code. Public path: that situation exists only on the
    private path (the ``.links`` tables belong to ``llvm.call_native``'s symbols), so
    there is nothing to disable: returns False."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return False
    from numba.core.caching import NullCache

    dispatcher._cache = NullCache()
    return True


def is_dispatcher(obj) -> bool:
    """Whether ``obj`` is a Numba dispatcher (an ``@njit`` function). Public:
    ``numba.extending.is_jitted`` (was an ``isinstance`` against
    ``numba.core.dispatcher.Dispatcher``)."""
    from numba.extending import is_jitted

    return is_jitted(obj)
