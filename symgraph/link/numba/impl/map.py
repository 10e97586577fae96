"""Numba generator for ``Map``: the inner graph becomes its own cached module."""
from __future__ import annotations

import numpy as np

from symgraph.graph.fg import FunctionGraph
from symgraph.link.mode import Mode
from symgraph.link.numba import cache
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.link.numba.impl.scan import inner_source
from symgraph.tensor.jacobian_op import Map

#: array constants of an inner graph are written into its module's source up to this size
MAX_INLINE_CONST_BYTES = 1 << 20


def _const_entry(fg, src, consts):
    """Source that binds the inner graph's array constants as module globals (Numba
    freezes global arrays into the machine code) and an entry ``graph_fn_map`` taking
    only the inner graph's inputs; ``graph_fn`` takes the constants as trailing
    arguments, which the loop in ``numba_map`` has no way to pass."""
    size = sum(c.nbytes for c in consts)
    if size > MAX_INLINE_CONST_BYTES:
        raise NotImplementedError(
            f"the inner graph of a jacobian holds {size} bytes of array constants (more "
            f"than {MAX_INLINE_CONST_BYTES}); compile with mode='py'")
    lines = []
    for j, c in enumerate(consts):
        c = np.ascontiguousarray(c)
        lines.append(f"_sg_mapk{j} = np.frombuffer(bytes.fromhex({c.tobytes().hex()!r}), "
                     f"dtype={c.dtype.str!r}).reshape({tuple(c.shape)!r})")
    params = ", ".join(f"i{k}" for k in range(len(fg.inputs)))
    ks = ", ".join(f"_sg_mapk{j}" for j in range(len(consts)))
    lines.append("@numba.njit(cache=True, error_model='numpy', nogil=True)\n"
                 f"def graph_fn_map({params}):\n    return graph_fn({params}, {ks})")
    return src + "\n\n" + "\n\n".join(lines) + "\n"


def _inner_graph_source(op):
    """(source, entry function) of the Numba module of ``op``'s inner graph."""
    from symgraph.link.numba.linker import generate_module
    from symgraph.rewriting import optimize

    fg = FunctionGraph(op.inner_inputs, [op.inner_output], clone=True)
    optimize(fg, Mode("numba"))
    src, consts, _ = generate_module(fg, fg.inputs, [])
    if consts:
        return _const_entry(fg, src, consts), "graph_fn_map"
    return src, "graph_fn"


def _inner_module_name(op):
    """(module name, entry function) of the Numba module of ``op``'s inner graph."""
    src, entry = inner_source(op, "map", lambda: _inner_graph_source(op))
    mod = cache.load_module(src)
    return mod.__name__, entry


@numba_impl.register(Map)
def numba_map(op, node, ctx):
    modname, entry = _inner_module_name(op)
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
    return NumbaCode(src, imports=(f"from {modname} import {entry} as {fname}",))
