"""Numba implementation of ``HalfRound`` (float32 rounded to float16 precision).

Numba has no float16 type on the CPU, so the rounding works on the float32 bits:
normal float16 range: keep 11 significant bits, round to nearest, ties to even (add
``0xFFF`` plus the lowest kept bit, clear the 13 dropped bits); below 2**-14 (float16
subnormals): round to a multiple of 2**-24 with ``rint``; 65520 and above: infinity;
NaN and infinities unchanged. ``tests/test_float16.py`` checks it bit for bit against
numpy's ``astype(float16)``.
"""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, numba_impl
from symgraph.tensor.half import HalfRound


@numba.njit(cache=True, nogil=True)
def half_round(x):
    xc = np.ascontiguousarray(x)
    out = np.empty(xc.shape, np.float32)
    src = xc.reshape(xc.size)
    dst = out.reshape(out.size)
    bits = src.view(np.uint32)
    obits = dst.view(np.uint32)
    two24 = np.float32(16777216.0)
    for i in range(src.size):
        b = bits[i]
        e = (b >> np.uint32(23)) & np.uint32(0xFF)
        if e == np.uint32(0xFF):
            obits[i] = b
        elif e < np.uint32(113):
            dst[i] = np.float32(np.rint(src[i] * two24)) / two24
        else:
            lsb = (b >> np.uint32(13)) & np.uint32(1)
            r = (b + np.uint32(0xFFF) + lsb) & np.uint32(0xFFFFE000)
            if ((r >> np.uint32(23)) & np.uint32(0xFF)) >= np.uint32(143):
                r = (b & np.uint32(0x80000000)) | np.uint32(0x7F800000)
            obits[i] = r
    return out


@numba_impl.register(HalfRound)
def numba_half_round(op, node, ctx):
    return NumbaCode(f"def {ctx.name}(x):\n    return _sg_half_round(x)\n",
                     imports=("from symgraph.link.numba.impl.half import half_round as "
                              "_sg_half_round",))
