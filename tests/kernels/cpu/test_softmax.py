"""Numba CPU softmax kernels vs the numpy reference, stability and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import reference as R
from symgraph.kernels.cpu import softmax as S

DTYPES = [np.float32, np.float64]


def _close(got, ref, dtype, tol=None):
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    assert got.shape == ref.shape
    if tol is None:
        tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@st.composite
def logits(draw):
    B = draw(st.integers(1, 12))
    K = draw(st.integers(1, 20))
    scale = draw(st.sampled_from([1.0, 30.0, 1e3]))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((B, K)) * scale).astype(dtype)
    return x, rng


@settings(max_examples=40, deadline=None)
@given(logits())
def test_softmax_and_log_softmax_match_reference(case):
    x, _ = case
    _close(S.softmax(x), R.softmax_ref(x), x.dtype)
    # log-softmax values can be large: compare relative to their size
    ref = R.log_softmax_ref(x)
    got = S.log_softmax(x)
    assert got.dtype == x.dtype
    tol = 1e-5 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * (1 + np.abs(x).max()))


@settings(max_examples=40, deadline=None)
@given(logits())
def test_gradients_match_reference(case):
    x, rng = case
    gy = rng.standard_normal(x.shape).astype(x.dtype)
    y = S.softmax(x)
    _close(S.softmax_grad(gy, y), R.softmax_grad_ref(gy, y), x.dtype)
    ly = S.log_softmax(x)
    _close(S.log_softmax_grad(gy, ly), R.log_softmax_grad_ref(gy, ly), x.dtype,
           tol=1e-4 if x.dtype == np.float32 else 1e-11)


@settings(max_examples=40, deadline=None)
@given(logits())
def test_softmax_nll_matches_reference(case):
    x, rng = case
    y = rng.integers(0, x.shape[1], x.shape[0])
    nll, sm = S.softmax_nll_forward(x, y)
    rnll, rsm = R.softmax_nll_forward_ref(x, y)
    tol = 1e-5 if x.dtype == np.float32 else 1e-12
    assert nll.dtype == x.dtype and nll.shape == (x.shape[0],)
    np.testing.assert_allclose(nll, rnll, rtol=tol, atol=tol * (1 + np.abs(x).max()))
    _close(sm, rsm, x.dtype)
    g = rng.standard_normal(x.shape[0]).astype(x.dtype)
    _close(S.softmax_nll_backward(g, sm, y), R.softmax_nll_backward_ref(g, rsm, y), x.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_values_are_stable(dtype):
    big = 1e4 if dtype == np.float32 else 1e300
    x = np.array([[big, -big, 0.0], [-big, -big, -big], [0.0, 0.0, big]], dtype)
    sm = S.softmax(x)
    assert np.all(np.isfinite(sm))
    np.testing.assert_allclose(sm.sum(axis=1), 1.0, rtol=1e-6)
    ls = S.log_softmax(x)
    assert np.all(np.isfinite(ls))
    nll, sm2 = S.softmax_nll_forward(x, np.array([1, 0, 0]))
    assert np.all(np.isfinite(nll))
    np.testing.assert_allclose(nll, [2 * big, np.log(3.0), big], rtol=1e-6)
    np.testing.assert_array_equal(sm, sm2)


def test_int32_labels():
    x = np.random.default_rng(5).standard_normal((7, 4))
    y = np.array([0, 3, 1, 2, 3, 0, 1], np.int32)
    nll, sm = S.softmax_nll_forward(x, y)
    rnll, rsm = R.softmax_nll_forward_ref(x, y)
    _close(nll, rnll, np.float64)
    g = np.ones(7)
    _close(S.softmax_nll_backward(g, sm, y), R.softmax_nll_backward_ref(g, rsm, y), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_labels_out_of_range_raise(dtype):
    x = np.zeros((2, 3), dtype)
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(ValueError):
            S.softmax_nll_forward(x, np.array(bad))
        with pytest.raises(ValueError):
            S.softmax_nll_backward(np.ones(2, dtype), x, np.array(bad))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)) * 3
    gy = rng.standard_normal((4, 5))
    y_idx = np.array([0, 4, 2, 2])
    gn = rng.standard_normal(4)
    eps = 1e-6
    funcs = [
        (lambda v: np.sum(S.softmax(v) * gy), S.softmax_grad(gy, S.softmax(x))),
        (lambda v: np.sum(S.log_softmax(v) * gy), S.log_softmax_grad(gy, S.log_softmax(x))),
        (lambda v: np.sum(S.softmax_nll_forward(v, y_idx)[0] * gn),
         S.softmax_nll_backward(gn, S.softmax_nll_forward(x, y_idx)[1], y_idx)),
    ]
    for f, analytic in funcs:
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[i] = eps
            num[i] = (f(x + d) - f(x - d)) / (2 * eps)
        np.testing.assert_allclose(analytic, num, rtol=1e-6, atol=1e-7)


def test_parallel_path_matches_reference():
    # large enough to take the prange path (float32 only: keeps compile time down)
    rng = np.random.default_rng(1)
    B, K = S.PARALLEL_MIN_SIZE // 16 + 3, 16
    x = (rng.standard_normal((B, K)) * 5).astype(np.float32)
    gy = rng.standard_normal((B, K)).astype(np.float32)
    y = rng.integers(0, K, B)
    _close(S.softmax(x), R.softmax_ref(x), np.float32)
    _close(S.log_softmax(x), R.log_softmax_ref(x), np.float32, tol=1e-4)
    _close(S.softmax_grad(gy, S.softmax(x)), R.softmax_grad_ref(gy, R.softmax_ref(x)),
           np.float32)
    _close(S.log_softmax_grad(gy, S.log_softmax(x)),
           R.log_softmax_grad_ref(gy, R.log_softmax_ref(x)), np.float32, tol=1e-4)
    nll, sm = S.softmax_nll_forward(x, y)
    rnll, rsm = R.softmax_nll_forward_ref(x, y)
    _close(nll, rnll, np.float32, tol=1e-4)
    _close(sm, rsm, np.float32)
    g = rng.standard_normal(B).astype(np.float32)
    _close(S.softmax_nll_backward(g, sm, y), R.softmax_nll_backward_ref(g, rsm, y), np.float32)


def test_noncontiguous_input():
    x = np.random.default_rng(2).standard_normal((6, 4)).T
    assert not x.flags.c_contiguous
    _close(S.softmax(x), R.softmax_ref(x), np.float64)
