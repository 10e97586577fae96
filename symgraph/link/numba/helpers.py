"""Small Numba helpers imported by generated modules (resolved at typing time)."""
from __future__ import annotations

import numpy as np
import numba
from numba import types
from numba.extending import overload


def flat(a, n):
    """View a C-contiguous array as 1-d with ``n`` elements (caller checked contiguity)."""
    return np.lib.stride_tricks.as_strided(a, (n,), (a.itemsize,))


@overload(flat, jit_options={"cache": True})
def _flat_overload(a, n):
    if isinstance(a, types.Array) and a.layout == "C":
        return lambda a, n: a.reshape(n)

    def impl(a, n):
        return np.lib.stride_tricks.as_strided(a, (n,), (a.itemsize,))

    return impl


@numba.njit(cache=True)
def transpose(a, axes):
    """``a.transpose(axes)``, compiled once per installation instead of once per process:
    Numba's own lowering compiles a shape-error formatter (str/repr/hash overloads, about
    1.5 s) that its in-memory cache forgets at exit."""
    return a.transpose(axes)
