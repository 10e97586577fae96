"""Process tuning for the Numba backend, done once, when it builds its first function.

Why here and not at import: ``import symgraph`` must not change the process (a notebook or
a program that imports symgraph and never compiles keeps its environment, its malloc and
its threading layer as they were), and what is changed is changed for this process only.
Each setting, with its opt-out:

* OpenMP spin (``symgraph.kernels.cpu.threads.start``): Numba's OpenMP workers spin
  briefly after each parallel region (``GOMP_SPINCOUNT=30000``, in the environment only
  while libgomp loads: child processes do not inherit it). Opt-out: set
  ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``.
  Numba's default threading layer is kept (nothing is switched, even when libgomp was
  loaded first, e.g. by ``import torch``: that copy keeps its own spin).
* Per-call thread count on a busy machine (``threads.call_threads``): compiled calls
  that run parallel kernels use fewer threads while other processes keep the cores busy
  (results are bit-identical). Opt-out: ``SYMGRAPH_ADAPTIVE_THREADS=0``.
* glibc malloc keeps large freed blocks (``symgraph/_malloc.py``). Opt-out:
  ``SYMGRAPH_MALLOC_REUSE=0`` or any ``MALLOC_*_``/``GLIBC_TUNABLES`` setting of yours.
* scipy's BLAS, which compiled code calls, runs on one thread (``blas_threads.py``).
  Opt-out: ``SYMGRAPH_BLAS_THREADS=n`` or ``keep``.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
#: what ``prepare()`` did (empty until the first function is built)
STATE: dict = {}


def prepare() -> dict:
    """Apply the settings above once per process; returns ``STATE``."""
    if STATE:
        return STATE
    with _lock:
        if STATE:
            return STATE
        from symgraph._malloc import keep_large_blocks
        from symgraph.kernels.cpu import threads
        from symgraph.link.numba.blas_threads import limit_blas_threads

        state = {"threads": dict(threads.start())}
        state["malloc_tuned"] = keep_large_blocks()
        state["blas_threads"] = list(limit_blas_threads())
        STATE.update(state)
    return STATE
