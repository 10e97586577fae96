"""Compute a node whose inputs are all constants, at graph-building or compile time.

One function, two users: the optimizer's constant-folding rewrite
(``symgraph.rewriting.constant_folding``) and static shape inference
(``shape_inference.static_shape``, which folds constant shape arithmetic). It lives in
the tensor layer because both need it and the tensor layer must not import the optimizer.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant

#: do not fold results larger than this (keeps graphs and caches small)
MAX_FOLD_ELEMENTS = 1_000_000


def fold_node(node):
    """Constants for ``node``'s outputs, or None when it cannot or should not be folded
    (an input is not constant, the op is random or in-place, ``perform`` fails, or the
    result is large)."""
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

    return TensorConstant(o.type, v)
