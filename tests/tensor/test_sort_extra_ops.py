"""T.sort/argsort (and methods), cumsum/cumprod and T.extra_ops against numpy on the py and
Numba backends, with gradients (issue 21 item 2)."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.testing import check_op

E = T.extra_ops
RNG = np.random.default_rng(7)
M = RNG.normal(size=(3, 4))
TIES = np.array([[3.0, 1.0, 2.0, 1.0], [np.nan, -np.inf, 5.0, np.inf]])


# -------------------------------------------------------------------------- sort
# Few compiled functions: each check_op below compiles one function per backend holding
# several outputs; gradients are checked numerically on the py backend, and the gradient
# graphs (which use the new ops too) are compared between backends once.

def test_sort_argsort_values_ties_nan_inf():
    ints = np.array([[2, 2, 1, 2, 0, 1]] * 2, dtype="int32")
    check_op(lambda v, i: [T.sort(v, axis=1), T.sort(v, axis=None), v.sort(axis=0),
                           T.argsort(v, axis=1), v.argsort(axis=None),
                           i.argsort(axis=-1, kind="mergesort")],
             [TIES, ints],
             ref=lambda v, i: [np.sort(v, axis=1), np.sort(v, axis=None), np.sort(v, axis=0),
                               np.argsort(v, axis=1, kind="stable"),
                               np.argsort(v, axis=None, kind="stable"),
                               np.argsort(i, axis=-1, kind="stable")],
             grad=False)
    check_op(lambda v: T.sort(v, axis=0), [M.astype("float32")],
             ref=lambda v: np.sort(v, axis=0), grad=False)


def _grad_graphs(x, w):
    """Gradients through the new differentiable ops, as one list of outputs."""
    c = T.constant(np.array([0, 3, 3, 1, 0, 2]))
    # (sort's gradient runs TakeAlongAxis/Argsort, cumsum's and cumprod's run CumOp)
    costs = [T.sum(T.sort(x, axis=0) * w), T.sum(T.cumsum(x, axis=1) * w),
             T.sum(T.cumprod(x, axis=0) * w), T.sum(E.bincount(c, T.flatten(x)[:6]) ** 2)]
    return [T.grad(cst, [x, w], disconnected_inputs="ignore")[k] for cst in costs
            for k in (0, 1)]


def test_gradients_numeric_and_backends_agree():
    w = RNG.normal(size=(3, 4))
    costs = [lambda a, b: T.sort(a, axis=0) * b, lambda a, b: T.sort(a, axis=None),
             lambda a, b: T.cumsum(a, axis=1) * b, lambda a, b: T.cumprod(a, axis=0) * b,
             lambda a, b: E.fill_diagonal(a, T.sum(b)) * b,
             lambda a, b: E.diff(a, n=2, axis=1) * b[:, :2]]
    for f in costs:
        verify_grad(f, [M, w], mode="py", n_tests=1)
    verify_grad(lambda ww: E.bincount(T.constant(np.array([0, 3, 3, 1])), ww), [w[0]],
                mode="py", n_tests=1)
    check_op(_grad_graphs, [M, w], grad=False, check_shape=False)


def test_sort_errors():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="kind"):
        T.sort(x, kind="bogus")
    with pytest.raises(ValueError, match="out of range"):
        T.sort(x, axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        T.argsort(x, axis=T.iscalar("a"))
    with pytest.raises(ValueError, match="0-d"):
        T.sort(T.dscalar("s"))
    with pytest.raises(ValueError, match="order"):
        T.sort(x, order="f")


# ---------------------------------------------------------------- cumsum / cumprod

def test_cumsum_cumprod():
    big = np.array([1e300, 1e300, -np.inf, 1.0])
    check_op(lambda v, b: [T.cumsum(v, axis=0), v.cumprod(axis=-1), E.cumsum(v),
                           T.cumsum(b), T.cumprod(b)], [M, big],
             ref=lambda v, b: [np.cumsum(v, axis=0), np.cumprod(v, axis=-1), np.cumsum(v),
                               np.cumsum(b), np.cumprod(b)], grad=False)
    # small integers accumulate in int64, as numpy
    check_op(lambda v: [T.cumsum(v), T.cumprod(v, axis=0)],
             [np.array([[1, 2], [120, 100]], dtype="int8")],
             ref=lambda v: [np.cumsum(v), np.cumprod(v, axis=0)])
    with pytest.raises(ValueError, match="out of range"):
        T.cumsum(T.dvector(), axis=1)


# ---------------------------------------------------------------------- extra_ops

def _fd(a, val):
    a = a.copy()
    np.fill_diagonal(a, val)
    return a


def _fdo(a, off):
    a = a.copy()
    for r in range(a.shape[0]):
        if 0 <= r + off < a.shape[1]:
            a[r, r + off] = 7.0
    return a


def test_bincount_one_hot_diff_fill_diagonal():
    i = np.array([0, 3, 3, 1, 0, 5])
    w = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    check_op(lambda v, ww, m: [E.bincount(v, minlength=9), E.bincount(v, ww),
                               E.to_one_hot(v, 7, dtype="float64"), E.diff(m, n=2, axis=1),
                               E.fill_diagonal(m, 2.5), E.fill_diagonal_offset(m, 7.0, -1),
                               E.fill_diagonal_offset(m, 7.0, 2)],
             [i, w, M],
             ref=lambda v, ww, m: [np.bincount(v, minlength=9), np.bincount(v, ww),
                                   np.eye(7)[v], np.diff(m, n=2, axis=1), _fd(m, 2.5),
                                   _fdo(m, -1), _fdo(m, 2)], grad=False)
    x = T.lvector("x")
    for mode in ("py", "numba"):
        f = theano.function([x], E.bincount(x), mode=mode)
        np.testing.assert_array_equal(f(np.array([], dtype="int64")), [])
        with pytest.raises(ValueError, match="negative"):
            f(np.array([1, -1]))
    with pytest.raises(TypeError, match="integers"):
        E.bincount(T.dvector())
    with pytest.raises(TypeError, match="scalar"):
        E.fill_diagonal(T.dmatrix(), T.dvector())


def test_unique():
    u = np.array([[3.0, 1.0, np.nan], [1.0, np.nan, 2.0]])

    def ref(v):
        a, b, c, d = np.unique(v, return_index=True, return_inverse=True, return_counts=True)
        return a, b, c.reshape(-1), d      # Theano's inverse is flat

    check_op(lambda v: E.Unique(True, True, True)(v), [u], ref=ref, grad=False)
    check_op(lambda v: E.unique(v), [np.array([3, 1, 3, 2])], ref=np.unique, grad=False)


def test_searchsorted():
    s = np.array([1.0, 2.0, 2.0, 5.0, np.nan])
    q = np.array([[0.0, 2.0], [np.nan, 9.0]])
    s2 = np.array([5.0, 1.0, 2.0])
    check_op(lambda a, b, c, d: [E.searchsorted(a, b, side="left"),
                                 E.searchsorted(a, b, side="right"),
                                 E.searchsorted(c, T.constant(2.0), sorter=d)],
             [s, q, s2, np.argsort(s2)],
             ref=lambda a, b, c, d: [np.searchsorted(a, b, side="left"),
                                     np.searchsorted(a, b, side="right"),
                                     np.searchsorted(c, 2.0, sorter=d)], grad=False)
    with pytest.raises(ValueError, match="side"):
        E.searchsorted(T.dvector(), T.dvector(), side="middle")


def test_repeat_squeeze_are_exported():
    check_op(lambda v: E.squeeze(E.repeat(v, 2, axis=0)[:, :1], axis=1), [M],
             ref=lambda v: np.repeat(v, 2, axis=0)[:, 0], grad=False)
