"""Small Numba helpers imported by generated modules (resolved at typing time)."""
from __future__ import annotations

import numpy as np
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
