"""Canonicalization: algebraic simplifications that give later phases one form to match.

- flatten nested add/mul, drop ``x*1`` and ``x+0``;
- ``x - x`` -> zeros, ``x / x`` -> ones (shape kept), ``neg(neg x)`` -> x;
- ``x ** c`` for small constants c -> multiplications, sqrt, reciprocal;
- ``exp(log x)`` / ``log(exp x)`` -> x;
- ``a * b / b`` -> a (the same variable cancels);
- DimShuffle of DimShuffle -> one DimShuffle; identity DimShuffle -> input;
- a cast to the same dtype -> input;
- a reduction over broadcastable (length-1) axes only -> a DimShuffle.
"""
from __future__ import annotations

import symgraph.tensor as T
from symgraph.rewriting.engine import clients_of, is_output, node_rewriter
from symgraph.rewriting.utils import const_value, is_const, is_elemwise, scalar_op_of
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.math import Reduce
from symgraph.tensor.stable_forms import fit


def _same_type_or_none(node, new):
    """``[new]`` adjusted to the node output's type, or None when that is not a relabel."""
    new = fit(node.outputs[0], new)
    return None if new is None else [new]


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_flatten_add_mul(fgraph, node):
    so = node.op.scalar_op
    if not isinstance(so, (ts.Add, ts.Mul)):
        return None
    new_inputs = []
    changed = False
    for x in node.inputs:
        if (scalar_op_of(x) == so and len(clients_of(fgraph, x)) == 1
                and not is_output(fgraph, x) and x.type == node.outputs[0].type):
            new_inputs.extend(x.owner.inputs)
            changed = True
        else:
            new_inputs.append(x)
    # drop neutral constants (x + 0, x * 1)
    neutral = 0 if isinstance(so, ts.Add) else 1
    kept = [x for x in new_inputs if not is_const(x, neutral)]
    if len(kept) != len(new_inputs):
        changed = True
    if not changed:
        return None
    if not kept:
        kept = [new_inputs[0]]
    if len(kept) == 1:
        return _same_type_or_none(node, kept[0])
    new = node.op(*kept)
    return _same_type_or_none(node, new)


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_mul_zero_sub_self(fgraph, node):
    so = node.op.scalar_op
    out = node.outputs[0]
    if isinstance(so, ts.Sub) and node.inputs[0] is node.inputs[1]:
        return _same_type_or_none(node, T.zeros_like(node.inputs[0], dtype=out.type.dtype))
    if isinstance(so, ts.TrueDiv) and node.inputs[0] is node.inputs[1] \
            and out.type.dtype.startswith("float"):
        return _same_type_or_none(node, T.ones_like(node.inputs[0], dtype=out.type.dtype))
    if isinstance(so, ts.Neg) and is_elemwise(node.inputs[0], ts.Neg):
        return _same_type_or_none(node, node.inputs[0].owner.inputs[0])
    return None


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_pow_specialize(fgraph, node):
    if not isinstance(node.op.scalar_op, ts.Pow):
        return None
    x, e = node.inputs
    c = const_value(e)
    if c is None or not x.type.dtype.startswith("float"):
        return None
    out = node.outputs[0]
    new = None
    if c == 1:
        new = x
    elif c == 2:
        new = T.sqr(x)
    elif c == 3:
        new = T.mul(x, x, x)
    elif c == 4:
        new = T.sqr(T.sqr(x))
    elif c == 0.5:
        new = T.sqrt(x)
    elif c == -1:
        new = T.reciprocal(x)
    elif c == -2:
        new = T.reciprocal(T.sqr(x))
    elif c == -0.5:
        new = T.reciprocal(T.sqrt(x))
    if new is None:
        return None
    if new.type.dtype != out.type.dtype:
        new = T.cast(new, out.type.dtype)
    return _same_type_or_none(node, new)


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_exp_log(fgraph, node):
    so = node.op.scalar_op
    (x,) = node.inputs if len(node.inputs) == 1 else (None,)
    if x is None:
        return None
    if isinstance(so, ts.Exp) and is_elemwise(x, ts.Log):
        return _same_type_or_none(node, x.owner.inputs[0])
    if isinstance(so, ts.Log) and is_elemwise(x, ts.Exp):
        return _same_type_or_none(node, x.owner.inputs[0])
    return None


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_div_cancel(fgraph, node):
    """``mul(a, b, c) / b`` -> ``mul(a, c)`` when ``b`` is the very same variable."""
    if not isinstance(node.op.scalar_op, ts.TrueDiv):
        return None
    num, den = node.inputs
    if not is_elemwise(num, ts.Mul):
        return None
    factors = list(num.owner.inputs)
    for k, f in enumerate(factors):
        if f is den:
            rest = factors[:k] + factors[k + 1:]
            new = rest[0] if len(rest) == 1 else T.mul(*rest)
            return _same_type_or_none(node, new)
    return None


@node_rewriter("canonicalize", tracks=[DimShuffle], tags=["shape", "fast_run"])
def local_dimshuffle_lift(fgraph, node):
    op = node.op
    x = node.inputs[0]
    # identity dimshuffle
    if op.new_order == tuple(range(len(op.input_broadcastable))):
        return [x]
    if x.owner is not None and isinstance(x.owner.op, DimShuffle):
        inner = x.owner.op
        new_order = tuple("x" if i == "x" else inner.new_order[i] for i in op.new_order)
        y = x.owner.inputs[0]
        if new_order == tuple(range(y.type.ndim)):
            return [y] if y.type == node.outputs[0].type else None
        return [DimShuffle(y.type.broadcastable, new_order)(y)]
    return None


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_useless_cast(fgraph, node):
    so = node.op.scalar_op
    if isinstance(so, ts.Cast) and node.inputs[0].type.dtype == so.dtype:
        return [node.inputs[0]]
    if isinstance(so, ts.Cast) and is_elemwise(node.inputs[0], ts.Cast):
        inner = node.inputs[0].owner
        src = inner.inputs[0]
        # cast(cast(x, wider), back) -> x when the inner cast is lossless
        import numpy as np

        if src.type.dtype == so.dtype and np.can_cast(src.type.dtype, inner.op.scalar_op.dtype,
                                                     "safe"):
            return [src]
    return None


@node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra", "fast_run"])
def local_useless_fill(fgraph, node):
    """``second(x, y)`` -> ``y`` when ``y`` already has the output's type (hence shape)."""
    if isinstance(node.op.scalar_op, ts.Second) and node.inputs[1].type == node.outputs[0].type:
        return [node.inputs[1]]
    return None


@node_rewriter("canonicalize", tracks=[Reduce], tags=["shape", "fast_run"])
def local_reduce_over_broadcastable(fgraph, node):
    """A reduction over length-1 (broadcastable) axes only is a DimShuffle that drops them.

    Gradients of broadcast operands produce these: ``sum(dimshuffle('x', 0, 'x', 'x')(g),
    axis=(0, 2, 3))`` for a conv bias, one loop call each step for nothing.
    """
    x = node.inputs[0]
    bcast = x.type.broadcastable
    if not node.op.axis or not all(bcast[a] for a in node.op.axis):
        return None
    keep = [i for i in range(x.type.ndim) if i not in node.op.axis]
    out = DimShuffle(bcast, keep)(x)
    if out.type.dtype != node.outputs[0].type.dtype:
        out = T.cast(out, node.outputs[0].type.dtype)
    return _same_type_or_none(node, out)
