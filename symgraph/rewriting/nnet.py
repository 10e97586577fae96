"""Stabilizing rewrites for the softmax family (loaded with the other rewrite modules by
``symgraph.rewriting.engine``).

- ``log(softmax(x))`` -> ``log_softmax(x)`` is one of ``symgraph.tensor.stable_forms`` (also
  applied by ``grad``);
- ``softmax_grad(g / softmax(x), softmax(x))`` (the gradient of ``log(softmax(x))``)
  -> ``log_softmax_grad(g, log_softmax(x))`` (no division by a probability that can be 0);
- ``crossentropy_categorical_1hot(softmax(x), y)`` -> ``SoftmaxNLL(x, y)[0]`` and its
  gradient ``softmax_grad(crossentropy_categorical_1hot_grad(g, sm, y), sm)`` ->
  ``SoftmaxNLLGrad(g, sm, y)``;
- ``log_softmax(x)[arange(y.shape[0]), y]`` -> ``-SoftmaxNLL(x, y)[0]`` (Theano's tutorial
  form ``-T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])``), likewise
  ``(-log(softmax(x)))[arange(n), y]``, and their gradients -> ``SoftmaxNLLGrad``.

Each keeps the replaced node's type; all are in the ``stabilize`` phase with the tags
``stabilize``, ``fast_run`` and ``nnet``, so ``Mode(excluding=['nnet'])`` turns them off.
"""
from __future__ import annotations

from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import node_rewriter
from symgraph.tensor import math as tm
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.nnet.basic import (
    CrossentropyCategorical1Hot,
    CrossentropyCategorical1HotGrad,
    LogSoftmax,
    LogSoftmaxGrad,
    Softmax,
    SoftmaxGrad,
    SoftmaxNLL,
    SoftmaxNLLGrad,
)
from symgraph.tensor.shape_ops import ARange, Shape, Shape_i
from symgraph.tensor.stable_forms import fit
from symgraph.tensor.subtensor import AdvancedIncSubtensor, AdvancedSubtensor, Subtensor
from symgraph.tensor.type import INT_DTYPES

_TAGS = ["stabilize", "fast_run", "nnet"]


def _owner_op(v, cls):
    return v.owner is not None and isinstance(v.owner.op, cls)


def _elemwise(v, scalar_cls):
    return (v.owner is not None and isinstance(v.owner.op, Elemwise)
            and isinstance(v.owner.op.scalar_op, scalar_cls))


def _fit(old, new):
    """``[new]`` with ``old``'s dtype (None if the broadcast patterns differ)."""
    new = fit(old, new)
    return None if new is None else [new]


@node_rewriter("stabilize", tracks=[SoftmaxGrad], tags=_TAGS)
def local_softmax_grad_to_log_softmax_grad(fgraph, node):
    """softmax_grad(g / sm, sm) with sm = softmax(x) -> log_softmax_grad(g, log_softmax(x))."""
    gy, sm = node.inputs
    if not _owner_op(sm, Softmax):
        return None
    if _elemwise(gy, ts.TrueDiv) and gy.owner.inputs[1] is sm:
        g = gy.owner.inputs[0]
        if g.type.broadcastable != sm.type.broadcastable:
            g = tm.second(sm, g)
        ls = LogSoftmax()(sm.owner.inputs[0])
        return _fit(node.outputs[0], LogSoftmaxGrad()(g, ls))
    if _owner_op(gy, CrossentropyCategorical1HotGrad) and gy.owner.inputs[1] is sm:
        g, _, y = gy.owner.inputs
        # the softmax output of the fused op (merges with the forward SoftmaxNLL)
        sm2 = SoftmaxNLL()(sm.owner.inputs[0], y)[1]
        return _fit(node.outputs[0], SoftmaxNLLGrad()(g, sm2, y))
    return None


@node_rewriter("stabilize", tracks=[CrossentropyCategorical1Hot], tags=_TAGS)
def local_crossentropy_softmax_to_nll(fgraph, node):
    """crossentropy_categorical_1hot(softmax(x), y) -> SoftmaxNLL(x, y)[0]."""
    p, y = node.inputs
    if _owner_op(p, Softmax):
        return _fit(node.outputs[0], SoftmaxNLL()(p.owner.inputs[0], y)[0])
    return None


def _is_zero(v):
    from symgraph.rewriting.utils import is_const

    return is_const(v, 0)


def _is_len0_of(n, v):
    """True when ``n`` is ``v.shape[0]`` (Shape_i or shape(v)[0]), through casts."""
    while _elemwise(n, ts.Cast):
        n = n.owner.inputs[0]
    if n.owner is None:
        return False
    op = n.owner.op
    if isinstance(op, Shape_i):
        return op.i == 0 and n.owner.inputs[0] is v
    if isinstance(op, Subtensor) and op.idx_list == (("int", 0),):
        s = n.owner.inputs[0]
        return _owner_op(s, Shape) and s.owner.inputs[0] is v
    return False


def _is_row_arange(r, y, x):
    """``r`` is ``arange(y.shape[0])`` or ``arange(x.shape[0])`` (start 0, step 1)."""
    if not _owner_op(r, ARange):
        return False
    start, stop, step = r.owner.inputs
    if not (_is_zero(start) and isinstance(step, Constant) and step.data == 1):
        return False
    return _is_len0_of(stop, y) or _is_len0_of(stop, x)


@node_rewriter("stabilize", tracks=[AdvancedSubtensor], tags=_TAGS)
def local_advanced_indexing_log_softmax_nll(fgraph, node):
    """log_softmax(x)[arange(n), y] -> -SoftmaxNLL(x, y)[0], and
    (-log_softmax(x))[arange(n), y] -> SoftmaxNLL(x, y)[0]."""
    if node.op.idx_list != (("array",), ("array",)) or len(node.inputs) != 3:
        return None
    ls, rows, y = node.inputs
    negated = False
    if _elemwise(ls, ts.Neg):
        ls = ls.owner.inputs[0]
        negated = True
    if not _owner_op(ls, LogSoftmax):
        return None
    if y.type.ndim != 1 or y.type.dtype not in INT_DTYPES:
        return None
    x = ls.owner.inputs[0]
    if not _is_row_arange(rows, y, x):
        return None
    nll = SoftmaxNLL()(x, y)[0]
    return _fit(node.outputs[0], nll if negated else tm.neg(nll))

def _is_zeros(v):
    from symgraph.tensor.nnet.basic import _is_zeros as z

    return z(v)


@node_rewriter("stabilize", tracks=[LogSoftmaxGrad], tags=_TAGS)
def local_log_softmax_grad_advanced_indexing(fgraph, node):
    """log_softmax_grad(inc_subtensor(zeros[arange(n), y], g), log_softmax(x))
    -> SoftmaxNLLGrad(-g, softmax(x), y) (the gradient of the tutorial NLL form; also with
    the increment negated, the gradient of ``(-log_softmax(x))[arange(n), y]``)."""
    gy, ls = node.inputs
    negated = False
    if _elemwise(gy, ts.Neg):
        gy = gy.owner.inputs[0]
        negated = True
    if not (_owner_op(ls, LogSoftmax) and _owner_op(gy, AdvancedIncSubtensor)):
        return None
    inc = gy.owner
    if inc.op.set_instead_of_inc or inc.op.idx_list != (("array",), ("array",)):
        return None
    z, g, rows, y = inc.inputs
    x = ls.owner.inputs[0]
    if not _is_zeros(z) or y.type.ndim != 1 or y.type.dtype not in INT_DTYPES:
        return None
    if not _is_row_arange(rows, y, x) or g.type.ndim > 1:
        return None
    nll, sm = SoftmaxNLL()(x, y)
    g = tm.second(nll, g) if g.type.broadcastable != nll.type.broadcastable else g
    return _fit(node.outputs[0], SoftmaxNLLGrad()(g if negated else tm.neg(g), sm, y))
