"""Numba generators for Elemwise (and fused Composite), DimShuffle.

An Elemwise node becomes one loop nest; broadcasting is resolved statically from the type
patterns (a broadcastable input dimension is indexed at 0). 0-d inputs are scalars and
0-d constants are inlined as typed literals.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.link.numba.dispatch import NumbaCode, indent, numba_impl, np_dtype
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import DimShuffle, Elemwise, cast_expr


def _src_line(node) -> str:
    tr = getattr(node.tag, "trace", ())
    if tr:
        fn, ln = tr[0][0], tr[0][1]
        return f"{fn.rsplit('/', 1)[-1]}:{ln}"
    return "?"


def scalar_body(sop, in_names, in_dtypes, out_dtypes, fresh):
    """Statements computing ``sop`` on scalar names; returns (stmts, out_exprs)."""
    cdts = sop.compute_dtypes(list(in_dtypes), list(out_dtypes))
    args = [cast_expr(n, d, c) for n, d, c in zip(in_names, in_dtypes, cdts)]
    # give non-trivial cast expressions a name so templates may repeat them
    stmts = []
    named = []
    for a, n in zip(args, in_names):
        if a != n:
            t = fresh()
            stmts.append(f"{t} = {a}")
            named.append(t)
        else:
            named.append(a)
    sub, exprs = sop.code(named, cdts, list(out_dtypes), fresh)
    stmts.extend(sub)
    natural = sop.output_dtypes(*cdts)
    outs = [cast_expr(e, nd, od) for e, nd, od in zip(exprs, natural, out_dtypes)]
    return stmts, outs


@numba_impl.register(Elemwise)
def numba_elemwise(op, node, ctx):
    name = ctx.name
    n_in = len(node.inputs)
    ndim = node.outputs[0].type.ndim
    params = [f"x{k}" for k in range(n_in)]
    in_dtypes = [v.type.dtype for v in node.inputs]
    out_dtypes = [o.type.dtype for o in node.outputs]
    lines = []
    counter = [0]

    def fresh():
        counter[0] += 1
        return f"t{counter[0]}"

    # scalar names per input inside the loop
    const_lit = {}
    for k, v in enumerate(node.inputs):
        if isinstance(v, Constant) and np.asarray(v.data).size == 1:
            const_lit[k] = ts.literal(np.asarray(v.data).reshape(-1)[0].item(), v.type.dtype)
    if ndim == 0:
        names = []
        for k in range(n_in):
            names.append(const_lit.get(k, f"x{k}"))
        stmts, outs = scalar_body(op.scalar_op, names, in_dtypes, out_dtypes, fresh)
        lines.extend(stmts)
        lines.append("return " + (outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)"))
        return NumbaCode(f"def {name}({', '.join(params)}):\n" + indent("\n".join(lines)))
    # sizes: first non-broadcast input per dimension
    src = _src_line(node)
    size_of = []
    for d in range(ndim):
        owner = next((k for k, v in enumerate(node.inputs)
                      if v.type.ndim and not v.type.broadcastable[d]), None)
        if owner is None:
            size_of.append("1")
        else:
            lines.append(f"n{d} = x{owner}.shape[{d}]")
            size_of.append(f"n{d}")
            for k, v in enumerate(node.inputs):
                if k != owner and v.type.ndim and not v.type.broadcastable[d] and k not in const_lit:
                    lines.append(
                        f"if x{k}.shape[{d}] != n{d}: raise ValueError("
                        f"'{op}: input dimension mismatch along axis {d} (created at {src})')")
    shape = "(" + "".join(s + ", " for s in size_of) + ")"
    inplace = dict(op.inplace_pattern)
    for j, dt in enumerate(out_dtypes):
        if j in inplace:
            lines.append(f"o{j} = x{inplace[j]}")
        else:
            lines.append(f"o{j} = np.empty({shape}, dtype={np_dtype(dt)})")
    # hoist fully-broadcast inputs (every dim broadcastable) out of the loops
    loads_outer = []
    loads_inner = []
    scalar_names = []
    idx_all = ", ".join(f"j{d}" for d in range(ndim))
    for k, v in enumerate(node.inputs):
        if k in const_lit:
            scalar_names.append(const_lit[k])
        elif v.type.ndim == 0:
            scalar_names.append(f"x{k}")
        elif all(v.type.broadcastable):
            loads_outer.append(f"a{k} = x{k}[{', '.join('0' for _ in range(ndim))}]")
            scalar_names.append(f"a{k}")
        else:
            idx = ", ".join("0" if b else f"j{d}" for d, b in enumerate(v.type.broadcastable))
            loads_inner.append(f"a{k} = x{k}[{idx}]")
            scalar_names.append(f"a{k}")
    stmts, outs = scalar_body(op.scalar_op, scalar_names, in_dtypes, out_dtypes, fresh)
    inner = loads_inner + stmts + [f"o{j}[{idx_all}] = {e}" for j, e in enumerate(outs)]
    lines.extend(loads_outer)
    # contiguous fast path: same-shape C-contiguous arrays -> one flat loop
    flat_ok = ndim >= 2 and all(
        (v.type.ndim == 0 or k in const_lit or all(v.type.broadcastable)
         or not any(v.type.broadcastable)) for k, v in enumerate(node.inputs))
    arrays = [k for k, v in enumerate(node.inputs)
              if v.type.ndim and k not in const_lit and not all(v.type.broadcastable)]
    loop = []
    for d in range(ndim):
        loop.append("    " * d + f"for j{d} in range({size_of[d]}):")
    loop.append(indent("\n".join(inner), 4 * ndim))
    loop_src = "\n".join(loop)
    if flat_ok and arrays:
        conds = " and ".join(f"x{k}.flags.c_contiguous" for k in arrays)
        conds += "".join(f" and o{j}.flags.c_contiguous" for j in range(len(out_dtypes)))
        flat_inner = []
        for k in arrays:
            flat_inner.append(f"a{k} = f{k}[j]")
        flat_inner += stmts + [f"g{j}[j] = {e}" for j, e in enumerate(outs)]
        total = " * ".join(size_of)
        flat = [f"if {conds}:", f"    nt = {total}"]
        for k in arrays:
            flat.append(f"    f{k} = _sg_flat(x{k}, nt)")
        for j in range(len(out_dtypes)):
            flat.append(f"    g{j} = _sg_flat(o{j}, nt)")
        flat.append("    for j in range(nt):")
        flat.append(indent("\n".join(flat_inner), 8))
        flat.append("else:")
        flat.append(indent(loop_src, 4))
        lines.extend(flat)
    else:
        lines.append(loop_src)
    rets = [f"o{j}" for j in range(len(out_dtypes))]
    lines.append("return " + (rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ",)"))
    body = f"def {name}({', '.join(params)}):\n" + indent("\n".join(lines))
    return NumbaCode(body)





@numba_impl.register(DimShuffle)
def numba_dimshuffle(op, node, ctx):
    name = ctx.name
    in_nd = len(op.input_broadcastable)
    out_nd = len(op.new_order)
    dt = node.outputs[0].type.dtype
    if in_nd == 0:
        if out_nd == 0:
            return NumbaCode(f"def {name}(x):\n    return x\n")
        shape = "(" + "1, " * out_nd + ")"
        return NumbaCode(f"def {name}(x):\n    return np.full({shape}, x, dtype={np_dtype(dt)})\n")
    if out_nd == 0:
        return NumbaCode(f"def {name}(x):\n    return x[{', '.join('0' for _ in range(in_nd))}]\n")
    lines = ["v = x"]
    if op.drop:
        idx = ", ".join("0" if i in op.drop else ":" for i in range(in_nd))
        lines.append(f"v = v[{idx}]")
    kept_sorted = sorted(op.shuffle)
    perm = [kept_sorted.index(i) for i in op.shuffle]
    if perm != sorted(perm):
        lines.append(f"v = v.transpose(({''.join(str(p) + ', ' for p in perm)}))")
    if op.augment:
        idx = ", ".join("None" if i == "x" else ":" for i in op.new_order)
        lines.append(f"v = v[{idx}]")
    lines.append("return v")
    return NumbaCode(f"def {name}(x):\n" + indent("\n".join(lines)))
