"""Stabilization: rewrite numerically fragile expressions into stable ones.

- ``log(1 + exp(x))`` and ``log1p(exp(x))`` -> ``softplus(x)``;
- ``log(sigmoid(x))`` -> ``-softplus(-x)``;
- ``1 - sigmoid(x)`` -> ``sigmoid(-x)`` (so ``log(1 - sigmoid(x))`` -> ``-softplus(x)``);
- ``log(softmax(x))`` -> ``log_softmax(x)`` and the integer-label NLL of a softmax -> one
  fused op (registered by ``symgraph.tensor.nnet`` when present).
"""
from __future__ import annotations

import symgraph.tensor as T
from symgraph.rewriting.canonicalize import _same_type_or_none
from symgraph.rewriting.engine import node_rewriter
from symgraph.rewriting.utils import is_const, is_elemwise
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Elemwise


@node_rewriter("stabilize", tracks=[Elemwise], tags=["stabilize", "fast_run"])
def local_log1p_exp_to_softplus(fgraph, node):
    so = node.op.scalar_op
    if isinstance(so, ts.Log1p) and is_elemwise(node.inputs[0], ts.Exp):
        return _same_type_or_none(node, T.softplus(node.inputs[0].owner.inputs[0]))
    if isinstance(so, ts.Log) and is_elemwise(node.inputs[0], ts.Add):
        terms = node.inputs[0].owner.inputs
        if len(terms) == 2:
            for a, b in (terms, terms[::-1]):
                if is_const(a, 1) and is_elemwise(b, ts.Exp):
                    return _same_type_or_none(node, T.softplus(b.owner.inputs[0]))
    return None


@node_rewriter("stabilize", tracks=[Elemwise], tags=["stabilize", "fast_run"])
def local_log_sigmoid(fgraph, node):
    so = node.op.scalar_op
    if isinstance(so, ts.Log) and is_elemwise(node.inputs[0], ts.Sigmoid):
        x = node.inputs[0].owner.inputs[0]
        return _same_type_or_none(node, T.neg(T.softplus(T.neg(x))))
    return None


@node_rewriter("stabilize", tracks=[Elemwise], tags=["stabilize", "fast_run"])
def local_one_minus_sigmoid(fgraph, node):
    so = node.op.scalar_op
    if isinstance(so, ts.Sub) and is_const(node.inputs[0], 1) and \
            is_elemwise(node.inputs[1], ts.Sigmoid):
        x = node.inputs[1].owner.inputs[0]
        return _same_type_or_none(node, T.sigmoid(T.neg(x)))
    return None
