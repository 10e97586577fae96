"""Symbolic shapes from ``Op.infer_shape``: ``shape_tuple(x)`` gives one int64 scalar
expression per dimension, computed without running the op when its ``infer_shape`` allows.

Used by rewrites (e.g. removing useless reshapes), by tests (every op's ``infer_shape`` is
checked against the real shape), and by ``debugprint`` to show static shapes.
"""
from __future__ import annotations

from symgraph.graph.basic import Constant
from symgraph.graph.op import ShapeNotImplemented


def shape_tuple(var, _memo=None):
    """Tuple of symbolic int64 scalars (or Python ints when known) for ``var``'s shape."""
    import symgraph.tensor as T

    memo = {} if _memo is None else _memo
    if var in memo:
        return memo[var]
    nd = var.type.ndim
    if isinstance(var, Constant):
        res = tuple(int(s) for s in var.data.shape)
    elif var.owner is None:
        sh = T.shape(var)
        res = tuple(1 if var.type.broadcastable[d] else sh[d] for d in range(nd))
    else:
        node = var.owner
        try:
            in_shapes = [shape_tuple(i, memo) if hasattr(i.type, "ndim") else None
                         for i in node.inputs]
            outs = node.op.infer_shape(None, node, in_shapes)
            res = tuple(outs[var.index])
        except ShapeNotImplemented:
            sh = T.shape(var)
            res = tuple(1 if var.type.broadcastable[d] else sh[d] for d in range(nd))
    res = tuple(1 if var.type.broadcastable[d] else res[d] for d in range(nd))
    memo[var] = res
    return res


def static_shape(var):
    """The shape with ints where known at compile time and None elsewhere."""
    res = []
    for s in shape_tuple(var):
        while getattr(s, "owner", None) is not None and not isinstance(s, Constant):
            # fold constant shape arithmetic (e.g. products of constant dims)
            from symgraph.tensor.folding import fold_node

            r = fold_node(s.owner)
            if not r:
                break
            s = r[s.index]
        if isinstance(s, int):
            res.append(s)
        elif isinstance(s, Constant):
            res.append(int(s.data))
        else:
            res.append(None)
    return tuple(res)
