"""Specialization: replace general forms by faster specific ops.

``Z + a * dot(X, Y)``, ``Z - a * dot(X, Y)`` and ``dot(X, Y) + Z`` (matrices, Z of the
result's full shape) become one ``Gemm`` (one pass, one allocation instead of a matrix
product plus an elementwise loop); the matrix-vector forms become ``Gemv``. ``a`` may be
a constant or any scalar (e.g. a shared learning rate). Never in place: shared variables
keep their buffers until a call has succeeded.
"""
from __future__ import annotations

import symgraph.tensor as T
from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import clients_of, is_output, node_rewriter
from symgraph.rewriting.utils import is_elemwise
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import DimShuffle, Elemwise


def _dot_classes():
    from symgraph.tensor.dot import Dot, Gemm, Gemv

    return Dot, Gemm, Gemv


def _private(fgraph, var):
    """``var`` is used once, by the node being rewritten, and is not an output."""
    return len(clients_of(fgraph, var)) == 1 and not is_output(fgraph, var)


def _as_scalar(var):
    """The 0-d scalar behind an all-broadcastable ``var`` (a padded scalar), else None."""
    if var.type.ndim == 0:
        return var
    if not all(var.type.broadcastable):
        return None
    if isinstance(var, Constant):
        return T.constant(var.data.reshape(()), dtype=var.type.dtype)
    if var.owner is not None and isinstance(var.owner.op, DimShuffle) \
            and var.owner.inputs[0].type.ndim == 0:
        return var.owner.inputs[0]
    return None


def _scaled_dot(fgraph, var):
    """Match ``dot(X, Y)`` or ``a * dot(X, Y)``; returns (alpha, X, Y) or None."""
    Dot, _, _ = _dot_classes()
    if not _private(fgraph, var):
        return None
    if var.owner is not None and isinstance(var.owner.op, Dot):
        x, y = var.owner.inputs
        return T.constant(1.0, dtype=var.type.dtype), x, y
    if is_elemwise(var, ts.Mul) and len(var.owner.inputs) == 2:
        a, b = var.owner.inputs
        for s, d in ((a, b), (b, a)):
            alpha = _as_scalar(s)
            if alpha is not None and d.owner is not None and isinstance(d.owner.op, Dot) \
                    and _private(fgraph, d):
                x, y = d.owner.inputs
                return alpha, x, y
    return None


@node_rewriter("specialize", tracks=[Elemwise], tags=["gemm", "blas", "fast_run"])
def local_gemm(fgraph, node):
    so = node.op.scalar_op
    if not isinstance(so, (ts.Add, ts.Sub)) or len(node.inputs) != 2:
        return None
    out = node.outputs[0]
    if out.type.dtype not in ("float32", "float64") or out.type.ndim not in (1, 2):
        return None
    _, Gemm, Gemv = _dot_classes()
    z_first = [(0, 1)] if isinstance(so, ts.Sub) else [(0, 1), (1, 0)]
    for zi, di in z_first:
        z, d = node.inputs[zi], node.inputs[di]
        if z.type != out.type:
            continue  # Z must already have the result's full shape
        m = _scaled_dot(fgraph, d)
        if m is None:
            continue
        alpha, x, y = m
        if x.type.dtype != out.type.dtype or y.type.dtype != out.type.dtype:
            continue
        if isinstance(so, ts.Sub):
            alpha = T.neg(alpha)
        one = T.constant(1.0, dtype=out.type.dtype)
        if out.type.ndim == 2 and x.type.ndim == 2 and y.type.ndim == 2:
            return [Gemm(False)(z, alpha, x, y, one)]
        if out.type.ndim == 1 and x.type.ndim == 2 and y.type.ndim == 1:
            return [Gemv(False)(z, alpha, x, y, one)]
    return None
