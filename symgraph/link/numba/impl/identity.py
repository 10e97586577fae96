"""Numba generators for ops that return their input: the gradient-only ops of
``symgraph.gradient_ops`` (``grad_clip``, ``zero_grad``...) and ``printing.Print``, whose
printing runs in an object-mode block (it calls back into Python)."""
from __future__ import annotations

from symgraph.gradient_ops import ViewOp
from symgraph.link.numba.dispatch import NumbaCode, numba_impl
from symgraph.printing_ops import Print


@numba_impl.register(ViewOp)
def numba_view_op(op, node, ctx):
    return NumbaCode(f"def {ctx.name}(x):\n    return x\n")


@numba_impl.register(Print)
def numba_print(op, node, ctx):
    dtype = node.inputs[0].type.dtype
    src = (f"def {ctx.name}(x):\n"
           f"    with numba.objmode():\n"
           f"        _sg_print_hook({op.message!r}, {op.attrs!r}, {op.global_fn_key!r}, "
           f"{dtype!r}, x)\n"
           f"    return x\n")
    # nogil off: the object-mode block holds the GIL anyway (and Numba warns otherwise)
    return NumbaCode(src, imports=("from symgraph.printing_ops import print_hook as "
                                   "_sg_print_hook",), jit_options={"nogil": False})
