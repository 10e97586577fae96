"""Tests of symgraph.tensor.nnet.basic: activations, softmax family, cross-entropies,
the fused SoftmaxNLL op and the stabilizing rewrites, on the py and numba backends."""
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
from symgraph.tensor.nnet import sigmoid, softmax
from symgraph.tensor.nnet.basic import (
    CrossentropyCategorical1Hot,
    LogSoftmax,
    LogSoftmaxGrad,
    Softmax,
    SoftmaxGrad,
    SoftmaxNLL,
    SoftmaxNLLGrad,
)
from symgraph.testing import check_op

HYP = settings(max_examples=6, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rng(seed=0):
    return np.random.default_rng(seed)


def ops_of(f):
    return [type(n.op).__name__ for n in f.maker.fgraph.toposort()]


# ------------------------------------------------------------------------ activations

def test_sigmoid_softplus_are_the_math_ops():
    assert T.nnet.sigmoid is T.sigmoid
    assert T.nnet.softplus is T.softplus
    assert sigmoid is T.sigmoid


@pytest.mark.parametrize("fn,ref", [
    (lambda x: T.nnet.relu(x), lambda x: np.maximum(x, 0)),
    (lambda x: T.nnet.relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (lambda x: T.nnet.elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    (lambda x: T.nnet.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (lambda x: T.nnet.hard_sigmoid(x), lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    (lambda x: T.nnet.softsign(x), lambda x: x / (1 + np.abs(x))),
    (lambda x: T.nnet.selu(x), lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x))),
    (lambda x: T.nnet.ultra_fast_sigmoid(x), lambda x: 1 / (1 + np.exp(-x))),
])
def test_activations(fn, ref):
    # keep clear of the kinks for the finite differences
    x = rng().uniform(0.1, 2, (3, 4)) * rng(1).choice([-1, 1], (3, 4))
    check_op(fn, [x], ref=ref)


def test_relu_float32_and_symbolic_alpha():
    x = rng().standard_normal((5,)).astype("float32")
    check_op(lambda v: T.nnet.relu(v), [x], ref=lambda v: np.maximum(v, 0), grad=False)
    a = T.fscalar("a")
    v = T.fvector("v")
    f = theano.function([v, a], T.nnet.relu(v, a))
    out = f(x, np.float32(0.2))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.2 * x), rtol=1e-6)


# --------------------------------------------------------------------------- softmax

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_and_log_softmax(dtype):
    x = rng().standard_normal((4, 6)).astype(dtype)
    check_op(lambda v: softmax(v), [x], ref=R.softmax_ref, grad=dtype == "float64")
    check_op(lambda v: T.nnet.logsoftmax(v), [x], ref=R.log_softmax_ref,
             grad=dtype == "float64")
    assert T.nnet.log_softmax is T.nnet.logsoftmax


def test_softmax_of_a_vector_is_a_row_like_theano():
    v = T.dvector("v")
    y = softmax(v)
    assert y.ndim == 2
    f = theano.function([v], y)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f(x), R.softmax_ref(x[None]))
    check_op(lambda a: T.nnet.log_softmax(a), [x], ref=lambda a: R.log_softmax_ref(a[None]))


def test_softmax_grad_ops_match_kernels_reference():
    gy = rng(1).standard_normal((3, 5))
    y = R.softmax_ref(rng(2).standard_normal((3, 5)))
    check_op(lambda g, s: SoftmaxGrad()(g, s), [gy, y], ref=R.softmax_grad_ref)
    ly = np.log(y)
    check_op(lambda g, s: LogSoftmaxGrad()(g, s), [gy, ly], ref=R.log_softmax_grad_ref)


def test_softmax_with_bias_and_graph():
    x = rng().standard_normal((3, 4))
    b = rng(1).standard_normal(4)
    check_op(lambda a, c: T.nnet.softmax_with_bias(a, c), [x, b],
             ref=lambda a, c: R.softmax_ref(a + c))
    check_op(lambda a: T.nnet.softmax_graph(a), [x], ref=R.softmax_ref)


@HYP
@given(rows=st.integers(1, 5), cols=st.integers(1, 7), dtype=st.sampled_from(
    ["float32", "float64"]), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 99))
def test_softmax_hypothesis(rows, cols, dtype, scale, seed):
    x = (rng(seed).standard_normal((rows, cols)) * scale).astype(dtype)
    check_op(lambda v: [softmax(v), T.nnet.log_softmax(v)], [x],
             ref=lambda v: [R.softmax_ref(v), R.log_softmax_ref(v)], grad=False,
             rtol=1e-4 if dtype == "float32" else 1e-9)


def test_softmax_type_errors():
    with pytest.raises(TypeError, match=r"Softmax.*2-D float.*int64"):
        Softmax()(T.lmatrix())
    with pytest.raises(TypeError, match=r"softmax.*tensor3"):
        softmax(T.tensor3())
    with pytest.raises(TypeError, match=r"softmax.*float.*int32"):
        softmax(T.ivector())


def test_softmax_grad_shape_mismatch():
    g, y = T.dmatrices("g", "y")
    for mode in ("py", "numba"):
        f = theano.function([g, y], SoftmaxGrad()(g, y), mode=mode)
        with pytest.raises(ValueError, match=r"SoftmaxGrad.*\(2, 3\).*\(2, 4\)"):
            f(np.ones((2, 3)), np.ones((2, 4)))


# --------------------------------------------------------------------- cross-entropy

def test_categorical_crossentropy_one_hot_and_labels():
    p = R.softmax_ref(rng().standard_normal((4, 5)))
    y = np.array([0, 4, 2, 2])
    onehot = np.eye(5)[y]
    check_op(lambda a, t: T.nnet.categorical_crossentropy(a, t), [p, onehot],
             ref=lambda a, t: -(t * np.log(a)).sum(axis=1), grad_values=[p, onehot])
    check_op(lambda a: T.nnet.categorical_crossentropy(a, T.constant(y)), [p],
             ref=lambda a: -np.log(a[np.arange(4), y]))
    check_op(lambda a: T.nnet.crossentropy_categorical_1hot(a, T.constant(y.astype("int32"))),
             [p.astype("float32")], ref=lambda a: -np.log(a[np.arange(4), y]))


def test_crossentropy_1hot_grad_second_order():
    p = R.softmax_ref(rng().standard_normal((3, 4)))
    y = T.constant(np.array([1, 3, 0]))

    def g1(a):
        c = CrossentropyCategorical1Hot()(a, y)
        return T.grad((c * np.array([1.0, 2.0, 3.0])).sum(), a)

    check_op(g1, [p], grad=True)


def test_categorical_crossentropy_rank_error():
    with pytest.raises(TypeError, match="rank mismatch"):
        T.nnet.categorical_crossentropy(T.dmatrix(), T.dtensor3())


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_labels_out_of_range(mode):
    x = T.dmatrix("x")
    y = T.lvector("y")
    f = theano.function([x, y], T.nnet.softmax_nll(x, y), mode=mode)
    with pytest.raises(ValueError, match=r"SoftmaxNLL.*label 5 is out of range \[0, 3\)"):
        f(np.zeros((2, 3)), np.array([0, 5]))
    with pytest.raises(ValueError, match=r"SoftmaxNLL.*number of labels \(3"):
        f(np.zeros((2, 3)), np.array([0, 1, 2]))
    g = theano.function([x, y], CrossentropyCategorical1Hot()(x, y), mode=mode)
    with pytest.raises(ValueError, match=r"CrossentropyCategorical1Hot.*label -1"):
        g(np.ones((2, 3)), np.array([0, -1]))


def test_label_type_errors():
    with pytest.raises(TypeError, match=r"SoftmaxNLL.*y_idx.*1-D integer.*float64"):
        SoftmaxNLL()(T.dmatrix(), T.dvector())
    with pytest.raises(TypeError, match=r"SoftmaxNLL.*x must be a 2-D float.*vector"):
        SoftmaxNLL()(T.dvector(), T.lvector())


def test_binary_crossentropy():
    o = rng().uniform(0.05, 0.95, (3, 4))
    t = (rng(1).uniform(size=(3, 4)) > 0.5).astype("float64")
    check_op(lambda a, b: T.nnet.binary_crossentropy(a, b), [o, t],
             ref=lambda a, b: -(b * np.log(a) + (1 - b) * np.log(1 - a)))
    z = rng(2).uniform(0.2, 3, (3, 4)) * rng(3).choice([-1, 1], (3, 4))
    check_op(lambda a, b: T.nnet.sigmoid_binary_crossentropy(a, b), [z, t],
             ref=lambda a, b: -(b * np.log(1 / (1 + np.exp(-a)))
                                + (1 - b) * np.log(1 - 1 / (1 + np.exp(-a)))))


def test_binary_crossentropy_float32_stays_float32():
    o, t = T.fmatrices("o", "t")
    assert T.nnet.binary_crossentropy(o, t).dtype == "float32"


# ------------------------------------------------------------------- SoftmaxNLL

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_nll_op(dtype):
    x = rng().standard_normal((5, 4)).astype(dtype)
    y = np.array([0, 3, 1, 1, 2])
    check_op(lambda a, t: list(T.nnet.crossentropy_softmax_1hot(a, t)), [x, y],
             ref=R.softmax_nll_forward_ref, grad=False)
    if dtype == "float64":
        # gradient through both outputs (nll and the softmax)
        check_op(lambda a: list(SoftmaxNLL()(a, T.constant(y))), [x],
                 ref=lambda a: R.softmax_nll_forward_ref(a, y))
        w = rng(3).standard_normal((5, 4))
        check_op(lambda a: (SoftmaxNLL()(a, T.constant(y))[1] * w).sum(), [x])
    gn = rng(1).standard_normal(5).astype(dtype)
    sm = R.softmax_ref(x)
    check_op(lambda g, s, t: SoftmaxNLLGrad()(g, s, t), [gn, sm, y],
             ref=R.softmax_nll_backward_ref, grad=False)


def test_softmax_nll_grad_second_order():
    x = rng().standard_normal((3, 4))
    y = T.constant(np.array([2, 0, 3]))

    def g1(a):
        return T.grad((T.nnet.softmax_nll(a, y) * np.array([1.0, -2.0, 0.5])).sum(), a)

    check_op(g1, [x])


def test_crossentropy_softmax_with_bias_and_argmax():
    x = rng().standard_normal((3, 4))
    b = rng(1).standard_normal(4)
    y = np.array([1, 2, 3])
    check_op(lambda a, c: list(T.nnet.crossentropy_softmax_1hot_with_bias(a, c, T.constant(y))),
             [x, b], ref=lambda a, c: R.softmax_nll_forward_ref(a + c, y))
    outs = theano.function([], list(T.nnet.crossentropy_softmax_argmax_1hot_with_bias(
        x, b, y)))()
    np.testing.assert_array_equal(outs[2], np.argmax(x + b, axis=1))


# ------------------------------------------------------------- rewrites and stability

def _nll_graphs(x, y):
    p = softmax(x)
    return {
        "tutorial": -T.mean(T.log(p)[T.arange(y.shape[0]), y]),
        "neg_first": T.mean((-T.log(p))[T.arange(x.shape[0]), y]),
        "categorical": T.mean(T.nnet.categorical_crossentropy(p, y)),
        "onehot_log": -T.mean(T.sum(T.log(p) * T.eq(T.arange(p.shape[1]).dimshuffle("x", 0),
                                                    y.dimshuffle(0, "x")), axis=1)),
        "fused": T.mean(T.nnet.softmax_nll(x, y)),
    }


@pytest.mark.parametrize("dtype,scale", [("float64", 100.0), ("float32", 30.0),
                                         ("float64", 2000.0), ("float32", 200.0)])
def test_nll_forms_are_stable_and_agree(dtype, scale):
    x = T.matrix("x", dtype=dtype)
    y = T.lvector("y")
    xv = (rng().uniform(-1, 1, (6, 5)) * scale).astype(dtype)
    xv[0, :] = [scale, -scale, 0, scale / 2, -scale]
    yv = np.array([1, 0, 4, 2, 3, 1])
    ref_nll = -R.log_softmax_ref(xv.astype("float64"))[np.arange(6), yv].mean()
    ref_g = R.softmax_nll_backward_ref(np.full(6, 1 / 6), R.softmax_ref(
        xv.astype("float64")), yv)
    for name, cost in _nll_graphs(x, y).items():
        g = T.grad(cost, x)
        for mode in ("py", "numba"):
            f = theano.function([x, y], [cost, g], mode=mode)
            c, gv = f(xv, yv)
            assert np.isfinite(c) and np.all(np.isfinite(gv)), (name, mode, c, gv)
            tol = 1e-4 if dtype == "float32" else 1e-9
            np.testing.assert_allclose(c, ref_nll, rtol=tol, err_msg=f"{name} {mode}")
            np.testing.assert_allclose(gv, ref_g, rtol=tol, atol=tol, err_msg=f"{name} {mode}")


@pytest.mark.parametrize("dtype,scale", [("float64", 100.0), ("float32", 30.0)])
def test_softmax_family_gradients_are_finite(dtype, scale):
    x = T.matrix("x", dtype=dtype)
    xv = (rng().uniform(-1, 1, (4, 6)) * scale).astype(dtype)
    w = np.linspace(-1, 1, 24).reshape(4, 6).astype(dtype)
    for expr in (softmax(x), T.nnet.log_softmax(x), T.log(softmax(x))):
        cost = (expr * w).sum()
        f = theano.function([x], [expr, T.grad(cost, x)])
        for v in f(xv):
            assert np.all(np.isfinite(v))


def test_rewrites_produce_fused_ops():
    x = T.dmatrix("x")
    y = T.lvector("y")
    graphs = _nll_graphs(x, y)
    for name in ("tutorial", "neg_first", "categorical"):
        f = theano.function([x, y], [graphs[name], T.grad(graphs[name], x)])
        names = ops_of(f)
        assert "SoftmaxNLL" in names and "SoftmaxNLLGrad" in names, (name, names)
        assert "Softmax" not in names and "CrossentropyCategorical1Hot" not in names, names
    f = theano.function([x], T.log(softmax(x)))
    assert ops_of(f) == ["LogSoftmax"]
    f = theano.function([x], T.grad(T.log(softmax(x)).sum(), x))
    assert "LogSoftmaxGrad" in ops_of(f) and "SoftmaxGrad" not in ops_of(f)
    # rewrites off: the unfused ops still compute the same numbers
    m = theano.Mode(excluding=["nnet"])
    f = theano.function([x, y], graphs["categorical"], mode=m)
    assert "CrossentropyCategorical1Hot" in ops_of(f)
    xv = rng().standard_normal((3, 4))
    yv = np.array([0, 3, 1])
    np.testing.assert_allclose(f(xv, yv), -R.log_softmax_ref(xv)[np.arange(3), yv].mean())


def test_tutorial_rewrite_needs_the_row_arange():
    # rows picked by something other than arange(n): no fusion, same numbers
    x = T.dmatrix("x")
    y = T.lvector("y")
    r = T.lvector("r")
    cost = -T.mean(T.log(softmax(x))[r, y])
    f = theano.function([x, y, r], cost)
    assert "SoftmaxNLL" not in ops_of(f)
    xv = rng().standard_normal((3, 4))
    np.testing.assert_allclose(f(xv, np.array([1, 2]), np.array([2, 0])),
                               -np.mean(R.log_softmax_ref(xv)[[2, 0], [1, 2]]))


def test_no_warnings_building_the_graphs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = T.dmatrix()
        y = T.lvector()
        _nll_graphs(x, y)


def test_gradient_of_softmax_grad_second_order():
    x = rng().standard_normal((2, 3))
    w = np.array([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]])

    def f(a):
        return T.grad((softmax(a) * w).sum() + (T.nnet.log_softmax(a) * w[::-1]).sum(), a)

    check_op(f, [x])
    verify_grad(lambda a: LogSoftmax()(a), [x], mode="py")


@pytest.mark.parametrize("mode", ["py", None])
def test_h_softmax(mode):
    """Theano's two-level hierarchical softmax: without a target every output's
    probability (a distribution when the classes tile the outputs exactly), with one the
    target's probability, the same values; gradients match finite differences."""
    import symgraph
    from symgraph.gradient import verify_grad

    rng = np.random.default_rng(5)
    batch, n_in, n_classes, per_class = 4, 6, 3, 4
    W1 = rng.normal(size=(n_in, n_classes))
    b1 = rng.normal(size=n_classes)
    W2 = rng.normal(size=(n_classes, n_in, per_class))
    b2 = rng.normal(size=(n_classes, per_class))
    xv = rng.normal(size=(batch, n_in))
    tv = np.array([0, 5, 11, 7])

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    want = (softmax(xv @ W1 + b1)[:, :, None]
            * softmax(np.einsum("bi,cio->bco", xv, W2) + b2)).reshape(batch, -1)
    x, t = T.dmatrix("x"), T.lvector("t")
    args = [T.constant(v) for v in (W1, b1, W2, b2)]
    f = symgraph.function([x, t], [
        T.nnet.h_softmax(x, batch, 12, n_classes, per_class, *args),
        T.nnet.h_softmax(x, batch, 10, n_classes, per_class, *args),
        T.nnet.h_softmax(x, batch, 12, n_classes, per_class, *args, target=t)], mode=mode)
    full, cut, picked = f(xv, tv)
    np.testing.assert_allclose(full, want, rtol=1e-12)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(cut, full[:, :10])
    np.testing.assert_allclose(picked, want[np.arange(batch), tv], rtol=1e-12)
    verify_grad(lambda xs, w1, w2: T.nnet.h_softmax(xs, batch, 12, n_classes, per_class,
                                                    w1, b1, w2, b2, target=tv),
                [xv, W1, W2], mode="py", n_tests=1)
    verify_grad(lambda xs, w2: T.nnet.h_softmax(xs, batch, 12, n_classes, per_class,
                                                W1, b1, w2, b2), [xv, W2], mode="py",
                n_tests=1)
