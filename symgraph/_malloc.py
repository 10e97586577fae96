"""Keep large freed blocks in the process heap so the next step's arrays reuse warm pages.

Done by ``symgraph.link.numba.runtime.prepare`` when the Numba backend builds its first
function (never at import); it affects this process only.

Why: glibc returns every block above its mmap threshold (at most 32 MiB, dynamically
grown) to the kernel on ``free``; the next allocation of the same size gets fresh pages,
and the first write to each 4 KiB page is a page fault. A training loop or a large
elementwise function allocates the same big outputs every call: on 10,000,000 float32
elements, ``2.5 * x + 1`` took about twice the time of ``np.copyto`` into a warm buffer
(the memory-bandwidth floor), and with the blocks kept close to that floor
(docs/benchmarks.md). numpy's own temporaries gain the same way.

What: ``mallopt`` raises the mmap threshold to 256 MiB (bigger arrays are still mapped and
unmapped) and the trim threshold to 512 MiB (at most that much free memory stays at the top
of the heap). Skipped when the user tuned glibc through its ``MALLOC_*_`` environment
variables, on non-glibc systems, and with ``SYMGRAPH_MALLOC_REUSE=0``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_large_blocks() -> bool:
    """Tune glibc's malloc as described above; returns whether it was done."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("SYMGRAPH_MALLOC_REUSE", "1").lower() in ("0", "false", "no", "off"):
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                     "GLIBC_TUNABLES")):
        return False  # the user's own malloc settings win
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl)
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
