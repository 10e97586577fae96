"""Sampling from categorical distributions given uniform draws: Theano's
``theano.sandbox.multinomial`` ops ``MultinomialFromUniform`` (counts, with replacement)
and ``ChoiceFromUniform`` (indices, without replacement). They live in the tensor layer
(``MRG_RandomStreams`` and ``RandomStreams`` both use them); ``symgraph.sandbox.multinomial``
re-exports them under Theano's module name.

Why uniforms as an input: the randomness comes from whichever generator made them
(``MRG_RandomStreams`` or ``RandomStreams``), so these ops are deterministic and both
backends give the same result for the same uniforms.

Semantics are Theano's: for draw ``c`` of row ``n`` the uniform is ``unis[c * rows + n]``;
the outcome is the first ``m`` whose running sum of ``pvals[n, :m+1]`` exceeds it (the sum
accumulated in float64 for ``MultinomialFromUniform``, as Theano's C code, in ``pvals``'
dtype for ``ChoiceFromUniform``, as its Python code); no value checks on ``pvals``.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = ["MultinomialFromUniform", "ChoiceFromUniform"]


def _inputs(op, pvals, unis, n):
    from symgraph.tensor.math import cast

    pvals = as_tensor_variable(pvals)
    unis = as_tensor_variable(unis)
    n = as_tensor_variable(n)
    if pvals.type.ndim != 2 or pvals.type.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: pvals must be a float matrix, got {pvals.type}")
    if unis.type.ndim != 1 or unis.type.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: unis must be a float vector, got {unis.type}")
    if n.type.ndim != 0 or n.type.dtype not in INT_DTYPES:
        raise TypeError(f"{op}: the number of samples must be an integer scalar, got {n.type}")
    return pvals, unis, cast(n, "int64")


def _check_unis(op, pvals, unis, n):
    if n < 0:
        raise ValueError(f"{op}: the number of samples must be >= 0, got {n}")
    if unis.shape[0] != pvals.shape[0] * n:
        raise ValueError(f"{op}: unis has {unis.shape[0]} entries, expected "
                         f"pvals.shape[0] * n = {pvals.shape[0]} * {n}")


class MultinomialFromUniform(Op):
    """Counts ``(rows, outcomes)`` of ``n`` categorical draws per row of ``pvals``."""

    __props__ = ("odtype",)

    def __init__(self, odtype="int64"):
        self.odtype = odtype

    def make_node(self, pvals, unis, n=1):
        pvals, unis, n = _inputs(self, pvals, unis, n)
        odt = pvals.type.dtype if self.odtype == "auto" else str(np.dtype(self.odtype))
        return Apply(self, [pvals, unis, n], [TensorType(odt, pvals.type.broadcastable)()])

    def perform(self, node, inputs):
        pvals, unis, n = inputs
        n = int(n)
        _check_unis(self, pvals, unis, n)
        z = np.zeros(pvals.shape, dtype=node.outputs[0].type.dtype)
        rows, k = pvals.shape
        for c in range(n):
            for r in range(rows):
                u = unis[c * rows + r]
                acc = 0.0
                for m in range(k):
                    acc += float(pvals[r, m])
                    if acc > u:
                        z[r, m] += 1
                        break
        return [z]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]


class ChoiceFromUniform(Op):
    """Indices ``(rows, n)``: ``n`` draws without replacement per row of ``pvals`` (each
    drawn outcome's probability is zeroed and the row renormalized)."""

    __props__ = ("odtype",)

    def __init__(self, odtype="int64"):
        self.odtype = odtype

    def make_node(self, pvals, unis, n=1):
        pvals, unis, n = _inputs(self, pvals, unis, n)
        odt = "int64" if self.odtype == "auto" else str(np.dtype(self.odtype))
        return Apply(self, [pvals, unis, n], [TensorType(odt, (False, False))()])

    def perform(self, node, inputs):
        pvals, unis, n = inputs
        n = int(n)
        _check_unis(self, pvals, unis, n)
        if n > pvals.shape[1]:
            raise ValueError(f"{self}: cannot draw {n} samples without replacement from "
                             f"{pvals.shape[1]} outcomes")
        p = np.array(pvals, copy=True)
        rows, k = p.shape
        z = np.full((rows, n), -1, dtype=node.outputs[0].type.dtype)
        for c in range(n):
            for r in range(rows):
                u = unis[c * rows + r]
                acc = p.dtype.type(0)
                for m in range(k):
                    acc = acc + p[r, m]
                    if acc > u:
                        z[r, c] = m
                        p[r, m] = 0
                        tot = p.dtype.type(0)
                        for j in range(k):      # in order (both backends alike)
                            tot = tot + p[r, j]
                        if tot > 0:             # 0 after the last outcome
                            p[r] /= tot
                        break
        return [z]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[0][0], node.inputs[2])]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]
