"""Numba CPU conv kernels vs the numpy reference, scipy, finite differences and adjoints."""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import conv as K
from symgraph.kernels.cpu import reference as R

DTYPES = [np.float32, np.float64]


def _close(got, ref, dtype):
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


@st.composite
def conv_case(draw, max_c=4, max_f=5):
    KH = draw(st.integers(1, 4))
    KW = draw(st.integers(1, 4))
    ph = draw(st.integers(0, 2))
    pw = draw(st.integers(0, 2))
    sh = draw(st.integers(1, 3))
    sw = draw(st.integers(1, 3))
    # the padded input must hold at least one window
    H = draw(st.integers(max(1, KH - 2 * ph), KH - 2 * ph + 7))
    W = draw(st.integers(max(1, KW - 2 * pw), KW - 2 * pw + 7))
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, max_c))
    F = draw(st.integers(1, max_f))
    flip = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(N=N, C=C, H=H, W=W, F=F, KH=KH, KW=KW, ph=ph, pw=pw, sh=sh, sw=sw,
                flip=flip, dtype=dtype, seed=seed)


def _arrays(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"])).astype(c["dtype"])
    w = rng.standard_normal((c["F"], c["C"], c["KH"], c["KW"])).astype(c["dtype"])
    OH = (c["H"] + 2 * c["ph"] - c["KH"]) // c["sh"] + 1
    OW = (c["W"] + 2 * c["pw"] - c["KW"]) // c["sw"] + 1
    g = rng.standard_normal((c["N"], c["F"], OH, OW)).astype(c["dtype"])
    return x, w, g


def _args(c):
    return c["ph"], c["pw"], c["sh"], c["sw"], c["flip"]


# ------------------------------------------------------------------ the reference itself

@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("shape", [(5, 7, 3, 2), (6, 6, 1, 1), (4, 9, 4, 3)])
def test_reference_matches_scipy(mode, flip, shape):
    H, W, KH, KW = shape
    rng = np.random.default_rng(H * 100 + W)
    C, F = 2, 3
    x = rng.standard_normal((1, C, H, W))
    w = rng.standard_normal((F, C, KH, KW))
    ph, pw = (0, 0) if mode == "valid" else (KH - 1, KW - 1)
    got = R.conv2d_forward_ref(x, w, ph, pw, 1, 1, flip)
    fn = scipy.signal.convolve2d if flip else scipy.signal.correlate2d
    for f in range(F):
        exp = sum(fn(x[0, c], w[f, c], mode=mode) for c in range(C))
        np.testing.assert_allclose(got[0, f], exp, rtol=1e-12, atol=1e-12)


def test_reference_strided_subsamples_full_result():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 9, 8))
    w = rng.standard_normal((3, 2, 3, 2))
    full = R.conv2d_forward_ref(x, w, 1, 1, 1, 1, True)
    np.testing.assert_allclose(R.conv2d_forward_ref(x, w, 1, 1, 2, 3, True),
                               full[:, :, ::2, ::3], atol=1e-12)


# ------------------------------------------------------------------ kernels vs reference

@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_forward_matches_reference(c):
    x, w, _ = _arrays(c)
    _close(K.conv2d_forward(x, w, *_args(c)), R.conv2d_forward_ref(x, w, *_args(c)),
           c["dtype"])


@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_grad_input_matches_reference(c):
    x, w, g = _arrays(c)
    got = K.conv2d_grad_input(g, w, c["H"], c["W"], *_args(c))
    _close(got, R.conv2d_grad_input_ref(g, w, c["H"], c["W"], *_args(c)), c["dtype"])


@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_grad_filters_matches_reference(c):
    x, w, g = _arrays(c)
    got = K.conv2d_grad_filters(x, g, c["KH"], c["KW"], *_args(c))
    _close(got, R.conv2d_grad_filters_ref(x, g, c["KH"], c["KW"], *_args(c)), c["dtype"])


# shapes that take the other algorithm for stride 1 (many taps -> im2col + GEMM),
# the MNIST layer shape (direct), padding larger than the kernel (GEMM for grad input)
BIG = [
    dict(N=2, C=9, H=7, W=6, F=6, KH=4, KW=4, ph=1, pw=2, sh=1, sw=1),
    dict(N=3, C=20, H=6, W=6, F=5, KH=3, KW=3, ph=1, pw=1, sh=1, sw=1),
    dict(N=2, C=1, H=28, W=28, F=20, KH=5, KW=5, ph=0, pw=0, sh=1, sw=1),
    dict(N=2, C=2, H=5, W=4, F=3, KH=2, KW=2, ph=3, pw=2, sh=1, sw=1),
    dict(N=2, C=3, H=6, W=5, F=40, KH=2, KW=2, ph=0, pw=1, sh=1, sw=1),
    # an output plane larger than one cache block of the direct kernels
    dict(N=2, C=2, H=50, W=49, F=5, KH=3, KW=2, ph=1, pw=0, sh=1, sw=1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("case", range(len(BIG)))
def test_both_algorithms_match_reference(case, flip, dtype):
    c = dict(BIG[case], flip=flip, dtype=dtype, seed=case)
    x, w, g = _arrays(c)
    _close(K.conv2d_forward(x, w, *_args(c)), R.conv2d_forward_ref(x, w, *_args(c)), dtype)
    _close(K.conv2d_grad_input(g, w, c["H"], c["W"], *_args(c)),
           R.conv2d_grad_input_ref(g, w, c["H"], c["W"], *_args(c)), dtype)
    _close(K.conv2d_grad_filters(x, g, c["KH"], c["KW"], *_args(c)),
           R.conv2d_grad_filters_ref(x, g, c["KH"], c["KW"], *_args(c)), dtype)


def test_uses_direct_and_gemm_paths():
    # the dispatch threshold really separates the two test groups above
    assert 1 * 5 * 5 <= K.DIRECT_MAX_TAPS < 9 * 4 * 4
    assert 20 * 3 * 3 > K.DIRECT_MAX_TAPS


def test_float32_stays_float32_and_noncontiguous_input():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32).transpose(0, 3, 1, 2)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    assert not x.flags.c_contiguous
    got = K.conv2d_forward(x, w, 1, 1, 1, 1, True)
    assert got.dtype == np.float32
    _close(got, R.conv2d_forward_ref(x, w, 1, 1, 1, 1, True), np.float32)


# ------------------------------------------------------------------ adjoints

@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_gradients_are_adjoints_of_forward(c):
    c = dict(c, dtype=np.float64)
    x, w, g = _arrays(c)
    y = K.conv2d_forward(x, w, *_args(c))
    gx = K.conv2d_grad_input(g, w, c["H"], c["W"], *_args(c))
    gw = K.conv2d_grad_filters(x, g, c["KH"], c["KW"], *_args(c))
    lhs = float(np.sum(y * g))
    tol = 1e-10 * (1 + np.abs(y).sum() * np.abs(g).max())
    assert abs(lhs - float(np.sum(x * gx))) <= tol
    assert abs(lhs - float(np.sum(w * gw))) <= tol


# ------------------------------------------------------------------ finite differences

FD_CASES = [
    (1, 2, 5, 4, 2, 3, 2, 0, 0, 1, 1, True),
    (2, 1, 6, 5, 3, 2, 3, 1, 1, 1, 1, False),
    (1, 2, 7, 6, 2, 3, 3, 1, 0, 2, 2, True),
    (2, 3, 5, 5, 2, 2, 2, 2, 1, 1, 2, False),
]


@pytest.mark.parametrize("case", FD_CASES)
def test_gradients_match_finite_differences(case):
    N, C, H, W, F, KH, KW, ph, pw, sh, sw, flip = case
    rng = np.random.default_rng(sum(case[:-1]))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, KH, KW))
    y = K.conv2d_forward(x, w, ph, pw, sh, sw, flip)
    g = rng.standard_normal(y.shape)

    def loss(xx, ww):
        return float(np.sum(K.conv2d_forward(xx, ww, ph, pw, sh, sw, flip) * g))

    eps = 1e-6
    num_x = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        num_x[i] = (loss(x + d, w) - loss(x - d, w)) / (2 * eps)
    num_w = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        num_w[i] = (loss(x, w + d) - loss(x, w - d)) / (2 * eps)
    np.testing.assert_allclose(K.conv2d_grad_input(g, w, H, W, ph, pw, sh, sw, flip), num_x,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(K.conv2d_grad_filters(x, g, KH, KW, ph, pw, sh, sw, flip),
                               num_w, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ shapes and errors

def test_output_size_and_unused_rows_get_zero_gradient():
    assert K.conv2d_out_size(28, 5, 0, 1) == 24
    assert K.conv2d_out_size(8, 3, 1, 3) == 3
    x = np.ones((1, 1, 8, 8))
    w = np.ones((1, 1, 3, 3))
    y = K.conv2d_forward(x, w, 0, 0, 3, 3, False)
    assert y.shape == (1, 1, 2, 2)
    gx = K.conv2d_grad_input(np.ones_like(y), w, 8, 8, 0, 0, 3, 3, False)
    assert gx.shape == (1, 1, 8, 8)
    assert np.all(gx[0, 0, 6:, :] == 0) and np.all(gx[0, 0, :, 6:] == 0)
    assert np.all(gx[0, 0, :6, :6] == 1)


def test_errors():
    x = np.ones((1, 2, 5, 5))
    with pytest.raises(ValueError):
        K.conv2d_forward(x, np.ones((1, 3, 2, 2)), 0, 0, 1, 1, True)
    with pytest.raises(ValueError):
        K.conv2d_forward(x, np.ones((1, 2, 2, 2)), 0, 0, 0, 1, True)
    with pytest.raises(ValueError):
        K.conv2d_grad_input(np.ones((1, 1, 3, 3)), np.ones((1, 2, 2, 2)), 5, 5, 0, 0, 1, 1,
                            True)
    with pytest.raises(ValueError):
        K.conv2d_grad_filters(x, np.ones((1, 1, 3, 3)), 2, 2, 0, 0, 1, 1, True)
