"""Products: Dot (every vector/matrix combination, numpy dtype promotion, integer loops),
dot of higher ranks, tensordot, batched_dot / batched_tensordot, outer, Gemm and Gemv.

Each op is checked with ``check_op`` (py and numba backends against numpy, infer_shape,
dtypes) and its gradient with ``verify_grad`` (on the py backend for most graphs, and on
numba for one graph per op family: each numba verify_grad costs three compiles).
Hypothesis tests reuse one compiled function per graph (shapes vary at run time).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.dot import (
    BatchedDot,
    BatchedTensorDot,
    Dot,
    Gemm,
    Gemv,
    TensorDot,
    gemm_inplace,
    gemm_no_inplace,
    gemv_inplace,
    gemv_no_inplace,
)
from symgraph.testing import check_op

BACKENDS = ("py", "numba")
rng = np.random.default_rng(0)
HYP = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow])


def rand(*shape, dtype="float64"):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check(fn, values, ref, grad=True, numba_grad=False, **kw):
    """``check_op`` on py and numba, ``verify_grad`` on the py backend and, with
    ``numba_grad``, the gradient graph run on numba against py (one numba compile instead
    of the three of a numba verify_grad)."""
    check_op(fn, values, ref=ref, grad=False, **kw)
    if grad:
        verify_grad(fn, values, mode="py")
    if numba_grad:
        grads_agree(fn, values)


def grads_agree(fn, values):
    """The gradient of ``sum(fn(*xs) * proj)`` computed by numba equals py's."""
    syms = [T.tensor(str(v.dtype), (False,) * v.ndim) for v in values]
    out = fn(*syms)
    proj = T.constant(rng.random(np.shape(theano.function(syms, out, mode="py")(*values)))
                      .astype(out.dtype) + 0.5)
    gs = T.grad(T.sum(out * proj), syms)
    res = {b: theano.function(syms, gs, mode=b)(*[np.copy(v) for v in values])
           for b in BACKENDS}
    for g_py, g_nb in zip(res["py"], res["numba"]):
        assert g_py.dtype == g_nb.dtype and g_py.shape == g_nb.shape
        np.testing.assert_allclose(g_nb, g_py, rtol=1e-5 if g_py.dtype == np.float32 else 1e-10,
                                   atol=1e-6)


def ops_in(f):
    return [type(n.op) for n in f.fgraph.toposort()]


_fn_cache: dict = {}


def cached_fn(key, build):
    if key not in _fn_cache:
        ins, outs = build()
        _fn_cache[key] = {b: theano.function(ins, outs, mode=b) for b in BACKENDS}
    return _fn_cache[key]


def run_both(fns, *args, rtol=1e-12):
    res = {b: f(*args) for b, f in fns.items()}
    py, nb = res["py"], res["numba"]
    if not isinstance(py, list):
        py, nb = [py], [nb]
    for a, b in zip(py, nb):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    return res["py"]


# ---------------------------------------------------------------------------- Dot

RANKS = {"vv": ((4,), (4,)), "Mv": ((3, 4), (4,)), "vM": ((4,), (4, 5)), "MM": ((3, 4), (4, 5))}


@pytest.mark.parametrize("kind", list(RANKS))
def test_dot_every_rank_combination(kind):
    sa, sb = RANKS[kind]
    check(T.dot, [rand(*sa), rand(*sb)], ref=np.dot)
    x, y = T.tensor("float64", (False,) * len(sa)), T.tensor("float64", (False,) * len(sb))
    out = T.dot(x, y)
    assert isinstance(out.owner.op, Dot) and out.ndim == len(sa) + len(sb) - 2


def test_dot_gradients_of_all_forms_on_numba():
    # v.M, M.M, M.v and v.v in one graph, differentiated with respect to every input
    def f(a, b, u):
        return T.dot(u, T.dot(a, b)) + T.dot(a, T.dot(b, u)) * T.dot(u, u)

    vals = [rand(4, 4), rand(4, 4), rand(4)]
    verify_grad(f, vals, mode="py")
    grads_agree(f, vals)


def test_dot_float32_stays_float32_and_0d_output_is_scalar():
    res = check_op(T.dot, [rand(3, 4, dtype="float32"), rand(4, 2, dtype="float32")],
                   ref=np.dot, grad=False)
    assert res["numba"][0].dtype == np.float32
    res = check_op(T.dot, [rand(5, dtype="float32"), rand(5, dtype="float32")], ref=np.dot,
                   grad=False)
    assert res["numba"][0].dtype == np.float32 and res["numba"][0].shape == ()


@pytest.mark.parametrize("da,db", [("int32", "float32"), ("int8", "int16"),
                                   ("float32", "float64"), ("int64", "int64")])
def test_dot_dtype_promotion_follows_numpy(da, db):
    a, b = rand(3, 4, dtype=da), rand(4, dtype=db)
    x, y = T.tensor(da, (False, False)), T.tensor(db, (False,))
    assert T.dot(x, y).dtype == str(np.dot(a, b).dtype)
    check_op(T.dot, [a, b], ref=np.dot, grad=False)


def test_dot_integer_overflow_wraps_like_numpy():
    a = np.full((2, 3), 2 ** 20, dtype="int32")
    b = np.full((3, 2), 2 ** 12, dtype="int32")
    check_op(T.dot, [a, b], ref=np.dot, grad=False)


def test_dot_of_transposed_and_strided_operands():
    # DimShuffle{1,0} views (F order), a column slice of a shared matrix and a strided
    # vector: BLAS reads the first in place; the others are copied only when needed.
    w = theano.shared(rand(6, 8), name="w")
    x = T.dmatrix("x")
    v = T.dvector("v")
    outs = [T.dot(x.T, x), T.dot(x, w[:, 2:5]), T.dot(w[::2, 1:4], v[::2])]
    xv, vv = rand(6, 6), rand(6)
    res = run_both({b: theano.function([x, v], outs, mode=b) for b in BACKENDS}, xv, vv)
    wv = w.get_value()
    for r, e in zip(res, [xv.T @ xv, xv @ wv[:, 2:5], wv[::2, 1:4] @ vv[::2]]):
        np.testing.assert_allclose(r, e, rtol=1e-12)


def test_dot_accepts_python_and_numpy_data_and_operators():
    x = T.dmatrix("x")
    v = T.dvector("v")
    m = np.arange(6.0).reshape(2, 3)
    fns = cached_fn("data", lambda: ([x, v], [T.dot(x, m.T), T.dot([[1.0, 2.0]], x),
                                              x @ v, x.dot(v), T.dot(2.0, v), T.dot(v, 3)]))
    xv, vv = rand(2, 3), rand(3)
    res = run_both(fns, xv, vv)
    exp = [xv @ m.T, np.array([[1.0, 2.0]]) @ xv, xv @ vv, xv @ vv, 2.0 * vv, 3 * vv]
    for r, e in zip(res, exp):
        np.testing.assert_allclose(r, e, rtol=1e-12)
    assert T.dot(T.fvector(), 2.0).dtype == "float32"   # Python scalars are weak


def test_dot_with_broadcastable_dims():
    # a row times a matrix, a matrix times a column: outputs keep the known 1s
    r, c, m = T.drow("r"), T.dcol("c"), T.dmatrix("m")
    assert T.dot(r, m).broadcastable == (True, False)
    assert T.dot(m, c).broadcastable == (False, True)
    check(lambda a, b: T.dot(a, b), [rand(1, 3), rand(3, 1)], ref=np.dot,
          broadcastable=[(True, False), (False, True)])


@given(st.sampled_from(["float32", "float64", "int32", "int64"]), st.integers(0, 5),
       st.integers(0, 6), st.integers(0, 5), st.booleans())
@HYP
def test_dot_hypothesis_shapes_and_dtypes(dtype, m, k, n, transposed):
    def build():
        a, b = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
        u, w = T.vector(dtype=dtype), T.vector(dtype=dtype)
        a_ = a.T if transposed else a
        return [a, b, u, w], [T.dot(a_, b), T.dot(a_, u), T.dot(w, a_), T.dot(u, u)]

    fns = cached_fn(("hyp", dtype, transposed), build)
    av = rand(*((k, m) if transposed else (m, k)), dtype=dtype)
    bv, uv, wv = rand(k, n, dtype=dtype), rand(k, dtype=dtype), rand(m, dtype=dtype)
    ap = av.T if transposed else av
    tol = 1e-5 if dtype == "float32" else 1e-12
    res = run_both(fns, av, bv, uv, wv, rtol=tol)
    for r, e in zip(res, [ap @ bv, ap @ uv, wv @ ap, np.dot(uv, uv)]):
        assert np.asarray(r).dtype == np.dtype(dtype) and np.shape(r) == np.shape(e)
        np.testing.assert_allclose(r, e, rtol=tol, atol=tol * 10)


# ---------------------------------------------------------------------------- errors

def test_dot_build_time_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"Dot: shapes \(\?, 1\) and \(3, 4\) are not aligned"):
        T.dot(T.dcol("c"), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"Dot: shapes \(2,\) and \(3,\) are not aligned"):
        T.dot(np.ones(2), T.constant(np.ones(3)))
    with pytest.raises(ValueError, match=r"TensorDot.*\(\?, \?, 1\) and \(5, 2\)"):
        T.dot(T.tensor("float64", (False, False, True)), np.ones((5, 2)))


@pytest.mark.parametrize("mode", BACKENDS)
def test_dot_run_time_mismatch_names_op_and_both_shapes(mode):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], T.dot(x, y), mode=mode)
    with pytest.raises(ValueError, match=r"Dot: shapes \(2, 3\) and \(4, 5\) are not aligned: "
                                         r"axis 1 of input 0 has length 3 but axis 0 of "
                                         r"input 1 has length 4"):
        f(np.ones((2, 3)), np.ones((4, 5)))


def test_dot_type_errors():
    with pytest.raises(TypeError, match=r"Dot: input 0 must be a vector or a matrix, got .*"
                                        r"tensor3"):
        Dot()(T.tensor3(), T.matrix())
    with pytest.raises(TypeError, match=r"Dot: input 1 must be a numeric tensor.*bool"):
        T.dot(T.dvector(), T.tensor("bool", (False,)))
    with pytest.raises(ValueError, match="tensordot: axes=3 needs"):
        T.tensordot(T.dmatrix(), T.dmatrix(), 3)
    with pytest.raises(ValueError, match="tensordot: axis 2 is out of range for a"):
        T.tensordot(T.dmatrix(), T.dmatrix(), [[2], [0]])
    with pytest.raises(ValueError, match="give 1 axes of a but 2 of b"):
        T.tensordot(T.dmatrix(), T.dmatrix(), [[1], [0, 1]])
    with pytest.raises(ValueError, match="repeated axis of b"):
        T.tensordot(T.tensor3(), T.tensor3(), [[0, 1], [1, 1]])
    with pytest.raises(TypeError, match="pair of axis lists"):
        T.tensordot(T.dmatrix(), T.dmatrix(), "x")


# ---------------------------------------------------------------------------- higher ranks

@pytest.mark.parametrize("sa,sb", [((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4,)),
                                   ((4,), (2, 4, 3)), ((2, 3, 4), (2, 4, 3))])
def test_dot_higher_ranks_follow_np_dot(sa, sb):
    check(T.dot, [rand(*sa), rand(*sb)], ref=np.dot)


@pytest.mark.parametrize("sa,sb,axes", [
    ((2, 3, 4), (3, 4, 5), 2), ((3, 4), (3, 4), 2), ((2, 3), (4, 5), 0), ((4,), (4,), 1),
    ((2, 3, 4), (5, 3, 2), [[0, 1], [2, 1]]), ((2, 3, 4), (4, 2), [[-1, 0], [0, 1]]),
    ((2, 3, 4), (3,), [[1], [0]]),
])
def test_tensordot_against_numpy(sa, sb, axes):
    check(lambda a, b: T.tensordot(a, b, axes), [rand(*sa), rand(*sb)],
          ref=lambda a, b: np.tensordot(a, b, axes))


def test_tensordot_gradient_on_numba_and_integer_inputs():
    grads_agree(lambda a, b: T.tensordot(a, b, [[0, 2], [1, 0]]), [rand(2, 3, 4), rand(4, 2, 3)])
    check_op(lambda a, b: T.tensordot(a, b, [[0, 2], [1, 0]]),
             [rand(2, 3, 4, dtype="int32"), rand(4, 2, 3, dtype="int32")],
             ref=lambda a, b: np.tensordot(a, b, [[0, 2], [1, 0]]), grad=False)


def test_tensordot_of_matrices_is_a_dot_with_transposed_views():
    a, b = T.dmatrix(), T.dmatrix()
    out = T.tensordot(a, b, [[0], [1]])
    assert isinstance(out.owner.op, Dot)
    out3 = T.tensordot(T.tensor3(), b, [[1], [0]])
    assert isinstance(out3.owner.op, TensorDot) and out3.owner.op.axes == ((1,), (0,))
    check(lambda x, y: T.tensordot(x, y, [[0], [1]]), [rand(3, 2), rand(4, 3)],
          ref=lambda x, y: np.tensordot(x, y, [[0], [1]]), numba_grad=True)


# ---------------------------------------------------------------------------- batched

def _bdot_ref(a, b):
    return np.stack([np.dot(x, y) for x, y in zip(a, b)])


@pytest.mark.parametrize("sa,sb", [((3, 2, 4), (3, 4, 5)), ((3, 4), (3, 4, 5)),
                                   ((3, 2, 4), (3, 4)), ((3, 4), (3, 4)), ((3,), (3, 4, 2)),
                                   ((3, 2, 4), (3,))])
def test_batched_dot_theano_semantics(sa, sb):
    ref = _bdot_ref if len(sa) > 1 and len(sb) > 1 else (
        lambda a, b: a.reshape(a.shape + (1,) * (b.ndim - 1)) * b if a.ndim == 1
        else a * b.reshape(b.shape + (1,) * (a.ndim - 1)))
    check(T.batched_dot, [rand(*sa), rand(*sb)], ref=ref)


def test_batched_dot_gradients_on_numba_blas_and_loop_paths():
    # items of 20x20x20 multiply-adds go to BLAS, 2x3x4 ones to the loop
    def f(a, b, c, d):
        return T.batched_dot(a, b).sum() + T.batched_dot(c, d).sum() \
            + T.batched_dot(c[:, 0], d).sum() + T.batched_dot(a, b[:, :, 0]).sum()

    vals = [rand(2, 20, 20), rand(2, 20, 20), rand(2, 3, 4), rand(2, 4, 2)]
    check_op(lambda a, b: T.batched_dot(a, b), vals[:2], ref=_bdot_ref, grad=False)
    verify_grad(f, vals, mode="py")
    grads_agree(f, vals)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_batched_dot_dtypes_and_blas_sizes(dtype):
    for sa, sb in [((2, 30, 40), (2, 40, 20)), ((2, 40), (2, 40, 70)), ((2, 70, 40), (2, 40))]:
        check_op(T.batched_dot, [rand(*sa, dtype=dtype), rand(*sb, dtype=dtype)],
                 ref=_bdot_ref, grad=False)


def test_batched_tensordot_and_higher_rank_batched_dot():
    check(lambda a, b: T.batched_tensordot(a, b, [[1, 3], [2, 1]]),
          [rand(2, 3, 4, 5), rand(2, 5, 3, 2)],
          ref=lambda a, b: np.einsum("zabc,zcax->zbx", a, b))
    check(lambda a, b: T.batched_tensordot(a, b, 2), [rand(2, 3, 4), rand(2, 3, 4, 2)],
          ref=lambda a, b: np.einsum("zab,zabx->zx", a, b), numba_grad=True)
    check(T.batched_dot, [rand(2, 3, 4, 5), rand(2, 5, 3)],
          ref=lambda a, b: np.stack([np.dot(x, y) for x, y in zip(a, b)]))
    a, b = T.tensor4(), T.tensor3()
    assert isinstance(T.batched_dot(a, b).owner.op, BatchedTensorDot)
    assert isinstance(T.batched_dot(b, b).owner.op, BatchedDot)


@pytest.mark.parametrize("mode", BACKENDS)
def test_batched_dot_errors(mode):
    a, b = T.tensor3("a"), T.tensor3("b")
    f = theano.function([a, b], T.batched_dot(a, b), mode=mode)
    with pytest.raises(ValueError, match=r"BatchedDot: the batch sizes differ: shapes "
                                         r"\(2, 3, 4\) and \(3, 4, 5\)"):
        f(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"BatchedDot: shapes \(2, 3, 4\) and \(2, 5, 5\) are "
                                         r"not aligned"):
        f(np.ones((2, 3, 4)), np.ones((2, 5, 5)))
    with pytest.raises(TypeError, match="batched_dot: both inputs need a batch axis"):
        T.batched_dot(T.dscalar(), b)
    with pytest.raises(ValueError, match=r"BatchedDot: shapes \(2, 3, 4\) and \(\?, 1, \?\)"):
        T.batched_dot(np.ones((2, 3, 4)), T.tensor("float64", (False, True, False)))
    with pytest.raises(ValueError, match="include the batch axis"):
        T.batched_tensordot(a, b, [[0], [1]])


@given(st.sampled_from(["float32", "float64", "int32", "int64"]), st.integers(0, 3),
       st.integers(0, 5), st.integers(0, 5), st.booleans())
@HYP
def test_batched_and_tensordot_hypothesis_shapes_and_dtypes(dtype, nb, p, q, big):
    # big items (>= 2560 multiply-adds) take the BLAS path of BatchedDot, small ones loops
    m, k, n = (8 + p, 40 + q, 8 + q) if big else (p, q, p + 1)

    def build():
        a, b = T.tensor3(dtype=dtype), T.tensor3(dtype=dtype)
        c, d = T.tensor3(dtype=dtype), T.tensor3(dtype=dtype)
        return [a, b, c, d], [T.batched_dot(a, b), T.tensordot(c, d, [[1, 2], [1, 0]])]

    fns = cached_fn(("hyp-batched", dtype), build)
    av, bv = rand(nb, m, k, dtype=dtype), rand(nb, k, n, dtype=dtype)
    cv, dv = rand(m, n, k, dtype=dtype), rand(k, n, p, dtype=dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    res = run_both(fns, av, bv, cv, dv, rtol=tol)
    exp = [np.matmul(av, bv), np.tensordot(cv, dv, [[1, 2], [1, 0]])]
    for r, e in zip(res, exp):
        assert r.dtype == np.dtype(dtype) and r.shape == e.shape
        np.testing.assert_allclose(r, e, rtol=tol, atol=tol * 10)


# ---------------------------------------------------------------------------- outer

def test_outer():
    check(T.outer, [rand(3), rand(4)], ref=np.outer)
    check(T.outer, [rand(2, 2), rand(3)], ref=np.outer)
    assert T.outer(T.ivector(), T.ivector()).dtype == "int32"


# ---------------------------------------------------------------------------- Gemm / Gemv

def _gemm_ref(z, a, x, y, b):
    return b * z + a * (x @ y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_and_gemv_against_numpy(dtype):
    vals = [rand(3, 5, dtype=dtype), np.asarray(0.7, dtype), rand(3, 4, dtype=dtype),
            rand(4, 5, dtype=dtype), np.asarray(-1.3, dtype)]
    check(lambda *xs: gemm_no_inplace(*xs), vals, ref=_gemm_ref, grad=dtype == "float64")
    vals = [rand(3, dtype=dtype), np.asarray(0.7, dtype), rand(3, 4, dtype=dtype),
            rand(4, dtype=dtype), np.asarray(-1.3, dtype)]
    check(lambda *xs: gemv_no_inplace(*xs), vals, ref=_gemm_ref, grad=dtype == "float64")


def test_gemm_gemv_inplace_beta_zero_ignores_z_alpha_zero_keeps_nans():
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    v, w = T.dvector("v"), T.dvector("w")
    a, b = T.dscalar("a"), T.dscalar("b")
    for mode in BACKENDS:
        f = theano.function([z, a, x, y, b], gemm_inplace(z, a, x.T, y, b), mode=mode,
                        accept_inplace=True)
        zv, xv, yv = rand(3, 5), rand(4, 3), rand(4, 5)
        zbuf = zv.copy()
        out = f(zbuf, 2.0, xv, yv, 0.5)
        np.testing.assert_allclose(out, 0.5 * zv + 2.0 * xv.T @ yv, rtol=1e-12)
        np.testing.assert_allclose(zbuf, out, rtol=1e-12)   # Z's buffer was overwritten
        out = f(np.full((3, 5), np.nan), 2.0, xv, yv, 0.0)
        np.testing.assert_allclose(out, 2.0 * xv.T @ yv, rtol=1e-12)
        # alpha == 0 still multiplies, as numpy's alpha * dot(x, y) (NaNs propagate)
        xnan = xv.copy()
        xnan[0, 0] = np.nan
        out = f(zv.copy(), 0.0, xnan, yv, 0.5)
        assert np.isnan(out[0]).all() and np.allclose(out[1:], 0.5 * zv[1:])
        g = theano.function([v, a, x, w, b], gemv_inplace(v, a, x, w, b), mode=mode,
                        accept_inplace=True)
        vv, xv, wv = rand(3), rand(3, 4), rand(4)
        vbuf = vv.copy()
        out = g(vbuf, 2.0, xv, wv, 0.5)
        np.testing.assert_allclose(out, 0.5 * vv + 2.0 * xv @ wv, rtol=1e-12)
        np.testing.assert_allclose(vbuf, out, rtol=1e-12)
        out = g(np.full(3, np.nan), 2.0, xv[:, ::-1], wv, 0.0)
        np.testing.assert_allclose(out, 2.0 * xv[:, ::-1] @ wv, rtol=1e-12)
        xv[1, 2] = np.nan
        out = g(vv.copy(), 0.0, xv, wv, 0.5)
        assert np.isnan(out[1]) and np.allclose(out[[0, 2]], 0.5 * vv[[0, 2]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_shaped_products_match_py(dtype):
    """The three products of a dense layer's training step at batch 10 (the Numba backend
    hands them to ``kernels.cpu.gemm``): forward, input gradient, SGD update (Gemm with
    beta * W, not in place and in place), and beta == 0 not reading a NaN Z."""
    tt = T.TensorType(dtype, (False, False))
    x, d, w = tt("x"), tt("d"), tt("w")
    a, b = T.scalar("a", dtype=dtype), T.scalar("b", dtype=dtype)
    xv, dv, wv = rand(10, 300, dtype=dtype), rand(10, 40, dtype=dtype), rand(300, 40, dtype=dtype)
    outs = [T.dot(x, w), T.dot(d, w.T), gemm_no_inplace(w, a, x.T, d, b)]
    lr, keep, two, zero = (np.asarray(v, dtype) for v in (-0.1, 0.99, 2.0, 0.0))
    res = {m: theano.function([x, d, w, a, b], outs, mode=m)(xv, dv, wv, lr, keep)
           for m in BACKENDS}
    tol = 2e-5 if dtype == "float32" else 1e-12
    for got, ref in zip(res["numba"], res["py"]):
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 10)
    f = theano.function([w, a, x, d, b], gemm_inplace(w, a, x.T, d, b), mode="numba",
                        accept_inplace=True)
    wbuf = wv.copy()
    out = f(wbuf, lr, xv, dv, keep)
    np.testing.assert_allclose(wbuf, keep * wv + lr * xv.T @ dv, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(out, wbuf)
    out = f(np.full_like(wv, np.nan), two, xv, dv, zero)
    np.testing.assert_allclose(out, 2.0 * xv.T @ dv, rtol=tol, atol=tol * 10)


def test_gemm_numba_with_strided_and_aliased_operands():
    # Z aliasing X (in place), a reversed (negative-stride) operand and empty inner axis
    z, y = T.dmatrix("z"), T.dmatrix("y")
    zv, yv = rand(4, 4), rand(4, 4)
    for b in BACKENDS:
        f = theano.function([z, y], gemm_inplace(z, 1.0, z, y[::-1], 1.0), mode=b,
                        accept_inplace=True)
        np.testing.assert_allclose(f(zv.copy(), yv), zv + zv @ yv[::-1], rtol=1e-12)
    check_op(lambda z_, x_, y_: gemm_no_inplace(z_, 2.0, x_, y_, 3.0),
             [rand(2, 3), rand(2, 0), rand(0, 3)], ref=lambda z_, x_, y_: 3.0 * z_, grad=False)


def test_gemm_gradient_on_numba():
    grads_agree(lambda *xs: gemm_no_inplace(*xs),
                [rand(2, 3), np.asarray(0.5), rand(2, 4), rand(4, 3), np.asarray(2.0)])


@pytest.mark.parametrize("mode", BACKENDS)
def test_gemm_gemv_run_time_errors(mode):
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([z, x, y], gemm_no_inplace(z, 1.0, x, y, 1.0), mode=mode)
    with pytest.raises(ValueError, match=r"Gemm\{no_inplace\}: shapes \(2, 3\) and \(4, 5\) "
                                         r"are not aligned"):
        f(np.ones((2, 5)), np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"Gemm\{no_inplace\}: Z has shape \(3, 5\) but "
                                         r"dot\(X, Y\) has shape \(2, 5\)"):
        f(np.ones((3, 5)), np.ones((2, 3)), np.ones((3, 5)))
    v, w = T.dvector("v"), T.dvector("w")
    g = theano.function([v, x, w], gemv_no_inplace(v, 1.0, x, w, 1.0), mode=mode)
    with pytest.raises(ValueError, match=r"Gemv\{no_inplace\}: y has shape \(3,\) but "
                                         r"dot\(A, x\) has shape \(2,\)"):
        g(np.ones(3), np.ones((2, 4)), np.ones(4))


def test_gemm_gemv_type_errors():
    z, x = T.dmatrix(), T.dmatrix()
    with pytest.raises(TypeError, match=r"Gemm\{no_inplace\}: X must have dtype float64 "
                                        r"\(that of Z\), got float32"):
        Gemm()(z, 1.0, T.fmatrix(), x, 1.0)
    with pytest.raises(TypeError, match=r"Gemm\{no_inplace\}: alpha must be 0-d"):
        Gemm()(z, T.dvector(), x, x, 1.0)
    with pytest.raises(TypeError, match=r"Gemv\{inplace\}: A must be 2-d"):
        Gemv(True)(T.dvector(), 1.0, T.dvector(), T.dvector(), 1.0)
    with pytest.raises(TypeError, match="must be float32, float64"):
        Gemm()(T.imatrix(), 1, T.imatrix(), T.imatrix(), 1)
    with pytest.raises(ValueError, match=r"Gemm\{no_inplace\}: Z of shape \(\?, 1\) cannot "
                                         r"hold dot\(X, Y\)"):
        Gemm()(T.dcol(), 1.0, x, T.constant(np.ones((2, 3))), 1.0)
    assert Gemm(True) == gemm_inplace and Gemm(True).destroy_map == {0: [0]}
    assert gemm_no_inplace.destroy_map == {} and str(gemv_inplace) == "Gemv{inplace}"


def test_complex_dot_and_gemm():
    def c(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

    check_op(T.dot, [c(3, 4), c(4, 2)], ref=np.dot, grad=False)
    check_op(lambda *xs: gemm_no_inplace(*xs),
             [c(3, 2), np.asarray(0.5 + 1j), c(3, 4), c(4, 2), np.asarray(2 - 1j)],
             ref=_gemm_ref, grad=False)


def test_optimizer_gemm_rewrite_result_matches():
    # whatever the optimizer turns z + a * dot(x, y) into, the values stay numpy's
    z, x, y, a = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y"), T.dscalar("a")
    f = theano.function([z, x, y, a], z + a * T.dot(x, y.T))
    zv, xv, yv = rand(3, 2), rand(3, 4), rand(2, 4)
    np.testing.assert_allclose(f(zv, xv, yv, 0.3), zv + 0.3 * xv @ yv.T, rtol=1e-12)
