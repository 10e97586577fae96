"""Pattern helpers shared by rewrite modules."""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.tensor.elemwise import DimShuffle, Elemwise


def scalar_op_of(var_or_node):
    """The ScalarOp of an Elemwise node (or of the node producing ``var``), else None."""
    node = getattr(var_or_node, "owner", var_or_node)
    if node is None or not hasattr(node, "op"):
        return None
    if isinstance(node.op, Elemwise):
        return node.op.scalar_op
    return None


def is_elemwise(var, scalar_cls):
    so = scalar_op_of(var)
    return so is not None and isinstance(so, scalar_cls)


def const_value(var):
    """The value of ``var`` if it is a constant whose elements are all equal (else None).

    Looks through DimShuffles of constants (Elemwise pads constants with them).
    """
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    if isinstance(var, Constant):
        d = np.asarray(var.data)
        if d.size == 0:
            return None
        first = d.reshape(-1)[0]
        if d.size == 1 or np.all(d == first):
            return first.item() if hasattr(first, "item") else first
    return None


def is_const(var, value) -> bool:
    v = const_value(var)
    return v is not None and v == value
