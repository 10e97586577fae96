"""Specialization: replace general forms by faster specific ops.

``Z + a * dot(X, Y)``, ``Z - a * dot(X, Y)`` and ``dot(X, Y) + Z`` (matrices, Z of the
result's full shape) become one ``Gemm`` (one pass, one allocation instead of a matrix
product plus an elementwise loop); the matrix-vector forms become ``Gemv``. ``a`` may be
a constant or any scalar (e.g. a shared learning rate). Never in place: shared variables
keep their buffers until a call has succeeded.
"""
from __future__ import annotations

import numpy as np

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


def _scale_of(fgraph, z, w):
    """Match ``z == c * w`` (``c`` a product of scalars, ``w`` itself once); returns ``c``.

    A factor ``second(f(w), s)`` (a scalar ``s`` filled to the shape of an elementwise
    function of ``w`` alone, as the gradient of ``sum(w ** 2)`` leaves it) counts as ``s``:
    ``f(w)`` has ``w``'s shape, so dropping the fill changes no value and no shape check.
    """
    if z is w:
        return T.constant(1.0, dtype=w.type.dtype)
    if not is_elemwise(z, ts.Mul) or not _private(fgraph, z):
        return None
    scale, seen_w = None, False
    for f in z.owner.inputs:
        if f is w and not seen_w:
            seen_w = True
            continue
        s = _as_scalar(f)
        if s is None and is_elemwise(f, ts.Second):
            shape_src, filled = f.owner.inputs
            same_shape = shape_src is w or (
                shape_src.owner is not None and isinstance(shape_src.owner.op, Elemwise)
                and all(i is w for i in shape_src.owner.inputs))
            s = _as_scalar(filled) if same_shape else None
        if s is None:
            return None
        scale = s if scale is None else T.mul(scale, s)
    return scale if seen_w and scale is not None else None


@node_rewriter("specialize", tracks=[Elemwise], tags=["gemm", "blas", "fast_run"])
def local_gemm_sgd_update(fgraph, node):
    """``w - s * Gemm(c * w, a, X, Y, b)`` -> ``Gemm(w, -s * a, X, Y, 1 - s * b * c)``.

    The SGD step with L2 weight decay, ``w - eta * (dot(X, Y) + lmbda' * w)``: one BLAS
    call reading and writing ``w``'s shape once, instead of scaling ``w``, accumulating
    the product into that temporary and subtracting it from ``w`` (three passes over a
    weight matrix that, for network3's 2880x100 layer, is larger than the L2 cache).
    """
    if not is_elemwise(node.outputs[0], ts.Sub) or len(node.inputs) != 2:
        return None
    _, Gemm, _ = _dot_classes()
    w, d = node.inputs
    out = node.outputs[0]
    if w.type != out.type or out.type.ndim != 2:
        return None
    s, g = T.constant(1.0, dtype=out.type.dtype), d
    if is_elemwise(d, ts.Mul) and len(d.owner.inputs) == 2 and _private(fgraph, d):
        for a, b in (d.owner.inputs, d.owner.inputs[::-1]):
            if _as_scalar(a) is not None and b.owner is not None \
                    and isinstance(b.owner.op, Gemm):
                s, g = _as_scalar(a), b
                break
    if g.owner is None or not isinstance(g.owner.op, Gemm) or g.owner.op.inplace \
            or not _private(fgraph, g):
        return None
    z, alpha, x, y, beta = g.owner.inputs
    c = _scale_of(fgraph, z, w)
    if c is None:
        return None
    dt = out.type.dtype
    new_alpha = _folded(T.cast(T.neg(T.mul(s, alpha)), dt))
    new_beta = _folded(T.cast(T.sub(T.constant(1.0, dtype=dt), T.mul(T.mul(s, beta), c)), dt))
    return [Gemm(False)(w, new_alpha, x, y, new_beta)]


def _folded(var):
    """``var`` as one constant when it is built from constants only (this phase runs after
    constant folding); otherwise ``var``."""
    value = _evaluate(var)
    return var if value is None else T.constant(np.asarray(value, dtype=var.type.dtype))


def _evaluate(var):
    if isinstance(var, Constant):
        return np.asarray(var.data)
    if var.owner is None:
        return None
    vals = [_evaluate(i) for i in var.owner.inputs]
    if any(v is None for v in vals):
        return None
    outs = var.owner.op.perform(var.owner, vals)
    return np.asarray(outs[var.owner.outputs.index(var)])
