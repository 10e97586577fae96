"""Tests of symgraph.tensor.signal.pool (Pool, MaxPoolGrad, AveragePoolGrad,
MaxPoolGradGrad) on both backends against symgraph.kernels.cpu.reference."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from symgraph.kernels.cpu import reference as R

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.shape_inference import static_shape
from symgraph.tensor.signal import downsample, pool
from symgraph.tensor.signal.pool import MaxPoolGrad, MaxPoolGradGrad, Pool
from symgraph.testing import check_op

HYP = settings(max_examples=8, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]
#: (ws, ignore_border, stride, pad)
CASES = [((2, 2), True, None, (0, 0)), ((2, 3), False, None, (0, 0)),
         ((3, 2), False, (1, 2), (0, 0)), ((2, 2), False, (3, 3), (0, 0)),
         ((3, 3), True, (2, 1), (1, 2)), ((2, 3), True, (1, 1), (1, 1))]


def distinct(shape, dtype="float64", seed=0):
    """Values with no ties (max pooling's gradient is then well defined)."""
    n = int(np.prod(shape))
    v = np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5
    return v.astype(dtype)


def ref_fwd(x, ws, ib, stride, pad, mode):
    s = stride or ws
    x4 = x.reshape((-1,) + x.shape[-3:]) if x.ndim >= 4 else x.reshape(
        (1,) * (4 - x.ndim) + x.shape)
    out = R.pool2d_forward_ref(x4, *ws, *s, *pad, ib, pool.MODES[mode])
    return out.reshape(x.shape[:-2] + out.shape[-2:])


def ref_bwd(x, g, ws, ib, stride, pad, mode):
    s = stride or ws
    x4 = x.reshape((-1,) + x.shape[-3:]) if x.ndim >= 4 else x.reshape(
        (1,) * (4 - x.ndim) + x.shape)
    g4 = g.reshape(x4.shape[:2] + g.shape[-2:])
    out = R.pool2d_forward_ref(x4, *ws, *s, *pad, ib, pool.MODES[mode])
    gx = R.pool2d_backward_ref(x4, out, g4, *ws, *s, *pad, ib, pool.MODES[mode])
    return gx.reshape(x.shape)


# --------------------------------------------------------------------- forward/grad

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pool_forward_all_cases(dtype):
    x = distinct((2, 3, 7, 8), dtype)
    combos = [(c, m) for c in CASES for m in MODES]
    check_op(lambda a: [pool.pool_2d(a, ws, ib, st_, pad, m) for (ws, ib, st_, pad), m in combos],
             [x], ref=lambda a: [ref_fwd(a, *c, m) for c, m in combos], grad=False)


@pytest.mark.parametrize("dtype,mode", [("float64", m) for m in MODES]
                         + [("float32", "max"), ("float32", "average_inc_pad")])
def test_pool_gradients_all_cases(dtype, mode):
    x = distinct((2, 2, 7, 8), dtype, seed=1)
    combos = [(c, mode) for c in CASES]
    gs = [np.random.default_rng(k).standard_normal(ref_fwd(x, *c, m).shape).astype(dtype)
          for k, (c, m) in enumerate(combos)]

    def fn(a):
        return [T.grad((pool.pool_2d(a, ws, ib, st_, pad, m) * g).sum(), a)
                for ((ws, ib, st_, pad), m), g in zip(combos, gs)]

    check_op(fn, [x], ref=lambda a: [ref_bwd(a, g, *c, m) for (c, m), g in zip(combos, gs)],
             grad=False)


def test_pool_verify_grad_every_case():
    x = distinct((1, 2, 6, 7), seed=2)
    combos = [(c, m) for c in CASES for m in MODES]

    def cost(a):
        terms = []
        for k, ((ws, ib, st_, pad), m) in enumerate(combos):
            y = pool.pool_2d(a, ws, ib, st_, pad, m)
            p = np.random.default_rng(k).standard_normal(ref_fwd(x, ws, ib, st_, pad,
                                                                 m).shape)
            terms.append((y * p).sum())
        return T.add(*terms)

    verify_grad(cost, [x], mode="py", eps=1e-6)


def test_pool_check_op_with_grad():
    x = distinct((2, 3, 5, 5), seed=3)
    check_op(lambda a: pool.pool_2d(a, (2, 2), ignore_border=False, mode="max"), [x],
             ref=lambda a: ref_fwd(a, (2, 2), False, None, (0, 0), "max"))
    check_op(lambda a: pool.pool_2d(a, (3, 2), True, (1, 1), (1, 1), "average_exc_pad"), [x],
             ref=lambda a: ref_fwd(a, (3, 2), True, (1, 1), (1, 1), "average_exc_pad"))


@pytest.mark.parametrize("shape", [(7, 6), (3, 7, 6), (2, 2, 3, 5, 6)])
def test_pool_any_ndim(shape):
    x = distinct(shape, seed=4)
    g = np.random.default_rng(0).standard_normal(ref_fwd(x, (2, 2), False, None, (0, 0),
                                                         "max").shape)

    def fn(a):
        y = pool.pool_2d(a, (2, 2), ignore_border=False)
        return [y, T.grad((y * g).sum(), a)]

    check_op(fn, [x], ref=lambda a: [ref_fwd(a, (2, 2), False, None, (0, 0), "max"),
                                      ref_bwd(a, g, (2, 2), False, None, (0, 0), "max")],
             grad=False)


def test_max_pool_ties_route_to_every_max_like_theano():
    x = np.array([[[[1.0, 1.0, 0.0], [0.5, 1.0, 0.2], [0.0, 0.0, 0.0]]]])
    for mode in ("py", "numba"):
        a = T.dtensor4()
        f = theano.function([a], T.grad(pool.pool_2d(a, (2, 2), ignore_border=True).sum(), a),
                            mode=mode)
        np.testing.assert_array_equal(f(x)[0, 0], [[1, 1, 0], [0, 1, 0], [0, 0, 0]])


def test_pool_second_order():
    x = distinct((1, 2, 5, 6), seed=5)
    oshape = ref_fwd(x, (2, 3), False, (1, 2), (0, 0), "max").shape
    w = np.arange(1.0, 1.0 + np.prod(oshape)).reshape(oshape)
    for mode in ("max", "average_inc_pad", "sum"):
        def g2(a, mode=mode):
            y = pool.pool_2d(a, (2, 3), False, (1, 2), mode=mode)
            ga = T.grad((y * w).sum(), a)
            return (ga * ga * a).sum()

        verify_grad(g2, [x], mode="py", eps=1e-6)
    # MaxPoolGradGrad directly, both backends
    y = ref_fwd(x, (2, 2), True, None, (0, 0), "max")
    gg = np.random.default_rng(1).standard_normal(x.shape)
    mask_sum = np.zeros_like(y)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            win = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            m = win == y[:, :, i:i + 1, j:j + 1]
            mask_sum[:, :, i, j] = (gg[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] * m).sum(
                axis=(2, 3))
    check_op(lambda a, b, c: MaxPoolGradGrad((2, 2), True)(a, b, c), [x, y, gg],
             ref=lambda a, b, c: mask_sum, grad=False)


@HYP
@given(h=st.integers(1, 7), w=st.integers(1, 7), wh=st.integers(1, 3), ww=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ib=st.booleans(), pad=st.booleans(),
       mode=st.sampled_from(MODES), dtype=st.sampled_from(["float32", "float64"]))
def test_pool_hypothesis(h, w, wh, ww, sh, sw, ib, pad, mode, dtype):
    p = (wh - 1, ww - 1) if (pad and ib) else (0, 0)
    x = distinct((2, 2, h, w), dtype, seed=h * 10 + w)
    out = ref_fwd(x, (wh, ww), ib, (sh, sw), p, mode)
    g = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)

    def fn(a):
        y = pool.pool_2d(a, (wh, ww), ib, (sh, sw), p, mode)
        return [y, T.grad((y * g).sum(), a)]

    check_op(fn, [x], ref=lambda a: [ref_fwd(a, (wh, ww), ib, (sh, sw), p, mode),
                                      ref_bwd(a, g, (wh, ww), ib, (sh, sw), p, mode)],
             grad=False)


# -------------------------------------------------------------------- API details

def test_ignore_border_default_warns_and_is_false_like_theano():
    x = T.dtensor4()
    with pytest.warns(UserWarning, match="ignore_border"):
        y = pool.pool_2d(x, (2, 2))
    assert y.owner.op.ignore_border is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool.pool_2d(x, (2, 2), ignore_border=True)


def test_old_names_and_aliases():
    xv = distinct((1, 1, 5, 5))
    x = T.dtensor4()
    with pytest.warns(DeprecationWarning):
        a = pool.pool_2d(x, ds=(2, 2), ignore_border=True, st=(1, 1))
    b = pool.max_pool_2d(x, (2, 2), True, (1, 1))
    c = downsample.max_pool_2d(x, (2, 2), ignore_border=True, st=(1, 1))
    assert a.owner.op == b.owner.op == c.owner.op == Pool((2, 2), True, (1, 1))
    same = pool.max_pool_2d_same_size(x, (2, 2))
    f = theano.function([x], [a, same])
    r, s = f(xv)
    np.testing.assert_allclose(r, ref_fwd(xv, (2, 2), True, (1, 1), (0, 0), "max"))
    assert s.shape == xv.shape and np.count_nonzero(s) == 4


def test_infer_shape_is_static_when_possible():
    x = T.tensor("float64", (False,) * 4)
    y = pool.pool_2d(x, (2, 2), ignore_border=False)
    assert static_shape(y) == (None, None, None, None)
    c = T.constant(np.zeros((2, 3, 5, 7)))
    assert static_shape(pool.pool_2d(c, (2, 3), ignore_border=False)) == (2, 3, 3, 3)
    assert pool.pool_out_shape((10, 3, 5, 5), (2, 2), ignore_border=True) == (10, 3, 2, 2)


def test_argument_errors():
    x = T.dtensor4()
    with pytest.raises(NotImplementedError, match="ignore_border=True"):
        pool.pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(NotImplementedError, match="smaller than the window"):
        pool.pool_2d(x, (2, 2), ignore_border=True, pad=(2, 0))
    with pytest.raises(ValueError, match="mode"):
        pool.pool_2d(x, (2, 2), ignore_border=True, mode="median")
    with pytest.raises(ValueError, match="ws entries must be >= 1"):
        pool.pool_2d(x, (0, 2), ignore_border=True)
    with pytest.raises(NotImplementedError, match="dimension >= 2"):
        pool.pool_2d(T.dvector(), (2, 2), ignore_border=True)
    # symbolic sizes are Theano's Pool inputs (tests/tensor/signal/test_pool_dynamic.py);
    # they must be integers
    with pytest.raises(TypeError, match="integer vector"):
        pool.pool_2d(x, T.dvector(), ignore_border=True)
    with pytest.raises(TypeError, match=r"Pool.*float32/float64 input.*int32"):
        pool.pool_2d(T.itensor4(), (2, 2), ignore_border=True)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_grad_shape_mismatch(mode):
    x = T.dtensor4("x")
    g = T.dtensor4("g")
    f = theano.function([x, g], MaxPoolGrad((2, 2), True)(x, Pool((2, 2), True)(x), g),
                        mode=mode)
    with pytest.raises(ValueError, match=r"MaxPoolGrad.*gradient"):
        f(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)))
