"""Numba generators for ``symgraph.tensor.extra_ops``: CumOp, Unique, SearchsortedOp and
CheckNonneg (bincount's input check). Ordering uses ``sort.argsort_line``'s rule (stable,
NaN last), so Unique and searchsorted agree with numpy and with the py backend."""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.link.numba.impl.sort import _before, _lines_code, argsort_line
from symgraph.tensor.extra_ops import CheckNonneg, CumOp, SearchsortedOp, Unique

_jit = numba.njit(cache=True, nogil=True)


@numba_impl.register(CumOp)
def numba_cumop(op, node, ctx):
    nd = node.inputs[0].type.ndim
    sym = "+" if op.mode == "add" else "*"
    odt = node.outputs[0].type.dtype
    body = ["if n > 0:", f"    out[r, 0] = {np_dtype(odt)}(a0[r, 0])",
            "for j in range(1, n):", f"    out[r, j] = out[r, j - 1] {sym} a0[r, j]"]
    return _lines_code(ctx.name, ["x"], nd, op.axis, body, odt)


@numba_impl.register(CheckNonneg)
def numba_check_nonneg(op, node, ctx):
    msg = repr("bincount: the input has negative values; bincount counts values >= 0")
    src = (f"def {ctx.name}(x):\n"
           f"    for i in range(x.shape[0]):\n"
           f"        if x[i] < 0: raise ValueError({msg})\n"
           f"    return x\n")
    return NumbaCode(src)


@_jit
def _same(a, b):
    return a == b or (a != a and b != b)


@_jit
def unique_parts(flat):
    """(values, first index, inverse, counts) of 1-d ``flat``, numpy's ``unique`` order."""
    n = flat.shape[0]
    p = np.empty(n, dtype=np.int64)
    argsort_line(flat, p)
    vals = np.empty(n, dtype=flat.dtype)
    first = np.empty(n, dtype=np.int64)
    counts = np.empty(n, dtype=np.int64)
    inv = np.empty(n, dtype=np.int64)
    g = -1
    for k in range(n):
        i = p[k]
        if g < 0 or not _same(flat[i], vals[g]):
            g += 1
            vals[g] = flat[i]
            first[g] = i
            counts[g] = 0
        counts[g] += 1
        inv[i] = g
    m = g + 1
    return vals[:m].copy(), first[:m].copy(), inv, counts[:m].copy()


@numba_impl.register(Unique)
def numba_unique(op, node, ctx):
    nd = node.inputs[0].type.ndim
    lines = []
    if nd == 0:
        lines.append(f"f = np.empty(1, dtype={np_dtype(node.inputs[0].type.dtype)})")
        lines.append("f[0] = x")
    else:
        lines.append("f = _sg_helpers.reshape_c(np.ascontiguousarray(x), x.size)")
    lines.append("vals, first, inv, counts = _sg_unique_parts(f)")
    outs = ["vals"]
    if op.return_index:
        outs.append("first")
    if op.return_inverse:
        outs.append("inv")
    if op.return_counts:
        outs.append("counts")
    lines.append("return " + (outs[0] if len(outs) == 1 else ", ".join(outs)))
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)),
                     imports=("from symgraph.link.numba.impl.extra_ops import unique_parts "
                              "as _sg_unique_parts",))


@_jit
def search_left(x, sorter, v):
    """Number of elements of sorted ``x[sorter]`` that sort strictly before ``v``."""
    lo = 0
    hi = x.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if _before(x[sorter[mid]], v):
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def search_right(x, sorter, v):
    """Number of elements of sorted ``x[sorter]`` that do not sort after ``v``."""
    lo = 0
    hi = x.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if _before(v, x[sorter[mid]]):
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba_impl.register(SearchsortedOp)
def numba_searchsorted(op, node, ctx):
    has_sorter = len(node.inputs) > 2
    nd = node.inputs[1].type.ndim
    fn = "_sg_search_left" if op.side == "left" else "_sg_search_right"
    params = ["x", "v"] + (["sorter"] if has_sorter else [])
    lines = []
    if has_sorter:
        lines.append("if sorter.shape[0] != x.shape[0]: raise ValueError("
                     + repr("searchsorted: sorter must have the length of x") + ")")
        lines.append("n = x.shape[0]")
        lines.append("for i in range(n):")
        lines.append("    if sorter[i] < 0 or sorter[i] >= n: raise ValueError("
                     + repr("searchsorted: sorter index out of range") + ")")
        lines.append("s = sorter.astype(np.int64)")
    else:
        lines.append("s = np.arange(x.shape[0])")
    if nd == 0:
        lines.append(f"return np.int64({fn}(x, s, v))")
    else:
        lines.append("vf = _sg_helpers.reshape_c(np.ascontiguousarray(v), v.size)")
        lines.append("out = np.empty(v.size, dtype=np.int64)")
        lines.append("for i in range(v.size):")
        lines.append(f"    out[i] = {fn}(x, s, vf[i])")
        lines.append("return _sg_helpers.reshape_c(out, v.shape)")
    return NumbaCode(f"def {ctx.name}({', '.join(params)}):\n" + indent("\n".join(lines)),
                     imports=("from symgraph.link.numba.impl.extra_ops import search_left "
                              "as _sg_search_left, search_right as _sg_search_right",))
