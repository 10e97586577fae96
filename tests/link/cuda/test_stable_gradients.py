"""The logistic family's stable values and gradients on the CUDA backend (simulator when
there is no GPU): the Theano tutorial's logistic regression in miniature, trained for a
few steps with weights large enough that ``dot(x, w)`` reaches +-100, matches the py
backend and stays finite; hand-written sigmoids at +-1e4 give finite gradients."""
from __future__ import annotations

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.tensor import nnet


def test_extreme_values_and_gradients(helpers):
    x = T.dvector("x")
    xv = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4])

    def exprs(x):
        p = 1 / (1 + T.exp(-x))
        ys = [T.log(p), T.log(1 - p), T.log1p(T.exp(x)),
              nnet.binary_crossentropy(T.nnet.sigmoid(x), 0.25)]
        return ys + [T.grad(T.sum(y), x) for y in ys]

    f = helpers.compare(exprs, [xv], syms=[x])
    for v in f(xv):
        assert np.all(np.isfinite(v))


def test_tutorial_logistic_regression_in_miniature(helpers):
    rng = np.random.RandomState(42)
    n, feats = 24, 16
    data = (rng.randn(n, feats) * 8.0, rng.randint(size=n, low=0, high=2).astype("float64"))

    def build(mode):
        r = np.random.RandomState(7)
        x = T.dmatrix("x")
        y = T.dvector("y")
        w = symgraph.shared(r.randn(feats) * 3.0, name="w")
        b = symgraph.shared(0., name="b")
        p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
        xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
        cost = xent.mean() + 0.01 * (w ** 2).sum()
        gw, gb = T.grad(cost, [w, b])
        f = symgraph.function([x, y], [p_1 > 0.5, xent, T.max(abs(T.dot(x, w)))],
                              updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)), mode=mode)
        return f, [w, b]

    fc, (w, b) = helpers.train(build, [data] * 5, rtol=1e-10, atol=1e-10)
    assert np.all(np.isfinite(w.get_value()))
    # the regime of the bug: the logits really are large
    assert fc(*data)[2] > 60
