"""A conv's shape hints are arguments of its node code, not literals
(``NumbaCode.const_args``): network3 at another batch size (its ``image_shape`` hint holds
the batch size) is the same generated module, so nothing compiles again, and the hint
is still checked."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.tensor.nnet import conv
from symgraph.tensor.signal import pool


def _train_fn(bs, mode=None):
    rng = np.random.default_rng(3)
    x = T.matrix("x")
    w = symgraph.shared(rng.normal(0, 0.1, (4, 1, 5, 5)), name="w")
    v = symgraph.shared(rng.normal(0, 0.1, (4 * 4 * 4, 3)), name="v")
    img = x.reshape((bs, 1, 12, 12))
    c = conv.conv2d(img, w, image_shape=(bs, 1, 12, 12), filter_shape=(4, 1, 5, 5))
    h = pool.pool_2d(T.nnet.sigmoid(c), (2, 2), ignore_border=True).flatten(2)
    cost = T.mean(T.nnet.softmax(T.dot(h, v)) ** 2)
    gw, gv = T.grad(cost, [w, v])
    f = symgraph.function([x], cost, updates=[(w, w - 0.5 * gw), (v, v - 0.5 * gv)],
                          mode=mode)
    return f, w, v


def test_another_batch_size_is_the_same_module_with_the_same_results():
    data = np.random.default_rng(0).random((20, 144))
    sources = []
    for bs in (10, 20):
        f, w, v = _train_fn(bs)
        sources.append(f.executable.source)
        costs = [float(f(data[:bs])) for _ in range(3)]
        g, wr, vr = _train_fn(bs, mode="py")
        ref = [float(g(data[:bs])) for _ in range(3)]
        np.testing.assert_allclose(costs, ref, rtol=1e-10)
        np.testing.assert_allclose(w.get_value(), wr.get_value(), rtol=1e-9, atol=1e-12)
    assert sources[0] == sources[1]


def test_the_hint_is_still_checked_and_named():
    x = T.dtensor4("x")
    wv = T.dtensor4("w")
    h = symgraph.function([x, wv], conv.conv2d(x, wv, image_shape=(2, 1, 8, 7)))
    with pytest.raises(ValueError, match=r"input_shape hint \(2, 1, 8, 7\)"):
        h(np.ones((1, 1, 8, 7)), np.ones((3, 1, 3, 3)))
    assert h(np.ones((2, 1, 8, 7)), np.ones((3, 1, 3, 3))).shape == (2, 3, 6, 5)


def test_profile_calls_the_conv_node_with_its_constants():
    f, _, _ = _train_fn(10)
    report = f.profile(np.random.default_rng(1).random((10, 144)), n_calls=1)
    assert "Conv2d" in report
