"""A progress line while a graph's kernels compile.

Why: the first run on a new machine (or after an upgrade) compiles every kernel a graph
needs, which takes tens of seconds; a silent pause that long looks like a hang. When a
graph is linked and some of its kernel modules have no machine code in Numba's cache,
a ``tqdm`` counter on stderr ticks once per kernel compiled (loads from the cache do not
tick) and disappears when the graph's first call returns. It appears only once the first
call waits for a compile (``busy``, or a first ``tick``): most of a new graph's nodes run
on the Python tier without their kernels, which the background worker compiles
meanwhile, and a first call that compiles nothing shows nothing. Shown only when stderr
is a terminal (in a notebook it would stay in the cell's output as text);
``SYMGRAPH_PROGRESS=0`` turns it off, ``=1`` forces it on.
"""
from __future__ import annotations

import os
import sys
import threading

_state = threading.local()


def _enabled() -> bool:
    flag = os.environ.get("SYMGRAPH_PROGRESS", "")
    if flag in ("0", "1"):
        return flag == "1"
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


def start(module) -> None:
    """Open the counter for ``module`` (a graph module) when some of its kernels are not
    compiled yet."""
    from symgraph.link.numba.healing import has_entries

    kernels = [v for k, v in vars(module).items() if k.startswith("_sgk")]
    new = [d for d in kernels if not d.overloads and not has_entries(d)]
    if not new or not _enabled() or getattr(_state, "module", None) is not None:
        return
    _state.bar = None
    _state.total = len(new)
    _state.module = module


def busy() -> None:
    """A compile starts that the first call waits for: show the counter (if opened)."""
    if getattr(_state, "bar", None) is None and getattr(_state, "module", None) is not None:
        from tqdm import tqdm

        _state.bar = tqdm(total=_state.total, desc="symgraph: compiling new kernels",
                          unit="kernel", file=sys.stderr, leave=False, dynamic_ncols=True)


def tick() -> None:
    """One kernel compiled (called by ``extern._native_symbol``)."""
    busy()
    bar = getattr(_state, "bar", None)
    if bar is not None:
        if bar.n >= bar.total:
            bar.total += 1   # a callee of a kernel: counted as it comes
        bar.update(1)


def finish(module) -> None:
    """Close the counter opened for ``module`` (after its first call, or a failed one)."""
    if getattr(_state, "module", None) is module:
        bar = getattr(_state, "bar", None)
        if bar is not None:
            bar.close()
        _state.bar = _state.module = None
