"""Numba generator for ``Map``: the inner graph becomes its own cached module."""
from __future__ import annotations

from symgraph.compile.mode import Mode
from symgraph.graph.fg import FunctionGraph
from symgraph.link.numba import cache
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor.jacobian_op import Map


def _inner_module_name(op):
    if op._numba_src is None:
        from symgraph.link.numba.linker import generate_module
        from symgraph.rewriting import optimize

        fg = FunctionGraph(op.inner_inputs, [op.inner_output], clone=True)
        optimize(fg, Mode("numba"))
        src, consts, _ = generate_module(fg, fg.inputs, [])
        if consts:
            raise NotImplementedError(
                f"{op}: the inner graph holds array constants, which the Numba backend "
                f"cannot pass to an inner graph yet; compile with mode='py'")
        op._numba_src = src
    mod = cache.load_module(op._numba_src)
    return mod.__name__


@numba_impl.register(Map)
def numba_map(op, node, ctx):
    modname = _inner_module_name(op)
    fname = f"_map_{modname}"
    free = [f"f{k}" for k in range(len(node.inputs) - 1)]
    args = ", ".join(free)
    call = f"{fname}(i{', ' + args if args else ''})[0]"
    t = op.inner_output.type
    dt = np_dtype(t.dtype)
    if t.ndim == 0:
        alloc = f"out = np.empty(n, dtype={dt})"
        empty = f"return np.empty(0, dtype={dt})"
    else:
        alloc = f"out = np.empty((n,) + r.shape, dtype={dt})"
        empty = f"return np.empty((0,) + ({'0, ' * t.ndim}), dtype={dt})"
    body = f"""if n <= 0:
    {empty}
i = 0
r = {call}
{alloc}
out[0] = r
for i in range(1, n):
    out[i] = {call}
return out"""
    src = f"def {ctx.name}(n{', ' + args if args else ''}):\n" + indent(body)
    return NumbaCode(src, imports=(f"from {modname} import graph_fn as {fname}",))
