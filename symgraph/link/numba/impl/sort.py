"""Numba generators for ``symgraph.tensor.sort``: Sort, Argsort, TakeAlongAxis.

Each works on the lines along its axis: the input is transposed so the axis is last, made
contiguous and viewed as ``(lines, n)``; the result is transposed back. ``argsort_line``
is a stable merge sort with NaN last (Numba's own mergesort argsort does not order NaN),
so both backends give the same indices for ties and NaN; Sort uses Numba's ``np.sort``
(NaN last too).
"""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor.sort import Argsort, Sort, TakeAlongAxis

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _before(a, b):
    """a sorts strictly before b (NaN after every number)."""
    return a < b or (b != b and a == a)


@_jit
def argsort_line(v, out):
    """Stable ascending argsort of 1-d ``v`` into ``out`` (int64), NaN last."""
    n = v.shape[0]
    for i in range(n):
        out[i] = i
    if n < 2:
        return
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    src = out
    dst = tmp
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if _before(v[src[j]], v[src[i]]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo = hi
        src, dst = dst, src
        width *= 2
    if src is not out:
        for i in range(n):
            out[i] = src[i]


_IMPORTS = ("from symgraph.link.numba.impl.sort import argsort_line as _sg_argsort_line",)


def _lines_code(name, params, nd, axis, body, out_dtype):
    """A function that applies ``body`` (using rows ``a{k}[r]`` and ``out[r]``) to every
    line along ``axis`` of its same-shaped array parameters."""
    perm = [d for d in range(nd) if d != axis] + [axis]
    inv = [perm.index(d) for d in range(nd)]
    tup = "(" + "".join(f"{p}, " for p in perm) + ")"
    itup = "(" + "".join(f"{p}, " for p in inv) + ")"
    lines = []
    for k, p in enumerate(params):
        src = p if perm == list(range(nd)) else f"_sg_helpers.transpose({p}, {tup})"
        lines.append(f"t{k} = np.ascontiguousarray({src})")
    lines.append(f"n = t0.shape[{nd - 1}]")
    lines.append("m = 1")
    for d in range(nd - 1):
        lines.append(f"m *= t0.shape[{d}]")
    for k in range(len(params)):
        lines.append(f"a{k} = _sg_helpers.reshape_c(t{k}, (m, n))")
    lines.append(f"out = np.empty((m, n), dtype={np_dtype(out_dtype)})")
    lines.append("for r in range(m):")
    lines.extend("    " + b for b in body)
    lines.append("res = _sg_helpers.reshape_c(out, t0.shape)")
    if perm == list(range(nd)):
        lines.append("return res")
    else:
        lines.append(f"return np.ascontiguousarray(_sg_helpers.transpose(res, {itup}))")
    return NumbaCode(f"def {name}({', '.join(params)}):\n" + indent("\n".join(lines)),
                     imports=_IMPORTS)


@numba_impl.register(Argsort)
def numba_argsort(op, node, ctx):
    nd = node.inputs[0].type.ndim
    return _lines_code(ctx.name, ["x"], nd, op.axis, ["_sg_argsort_line(a0[r], out[r])"],
                       "int64")


@numba_impl.register(Sort)
def numba_sort(op, node, ctx):
    nd = node.inputs[0].type.ndim
    # values only: Numba's np.sort (introsort, NaN last) -- faster than gathering
    # through the stable argsort (docs/benchmarks.md), and equal keys are interchangeable
    body = ["out[r] = np.sort(a0[r])"]
    return _lines_code(ctx.name, ["x"], nd, op.axis, body, node.outputs[0].type.dtype)


@numba_impl.register(TakeAlongAxis)
def numba_take_along_axis(op, node, ctx):
    nd = node.inputs[0].type.ndim
    err = repr(f"{op}: an index is out of bounds for axis {op.axis}")
    shp = repr(f"{op}: x and the indices must have the same shape")
    body = ["for j in range(n):",
            "    i = a1[r, j]",
            "    if i < 0: i += n",
            f"    if i < 0 or i >= n: raise IndexError({err})",
            "    out[r, j] = a0[r, i]"]
    code = _lines_code(ctx.name, ["x", "idx"], nd, op.axis, body, node.outputs[0].type.dtype)
    check = "".join(f"    if x.shape[{d}] != idx.shape[{d}]: raise ValueError({shp})\n"
                    for d in range(nd))
    head, rest = code.src.split("\n", 1)
    return NumbaCode(head + "\n" + check + rest, imports=code.imports)
