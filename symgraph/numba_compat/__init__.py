"""Every use of Numba's (and scipy's) private internals in symgraph, behind one gate.

Why: symgraph's speed on a cached graph comes partly from Numba internals that no
release promises to keep: loading machine code from Numba's disk cache without its
registry refresh, calling compiled callees by symbol with Numba's calling convention,
checksummed cache files, and scipy's OpenBLAS reached without importing scipy.linalg. A
Numba release that changed one of them could leave symgraph running stale or wrong
machine code. So every such use lives in this package, each as one named function whose
docstring says what it does, why symgraph needs it and what Numba's public path is; and
every one is used only when the installed versions are the ones listed here
(:data:`CHECKED`, :data:`CHECKED_SCIPY`). On any other version, or with
``SYMGRAPH_NUMBA_FALLBACK=1`` (:data:`ENV`), symgraph takes the public path instead:
slower to load and compile, the same results. An unknown version is reported once per
process with a :class:`NumbaCompatWarning`; the forced switch is silent (it was asked for).

The versions are checked at first use, not at import (``import symgraph.numba_compat``
imports nothing), then the answer is cached: :func:`numba_internals` and
:func:`scipy_internals` are one dictionary read afterwards.

Modules (imported by their users; this gate imports none of them, nor Numba):

* ``dispatch``  -- loading cached machine code, native entry points, disk caches;
* ``lazylib``   -- cached libraries whose bitcode is parsed only when linked against;
* ``bysymbol``  -- compiled functions calling each other through registered symbols
  instead of linking each other's code;
* ``cachefile`` -- the checksummed, self-healing cache files (``link/numba/healing.py``);
* ``llvm``      -- LLVM IR helpers for ``@intrinsic`` code generators (llvmlite's public
  IR API, replacing ``numba.core.cgutils``) and the native call of an external symbol;
* ``typing``    -- Numba's typing of basic indexing (guessed argument types);
* ``launch``    -- parallel loops as tasks run through Numba's threading layer, without
  its parfor compiler;
* ``alloc``     -- ``np.empty``/``np.zeros``/``np.ascontiguousarray`` as intrinsics (no
  implementation compiled per process and argument types);
* ``scipy_blas`` -- scipy's OpenBLAS: the wheel's library, the ``cython_blas`` capsules,
  and the public fallback (Numba ``cfunc``s over ``np.dot``).

This package imports nothing else of symgraph, so ``symgraph.kernels`` (which knows no
graphs) and ``symgraph.link`` both use it without an upward import. Its sources are part
of the compile cache's key (``link/numba/cache.py``: ``_PACKAGES``), as the code it emits
is part of cached machine code.
"""
from __future__ import annotations

import glob
import os
import threading
import warnings

__all__ = ["CHECKED", "CHECKED_SCIPY", "ENV", "NumbaCompatWarning", "numba_internals",
           "scipy_internals", "status", "forced", "jit_options"]

#: the Numba and llvmlite releases whose internals symgraph was checked against
#: (``tests/numba_compat`` passes on them); other versions take the public path
CHECKED = {"numba": ("0.68.1",), "llvmlite": ("0.50.0",)}
#: the scipy releases whose wheel layout and ``cython_blas`` capsules were checked
CHECKED_SCIPY = ("1.17.1",)
#: environment variable: ``1`` forces the public path for every private use here
ENV = "SYMGRAPH_NUMBA_FALLBACK"


class NumbaCompatWarning(UserWarning):
    """The installed Numba (or scipy) is not one symgraph was checked against: symgraph
    uses its public API instead of its internals (slower loads and compiles, same
    results)."""


_lock = threading.Lock()
#: "numba"/"scipy" -> whether the internals are used (filled at first use)
_decided: dict = {}
#: what was found at first use, for :func:`status` and the warning
_found: dict = {}


def forced() -> bool:
    """Whether ``SYMGRAPH_NUMBA_FALLBACK`` asks for the public path everywhere (read at
    the first decision of each library, like the versions)."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _installed_numba() -> dict:
    import llvmlite
    import numba

    return {"numba": numba.__version__, "llvmlite": llvmlite.__version__}


def _installed_scipy() -> str | None:
    """scipy's version without importing scipy (its import is slow, and symgraph reaches
    its BLAS without it): the name of the ``scipy-<version>.dist-info`` folder the
    installer wrote beside the package (the packaging standard), else importlib.metadata."""
    import importlib.util

    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.origin:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    found = glob.glob(os.path.join(glob.escape(site), "scipy-*.dist-info"))
    if len(found) == 1:
        return os.path.basename(found[0])[len("scipy-"):-len(".dist-info")]
    try:
        from importlib.metadata import version

        return version("scipy")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return None


def _decide(lib: str) -> bool:
    with _lock:
        if lib in _decided:
            return _decided[lib]
        if lib == "numba":
            found = _installed_numba()
            ok = all(found[k] in CHECKED[k] for k in CHECKED)
            checked = ", ".join(f"{k} {'/'.join(v)}" for k, v in CHECKED.items())
        else:
            found = {"scipy": _installed_scipy()}
            ok = found["scipy"] in CHECKED_SCIPY
            checked = f"scipy {'/'.join(CHECKED_SCIPY)}"
        _found.update(found)
        use = ok and not forced()
        _decided[lib] = use
    if not ok and not forced():
        have = ", ".join(f"{k} {v}" for k, v in found.items())
        warnings.warn(
            f"symgraph: {have} is not a version symgraph's use of its internals was checked "
            f"against ({checked}); using its public API instead (compiled functions load "
            f"and compile more slowly, results are the same). See symgraph/numba_compat.",
            NumbaCompatWarning, stacklevel=3)
    return use


def numba_internals() -> bool:
    """Whether Numba's internals may be used (checked versions, not forced off). The
    first call checks the versions (and warns once if they are unknown); later calls
    read the cached answer."""
    use = _decided.get("numba")
    return _decide("numba") if use is None else use


def jit_options() -> dict:
    """Extra ``@njit`` options for symgraph's compiled functions: ``no_cfunc_wrapper``
    where the internals may be used, else none.

    Why: with every compiled function Numba builds and compiles a C-ABI wrapper, used only
    where the function is passed around as a first-class function value, which symgraph
    never does (its functions are called from Python or by symbol). Skipping it saved
    about 8 ms of a small function's 70-90 ms compile (docs/benchmarks.md). The option is
    one of Numba's target flags but not documented, so only checked versions get it."""
    return {"no_cfunc_wrapper": True} if numba_internals() else {}


def scipy_internals() -> bool:
    """Whether scipy's wheel layout and ``cython_blas`` capsules may be used."""
    use = _decided.get("scipy")
    return _decide("scipy") if use is None else use


def status() -> dict:
    """What was decided so far: ``{"numba": bool, "scipy": bool, "forced": bool,
    "versions": {...}}`` (a library not used yet is absent)."""
    out = dict(_decided)
    out["forced"] = forced()
    out["versions"] = dict(_found)
    return out


def _reset() -> None:
    """Forget the decisions (tests only: a real process decides once)."""
    with _lock:
        _decided.clear()
        _found.clear()
