"""The Numba backend's rewrite phase: fused 0-d expressions back into single operations.

Why: fusion (``rewriting/fusion.py``) turns a cost's scalar arithmetic into one
``Composite``, and on this backend each distinct composite is a kernel of its own,
compiled on a new graph's first call. Its shape follows the model: an L2 penalty's sum
over the layers has one term per layer, so every new depth of an MLP compiled a new
kernel (about 1 s with Numba's first-compile set-up: docs/benchmarks.md). A 0-d node
has no loop to save, and the compiled glue writes straight-line nodes inline whatever
their grouping, so here each such composite becomes its scalar operations again, n-ary
sums and products as left-to-right chains of binary ones (the order in which the n-ary
expression evaluates, ``(a + b) + c``): a handful of one-operation kernels per dtype,
compiled once per installation and shared by every graph. Only composites whose steps
all compute in the dtype of their operands are split, so every operation rounds exactly
as inside the composite. The CUDA backend keeps them fused (one launch).
"""
from __future__ import annotations

from symgraph.rewriting.engine import backend_rewriter
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.basic import constant
from symgraph.tensor.elemwise import Composite, Elemwise

__all__ = ["split_scalar_composites"]


def _steps(node, made):
    """The outputs of ``node``'s composite rebuilt as single-operation nodes (appended to
    ``made``), or None when a step would compute in another dtype than inside it."""
    comp = node.op.scalar_op
    vals = []
    for op, args, dt in comp.steps:
        ins = []
        for a in args:
            if a[0] == "i":
                ins.append(node.inputs[a[1]])
            elif a[0] == "s":
                ins.append(vals[a[1]])
            else:
                ins.append(constant(a[1], dtype=a[2]))
        if any(x.type.dtype != dt for x in ins):
            return None
        if isinstance(op, (ts.Add, ts.Mul)) and len(ins) > 2:
            acc = ins[0]
            for x in ins[1:]:
                made.append(Elemwise(op).make_node(acc, x))
                acc = made[-1].outputs[0]
        else:
            made.append(Elemwise(op).make_node(*ins))
            acc = made[-1].outputs[0]
        if acc.type.dtype != dt:
            return None
        vals.append(acc)
    return [vals[j] for j in comp.outputs]


@backend_rewriter("numba", name="numba_scalar_steps")
def split_scalar_composites(fgraph, context=None):
    for node in list(fgraph.toposort()):
        op = node.op
        if not (isinstance(op, Elemwise) and isinstance(op.scalar_op, Composite)
                and not op.inplace_pattern and node in fgraph.apply_nodes
                and all(o.type.ndim == 0 for o in node.outputs)):
            continue
        made: list = []
        outs = _steps(node, made)
        if outs is None or any(n.type != o.type for n, o in zip(outs, node.outputs)):
            continue
        for new in made:
            new.tag.trace = getattr(node.tag, "trace", ())
        for old, new in zip(node.outputs, outs):
            fgraph.replace(old, new, reason="numba_scalar_steps")
