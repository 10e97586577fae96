"""Load functions from Numba's disk cache without Numba's registry refresh.

Why: before every load from its cache, Numba refreshes the target context. The first
refresh in a process imports every lowering registry Numba has (numpy, random, typed
containers, jitclass, polynomials, ...) and, through ``numba.np.arraymath``'s BLAS check,
scipy.linalg: most of the time a new process took to load network3's cached training
function (docs/benchmarks.md). Machine code loaded from the cache needs none of it, only
the symbols of Numba's runtime (NRT), which ``rtsys.initialize`` registers. A cache miss
still compiles through ``dispatcher.compile``, whose compiler refreshes the contexts first.

``load_or_compile(dispatcher, argtys)`` is ``dispatcher.compile(argtys)`` with that
shortcut on a cache hit. The shortcut uses Numba's cache internals, so it goes through
``symgraph.numba_compat.dispatch`` (``load_cached_overload``); on a Numba version symgraph
was not checked against, or with ``SYMGRAPH_NUMBA_FALLBACK=1``, this is plain
``dispatcher.compile``. A damaged cache file is a miss here too (``healing.py``: the
dispatcher is protected first), so it compiles afresh and replaces it.
"""
from __future__ import annotations

from symgraph.link.numba.healing import protect
from symgraph.numba_compat import numba_internals
from symgraph.numba_compat.dispatch import compile_public, compiler_lock, load_cached_overload

__all__ = ["load_cached", "load_or_compile"]


def load_or_compile(dispatcher, argtys) -> bool:
    """Make ``dispatcher`` hold an overload for ``argtys`` (a tuple of Numba types).
    Returns False when it had to be compiled (not in memory, nor in the disk cache)."""
    args = tuple(argtys)
    if not numba_internals():
        if args in dispatcher.overloads:
            return True
        _before_compiling()   # (Numba may compile: it cannot say first)
        return compile_public(dispatcher, args)
    with compiler_lock():   # re-entrant: held from the cache lookup through the compile
        if load_cached(dispatcher, args):
            return True
        _before_compiling()
        dispatcher.compile(args)
        return False


def _before_compiling() -> None:
    """The library functions that loaded generated modules import are checked against
    symgraph's sources before a compile reads or writes their caches
    (``cache.check_imports_before_compiling``)."""
    from symgraph.link.numba.cache import check_imports_before_compiling

    check_imports_before_compiling()


def load_cached(dispatcher, argtys) -> bool:
    """Make ``dispatcher`` hold an overload for ``argtys`` if it is in memory or in the
    disk cache; never compiles. Returns False on a miss (and always on the public path,
    where loading and compiling are one call: ``compile_public``)."""
    args = tuple(argtys)
    if args in dispatcher.overloads:
        return True
    if not numba_internals():
        return False
    with compiler_lock():
        if args in dispatcher.overloads:
            return True
        protect(dispatcher)
        return load_cached_overload(dispatcher, args)
