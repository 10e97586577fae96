"""Theano's ``theano.tensor.nlinalg``: ``matrix_inverse``, ``det``, ``eigh`` as ops, and
``diag``/``extract_diag``/``alloc_diag``/``trace``/``matrix_dot``/``tril``/``triu`` built
from indexing (so they differentiate and run on every backend with no code of their own).

Gradients follow Theano's (and the standard matrix-calculus) formulas and are graphs of
these same ops, so they can be differentiated again.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.nlinalg import matrix_inverse, det
    >>> A = T.dmatrix('A')
    >>> cost = T.log(det(A)) + T.sum(matrix_inverse(A))
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, TensorType

__all__ = ["MatrixInverse", "matrix_inverse", "Det", "det", "Eigh", "eigh", "diag",
           "extract_diag", "alloc_diag", "trace", "matrix_dot", "tril", "triu"]


def _T():
    import symgraph.tensor as T

    return T


def as_float_matrix(x, what, name="the input"):
    """``x`` as a float matrix variable (integers become float64, as numpy.linalg)."""
    x = as_tensor_variable(x)
    if x.type.ndim != 2:
        raise TypeError(f"{what}: {name} must be a matrix (2-d), got {x.type}")
    if x.type.dtype not in FLOAT_DTYPES:
        if x.type.dtype == "bool" or x.type.dtype.startswith(("int", "uint")):
            x = _T().cast(x, "float64")
        else:
            raise TypeError(f"{what}: {name} must hold real numbers, got {x.type}")
    return x


def check_square(what, a):
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{what}: the matrix must be square, got shape {a.shape}")


class MatrixInverse(Op):
    """Inverse of a square matrix (``numpy.linalg.inv``); a singular matrix is a
    ``numpy.linalg.LinAlgError``."""

    def make_node(self, x):
        x = as_float_matrix(x, "matrix_inverse")
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        check_square("matrix_inverse", inputs[0])
        return [np.linalg.inv(inputs[0]).astype(node.outputs[0].type.dtype, copy=False)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        # d(X^-1) = -X^-1 dX X^-1  =>  gA = -X^-T gz X^-T
        xi = outputs[0]
        T = _T()
        return [-T.dot(T.dot(xi.T, output_grads[0]), xi.T)]


matrix_inverse = MatrixInverse()


class Det(Op):
    """Determinant of a square matrix (``numpy.linalg.det``), a scalar."""

    def make_node(self, x):
        x = as_float_matrix(x, "det")
        return Apply(self, [x], [TensorType(x.type.dtype, ()).make_variable()])

    def perform(self, node, inputs):
        check_square("det", inputs[0])
        return [np.asarray(np.linalg.det(inputs[0]), dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        # d det(A) / dA = det(A) A^-T (Theano's formula: undefined for singular A)
        (x,) = inputs
        return [output_grads[0] * outputs[0] * matrix_inverse(x).T]


det = Det()


class Eigh(Op):
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, read from
    its lower (``UPLO='L'``) or upper (``'U'``) triangle: ``numpy.linalg.eigh``."""

    __props__ = ("UPLO",)

    def __init__(self, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    def make_node(self, x):
        x = as_float_matrix(x, "eigh")
        return Apply(self, [x], [TensorType(x.type.dtype, (False,)).make_variable(),
                                 x.type.make_variable()])

    def perform(self, node, inputs):
        check_square("eigh", inputs[0])
        w, v = np.linalg.eigh(inputs[0], self.UPLO)
        dt = node.outputs[0].type.dtype
        return [w.astype(dt, copy=False), v.astype(dt, copy=False)]

    def infer_shape(self, fgraph, node, input_shapes):
        n = input_shapes[0][0]
        return [(n,), input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        """Theano's EighGrad in matrix form: ``g = V (diag(gw) + C^T) V^T`` with
        ``C[m, n] = (V^T gv)[m, n] / (w[n] - w[m])`` off the diagonal; only the triangle
        ``eigh`` reads gets a gradient (the other one's share folded onto it)."""
        T = _T()
        (x,) = inputs
        w, v = outputs
        gw, gv = output_grads
        n = x.shape[0]
        eye = T.eye(n, dtype="bool")
        diff = w.dimshuffle("x", 0) - w.dimshuffle(0, "x")          # w[n] - w[m]
        f = T.switch(eye, 0, 1 / T.switch(eye, 1, diff))
        c = T.dot(v.T, gv) * f
        g = T.dot(T.dot(v, alloc_diag(gw) + c.T), v.T)
        if self.UPLO == "L":
            return [tril(g) + triu(g, 1).T]
        return [triu(g) + tril(g, -1).T]


def eigh(a, UPLO="L"):
    """``w, v = eigh(a)``: eigenvalues (ascending) and eigenvectors of symmetric ``a``."""
    return Eigh(UPLO)(a)


# ------------------------------------------------------------- graph-built helpers

def _tri_mask(x, k, lower):
    T = _T()
    r = T.arange(x.shape[0]).dimshuffle(0, "x")
    c = T.arange(x.shape[1]).dimshuffle("x", 0)
    return T.ge(r + k, c) if lower else T.le(r + k, c)


def tril(m, k=0):
    """Lower triangle of matrix ``m`` (elements above diagonal ``k`` zeroed)."""
    m = as_tensor_variable(m)
    if m.type.ndim != 2:
        raise TypeError(f"tril: m must be a matrix, got {m.type}")
    return _T().switch(_tri_mask(m, k, True), m, 0)


def triu(m, k=0):
    """Upper triangle of matrix ``m`` (elements below diagonal ``k`` zeroed)."""
    m = as_tensor_variable(m)
    if m.type.ndim != 2:
        raise TypeError(f"triu: m must be a matrix, got {m.type}")
    return _T().switch(_tri_mask(m, k, False), m, 0)


def extract_diag(x):
    """Main diagonal of matrix ``x`` as a vector."""
    T = _T()
    x = as_tensor_variable(x)
    if x.type.ndim != 2:
        raise TypeError(f"extract_diag: x must be a matrix, got {x.type}")
    i = T.arange(T.minimum(x.shape[0], x.shape[1]))
    return x[i, i]


def alloc_diag(v):
    """Square matrix with vector ``v`` on its diagonal, zeros elsewhere."""
    from symgraph.tensor.subtensor import set_subtensor

    T = _T()
    v = as_tensor_variable(v)
    if v.type.ndim != 1:
        raise TypeError(f"alloc_diag: v must be a vector, got {v.type}")
    n = v.shape[0]
    i = T.arange(n)
    return set_subtensor(T.zeros((n, n), dtype=v.type.dtype)[i, i], v)


def diag(x):
    """Theano's ``diag``: the diagonal of a matrix, or the diagonal matrix of a vector."""
    x = as_tensor_variable(x)
    if x.type.ndim == 1:
        return alloc_diag(x)
    if x.type.ndim == 2:
        return extract_diag(x)
    raise TypeError(f"diag: x must be a vector or a matrix, got {x.type}")


def trace(x):
    """Sum of the diagonal of matrix ``x``."""
    return _T().sum(extract_diag(x))


def matrix_dot(*args):
    """``dot(dot(a, b), c)...`` of any number of matrices."""
    if not args:
        raise TypeError("matrix_dot: give at least one matrix")
    T = _T()
    rval = args[0]
    for a in args[1:]:
        rval = T.dot(rval, a)
    return rval
