"""Dot (matrix/vector combinations), Gemm and Gemv on the GEMM kernels: cuda vs py."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_all_ranks_and_transposes(helpers, dtype):
    rng = np.random.default_rng(7)
    A = T.matrix("A", dtype=dtype)
    B = T.matrix("B", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    av = rng.standard_normal((5, 3)).astype(dtype)
    bv = rng.standard_normal((3, 4)).astype(dtype)
    vv = rng.standard_normal(3).astype(dtype)
    f = helpers.compare(
        lambda A, B, v: [T.dot(A, B), T.dot(B.T, A.T), T.dot(A, v), T.dot(v, B), T.dot(v, v),
                         T.dot(A.T, A), T.dot(A[::2], B), T.dot(B.T, v) * 2.0],
        [av, bv, vv], syms=[A, B, v], rtol=1e-4 if dtype == "float32" else 1e-10,
        atol=1e-4 if dtype == "float32" else 1e-10)
    assert any(type(n.op).__name__ == "Dot" for n in f.maker.fgraph.apply_nodes)


def test_gemm_and_gemv_from_rewrites(helpers):
    rng = np.random.default_rng(8)
    Z, X, Y = T.matrices("Z", "X", "Y")
    y, x = T.vectors("y", "x")
    a = T.dscalar("a")
    zv, xv, yv = (rng.standard_normal(s) for s in ((4, 5), (4, 3), (3, 5)))
    y_v, x_v = rng.standard_normal(4), rng.standard_normal(3)
    f = helpers.compare(lambda Z, X, Y, y, x, a: [Z * 0.5 + a * T.dot(X, Y),
                                                  Z - T.dot(X, Y), y + a * T.dot(X, x)],
                        [zv, xv, yv, y_v, x_v, 1.7], syms=[Z, X, Y, y, x, a])
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert names & {"Gemm", "Gemv"}, names


def test_integer_dot_falls_back_with_a_warning(helpers):
    from symgraph.link.cuda import linker

    linker._warned.clear()
    A = T.matrix("A", dtype="int64")
    av = np.arange(6).reshape(2, 3)
    with pytest.warns(linker.CudaFallbackWarning, match="Dot"):
        helpers.compare(lambda A: T.dot(A + 1, A.T), [av], syms=[A])


def test_dot_shape_mismatch_raises():
    A, B = T.matrices("A", "B")
    f = symgraph.function([A, B], T.dot(A, B), mode="cuda")
    with pytest.raises(ValueError, match="align|shape"):
        f(np.ones((2, 3)), np.ones((2, 3)))
