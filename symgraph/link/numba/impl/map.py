"""Numba generator for ``Map``: the inner graph becomes its own cached module
(``impl.scan.step_module``), called by symbol with its constants (``step_entry``)."""
from __future__ import annotations

from symgraph.link.numba import cache
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.link.numba.impl.scan import inner_source, step_entry, step_module
from symgraph.tensor.jacobian_op import Map

#: array constants of an inner graph are written into its module's source up to this size
MAX_INLINE_CONST_BYTES = 1 << 20


def _check_consts(consts):
    """Array constants of the inner graph are frozen into the loop's machine code: refuse
    large ones."""
    size = sum(c.nbytes for c in consts)
    if size > MAX_INLINE_CONST_BYTES:
        raise NotImplementedError(
            f"the inner graph of a jacobian holds {size} bytes of array constants (more "
            f"than {MAX_INLINE_CONST_BYTES}); compile with mode='py'")


@numba_impl.register(Map)
def numba_map(op, node, ctx):
    src = inner_source(op, "map", lambda: step_module(
        op.inner_inputs, [op.inner_output], True, check_consts=_check_consts))
    mod = cache.load_module(src)
    fname = f"_map_{mod.__name__}"
    consts, imports, extern = step_entry(mod, fname)
    free = [f"f{k}" for k in range(len(node.inputs) - 1)]
    call = f"{fname}({', '.join(['i'] + free + consts)})[0]"
    t = op.inner_output.type
    dt = np_dtype(t.dtype)
    empty = "(" + "0, " * (t.ndim + 1) + ")"
    shape = "(n,) + r.shape" if t.ndim else "n"
    # one call site of the inner graph: the first step only allocates the output
    body = f"""out = np.empty({empty}, dtype={dt})
for i in range(n):
    r = {call}
    if i == 0:
        out = np.empty({shape}, dtype={dt})
    out[i] = r
return out"""
    args = ", ".join(free)
    src = f"def {ctx.name}(n{', ' + args if args else ''}):\n" + indent(body)
    return NumbaCode(src, imports=imports, externs=(extern,))
