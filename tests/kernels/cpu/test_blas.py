"""BLAS bound straight to scipy's OpenBLAS (``kernels/cpu/blas.py``) against numpy.

``gemm_into`` / ``gemv_into`` over the four BLAS dtypes, transposed, sliced and negatively
strided operands, alpha/beta, outputs that overlap an operand; and the point of the module:
a process that calls BLAS from compiled code does not import scipy.linalg.
"""
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symgraph.kernels.cpu import blas

DTYPES = ["float32", "float64", "complex64", "complex128"]
TOL = {"float32": 2e-4, "complex64": 2e-4, "float64": 1e-11, "complex128": 1e-11}


@numba.njit
def _gemm(alpha, x, y, beta, c):
    blas.gemm_into(alpha, x, y, beta, c)


@numba.njit
def _gemv(alpha, a, x, beta, y):
    blas.gemv_into(alpha, a, x, beta, y)


def _rand(rng, shape, dt):
    a = rng.standard_normal(shape)
    if dt.startswith("complex"):
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dt)


def _view(rng, shape, dt, kind):
    """An operand of ``shape``: C order, a transpose (F order), a slice with a row
    stride, or reversed rows (a negative stride BLAS cannot read: copied)."""
    if kind == "c":
        return _rand(rng, shape, dt)
    if kind == "t":
        return _rand(rng, shape[::-1], dt).T
    if kind == "slice":
        return _rand(rng, (shape[0], shape[1] + 3), dt)[:, 1:shape[1] + 1]
    return _rand(rng, shape, dt)[::-1]


@settings(max_examples=40, deadline=None)
@given(dt=st.sampled_from(DTYPES), m=st.integers(1, 9), k=st.integers(0, 9),
       n=st.integers(1, 9), kx=st.sampled_from(["c", "t", "slice", "neg"]),
       ky=st.sampled_from(["c", "t", "slice", "neg"]), kc=st.sampled_from(["c", "t", "slice"]),
       alpha=st.sampled_from([1.0, -0.5, 0.0]), beta=st.sampled_from([0.0, 1.0, 2.5]),
       seed=st.integers(0, 2**16))
def test_gemm_into_matches_numpy(dt, m, k, n, kx, ky, kc, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    x, y = _view(rng, (m, k), dt, kx), _view(rng, (k, n), dt, ky)
    c = _view(rng, (m, n), dt, kc)
    c0 = c.copy()
    want = alpha * (x.astype("complex128") @ y.astype("complex128")) + beta * c0
    _gemm(alpha, x, y, beta, c)
    assert np.allclose(c, want, rtol=TOL[dt], atol=TOL[dt] * max(1, k)), (c, want)


@numba.njit
def _gemm_literals(x, y, c):
    blas.gemm_into(1, x, y, 0, c)   # int literals, converted to the arrays' dtype


def test_gemm_into_converts_scalars_and_refuses_mixed_dtypes():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.ones((3, 2), np.float32)
    c = np.full((2, 2), np.nan, np.float32)
    _gemm_literals(x, y, c)
    assert np.array_equal(c, x @ y)
    with pytest.raises(numba.core.errors.TypingError):
        _gemm(1.0, x.astype(np.float64), y, 0.0, c)   # BLAS needs one dtype


def test_gemm_into_beta_zero_ignores_nan_and_overlap_is_safe():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    y = np.ones((4, 4))
    c = np.full((3, 4), np.nan)
    _gemm(1.0, x, y, 0.0, c)
    assert np.array_equal(c, x @ y)
    a = np.arange(16, dtype=np.float64).reshape(4, 4)
    want = a @ a + a
    _gemm(1.0, a, a, 1.0, a)  # output is also both operands: through a temporary
    assert np.array_equal(a, want)


@settings(max_examples=30, deadline=None)
@given(dt=st.sampled_from(DTYPES), m=st.integers(1, 9), k=st.integers(0, 9),
       ka=st.sampled_from(["c", "t", "slice", "neg"]), strided_x=st.booleans(),
       alpha=st.sampled_from([1.0, 0.0, 3.0]), beta=st.sampled_from([0.0, 1.0]),
       seed=st.integers(0, 2**16))
def test_gemv_into_matches_numpy(dt, m, k, ka, strided_x, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    a = _view(rng, (m, k), dt, ka)
    x = _rand(rng, 2 * k, dt)[::2] if strided_x else _rand(rng, k, dt)
    y = _rand(rng, m, dt)
    want = alpha * (a.astype("complex128") @ x.astype("complex128")) + beta * y
    _gemv(alpha, a, x, beta, y)
    assert np.allclose(y, want, rtol=TOL[dt], atol=TOL[dt] * max(1, k))


def test_thread_count_calls():
    if blas.ROUTINES["source"] != "library":
        assert blas.num_threads() is None and blas.set_num_threads(1) is None
        return
    before = blas.num_threads()
    try:
        assert blas.set_num_threads(1) == 1 == blas.num_threads()
    finally:
        blas.set_num_threads(before)


NO_SCIPY = textwrap.dedent("""
    import sys, numpy as np
    import symgraph, symgraph.tensor as T
    from symgraph.kernels.cpu import blas
    x, y, v = T.matrix("x"), T.matrix("y"), T.vector("v")
    f = symgraph.function([x, y, v], [T.dot(x, y), T.dot(x, v)])
    a, b, c = np.ones((40, 30)), np.ones((30, 20)), np.ones(30)
    p, q = f(a, b, c)
    assert np.array_equal(p, a @ b) and np.array_equal(q, a @ c)
    print(blas.ROUTINES["source"], "scipy.linalg" in sys.modules)
""")


def test_compiled_products_do_not_import_scipy_linalg(tmp_path):
    """Compiled in one process and loaded from the cache in a second, a graph with BLAS
    products never imports scipy.linalg (0.13 s) when scipy's OpenBLAS library is found."""
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={tmp_path}")
    for run in ("compiles (Numba's compiler imports scipy.linalg)", "loads from the cache"):
        r = subprocess.run([sys.executable, "-c", NO_SCIPY], capture_output=True, text=True,
                           env=env, timeout=600)
        assert r.returncode == 0, (run, r.stderr[-3000:])
    source, imported = r.stdout.split()[-2:]
    if source == "library":
        assert imported == "False", "a cached graph with BLAS products imported scipy.linalg"
    elif source == "numba-public":   # SYMGRAPH_NUMBA_FALLBACK=1 or an unchecked scipy:
        # the public path's cfuncs over np.dot make no promise about scipy.linalg; with
        # scipy's internals allowed, the library or the capsules should have been found
        from symgraph.numba_compat import scipy_internals

        assert not scipy_internals(), "scipy's BLAS was not found; the public path was taken"
    else:  # routines from scipy.linalg.cython_blas: the import is how they are found
        assert source == "scipy.linalg.cython_blas" and imported == "True"


@pytest.mark.parametrize("name", ["sgemm", "dgemm", "cgemm", "zgemm", "sgemv", "dgemv",
                                  "cgemv", "zgemv"])
def test_every_routine_is_registered(name):
    from llvmlite import binding as llvm

    assert llvm.address_of_symbol(f"symgraph_{name}")


@numba.njit
def _overlaps(a, b):
    return blas.overlaps(a, b)


def _byte_range(a):
    """[lo, hi) of the bytes ``a`` spans, or None when it is empty (numpy's view)."""
    if a.size == 0:
        return None
    lo = hi = a.__array_interface__["data"][0]
    hi += a.itemsize
    for n, s in zip(a.shape, a.strides):
        e = (n - 1) * s
        lo, hi = (lo + e, hi) if e < 0 else (lo, hi + e)
    return lo, hi


def test_overlaps_matches_the_byte_ranges_of_views():
    """Views of one buffer (slices, steps, negative steps, transposes, empty and 0-d
    views, other ranks) and of another buffer, against the rule computed in Python."""
    rng = np.random.default_rng(0)
    base = np.arange(600, dtype=np.float64).reshape(20, 30)
    other = np.zeros((5, 5))
    views = [base, base.T, base[3:7], base[:, 5:9], base[::-1], base[:, ::-2], base[2:2],
             base[5, 3:20], base[::3, ::4], base[12:, 25:], base[0, 0:1], other,
             np.ones(()), base.reshape(600)[100:300:7]]
    for _ in range(30):
        r0, c0 = rng.integers(0, 20), rng.integers(0, 30)
        views.append(base[r0:r0 + rng.integers(0, 6), c0:c0 + rng.integers(0, 6)])
    for a in views:
        for b in views:
            ra, rb = _byte_range(a), _byte_range(b)
            want = ra is not None and rb is not None and ra[0] < rb[1] and rb[0] < ra[1]
            assert _overlaps(a, b) == want, (a.shape, a.strides, b.shape, b.strides)
