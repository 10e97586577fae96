"""Constant folding: a node whose inputs are all constants is computed at compile time."""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import node_rewriter

#: do not fold results larger than this (keeps graphs and caches small)
MAX_FOLD_ELEMENTS = 1_000_000


@node_rewriter("canonicalize", tags=["constant_folding", "fast_run"])
def constant_folding(fgraph, node):
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    op = node.op
    if getattr(op, "nondeterministic", False) or getattr(op, "no_constant_folding", False):
        return None
    if op.destroy_map:
        return None
    try:
        outs = op.perform(node, [np.asarray(i.data) for i in node.inputs])
    except Exception:  # noqa: BLE001 - leave it to run time, where errors are reported
        return None
    res = []
    for o, v in zip(node.outputs, outs):
        v = np.asarray(v)
        if v.size > MAX_FOLD_ELEMENTS or v.dtype != np.dtype(o.type.dtype):
            return None
        res.append(o.type.constant_type(o.type, v) if o.type.constant_type else
                   _make_const(o, v))
    return res


def _make_const(o, v):
    from symgraph.tensor.variable import TensorConstant

    c = TensorConstant(o.type, v)
    return c
