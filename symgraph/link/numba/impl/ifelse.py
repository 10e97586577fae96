"""Numba generators for ``IfElse`` (select) and ``LazyIfElse`` (run one branch's graph).

Each branch of a ``LazyIfElse`` is its own cached module (``step_module``, already
optimized as part of the outer graph); the node function calls only the chosen one, by
symbol (``step_entry``).
"""
from __future__ import annotations

from symgraph.ifelse import IfElse, LazyIfElse
from symgraph.link.numba import cache
from symgraph.link.numba.dispatch import NumbaCode, indent, numba_impl
from symgraph.link.numba.impl.scan import inner_source, step_entry, step_module


@numba_impl.register(IfElse)
def numba_ifelse(op, node, ctx):
    k = op.n_outs
    t = [f"t{j}" for j in range(k)]
    e = [f"e{j}" for j in range(k)]
    lines = ["if c:"]
    lines += [f"    o{j} = {t[j]}" for j in range(k)]
    lines.append("else:")
    lines += [f"    o{j} = {e[j]}" for j in range(k)]
    outs = [f"o{j}" for j in range(k)]
    lines.append("return " + (outs[0] if k == 1 else "(" + ", ".join(outs) + ",)"))
    src = f"def {ctx.name}(c, {', '.join(t + e)}):\n" + indent("\n".join(lines))
    return NumbaCode(src)


@numba_impl.register(LazyIfElse)
def numba_lazy_ifelse(op, node, ctx):
    mods = {}
    for which, (ins, outs) in (("then", op.then_graph), ("else", op.else_graph)):
        src = inner_source(op, which,
                           lambda ins=ins, outs=outs: step_module(ins, outs, optimize_inner=False))
        mods[which] = cache.load_module(src)
    nt = op.n_then
    ne = len(node.inputs) - 1 - nt
    a = [f"a{j}" for j in range(nt)]
    b = [f"b{j}" for j in range(ne)]
    ft, fe = f"_then_{mods['then'].__name__}", f"_else_{mods['else'].__name__}"
    kt, it, xt = step_entry(mods["then"], ft)
    ke, ie, xe = step_entry(mods["else"], fe)
    n_out = len(node.outputs)
    outs = [f"o{j}" for j in range(n_out)]
    lines = ["if c:", f"    r = {ft}({', '.join(a + kt)})"]
    lines += [f"    o{j} = r[{j}]" for j in range(n_out)]
    lines += ["else:", f"    r2 = {fe}({', '.join(b + ke)})"]
    lines += [f"    o{j} = r2[{j}]" for j in range(n_out)]
    lines.append("return " + (outs[0] if n_out == 1 else "(" + ", ".join(outs) + ",)"))
    src = f"def {ctx.name}({', '.join(['c'] + a + b)}):\n" + indent("\n".join(lines))
    return NumbaCode(src, imports=it + ie, externs=(xt, xe))
