"""Numba generators for reductions (Reduce), Argmax and Shape."""
from __future__ import annotations

import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, indent, numba_impl, np_dtype
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import cast_expr
from symgraph.tensor.math import Argmax, Reduce
from symgraph.tensor.shape_ops import Shape

_INIT = {"add": 0, "mul": 1, "and_": True, "or_": False}


def _init_literal(opname, dtype):
    if opname in _INIT:
        return ts.literal(_INIT[opname], dtype)
    if dtype.startswith("float"):
        return ts.literal(-np.inf if opname == "maximum" else np.inf, dtype)
    if dtype == "bool":
        return ts.literal(opname != "maximum", dtype)
    info = np.iinfo(dtype)
    return ts.literal(info.min if opname == "maximum" else info.max, dtype)


def _combine(opname, acc, v):
    if opname == "add":
        return f"{acc} + {v}"
    if opname == "mul":
        return f"{acc} * {v}"
    if opname == "maximum":
        return f"{acc} if ({acc} >= {v} or {acc} != {acc}) else {v}"
    if opname == "minimum":
        return f"{acc} if ({acc} <= {v} or {acc} != {acc}) else {v}"
    if opname == "and_":
        return f"{acc} and {v}"
    return f"{acc} or {v}"


@numba_impl.register(Reduce)
def numba_reduce(op, node, ctx):
    x = node.inputs[0]
    nd = x.type.ndim
    opname = op.scalar_op.name
    out_dt = node.outputs[0].type.dtype
    in_dt = x.type.dtype
    # accumulate float32 full sums in float64 (accuracy, like numpy's pairwise sum)
    acc_dt = "float64" if (out_dt == "float32" and opname == "add") else out_dt
    lines = []
    if nd == 0:
        return NumbaCode(f"def {ctx.name}(x):\n    return {cast_expr('x', in_dt, out_dt)}\n")
    for d in range(nd):
        lines.append(f"n{d} = x.shape[{d}]")
    if opname in ("maximum", "minimum"):
        cond = " or ".join(f"n{d} == 0" for d in op.axis)
        lines.append(f"if {cond}: raise ValueError('{op}: cannot reduce an empty axis "
                     f"(zero-size array to reduction operation)')")
    idx = ", ".join(f"j{d}" for d in range(nd))
    v = cast_expr(f"x[{idx}]", in_dt, acc_dt)
    kept = [d for d in range(nd) if d not in op.axis]
    if not kept:
        lines.append(f"acc = {_init_literal(opname, acc_dt)}")
        loop = [("    " * d) + f"for j{d} in range(n{d}):" for d in range(nd)]
        loop.append("    " * nd + f"v = {v}")
        loop.append("    " * nd + f"acc = {_combine(opname, 'acc', 'v')}")
        lines.extend(loop)
        lines.append(f"return {cast_expr('acc', acc_dt, out_dt)}")
        return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))
    acc_dt = out_dt
    v = cast_expr(f"x[{idx}]", in_dt, acc_dt)
    shape = "(" + "".join(f"n{d}, " for d in kept) + ")"
    lines.append(f"out = np.full({shape}, {_init_literal(opname, out_dt)}, dtype={np_dtype(out_dt)})")
    oidx = ", ".join(f"j{d}" for d in kept)
    loop = [("    " * d) + f"for j{d} in range(n{d}):" for d in range(nd)]
    loop.append("    " * nd + f"v = {v}")
    loop.append("    " * nd + f"a = out[{oidx}]")
    loop.append("    " * nd + f"out[{oidx}] = {_combine(opname, 'a', 'v')}")
    lines.extend(loop)
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))


@numba_impl.register(Argmax)
def numba_argmax(op, node, ctx):
    x = node.inputs[0]
    nd = x.type.ndim
    cmp = ">" if op.kind == "max" else "<"
    if nd == 0:
        return NumbaCode(f"def {ctx.name}(x):\n    return np.int64(0)\n")
    if op.axis is None or nd == 1:
        src = f"""def {ctx.name}(x):
    f = np.ascontiguousarray(x).reshape(x.size)
    if f.size == 0:
        raise ValueError('{op}: attempt to get arg{op.kind} of an empty sequence')
    best = f[0]
    k = 0
    for i in range(1, f.size):
        v = f[i]
        if (v {cmp} best) or (v != v and best == best):
            best = v
            k = i
    return np.int64(k)
"""
        if nd == 1 and op.axis is not None:
            pass
        return NumbaCode(src)
    ax = op.axis
    kept = [d for d in range(nd) if d != ax]
    lines = [f"n{d} = x.shape[{d}]" for d in range(nd)]
    lines.append(f"if n{ax} == 0: raise ValueError('{op}: attempt to get arg{op.kind} of an "
                 f"empty sequence')")
    shape = "(" + "".join(f"n{d}, " for d in kept) + ")"
    lines.append(f"out = np.zeros({shape}, dtype=np.int64)")
    oidx = ", ".join(f"j{d}" for d in kept)
    loops = [("    " * i) + f"for j{d} in range(n{d}):" for i, d in enumerate(kept)]
    pad = "    " * len(kept)
    first = ", ".join("0" if d == ax else f"j{d}" for d in range(nd))
    cur = ", ".join("i" if d == ax else f"j{d}" for d in range(nd))
    inner = [f"best = x[{first}]", "k = 0", f"for i in range(1, n{ax}):",
             f"    v = x[{cur}]", f"    if (v {cmp} best) or (v != v and best == best):",
             "        best = v", "        k = i", f"out[{oidx}] = k"]
    lines.extend(loops)
    lines.extend(pad + s for s in inner)
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))


@numba_impl.register(Shape)
def numba_shape(op, node, ctx):
    nd = node.inputs[0].type.ndim
    lines = [f"out = np.empty({nd}, dtype=np.int64)"]
    for d in range(nd):
        lines.append(f"out[{d}] = x.shape[{d}]")
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))
