"""Numba CPU pooling kernels vs the numpy reference (Theano's Pool semantics)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import pool as P
from symgraph.kernels.cpu import reference as R

DTYPES = [np.float32, np.float64]


def _close(got, ref, dtype):
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@st.composite
def pool_case(draw):
    wh = draw(st.integers(1, 4))
    ww = draw(st.integers(1, 4))
    sh = draw(st.integers(1, 4))
    sw = draw(st.integers(1, 4))
    ignore_border = draw(st.booleans())
    if ignore_border and draw(st.booleans()):
        ph = draw(st.integers(0, wh - 1))
        pw = draw(st.integers(0, ww - 1))
    else:
        ph = pw = 0
    H = draw(st.integers(1, 9))
    W = draw(st.integers(1, 9))
    N = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    mode = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    return (N, C, H, W), (wh, ww, sh, sw, ph, pw, ignore_border, mode), dtype, seed


def _x(shape, dtype, seed):
    # distinct values: no ties in max windows
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.37 - n * 0.1).astype(dtype)


# ------------------------------------------------------------------ output sizes

@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.integers(1, 6), st.integers(1, 6), st.integers(0, 5),
       st.booleans())
def test_out_size_matches_theano_formula(size, ws, stride, pad, ignore_border):
    assert P.pool2d_out_size(size, ws, stride, pad, ignore_border) == \
        R.pool2d_out_size_ref(size, ws, stride, pad, ignore_border)


def test_out_size_examples():
    # Theano docs: 5 rows, ws 2 -> 2 with ignore_border, 3 without
    assert P.pool2d_out_size(5, 2, 2, 0, True) == 2
    assert P.pool2d_out_size(5, 2, 2, 0, False) == 3
    assert P.pool2d_out_size(5, 3, 1, 0, False) == 3
    assert P.pool2d_out_size(4, 3, 2, 0, False) == 2
    assert P.pool2d_out_size(2, 3, 1, 0, False) == 1
    assert P.pool2d_out_size(2, 3, 1, 0, True) == 0
    assert P.pool2d_out_size(24, 2, 2, 0, True) == 12
    assert P.pool2d_out_size(5, 3, 2, 1, True) == 3


# ------------------------------------------------------------------ kernels vs reference

@settings(max_examples=40, deadline=None)
@given(pool_case())
def test_forward_matches_reference(case):
    shape, args, dtype, seed = case
    x = _x(shape, dtype, seed)
    _close(P.pool2d_forward(x, *args), R.pool2d_forward_ref(x, *args), dtype)


@settings(max_examples=40, deadline=None)
@given(pool_case())
def test_backward_matches_reference(case):
    shape, args, dtype, seed = case
    x = _x(shape, dtype, seed)
    out = P.pool2d_forward(x, *args)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(dtype)
    _close(P.pool2d_backward(x, out, g, *args), R.pool2d_backward_ref(x, out, g, *args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("ws", [(2, 2), (3, 2), (1, 3)])
def test_tiled_path_matches_reference(ws, mode, dtype):
    # stride == window, no padding: the specialised non-overlapping path (with leftover
    # rows/cols that no window reaches)
    x = _x((3, 4, 13, 11), dtype, ws[0] * 10 + mode)
    args = (ws[0], ws[1], ws[0], ws[1], 0, 0, True, mode)
    out = P.pool2d_forward(x, *args)
    _close(out, R.pool2d_forward_ref(x, *args), dtype)
    g = np.random.default_rng(mode).standard_normal(out.shape).astype(dtype)
    _close(P.pool2d_backward(x, out, g, *args), R.pool2d_backward_ref(x, out, g, *args), dtype)


def test_padding_and_partial_windows_by_hand():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # 2x2 windows, stride 2, pad 1: windows hold 1, 2 and 4 real cells
    args = (2, 2, 2, 2, 1, 1, True)
    np.testing.assert_allclose(P.pool2d_forward(x, *args, 0)[0, 0], [[1, 3], [7, 9]])
    np.testing.assert_allclose(P.pool2d_forward(x, *args, 1)[0, 0], [[1, 5], [11, 28]])
    np.testing.assert_allclose(P.pool2d_forward(x, *args, 2)[0, 0],
                               [[0.25, 1.25], [2.75, 7.0]])
    np.testing.assert_allclose(P.pool2d_forward(x, *args, 3)[0, 0], [[1, 2.5], [5.5, 7.0]])
    # ignore_border=False: partial windows at the bottom/right edge
    y = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_allclose(P.pool2d_forward(y, 2, 2, 2, 2, 0, 0, False, 0)[0, 0],
                               [[5, 6], [8, 9]])
    np.testing.assert_allclose(P.pool2d_forward(y, 2, 2, 2, 2, 0, 0, False, 2)[0, 0],
                               [[3, 4.5], [7.5, 9]])
    assert P.pool2d_forward(y, 2, 2, 2, 2, 0, 0, True, 0).shape == (1, 1, 1, 1)


def test_max_gradient_goes_to_every_tied_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out = P.pool2d_forward(x, 2, 2, 2, 2, 0, 0, True, 0)
    gx = P.pool2d_backward(x, out, np.full_like(out, 2.0), 2, 2, 2, 2, 0, 0, True, 0)
    np.testing.assert_array_equal(gx[0, 0], [[0, 2], [2, 0]])
    np.testing.assert_array_equal(
        R.pool2d_backward_ref(x, out, np.full_like(out, 2.0), 2, 2, 2, 2, 0, 0, True, 0),
        gx)


# ------------------------------------------------------------------ adjoint / finite diff

@settings(max_examples=40, deadline=None)
@given(pool_case())
def test_linear_modes_backward_is_adjoint(case):
    shape, args, _, seed = case
    args = args[:-1] + (1 + seed % 3,)  # sum / average_inc_pad / average_exc_pad
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    out = P.pool2d_forward(x, *args)
    g = rng.standard_normal(out.shape)
    gx = P.pool2d_backward(x, out, g, *args)
    assert abs(np.sum(out * g) - np.sum(x * gx)) <= 1e-10 * (1 + np.abs(out * g).sum())


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("args", [(2, 2, 2, 2, 0, 0, True), (3, 2, 2, 1, 0, 0, False),
                                  (3, 3, 2, 2, 1, 2, True), (2, 3, 3, 2, 0, 0, False)])
def test_backward_matches_finite_differences(args, mode):
    x = _x((2, 2, 7, 6), np.float64, sum(args[:6]) + mode)
    out = P.pool2d_forward(x, *args, mode)
    g = np.random.default_rng(mode).standard_normal(out.shape)
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        num[i] = (np.sum(P.pool2d_forward(x + d, *args, mode) * g)
                  - np.sum(P.pool2d_forward(x - d, *args, mode) * g)) / (2 * eps)
    np.testing.assert_allclose(P.pool2d_backward(x, out, g, *args, mode), num, rtol=1e-6,
                               atol=1e-6)


# ------------------------------------------------------------------ errors

def test_errors():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError):
        P.pool2d_forward(x, 2, 2, 2, 2, 1, 1, False, 0)  # padding needs ignore_border
    with pytest.raises(ValueError):
        P.pool2d_forward(x, 2, 2, 2, 2, 2, 0, True, 0)  # pad >= window
    with pytest.raises(ValueError):
        P.pool2d_forward(x, 2, 2, 2, 2, 0, 0, True, 4)  # bad mode
    with pytest.raises(ValueError):
        P.pool2d_forward(x, 0, 2, 2, 2, 0, 0, True, 0)
    out = P.pool2d_forward(x, 2, 2, 2, 2, 0, 0, True, 0)
    with pytest.raises(ValueError):
        P.pool2d_backward(x, out, np.ones((1, 1, 3, 3)), 2, 2, 2, 2, 0, 0, True, 0)
