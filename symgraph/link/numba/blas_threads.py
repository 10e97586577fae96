"""One thread pool per process: the BLAS that compiled functions call runs single-threaded.

Why: a compiled training step interleaves BLAS calls (gemm/gemv of scipy's OpenBLAS,
through ``kernels/cpu/blas.py``) with the parallel loops of symgraph's kernels on Numba's
pool (conv, pool, large fused loops). Both libraries keep a pool of worker threads, and on
a small machine the two pools take the cores from each other: OpenBLAS's workers are still
spinning when an OpenMP kernel starts, and the reverse. On the 2-core development machine
network3's training step was faster at batch 10 and at batch 100 with OpenBLAS on one
thread than on two (docs/benchmarks.md). symgraph's own kernels already split large work
over the cores, so the BLAS pool only competes.

``limit_blas_threads()`` runs once, when the Numba backend builds its first function, and
sets the thread count of the BLAS that compiled code calls (``kernels/cpu/blas.py``:
scipy's OpenBLAS, opened as a library without importing scipy.linalg). Only when the
routines came from elsewhere (``scipy.linalg.cython_blas``, or the public fallback of
``symgraph/numba_compat/scipy_blas.py``, whose ``np.dot`` uses that same library) does it
look the library up with threadpoolctl (the loaded BLAS library under scipy's own
folders). numpy's separate BLAS, if it has its own copy as pip wheels do, is left alone.
``SYMGRAPH_BLAS_THREADS=n`` chooses another count; ``SYMGRAPH_BLAS_THREADS=keep`` leaves
every library as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

#: environment variable: a thread count for the BLAS compiled code calls, or ``keep``
ENV = "SYMGRAPH_BLAS_THREADS"
DEFAULT_THREADS = 1

_done = False
#: what the last ``limit_blas_threads`` did: [(library path, threads before, threads now)]
CHANGED: list[tuple[str, int, int]] = []


def _requested() -> int | None:
    raw = os.environ.get(ENV, "").strip().lower()
    if raw in ("", "default"):
        return DEFAULT_THREADS
    if raw == "keep":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r}: expected a positive thread count or 'keep'") from None
    if n < 1:
        raise ValueError(f"{ENV}={raw!r}: expected a positive thread count or 'keep'")
    return n


def _scipy_roots() -> list[Path]:
    """scipy's library folders (its wheel layout: ``numba_compat.scipy_blas``)."""
    from symgraph.numba_compat.scipy_blas import scipy_library_dirs

    return scipy_library_dirs()


def limit_blas_threads() -> list[tuple[str, int, int]]:
    """Set the thread count of scipy's BLAS (once per process)."""
    global _done
    if _done:
        return CHANGED
    _done = True
    n = _requested()
    CHANGED.clear()
    if n is None:
        return CHANGED
    from symgraph.kernels.cpu import blas

    before = blas.num_threads()
    if before is not None:
        CHANGED.append((blas.ROUTINES["path"], before, blas.set_num_threads(n)))
        return CHANGED
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba's BLAS calls use)
    from threadpoolctl import ThreadpoolController

    roots = _scipy_roots()
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        path = Path(lib.filepath).resolve()
        if any(root in path.parents for root in roots):
            before = lib.num_threads
            lib.set_num_threads(n)
            CHANGED.append((str(path), before, lib.num_threads))
    return CHANGED
