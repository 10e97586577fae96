"""float16 tensors (issue 21, item 1): stored as float16, computed in float32 with each
op's result rounded to float16, as Theano's CPU backend did; on py and Numba."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.link.numba.impl.half import half_round as numba_half_round


def h(v):
    """A float32 value stored as float16 (and read back as float32)."""
    with np.errstate(over="ignore"):
        return np.asarray(v, np.float32).astype(np.float16).astype(np.float32)


def test_half_round_is_numpy_float16_rounding_bit_for_bit():
    rng = np.random.default_rng(16)
    x = rng.integers(0, 2 ** 32, size=300_000, dtype=np.uint64).astype(np.uint32).view(
        np.float32)
    ties = (np.arange(1, 2000, dtype=np.float32) * 2 + 1) * np.float32(2 ** -11)  # x.5 ulp
    edge = np.array([65504, 65519.996, 65520, 1e-8, 2 ** -25, 3 * 2 ** -25, 2 ** -14,
                     -0.0, np.inf, -np.inf, np.nan], np.float32)
    x = np.concatenate([x, ties, -ties, edge])
    got, ref = numba_half_round(x), h(x)
    same = (got.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(got) & np.isnan(ref))
    assert same.all(), x[~same][:5]


@pytest.fixture(scope="module")
def graph():
    x = T.tensor("float16", (False,), name="x")
    w = theano.shared(np.array([0.1, 0.2, 0.3], np.float16), name="w")
    y = T.exp(x) * w + 1.0
    cost = (y ** 2).sum()
    g = T.grad(cost, w)
    return x, w, y, cost, g


def _reference(a, w):
    """Op by op: float32 arithmetic on float16 values, each result stored as float16."""
    a, w = a.astype(np.float32), w.astype(np.float32)
    y = h(h(h(np.exp(a)) * w) + np.float32(1.0))
    cost = h(h(y * y).sum(dtype=np.float32))
    return y, cost


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_float16_graph_stored_half_computed_float(graph, mode):
    x, w, y, cost, g = graph
    assert (x.dtype, y.dtype, cost.dtype, g.dtype) == ("float16",) * 4
    w0 = np.array([0.1, 0.2, 0.3], np.float16)
    w.set_value(w0)
    lr = T.constant(np.float16(0.01))
    f = theano.function([x], [y, cost], updates=[(w, w - lr * g)], mode=mode)
    a = np.array([0.5, 1.5, -2.0], np.float16)
    got_y, got_cost = f(a)
    ref_y, ref_cost = _reference(a, w0)
    assert got_y.dtype == np.float16 and got_cost.dtype == np.float16
    np.testing.assert_array_equal(got_y.astype(np.float32), ref_y)
    np.testing.assert_array_equal(np.float32(got_cost), ref_cost)
    # d cost / dw = 2 y exp(a), each op rounded; the update is stored as float16
    gw = h(h(h(h(np.float32(2.0) * ref_y)) * h(np.exp(a.astype(np.float32)))))
    new_w = w.get_value()
    assert new_w.dtype == np.float16
    np.testing.assert_allclose(new_w.astype(np.float32),
                               h(w0.astype(np.float32) - h(np.float32(h(0.01)) * gw)),
                               rtol=2e-3)
    with pytest.raises(TypeError, match="float16"):
        f(np.ones(3))                                  # float64 data would lose precision
    f2 = theano.function([x], y, mode=mode, allow_input_downcast=True)
    assert f2(np.ones(3)).dtype == np.float16


def test_cast_to_float16_rounds_and_overflows():
    v = T.fvector("v")
    c = T.cast(v, "float16")
    assert c.dtype == "float16" and (c + T.fvector()).dtype == "float32"   # upcasts
    f = theano.function([v], c * 3, mode="py")
    r = f(np.array([1.0001, 7e4, 2 ** -26], np.float32))
    assert r.dtype == np.float16
    np.testing.assert_array_equal(r, np.array([3.0, np.inf, 0.0], np.float16))


def test_floatx_float16():
    old = theano.config.floatX
    theano.config.floatX = "float16"
    try:
        m = T.matrix("m")
        assert m.dtype == "float16" and (m * 2.5).dtype == "float16"
        f = theano.function([m], m.mean(), mode="py")
        assert f(np.ones((2, 2), np.float16)).dtype == np.float16
    finally:
        theano.config.floatX = old
