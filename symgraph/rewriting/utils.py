"""Pattern helpers shared by rewrite modules."""
from __future__ import annotations

from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.stable_forms import constant_value


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
    """The value of ``var`` if it is a constant whose elements are all equal (else None),
    through DimShuffles (``symgraph.tensor.stable_forms.constant_value``)."""
    return constant_value(var)


def is_const(var, value) -> bool:
    v = const_value(var)
    return v is not None and v == value
