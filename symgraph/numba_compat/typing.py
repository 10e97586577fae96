"""Numba's typing of basic indexing, to guess argument types before they are known.

Why: a new graph's kernels are compiled in a background process for argument types
guessed from the graph before this process has compiled the kernels producing them
(``link/numba/plan_compile.py``). A view's layout (C, F or any) follows Numba's own rules
for basic indexing, which only Numba's typing states exactly; a guess that differs from
them only costs the background process a useless compile, never a result. The Python
tier types the views it runs as numpy the same way (``link/numba/tiered.py``), and
checks each value against the type before passing it on.

Private use: ``numba.core.typing.arraydecl.get_array_index_type``, the function Numba's
typing of ``array[index]`` calls. Public path: None (the caller then guesses the view
like a new array, C-ordered).
"""
from __future__ import annotations

__all__ = ["index_result"]


def index_result(ary, kinds: str):
    """The Numba type of ``ary[index]`` for an index of ``kinds`` (one letter per entry:
    ``i`` integer, ``s`` slice without step, ``S`` slice with step, ``n`` None), or None
    when it is not known (the public path, or an index Numba's typing refuses)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return None
    from numba import types
    from numba.core.typing.arraydecl import get_array_index_type

    of = {"i": types.intp, "s": types.slice2_type, "S": types.slice3_type, "n": types.none}
    idx = [of[k] for k in kinds]
    try:
        res = get_array_index_type(ary, types.Tuple(idx) if len(idx) != 1 else idx[0])
    except Exception:  # noqa: BLE001 - an index Numba refuses: no guess
        return None
    return None if res is None else res.result
