"""Conv2d and its gradients, pooling and its gradients, the softmax family and SoftmaxNLL:
cuda vs py."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.tensor.nnet import (
    conv2d,
    crossentropy_softmax_1hot,
    log_softmax,
    softmax,
    softmax_nll,
)
from symgraph.tensor.signal.pool import MaxPoolGrad, MaxPoolGradGrad, pool_2d


@pytest.mark.parametrize("border_mode,subsample,flip", [
    ("valid", (1, 1), True), ("full", (1, 1), False), ("half", (2, 1), True),
    ((1, 2), (2, 2), False)])
def test_conv2d_and_both_gradients(helpers, border_mode, subsample, flip):
    rng = np.random.default_rng(9)
    x, w = T.tensor4("x"), T.tensor4("w")
    xv = rng.standard_normal((2, 2, 5, 6))
    wv = rng.standard_normal((3, 2, 3, 2))

    def fn(x, w):
        y = conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=flip)
        cost = (y * y).sum()
        gx, gw = T.grad(cost, [x, w])
        return [y, gx, gw]

    f = helpers.compare(fn, [xv, wv], syms=[x, w])
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert {"Conv2d", "Conv2dGradInputs", "Conv2dGradWeights"} <= names


def test_conv2d_float32_shape_error(helpers):
    x, w = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32")
    rng = np.random.default_rng(10)
    xv = rng.standard_normal((1, 1, 4, 4)).astype("float32")
    wv = rng.standard_normal((2, 1, 2, 2)).astype("float32")
    helpers.compare(lambda x, w: conv2d(x, w), [xv, wv], syms=[x, w], rtol=1e-5, atol=1e-5)
    f = symgraph.function([x, w], conv2d(x, w), mode="cuda")
    with pytest.raises(ValueError, match="channels"):
        f(xv, rng.standard_normal((2, 3, 2, 2)).astype("float32"))


@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("ws,stride,pad,ignore_border", [
    ((2, 2), None, (0, 0), True), ((3, 2), (2, 1), (0, 0), False),
    ((3, 3), (2, 2), (1, 1), True)])
def test_pool_and_gradient(helpers, mode, ws, stride, pad, ignore_border):
    rng = np.random.default_rng(11)
    x = T.tensor4("x")
    xv = rng.integers(0, 4, (2, 1, 5, 6)).astype("float64")  # ties inside windows

    def fn(x):
        y = pool_2d(T.tanh(x), ws=ws, ignore_border=ignore_border, stride=stride, pad=pad,
                    mode=mode)
        return [y, T.grad((y * y).sum(), x)]

    helpers.compare(fn, [xv], syms=[x])


def test_pool_3d_input_and_max_pool_grad_grad(helpers):
    rng = np.random.default_rng(12)
    x = T.tensor3("x")
    g = T.tensor3("g")
    xv = rng.integers(0, 3, (2, 4, 5)).astype("float64")
    gv = rng.standard_normal((2, 4, 5))

    def fn(x, g):
        e = T.exp(x)
        m = pool_2d(e, ws=(2, 2), ignore_border=False)
        gz = MaxPoolGrad((2, 2), False)(e, m, m * 2.0)
        gg = MaxPoolGradGrad((2, 2), False)(e, m, g * 1.0)
        return [m, gz, gg]

    f = helpers.compare(fn, [xv, gv], syms=[x, g])
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert {"Pool", "MaxPoolGrad", "MaxPoolGradGrad"} <= names


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_and_gradients(helpers, dtype):
    rng = np.random.default_rng(13)
    x = T.matrix("x", dtype=dtype)
    u = T.matrix("u", dtype=dtype)
    xv = (rng.standard_normal((3, 7)) * 3).astype(dtype)
    uv = rng.standard_normal((3, 7)).astype(dtype)

    def fn(x, u):
        s = softmax(x)
        ls = log_softmax(x)
        return [s, ls, T.grad((s * u).sum(), x), T.grad((ls * u).sum(), x)]

    tol = 1e-5 if dtype == "float32" else 1e-12
    f = helpers.compare(fn, [xv, uv], syms=[x, u], rtol=tol, atol=tol)
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert {"Softmax", "LogSoftmax", "SoftmaxGrad", "LogSoftmaxGrad"} <= names


def test_softmax_nll_and_gradient(helpers):
    rng = np.random.default_rng(14)
    x = T.matrix("x")
    y = T.ivector("y")
    xv = rng.standard_normal((4, 5)) * 4
    yv = np.array([0, 4, 2, 2], "int32")

    def fn(x, y):
        nll, sm = crossentropy_softmax_1hot(x, y)
        return [nll, sm, T.grad(nll.mean(), x)]

    f = helpers.compare(fn, [xv, yv], syms=[x, y])
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert {"SoftmaxNLL", "SoftmaxNLLGrad"} <= names


def test_label_out_of_range_raises_and_changes_nothing():
    x = T.matrix("x")
    y = T.ivector("y")
    w = symgraph.shared(np.ones(5), name="w")
    cost = softmax_nll(x * w, y).mean()
    f = symgraph.function([x, y], cost, updates=[(w, w - 0.1 * T.grad(cost, w))], mode="cuda")
    f(np.ones((2, 5)), np.array([1, 2], "int32"))
    before = w.get_value()
    with pytest.raises(ValueError, match="label"):
        f(np.ones((2, 5)), np.array([1, 5], "int32"))
    np.testing.assert_array_equal(w.get_value(), before)
    f(np.ones((2, 5)), np.array([1, 2], "int32"))  # the error flag was reset
