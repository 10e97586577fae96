"""Tests of the 2-D convolution ops (Conv2d, Conv2dGradInputs, Conv2dGradWeights) and of
the two user functions (T.nnet.conv2d and the old nnet.conv.conv2d), on both backends
against the numpy references of symgraph.kernels.cpu.reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import reference as R

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet import conv
from symgraph.tensor.nnet.conv import Conv2dGradInputs, Conv2dGradWeights
from symgraph.tensor.shape_inference import static_shape
from symgraph.testing import check_op

HYP = settings(max_examples=8, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: (border_mode, subsample, filter_flip)
CASES = [("valid", (1, 1), True), ("full", (1, 1), True), ("half", (1, 1), False),
         ((1, 2), (1, 1), True), ("valid", (2, 3), True), ("full", (2, 2), False),
         ("half", (3, 1), True), (2, (2, 1), False)]


def pads(bm, kh, kw):
    if bm == "valid":
        return 0, 0
    if bm == "full":
        return kh - 1, kw - 1
    if bm == "half":
        return kh // 2, kw // 2
    if isinstance(bm, int):
        return bm, bm
    return bm


def ref_fwd(x, w, bm, sub, flip):
    return R.conv2d_forward_ref(x, w, *pads(bm, *w.shape[2:]), *sub, flip)


def ref_grads(x, w, g, bm, sub, flip):
    ph, pw = pads(bm, *w.shape[2:])
    gx = R.conv2d_grad_input_ref(g, w, x.shape[2], x.shape[3], ph, pw, *sub, flip)
    gw = R.conv2d_grad_filters_ref(x, g, w.shape[2], w.shape[3], ph, pw, *sub, flip)
    return gx, gw


def data(dtype="float64", xs=(2, 3, 7, 6), ws=(4, 3, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)


def proj(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------- forward

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv2d_forward_all_modes(dtype):
    x, w = data(dtype)
    check_op(lambda a, b: [T.nnet.conv2d(a, b, border_mode=bm, subsample=s, filter_flip=f)
                           for bm, s, f in CASES],
             [x, w], ref=lambda a, b: [ref_fwd(a, b, *c) for c in CASES], grad=False)


def test_conv2d_single_case_with_verify_grad():
    x, w = data(xs=(2, 2, 5, 4), ws=(3, 2, 2, 3))
    check_op(lambda a, b: T.nnet.conv2d(a, b, border_mode="full", subsample=(2, 1)), [x, w],
             ref=lambda a, b: ref_fwd(a, b, "full", (2, 1), True))


def test_conv2d_matches_scipy_convolve():
    from scipy.signal import convolve2d, correlate2d

    x, w = data(xs=(1, 1, 6, 5), ws=(1, 1, 3, 2))
    f = theano.function([], [T.nnet.conv2d(x, w), T.nnet.conv2d(x, w, filter_flip=False),
                             T.nnet.conv2d(x, w, border_mode="full")])
    valid, corr, full = f()
    np.testing.assert_allclose(valid[0, 0], convolve2d(x[0, 0], w[0, 0], "valid"))
    np.testing.assert_allclose(corr[0, 0], correlate2d(x[0, 0], w[0, 0], "valid"))
    np.testing.assert_allclose(full[0, 0], convolve2d(x[0, 0], w[0, 0], "full"))


# ----------------------------------------------------------------------- gradients

@pytest.mark.parametrize("dtype,cases", [("float64", CASES[:4]), ("float64", CASES[4:]),
                                         ("float32", CASES[1::3])])
def test_conv2d_gradients_all_modes(dtype, cases):
    x, w = data(dtype)
    gs = []
    for k, (bm, s, f) in enumerate(cases):
        out_shape = ref_fwd(x, w, bm, s, f).shape
        gs.append(proj(out_shape, k).astype(dtype))

    def fn(a, b):
        outs = []
        for (bm, s, f), g in zip(cases, gs):
            y = T.nnet.conv2d(a, b, border_mode=bm, subsample=s, filter_flip=f)
            outs.extend(T.grad((y * g).sum(), [a, b]))
        return outs

    def ref(a, b):
        outs = []
        for c, g in zip(cases, gs):
            outs.extend(ref_grads(a, b, g, *c))
        return outs

    check_op(fn, [x, w], ref=ref, grad=False)


def test_conv2d_verify_grad_every_mode():
    x, w = data(xs=(2, 2, 6, 5), ws=(2, 2, 3, 2))

    def cost(a, b):
        terms = []
        for k, (bm, s, f) in enumerate(CASES):
            y = T.nnet.conv2d(a, b, border_mode=bm, subsample=s, filter_flip=f)
            terms.append((y * proj(ref_fwd(x, w, bm, s, f).shape, k)).sum())
        return T.add(*terms)

    verify_grad(cost, [x, w], mode="py")


def test_conv2d_second_order():
    x, w = data(xs=(1, 2, 5, 4), ws=(2, 2, 2, 2))
    g = proj((1, 2, 3, 3), 3)

    def grads(a, b):
        y = T.nnet.conv2d(a, b, border_mode=1, subsample=(2, 2))
        ga, gb = T.grad((y * g).sum(), [a, b])
        return (ga * ga).sum() + (gb * gb * a.sum()).sum()

    verify_grad(grads, [x, w], mode="py")
    check_op(lambda a, b: T.grad(grads(a, b), [a, b]), [x, w], grad=False)


def test_grad_ops_directly():
    x, w = data(xs=(2, 3, 6, 6), ws=(4, 3, 3, 3))
    g = proj((2, 4, 3, 3), 1)
    ph, pw = 1, 1
    check_op(lambda b, t, a: Conv2dGradInputs("half", (2, 2))(b, t, a), [w, g, x],
             ref=lambda b, t, a: R.conv2d_grad_input_ref(t, b, 6, 6, ph, pw, 2, 2, True),
             grad=False)
    check_op(lambda a, t, b: Conv2dGradWeights("half", (2, 2))(a, t, b), [x, g, w],
             ref=lambda a, t, b: R.conv2d_grad_filters_ref(a, t, 3, 3, ph, pw, 2, 2, True),
             grad=False)
    gi = conv.conv2d_grad_wrt_inputs(T.constant(g), T.constant(w), (2, 3, 6, 6),
                                     border_mode="half", subsample=(2, 2))
    np.testing.assert_allclose(theano.function([], gi)(),
                               R.conv2d_grad_input_ref(g, w, 6, 6, 1, 1, 2, 2, True))


@HYP
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), h=st.integers(3, 7),
       wd=st.integers(3, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       bm=st.sampled_from(["valid", "full", "half", 0, 1, (2, 1)]),
       sub=st.sampled_from([(1, 1), (2, 2), (1, 3)]), flip=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]))
def test_conv2d_hypothesis(n, c, f, h, wd, kh, kw, bm, sub, flip, dtype):
    x, w = data(dtype, (n, c, h, wd), (f, c, kh, kw), seed=h * 7 + wd)
    out_shape = ref_fwd(x, w, bm, sub, flip).shape
    g = proj(out_shape, 5).astype(dtype)

    def fn(a, b):
        y = T.nnet.conv2d(a, b, border_mode=bm, subsample=sub, filter_flip=flip)
        return [y] + T.grad((y * g).sum(), [a, b])

    def ref(a, b):
        return [ref_fwd(a, b, bm, sub, flip)] + list(ref_grads(a, b, g, bm, sub, flip))

    check_op(fn, [x, w], ref=ref, grad=False)


# ------------------------------------------------------------------ shapes and hints

def test_infer_shape_uses_hints():
    x = T.tensor4("x")
    w = T.tensor4("w")
    y = T.nnet.conv2d(x, w, input_shape=(None, 1, 28, 28), filter_shape=(20, 1, 5, 5))
    assert static_shape(y) == (None, 20, 24, 24)
    y = T.nnet.conv2d(x, w, input_shape=(8, 3, 9, 10), filter_shape=(4, 3, 3, 3),
                      border_mode="half", subsample=(2, 2))
    assert static_shape(y) == (8, 4, 5, 5)
    assert conv.get_conv_output_shape((8, 3, 9, 10), (4, 3, 3, 3), "full", (1, 1)) == \
        (8, 4, 11, 12)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_hint_mismatch_is_reported(mode):
    x = T.dtensor4("x")
    w = T.dtensor4("w")
    f = theano.function([x, w], T.nnet.conv2d(x, w, input_shape=(None, 3, 8, 8)), mode=mode)
    xv, wv = data(xs=(2, 3, 7, 8), ws=(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2d.*input_shape hint \(None, 3, 8, 8\).*"
                                         r"actual shape \(2, 3, 7, 8\)"):
        f(xv, wv)
    g = theano.function([x, w], T.nnet.conv2d(x, w, filter_shape=(2, 3, 5, 5)), mode=mode)
    with pytest.raises(ValueError, match=r"Conv2d.*filter_shape hint \(2, 3, 5, 5\).*"
                                         r"actual shape \(2, 3, 3, 3\)"):
        g(xv, wv)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_runtime_shape_errors(mode):
    x = T.dtensor4("x")
    w = T.dtensor4("w")
    f = theano.function([x, w], T.nnet.conv2d(x, w), mode=mode)
    xv, wv = data(xs=(1, 2, 5, 5), ws=(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2d.*2 channels.*\(1, 2, 5, 5\).*expect 3"):
        f(xv, wv)
    xv, wv = data(xs=(1, 3, 2, 5), ws=(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2d.*larger than the padded input"):
        f(xv, wv)


def test_type_and_argument_errors():
    with pytest.raises(TypeError, match=r"Conv2d.*input must be a 4-D tensor.*matrix"):
        T.nnet.conv2d(T.dmatrix(), T.dtensor4())
    with pytest.raises(TypeError, match=r"Conv2d.*filters must be a 4-D tensor"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor3())
    with pytest.raises(ValueError, match="border_mode"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor4(), border_mode="same-ish")
    with pytest.raises(ValueError, match="subsample"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor4(), subsample=(0, 1))
    # filter_dilation and num_groups are supported (tests/tensor/nnet/test_conv_ext.py)
    with pytest.raises(ValueError, match="filter_dilation"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor4(), filter_dilation=(0, 2))
    with pytest.raises(NotImplementedError, match="unshared"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor4(), unshared=True)
    with pytest.raises(ValueError, match="input_shape hint|4 entries"):
        T.nnet.conv2d(T.dtensor4(), T.dtensor4(), input_shape=(1, 2, 3))
    with pytest.raises(ValueError, match="'valid' or 'full'"):
        conv.conv2d(T.dtensor4(), T.dtensor4(), border_mode="half")


def test_dtypes_and_broadcast():
    x = T.ftensor4("x")
    w = T.dtensor4("w")
    assert T.nnet.conv2d(x, w).dtype == "float64"
    assert T.nnet.conv2d(x, T.ftensor4()).dtype == "float32"
    xb = T.tensor("float64", (True, False, False, False))
    assert T.nnet.conv2d(xb, w).broadcastable == (True, False, False, False)
    # the gradient wrt a broadcastable input keeps its pattern
    g = T.grad(T.nnet.conv2d(xb, w).sum(), xb)
    assert g.broadcastable == xb.broadcastable


# ---------------------------------------------------------------------- old API

def test_old_conv2d_api():
    x, w = data(xs=(2, 1, 8, 7), ws=(3, 1, 3, 3))
    a = T.dtensor4("a")
    b = T.dtensor4("b")
    y = conv.conv2d(input=a, filters=b, filter_shape=(3, 1, 3, 3), image_shape=(2, 1, 8, 7))
    assert static_shape(y) == (2, 3, 6, 5)
    y_full = conv.conv2d(a, b, (2, 1, 8, 7), (3, 1, 3, 3), border_mode="full",
                         subsample=(2, 1))
    f = theano.function([a, b], [y, y_full])
    r1, r2 = f(x, w)
    np.testing.assert_allclose(r1, ref_fwd(x, w, "valid", (1, 1), True), rtol=1e-10)
    np.testing.assert_allclose(r2, ref_fwd(x, w, "full", (2, 1), True), rtol=1e-10)
    # image_shape mismatch detected at run time
    with pytest.raises(ValueError, match=r"input_shape hint \(2, 1, 8, 7\)"):
        f(x[:1], w)


def test_lenet_style_layer_trains():
    """A conv + pool + softmax layer: the cost goes down with plain SGD (numba backend)."""
    from symgraph.tensor.signal import pool

    rng = np.random.default_rng(0)
    xv = rng.standard_normal((16, 1, 8, 8))
    yv = (xv[:, 0, :4].sum(axis=(1, 2)) > 0).astype("int64")
    x = T.dtensor4("x")
    y = T.lvector("y")
    W = theano.shared(rng.standard_normal((4, 1, 3, 3)) * 0.3, name="W")
    V = theano.shared(np.zeros((36, 2)), name="V")
    h = pool.pool_2d(T.nnet.relu(T.nnet.conv2d(x, W, filter_shape=(4, 1, 3, 3))), (2, 2),
                     ignore_border=True)
    p = T.nnet.softmax(T.dot(h.flatten(2), V))
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gV = T.grad(cost, [W, V])
    step = theano.function([x, y], cost, updates=[(W, W - 0.1 * gW), (V, V - 0.1 * gV)])
    costs = [float(step(xv, yv)) for _ in range(30)]
    assert costs[-1] < 0.8 * costs[0]


@pytest.mark.parametrize("extern", [True, False], ids=["by-symbol", "linked-in"])
def test_direct_kernel_calls_without_objmode(tmp_path, monkeypatch, extern):
    """The generators' two direct-call paths: kernels reached by their registered symbols
    (the default) or linked into the graph, compiled into a throw-away cache folder."""
    from symgraph.config import config
    from symgraph.link.numba.impl import nnet as impl
    from symgraph.tensor.signal import pool

    monkeypatch.setattr(impl, "KERNELS_EXTERN", extern)
    monkeypatch.setattr(config, "cache_dir", str(tmp_path))
    x, w = data(xs=(2, 3, 7, 6), ws=(4, 3, 3, 2))
    y = np.array([0, 3])

    def fn(a, b):
        h = pool.pool_2d(T.nnet.conv2d(a, b, border_mode="half", subsample=(1, 2)), (2, 2),
                         ignore_border=True)
        cost = T.nnet.softmax_nll(h.flatten(2)[:, :4], T.constant(y)).sum()
        return [h, cost, *T.grad(cost, [a, b]), T.nnet.log_softmax(h.flatten(2))]

    check_op(fn, [x, w], grad=False)
    a, b = T.dtensor4(), T.dtensor4()
    src = theano.function([a, b], fn(a, b)).executable.source
    assert "_k_conv_fwd(" in src and "_k_pool_bwd(" in src and "kcall" not in src
    assert ("_k_conv_fwd = _sg_links.extern(" in src) == extern
