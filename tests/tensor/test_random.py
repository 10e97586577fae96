"""Tests of the random streams (symgraph.tensor.random / shared_randomstreams)."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.tensor import random as R
from symgraph.tensor.random import RandomDraw, random_state
from symgraph.tensor.shape_inference import shape_tuple, static_shape
from symgraph.tensor.shared_randomstreams import RandomStreams

BACKENDS = ("py", "numba")


def u64(*vals):
    return [np.array([v], np.uint64) for v in vals]


def test_philox_known_answers():
    """Random123's published Philox4x32-10 test vectors."""
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2,
              (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    from symgraph.link.numba.impl import random as NR

    for ctr, key, want in cases:
        got = R.philox4x32(*u64(*ctr), np.uint64(key[0]), np.uint64(key[1]))
        assert tuple(int(w[0]) for w in got) == want
        got = NR.philox_block(*[np.uint64(c) for c in ctr], np.uint64(key[0]),
                              np.uint64(key[1]))
        assert tuple(int(w) for w in got) == want


def _all_vars(srng, x):
    return [srng.uniform((3, 5)), srng.uniform((4,), low=-2.0, high=3.0, dtype="float32"),
            srng.normal((7,)), srng.normal(x.shape, avg=1.0, std=2.0, dtype="float32"),
            srng.normal(()), srng.binomial((2, 6), p=0.3), srng.binomial((5,), n=4, p=0.6),
            srng.random_integers((9,), low=-3, high=4), srng.permutation(n=7),
            srng.permutation(size=(3,), n=4), srng.uniform((0, 3))]


def test_identical_numbers_on_py_and_numba():
    srng = RandomStreams(seed=11)
    x = T.dmatrix("x")
    outs = _all_vars(srng, x)
    start = [s.get_value() for s, _ in srng.state_updates]
    xv = np.zeros((3, 3))
    res = {}
    for mode in BACKENDS:
        for (s, _), v in zip(srng.state_updates, start):
            s.set_value(v)
        f = theano.function([x], outs, mode=mode)
        res[mode] = [f(xv), f(xv)]
        res[mode + "_state"] = [s.get_value() for s, _ in srng.state_updates]
    for call in range(2):
        for a, b, o in zip(res["py"][call], res["numba"][call], outs):
            assert a.dtype == b.dtype == np.dtype(o.dtype)
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    for a, b in zip(res["py_state"], res["numba_state"]):
        np.testing.assert_array_equal(a, b)


def test_long_draws_are_bit_identical():
    """A million normals (float64 and float32): the polynomial log/sin/cos of the numpy and
    Numba implementations agree bit for bit."""
    from symgraph.link.numba.impl import random as NR

    st = random_state(123)
    for (dist, dt), fn in [(("normal", "float64"), NR.normal_f64),
                           (("normal", "float32"), NR.normal_f32),
                           (("uniform", "float32"), NR.uniform_f32)]:
        n1, a = fn(st, 1_000_001)
        n2, b = R.draw_numpy(dist, dt, st, (1_000_001,))
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(n1, n2)


@pytest.mark.parametrize("mode", BACKENDS)
def test_fresh_numbers_every_call_and_repeatable_seed(mode):
    srng = RandomStreams(seed=3)
    u = srng.uniform((20,))
    z = srng.normal((20,))
    f = theano.function([], [u, z], mode=mode)
    a1, b1 = f()
    a2, b2 = f()
    assert not np.array_equal(a1, a2) and not np.array_equal(b1, b2)
    assert not np.array_equal(a1, b1[:20])
    srng.seed(3)
    c1, d1 = f()
    np.testing.assert_array_equal(a1, c1)
    np.testing.assert_array_equal(b1, d1)
    # a second stream object with the same seed gives the same numbers
    srng2 = RandomStreams(seed=3)
    g = theano.function([], [srng2.uniform((20,)), srng2.normal((20,))], mode=mode)
    e1, e2 = g()
    np.testing.assert_array_equal(a1, e1)
    np.testing.assert_array_equal(b1, e2)
    # another seed, other numbers
    srng.seed(4)
    assert not np.array_equal(f()[0], a1)


@pytest.mark.parametrize("mode", BACKENDS)
def test_no_default_updates(mode):
    srng = RandomStreams(seed=8)
    u = srng.uniform((5,))
    state, new_state = srng.updates()[0]
    assert state.default_update is new_state and u.rng is state
    before = state.get_value()
    f = theano.function([], u, no_default_updates=True, mode=mode)
    np.testing.assert_array_equal(f(), f())
    np.testing.assert_array_equal(state.get_value(), before)
    g = theano.function([], u, mode=mode)
    r1 = g()
    assert not np.array_equal(state.get_value(), before)
    peek = f()  # reads the advanced state without moving it
    r2 = g()
    np.testing.assert_array_equal(peek, r2)
    assert not np.array_equal(r1, r2)
    # an explicit update of the state replaces the default one
    h = theano.function([], u, updates=[(state, state)], mode=mode)
    np.testing.assert_array_equal(h(), h())


def test_same_variable_twice_is_one_draw_and_two_variables_differ():
    srng = RandomStreams(seed=1)
    u = srng.uniform((6,))
    v = srng.uniform((6,))
    a, b, c = theano.function([], [u, u * 1.0, v])()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_distribution_sanity():
    srng = RandomStreams(seed=2024)
    n = 10_000
    x = T.dvector("x")
    outs = [srng.uniform((n,)), srng.uniform((n,), low=-1.0, high=3.0),
            srng.normal((n,)), srng.normal((n,), avg=5.0, std=0.5),
            srng.normal((n,), dtype="float32"),
            srng.binomial((n,), p=0.3), srng.binomial((n,), n=5, p=0.4),
            srng.random_integers((n,), low=-2, high=3),
            srng.uniform(x.shape, low=x, high=x + 1.0)]
    u, u2, z, z2, z32, b1, b5, ri, ux = theano.function([x], outs)(np.arange(n, dtype=float))
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.02 and abs(u.var() - 1 / 12) < 0.005
    assert -1 <= u2.min() and u2.max() < 3 and abs(u2.mean() - 1) < 0.05
    assert abs(z.mean()) < 0.04 and abs(z.var() - 1) < 0.05
    assert abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.02  # the shape, not just 2 moments
    assert abs(z2.mean() - 5) < 0.02 and abs(z2.std() - 0.5) < 0.02
    assert z32.dtype == np.float32 and abs(z32.mean()) < 0.04 and abs(z32.var() - 1) < 0.05
    assert set(np.unique(b1)) == {0, 1} and abs(b1.mean() - 0.3) < 0.02
    assert b5.min() >= 0 and b5.max() <= 5
    assert abs(b5.mean() - 2.0) < 0.05 and abs(b5.var() - 1.2) < 0.1
    counts = np.bincount(ri + 2, minlength=6)
    assert ri.min() == -2 and ri.max() == 3 and counts.min() > 1500
    d = ux - np.arange(n)
    assert d.min() >= 0 and d.max() < 1 and abs(d.mean() - 0.5) < 0.02


def test_permutations_are_permutations():
    srng = RandomStreams(seed=5)
    p = srng.permutation(n=50)
    ps = srng.permutation(size=(4,), n=6)
    a, b = theano.function([], [p, ps])()
    assert a.shape == (50,) and sorted(a) == list(range(50))
    assert b.shape == (4, 6) and all(sorted(r) == list(range(6)) for r in b)
    assert len({tuple(r) for r in b}) > 1


# ------------------------------------------------------------------ sizes and types

def test_symbolic_sizes_and_infer_shape():
    srng = RandomStreams(seed=0)
    x = T.dtensor3("x")
    n = T.lscalar("n")
    a = srng.uniform(x.shape)
    b = srng.normal((x.shape[0], 4, n))
    c = srng.binomial(size=x.shape, p=0.5)
    d = srng.uniform(T.stack([n, n]), ndim=2)
    assert a.ndim == 3 and b.ndim == 3 and c.ndim == 3 and d.ndim == 2
    assert static_shape(b)[1] == 4
    xv = np.zeros((2, 3, 5))
    for mode in BACKENDS:
        f = theano.function([x, n], [a, b, c, d], mode=mode)
        ra, rb, rc, rd = f(xv, 3)
        assert ra.shape == (2, 3, 5) and rb.shape == (2, 4, 3) and rc.shape == (2, 3, 5)
        assert rd.shape == (3, 3)
    shp = theano.function([x, n], [T.stack([T.cast(T.as_tensor_variable(s), "int64")
                                            for s in shape_tuple(v)]) for v in (a, b, d)],
                          mode="py", on_unused_input="ignore")(xv, 3)
    assert [tuple(s) for s in shp] == [(2, 3, 5), (2, 4, 3), (3, 3)]


def test_size_none_takes_the_parameters_shape():
    srng = RandomStreams(seed=0)
    m = T.dmatrix("m")
    z = srng.normal(avg=m, std=1e-9)
    s = srng.uniform()
    assert z.ndim == 2 and s.ndim == 0
    mv = np.arange(6.0).reshape(2, 3)
    rz, rs = theano.function([m], [z, s])(mv)
    np.testing.assert_allclose(rz, mv, atol=1e-7)
    assert rs.shape == () and 0 <= rs < 1


def test_dtypes_and_broadcastable():
    srng = RandomStreams(seed=0)
    assert srng.uniform((2,)).dtype == theano.config.floatX
    assert srng.uniform((2,), dtype="float32").dtype == "float32"
    assert srng.uniform((2,), low=T.dscalar(), dtype=None).dtype == "float64"
    assert srng.normal((2,), dtype="float32", avg=1.0).dtype == "float32"
    assert srng.binomial((2,)).dtype == "int64"
    assert srng.binomial((2,), dtype="int8").dtype == "int8"
    assert srng.random_integers((2,), dtype="int32").dtype == "int32"
    assert srng.uniform((1, 5)).broadcastable == (True, False)
    old = theano.config.floatX
    try:
        theano.config.floatX = "float32"
        assert srng.uniform((2,)).dtype == "float32"
        assert srng.normal((2,)).dtype == "float32"
    finally:
        theano.config.floatX = old


def test_dropout_mask_pattern():
    srng = RandomStreams(seed=42)
    h = T.fmatrix("h")
    mask = srng.binomial(n=1, p=0.8, size=h.shape)
    out = h * T.cast(mask, "float32")
    assert out.dtype == "float32"
    r = theano.function([h], out)(np.ones((100, 50), np.float32))
    assert set(np.unique(r)) <= {0.0, 1.0} and abs(r.mean() - 0.8) < 0.03


@pytest.mark.parametrize("mode", BACKENDS)
def test_runtime_errors(mode):
    srng = RandomStreams(seed=0)
    n = T.lscalar("n")
    f = theano.function([n], srng.uniform((n, 2)), mode=mode)
    with pytest.raises(ValueError, match="RandomDraw.*negative"):
        f(-1)
    assert f(0).shape == (0, 2)


def test_argument_errors():
    srng = RandomStreams(seed=0)
    with pytest.raises(TypeError, match="size"):
        srng.uniform("abc")
    with pytest.raises(ValueError, match="negative"):
        srng.uniform((2, -1))
    with pytest.raises(TypeError, match="float32 or float64"):
        srng.normal((2,), dtype="int32")
    with pytest.raises(TypeError, match="constant int"):
        srng.binomial((2,), n=T.lscalar())
    with pytest.raises(TypeError, match="RandomDraw.*uint64 vector"):
        RandomDraw("uniform", "float64", [None])(T.dvector(), 3)
    with pytest.raises(ValueError, match="unknown|ndim"):
        srng.uniform(T.lvector())


def test_state_format_is_checked():
    f = theano.function([], RandomDraw("uniform", "float64", [None])(
        theano.shared(np.zeros(3, np.uint64)), 2)[1], mode="py")
    with pytest.raises(ValueError, match="RandomDraw.*shape \\(2,\\)"):
        f()


def test_mrg_and_random_module_aliases():
    from symgraph.tensor import shared_randomstreams

    assert R.RandomStream is R.RandomStreams is shared_randomstreams.RandomStreams
    assert R.MRG_RandomStreams is R.RandomStreams
