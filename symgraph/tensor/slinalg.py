"""Theano's ``theano.tensor.slinalg``: ``cholesky`` and ``solve`` (general, symmetric,
lower/upper triangular), with Theano's gradients built from the same ops.

Why the structure matters: a triangular solve reads only one triangle of ``A`` (as
scipy's ``solve_triangular``), so its result and its gradient (which Theano restricts to
that triangle) ignore what the other triangle holds.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.slinalg import cholesky, solve
    >>> A = T.dmatrix('A'); b = T.dvector('b')
    >>> x = solve(A, b); L = cholesky(A)
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.nlinalg import (_T, alloc_diag, as_float_matrix, check_square,
                                     extract_diag, tril, triu)
from symgraph.tensor.type import FLOAT_DTYPES, TensorType

__all__ = ["Cholesky", "cholesky", "Solve", "solve", "solve_lower_triangular",
           "solve_upper_triangular", "solve_symmetric"]

STRUCTURES = ("general", "symmetric", "lower_triangular", "upper_triangular")


class Cholesky(Op):
    """Lower (``lower=True``) or upper Cholesky factor of a symmetric positive-definite
    matrix, read from that triangle only (``scipy.linalg.cholesky``). ``on_error='raise'``
    raises ``numpy.linalg.LinAlgError`` for a matrix that is not positive definite;
    ``'nan'`` returns a matrix of NaN instead."""

    __props__ = ("lower", "on_error")

    def __init__(self, lower=True, on_error="raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
        self.lower = bool(lower)
        self.on_error = on_error

    def make_node(self, x):
        x = as_float_matrix(x, "cholesky")
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        check_square("cholesky", x)
        dt = node.outputs[0].type.dtype
        try:
            # the upper factor is computed from the upper triangle (scipy's lower=False)
            z = np.linalg.cholesky(x if self.lower else x.T)
        except np.linalg.LinAlgError:
            if self.on_error == "nan":
                return [np.full(x.shape, np.nan, dtype=dt)]
            raise np.linalg.LinAlgError(
                f"cholesky: the matrix (shape {x.shape}) is not positive definite") from None
        if not self.lower:
            z = z.T
        return [np.ascontiguousarray(z, dtype=dt)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        """Theano's (Murray 2016): ``S = L^-T phi(L^T dL) L^-1`` with ``phi`` the lower
        triangle with its diagonal halved; the gradient is ``tril(S + S^T) - diag(S)``."""
        T = _T()
        chol, dz = outputs[0], output_grads[0]
        if not self.lower:
            chol, dz = chol.T, dz.T

        def phi(m):
            return tril(m) - alloc_diag(extract_diag(m) / 2.0)

        inner = phi(T.dot(chol.T, dz))
        s = solve_upper_triangular(chol.T, solve_upper_triangular(chol.T, inner.T).T)
        sym = s + s.T
        g = (tril(sym) if self.lower else triu(sym)) - alloc_diag(extract_diag(s))
        return [g]


def cholesky(x, lower=True, on_error="raise"):
    """Cholesky factor of symmetric positive-definite ``x``."""
    return Cholesky(lower, on_error)(x)


class Solve(Op):
    """``x`` with ``A x = b`` for square ``A`` and a vector or matrix ``b``.

    ``A_structure``: 'general' (LU), 'lower_triangular' or 'upper_triangular' (reads only
    that triangle), or 'symmetric' (solved as 'general' with the whole matrix, as in
    Theano). A singular ``A`` is a ``numpy.linalg.LinAlgError``.
    """

    __props__ = ("A_structure", "lower")

    def __init__(self, A_structure="general", lower=False, overwrite_A=False,
                 overwrite_b=False):
        if A_structure not in STRUCTURES:
            raise ValueError(f"solve: A_structure must be one of {STRUCTURES}, got "
                             f"{A_structure!r}")
        self.A_structure = A_structure
        self.lower = bool(lower)

    def __str__(self):
        return f"Solve{{{self.A_structure}, lower={self.lower}}}"

    def make_node(self, A, b):
        A = as_float_matrix(A, str(self), "A")
        b = as_tensor_variable(b)
        if b.type.ndim not in (1, 2):
            raise TypeError(f"{self}: b must be a vector or a matrix, got {b.type}")
        if b.type.dtype not in FLOAT_DTYPES:
            b = _T().cast(b, "float64")
        dt = str(np.result_type(A.type.dtype, b.type.dtype))
        return Apply(self, [A, b], [TensorType(dt, b.type.broadcastable).make_variable()])

    def effective_A(self, A):
        """The matrix this solve uses: only the triangle its structure reads."""
        if self.A_structure == "lower_triangular":
            return np.tril(A)
        if self.A_structure == "upper_triangular":
            return np.triu(A)
        return A

    def perform(self, node, inputs):
        A, b = inputs
        check_square(str(self), A)
        if b.shape[0] != A.shape[0]:
            raise ValueError(f"{self}: A has shape {A.shape} but b has shape {b.shape}; "
                             f"b's first dimension must be {A.shape[0]}")
        try:
            x = np.linalg.solve(self.effective_A(A), b)
        except np.linalg.LinAlgError:
            raise np.linalg.LinAlgError(f"{self}: the matrix A is singular") from None
        return [np.asarray(x, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        """Theano's: ``b_bar = solve(A^T, c_bar)``, ``A_bar = -b_bar c^T``, restricted to
        the triangle a triangular solve reads."""
        T = _T()
        A, b = inputs
        c, c_bar = outputs[0], output_grads[0]
        flip = {"lower_triangular": "upper_triangular",
                "upper_triangular": "lower_triangular"}
        trans = Solve(flip.get(self.A_structure, self.A_structure), not self.lower)
        b_bar = trans(A.T, c_bar)
        if c.type.ndim == 1:
            a_bar = -b_bar.dimshuffle(0, "x") * c.dimshuffle("x", 0)
        else:
            a_bar = -T.dot(b_bar, c.T)
        if self.A_structure == "lower_triangular":
            a_bar = tril(a_bar)
        elif self.A_structure == "upper_triangular":
            a_bar = triu(a_bar)
        return [a_bar, b_bar]


def solve(a, b, A_structure="general", lower=False):
    """``x`` with ``a x = b`` (``scipy.linalg.solve``)."""
    return Solve(A_structure, lower)(a, b)


solve_lower_triangular = Solve("lower_triangular", lower=True)
solve_upper_triangular = Solve("upper_triangular", lower=False)
solve_symmetric = Solve("symmetric")
