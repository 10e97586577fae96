"""T.nlinalg / T.slinalg: matrix_inverse, det, eigh, cholesky, solve (issue 21 item 2):
values against numpy on the py and Numba backends, gradients against finite differences
(including the triangle-only gradients of eigh, cholesky and triangular solves), errors.
The gradients are graphs of the same ops (and of tril/triu/diag), whose Numba versions the
value test compares."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor import nlinalg as nl
from symgraph.tensor import slinalg as sl
from symgraph.testing import check_op

RNG = np.random.default_rng(3)
A = RNG.normal(size=(3, 3))
S = A @ A.T + 3 * np.eye(3)          # symmetric positive definite
B = RNG.normal(size=(3, 2))
b = RNG.normal(size=3)


def test_values_both_backends():
    check_op(
        lambda a, s, v, m: [nl.matrix_inverse(a), nl.det(a), nl.eigh(s)[0],
                            abs(nl.eigh(s)[1]), nl.eigh(s, "U")[0], sl.cholesky(s),
                            sl.cholesky(s, lower=False), sl.solve(a, v), sl.solve(a, m),
                            sl.solve_lower_triangular(a, v), sl.solve_upper_triangular(a, m),
                            nl.trace(a), nl.diag(v), nl.diag(a), nl.tril(a, -1),
                            nl.triu(a, 1), nl.matrix_dot(a, a, m)],
        [A, S, b, B],
        ref=lambda a, s, v, m: [np.linalg.inv(a), np.linalg.det(a), np.linalg.eigh(s)[0],
                                abs(np.linalg.eigh(s)[1]), np.linalg.eigh(s, "U")[0],
                                np.linalg.cholesky(s), np.linalg.cholesky(s).T,
                                np.linalg.solve(a, v), np.linalg.solve(a, m),
                                np.linalg.solve(np.tril(a), v), np.linalg.solve(np.triu(a), m),
                                np.trace(a), np.diag(v), np.diag(a), np.tril(a, -1),
                                np.triu(a, 1), a @ a @ m],
        grad=False)
    # float32 stays float32
    check_op(lambda a: [nl.matrix_inverse(a), nl.det(a)], [A.astype("float32")],
             ref=lambda a: [np.linalg.inv(a), np.linalg.det(a)], grad=False)


def test_gradients_numeric():
    for f in [nl.matrix_inverse, nl.det, lambda a: sl.solve(a, T.constant(b)),
              lambda a: sl.solve_lower_triangular(a, T.constant(B)),
              lambda a: sl.solve_upper_triangular(a, T.constant(b))]:
        verify_grad(f, [A], mode="py", n_tests=1)
    verify_grad(lambda m: sl.solve(T.constant(A), m), [B], mode="py", n_tests=1)
    # eigh and cholesky read one triangle: their gradients live on it (no symmetrizing)
    for f in [sl.cholesky, lambda a: sl.cholesky(a, lower=False),
              lambda a: nl.eigh(a)[0], lambda a: nl.eigh(a, "U")[1] ** 2,
              lambda a: nl.eigh(a)[1][:, 1:] ** 2]:
        verify_grad(f, [S], mode="py", n_tests=1)


def test_errors_both_backends():
    a = T.dmatrix("a")
    with pytest.raises(TypeError, match="matrix"):
        nl.det(T.dvector())
    with pytest.raises(ValueError, match="A_structure"):
        sl.Solve("bogus")
    f_inv = {m: theano.function([a], nl.matrix_inverse(a), mode=m) for m in ("py", "numba")}
    f_chol = {m: theano.function([a], [sl.cholesky(a), sl.cholesky(a, on_error="nan")[0, 0]]
                                 [:1], mode=m) for m in ("py", "numba")}
    f_nan = {m: theano.function([a], sl.cholesky(a, on_error="nan"), mode=m)
             for m in ("py", "numba")}
    for m in ("py", "numba"):
        with pytest.raises(np.linalg.LinAlgError):
            f_inv[m](np.ones((2, 2)))
        with pytest.raises(ValueError, match="square"):
            f_inv[m](np.ones((2, 3)))
        with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
            f_chol[m](-np.eye(2))
        assert np.isnan(f_nan[m](-np.eye(2))).all()
    # ints are solved in float64, as numpy.linalg
    assert nl.det(T.imatrix()).type.dtype == "float64"
