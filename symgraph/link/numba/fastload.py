"""Load functions from Numba's disk cache without Numba's registry refresh.

Why: before every load from its cache, Numba refreshes the target context. The first
refresh in a process imports every lowering registry Numba has (numpy, random, typed
containers, jitclass, polynomials, ...) and, through ``numba.np.arraymath``'s BLAS check,
scipy.linalg: most of the time a new process took to load network3's cached training
function (docs/benchmarks.md). Machine code loaded from the cache needs none of it, only
the symbols of Numba's runtime (NRT), which ``rtsys.initialize`` registers. A cache miss
still compiles through ``dispatcher.compile``, whose compiler refreshes the contexts first.

``load_or_compile(dispatcher, argtys)`` is ``dispatcher.compile(argtys)`` with that
shortcut on a cache hit. It uses Numba's cache internals (``Cache._load_overload``); if
they are missing or fail (another Numba version), it falls back to ``compile``. A
damaged cache file is a miss here too (``healing.py``: the dispatcher is protected
first), so the fallback compiles afresh and replaces it.
"""
from __future__ import annotations

from numba.core.compiler_lock import global_compiler_lock

from symgraph.link.numba.healing import protect

__all__ = ["load_or_compile"]


def _from_cache(dispatcher, args):
    """The CompileResult for ``args`` from the disk cache, without a refresh; or None."""
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "_load_overload", None)
    guard = getattr(cache, "_guard_against_spurious_io_errors", None)
    if load is None or guard is None:
        return None
    from numba.core.runtime import rtsys

    ctx = dispatcher.targetctx
    rtsys.initialize(ctx)  # idempotent: registers the NRT symbols cached code calls
    try:
        with guard():
            return load(args, ctx)
    except Exception:  # noqa: BLE001 - e.g. a changed cache format: let Numba handle it
        return None


def load_or_compile(dispatcher, argtys) -> bool:
    """Make ``dispatcher`` hold an overload for ``argtys`` (a tuple of Numba types).
    Returns False when it had to be compiled (not in memory, nor in the disk cache)."""
    args = tuple(argtys)
    if args in dispatcher.overloads:
        return True
    with global_compiler_lock:
        if args in dispatcher.overloads:
            return True
        protect(dispatcher)
        cres = _from_cache(dispatcher, args)
        if cres is None or cres.objectmode:
            dispatcher.compile(args)
            return False
        # what Dispatcher.compile does on a cache hit
        dispatcher._cache_hits[args] += 1
        dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc,
                                                  [cres.library])
        dispatcher.add_overload(cres)
        return True
