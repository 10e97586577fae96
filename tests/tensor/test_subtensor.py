"""Indexing: Subtensor (views), AdvancedSubtensor, set/inc_subtensor, take, nonzero.

Every op runs on the py and numba backends against numpy (``check_op`` also checks
``infer_shape`` and, where marked, ``verify_grad``). Hypothesis tests draw random shapes
and index patterns; one graph is compiled per example, so ``max_examples`` stays small.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.shape_inference import shape_tuple
from symgraph.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    Subtensor,
)
from symgraph.testing import check_op as _check_op

BACKENDS = ("py", "numba")
rng = np.random.default_rng(0)
HYP = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow])


def check_op(fn, values, ref=None, grad=True):
    """``symgraph.testing.check_op`` on both backends; the gradient is verified on the py
    backend (each verify_grad compiles five functions: Numba would cost seconds each time;
    the Numba gradient graphs are exercised by the tests that compile ``T.grad``)."""
    _check_op(fn, values, ref=ref, grad=False)
    if grad:
        verify_grad(fn, values, mode="py")


def rand(*shape, dtype="float64"):
    return rng.standard_normal(shape).astype(dtype)


def both(inputs, output, *args, **kw):
    """Compile on both backends, check they agree exactly, return the py result."""
    res = []
    for b in BACKENDS:
        res.append(np.asarray(theano.function(inputs, output, mode=b, **kw)(*args)))
    assert res[0].dtype == res[1].dtype and res[0].shape == res[1].shape
    np.testing.assert_array_equal(res[0], res[1])
    return res[0]


# ------------------------------------------------------------------- basic indexing

@pytest.mark.parametrize("shape, index", [
    ((5,), 3),
    ((5,), -1),
    ((3, 4), 1),
    ((3, 4), (slice(1, 3),)),
    ((3, 4), (slice(None), -1)),
    ((3, 4), (slice(None, None, -1), slice(1, None, 2))),
    ((3, 4), (None, slice(1, None), None)),
    ((3, 4), (Ellipsis, 0)),
    ((2, 3, 4), (1, Ellipsis, None)),
    ((2, 3, 4), (1, 2, -2)),
    ((2, 3, 4), (slice(-10, 10), 0, slice(3, 0, -2))),
])
def test_basic_constant_indices(shape, index):
    x = rand(*shape)
    check_op(lambda v: v[index], [x], ref=lambda v: v[index], grad=False)


def test_basic_gradients():
    check_op(lambda v: v[1:3, ::-1] ** 2, [rand(4, 3)], ref=lambda v: v[1:3, ::-1] ** 2)
    check_op(lambda v: v[None, -1, 1:], [rand(2, 3)], ref=lambda v: v[None, -1, 1:])


def test_symbolic_slice_bounds_minibatch():
    bs = 2
    check_op(lambda x, i: x[i * bs:(i + 1) * bs], [rand(7, 3), np.int64(2)],
             ref=lambda x, i: x[i * bs:(i + 1) * bs], grad=False)
    # the last, partial batch and an empty one
    x, i = T.dmatrix("x"), T.lscalar("i")
    xv = rand(7, 3)
    for k in (3, 4):
        np.testing.assert_array_equal(both([x, i], x[i * bs:(i + 1) * bs], xv, k),
                                      xv[k * bs:(k + 1) * bs])
    # gradient through the symbolic slice (IncSubtensor on both backends)
    g = T.grad((x[i * bs:(i + 1) * bs] ** 2).sum(), x)
    exp = np.zeros_like(xv)
    exp[2:4] = 2 * xv[2:4]
    np.testing.assert_array_equal(both([x, i], g, xv, 1), exp)


def test_symbolic_step_and_int32_index():
    x = T.dvector("x")
    a, b, c = T.iscalars("a", "b", "c")
    f = [theano.function([x, a, b, c], x[a:b:c], mode=m) for m in BACKENDS]
    xv = rand(9)
    for args in [(1, 7, 2), (-1, 0, -3), (8, -20, -1), (20, 30, 1), (-20, 4, 1)]:
        for fn in f:
            np.testing.assert_array_equal(fn(xv, *args), xv[args[0]:args[1]:args[2]])
    y = T.dmatrix("y")
    i = T.iscalar("i")
    check_op(lambda m, k: m[:, k], [rand(3, 4), np.int32(-2)], ref=lambda m, k: m[:, k],
             grad=False)
    assert y[:, i].type.broadcastable == (False,)


def test_shape_indexing_gives_int64_scalars():
    x = T.dtensor3("x")
    s0, sl = x.shape[0], x.shape[-1]
    assert s0.type == T.lscalar().type and sl.type.ndim == 0
    assert isinstance(s0.owner.op, Subtensor)
    for m in BACKENDS:
        f = theano.function([x], [s0, sl, x.shape[1:]], mode=m)
        a, b, c = f(rand(2, 3, 5))
        assert a.dtype == np.int64 and a.shape == () and int(a) == 2 and int(b) == 5
        assert c.tolist() == [3, 5]


def test_broadcastable_pattern_of_slices():
    r = T.drow("r")
    assert r[:, 1:].type.broadcastable == (True, False)
    assert r[0:1].type.broadcastable == (True, False)
    assert r[1:].type.broadcastable == (False, False)       # empty: not length 1
    assert r[::-1, 0].type.broadcastable == (True,)
    assert r[None].type.broadcastable == (True, True, False)
    i = T.lscalar()
    assert r[i:].type.broadcastable == (False, False)


def test_subtensor_is_a_view_in_both_backends():
    data = np.arange(20.0).reshape(10, 2)
    x = theano.shared(data, name="data")
    i = T.lscalar("i")
    sl = x[i * 2:(i + 1) * 2]
    assert Subtensor.view_map == {0: [0]}
    for m in BACKENDS:
        f = theano.function([i], sl, mode=m)
        shared_val = x.get_value(borrow=True)
        raw = f.executable.run([np.int64(3)], [shared_val])[0]  # linked graph, no output copy
        assert np.shares_memory(raw, shared_val), m
        np.testing.assert_array_equal(raw, data[6:8])
        # function() itself copies outputs that alias a shared variable
        out = f(3)
        assert not np.shares_memory(out, shared_val)
        np.testing.assert_array_equal(out, data[6:8])


def test_givens_minibatch_of_shared_dataset():
    data = rand(10, 3)
    labels = np.arange(10) % 3
    dx, dy = theano.shared(data), theano.shared(labels)
    x, y, i = T.dmatrix("x"), T.lvector("y"), T.lscalar("i")
    bs = 4
    cost = x.sum() + y.sum()
    for m in BACKENDS:
        f = theano.function([i], cost, mode=m,
                            givens={x: dx[i * bs:(i + 1) * bs], y: dy[i * bs:(i + 1) * bs]})
        for k in range(3):
            exp = data[k * bs:(k + 1) * bs].sum() + labels[k * bs:(k + 1) * bs].sum()
            np.testing.assert_allclose(f(k), exp)
        nodes = f.maker.fgraph.toposort()
        assert any(isinstance(n.op, Subtensor) for n in nodes)
        # the slice node reads the shared buffer directly: nothing copies the dataset
        assert not any(isinstance(n.op, (AdvancedSubtensor, IncSubtensor)) for n in nodes)


# ------------------------------------------------------------------- advanced indexing

@pytest.mark.parametrize("index_fn", [
    lambda x: x[[0, 2, 0]],
    lambda x: x[[-1, 1]],
    lambda x: x[:, [3, 0]],
    lambda x: x[np.array([[0, 1], [2, 2]])],
    lambda x: x[np.array([0, 1, 2]), np.array([3, 0, 1])],
    lambda x: x[[1, 0], 1:3],
    lambda x: x[1, [0, 0, 3]],
    lambda x: x[np.array([[0], [2]]), np.array([1, 3])],          # broadcast index arrays
    lambda x: x[None, [2, 0], ::-1],
])
def test_advanced_constant_indices_with_grad(index_fn):
    xv = rand(3, 4)
    check_op(index_fn, [xv], ref=index_fn)


def test_advanced_symbolic_index_vectors():
    x = rand(5, 4)
    check_op(lambda m, i: m[i], [x, np.array([4, 0, 0, -5])], ref=lambda m, i: m[i], grad=False)
    check_op(lambda m, i, j: m[i, j], [x, np.array([0, 4, 2], dtype="int32"),
                                       np.array([3, 3, 0], dtype="uint8")],
             ref=lambda m, i, j: m[i, j], grad=False)


def test_non_adjacent_advanced_indices_go_first():
    t = rand(2, 3, 4, 5)
    idx = np.array([1, 0])
    for fn in (lambda v: v[idx, :, idx], lambda v: v[idx, None, idx], lambda v: v[:, idx, 1],
               lambda v: v[1, :, idx], lambda v: v[..., idx, 1:, idx]):
        assert fn(T.dtensor4()).ndim == fn(t).ndim
        check_op(fn, [t], ref=fn, grad=False)
    check_op(lambda v: v[idx, :, idx] * 2, [t], ref=lambda v: v[idx, :, idx] * 2)


def test_classic_nll_indexing_and_gradient():
    p = T.dmatrix("p")
    y = T.lvector("y")
    picked = p[T.arange(y.shape[0]), y]
    pv = rng.random((5, 3)) + 0.1
    yv = np.array([0, 2, 1, 2, 2])
    np.testing.assert_array_equal(both([p, y], picked, pv, yv), pv[np.arange(5), yv])
    nll = -T.sum(T.log(p)[T.arange(y.shape[0]), y]) / 5.0
    g = T.grad(nll, p)
    expected = np.zeros_like(pv)
    expected[np.arange(5), yv] = -1.0 / (5 * pv[np.arange(5), yv])
    for m in BACKENDS:
        np.testing.assert_allclose(theano.function([p, y], g, mode=m)(pv, yv), expected)


def test_boolean_masks():
    xv = rand(3, 4)
    check_op(lambda v: v[v > 0], [xv], ref=lambda v: v[v > 0], grad=False)
    mask = np.array([True, False, True])
    check_op(lambda v: v[mask] * 3, [xv], ref=lambda v: v[mask] * 3)
    check_op(lambda v: v[:, np.array([False, True, True, False])], [xv],
             ref=lambda v: v[:, [False, True, True, False]])
    check_op(lambda v, m: v[m, 1:], [xv, mask], ref=lambda v, m: v[m, 1:], grad=False)
    check_op(lambda v: T.set_subtensor(v[v < 0], 0.0), [xv],
             ref=lambda v: np.where(v < 0, 0.0, v), grad=False)


def test_repeated_indices_accumulate_in_grad():
    check_op(lambda v: v[[0, 0, 2, 0]] * np.arange(1.0, 5.0), [rand(3)],
             ref=lambda v: v[[0, 0, 2, 0]] * np.arange(1.0, 5.0))
    x = T.dvector("x")
    g = T.grad(x[[1, 1, 1, 0]].sum(), x)
    for m in BACKENDS:
        np.testing.assert_array_equal(theano.function([x], g, mode=m)(rand(3)), [1, 3, 0])


# ------------------------------------------------------------------- set / inc

def test_set_and_inc_basic_with_grads():
    xv, yv = rand(4, 3), rand(2, 3)

    def ref_set(a, b):
        a = a.copy()
        a[1:3] = b
        return a

    def ref_inc(a, b):
        a = a.copy()
        a[1:3] += b
        return a

    check_op(lambda a, b: T.set_subtensor(a[1:3], b), [xv, yv], ref=ref_set)
    check_op(lambda a, b: T.inc_subtensor(a[1:3], b), [xv, yv], ref=ref_inc)


def test_set_inc_broadcast_values_and_python_scalars():
    xv = rand(4, 3)
    row = T.drow("row")
    x = T.dmatrix("x")
    out = both([x, row], T.inc_subtensor(x[:, 1:], row), xv, np.ones((1, 2)))
    exp = xv.copy()
    exp[:, 1:] += 1
    np.testing.assert_array_equal(out, exp)
    out = both([x], T.set_subtensor(x[2], 7), xv)
    exp = xv.copy()
    exp[2] = 7
    np.testing.assert_array_equal(out, exp)
    f = T.fmatrix("f")
    assert T.set_subtensor(f[0], 0.5).dtype == "float32"
    out = both([x], T.inc_subtensor(x[1, 2], 10.0), xv)
    assert out[1, 2] == xv[1, 2] + 10
    # a scalar value broadcast into a slice; its gradient sums over the slice
    check_op(lambda a, s: T.inc_subtensor(a[::2, None, 1], s), [xv, np.float64(2.0)],
             ref=lambda a, s: a + np.where((np.arange(4) % 2 == 0)[:, None] &
                                           (np.arange(3) == 1)[None, :], s, 0.0))
    # y with fewer dims: a vector broadcast into rows
    check_op(lambda a, v: T.set_subtensor(a[1:], v), [xv, rand(3)],
             ref=lambda a, v: np.concatenate([a[:1], np.broadcast_to(v, (3, 3))]))


def test_set_inc_symbolic_indices():
    x, y = T.dmatrix("x"), T.dvector("y")
    i = T.lscalar("i")
    xv, yv = rand(5, 3), rand(3)
    for k in (0, 3, -1):
        out = both([x, y, i], T.set_subtensor(x[i], y), xv, yv, k)
        exp = xv.copy()
        exp[k] = yv
        np.testing.assert_array_equal(out, exp)
    out = both([x, i], T.inc_subtensor(x[i:i + 2, ::-1], 1.0), xv, 2)
    exp = xv.copy()
    exp[2:4, ::-1] += 1
    np.testing.assert_array_equal(out, exp)


def test_advanced_set_inc_with_repeats():
    xv = rand(4, 3)
    idx = np.array([0, 2, 0, 0])

    def ref_inc(a, b):
        a = a.copy()
        np.add.at(a, idx, b)
        return a

    check_op(lambda a, b: T.inc_subtensor(a[idx], b), [xv, rand(4, 3)], ref=ref_inc)
    uniq = np.array([3, 1])

    def ref_set(a, b):
        a = a.copy()
        a[uniq, 1:] = b
        return a

    check_op(lambda a, b: T.set_subtensor(a[uniq, 1:], b), [xv, rand(2, 2)], ref=ref_set)
    # pairs of index vectors, symbolic, with a repeated pair
    x, i, j, v = T.dmatrix("x"), T.lvector("i"), T.lvector("j"), T.dvector("v")
    iv, jv, vv = np.array([0, 3, 0]), np.array([1, 2, 1]), np.array([1.0, 2.0, 4.0])
    exp = xv.copy()
    np.add.at(exp, (iv, jv), vv)
    np.testing.assert_array_equal(both([x, i, j, v], T.inc_subtensor(x[i, j], v),
                                       xv, iv, jv, vv), exp)
    exp = xv.copy()
    exp[iv, jv] = vv
    np.testing.assert_array_equal(both([x, i, j, v], T.set_subtensor(x[i, j], v),
                                       xv, iv, jv, vv), exp)


def test_inplace_variants_write_into_x():
    for op, y, idx in [(IncSubtensor((("slice", 1, None, None),), inplace=True), np.ones(2), []),
                       (AdvancedIncSubtensor((("array",),), inplace=True), np.ones(2),
                        [np.array([0, 0])])]:
        assert op.destroy_map == {0: [0]}
        x = T.dvector("x")
        idx_syms = [T.lvector()] * len(idx)
        node = op.make_node(x, T.dvector("y"), *idx_syms)
        with pytest.raises(TypeError, match="accept_inplace=True"):
            theano.function([node.inputs[0], node.inputs[1]] + idx_syms, node.outputs[0])
        for m in BACKENDS:
            f = theano.function([node.inputs[0], node.inputs[1]] + idx_syms, node.outputs[0],
                                mode=m, accept_inplace=True)
            xv = np.zeros(3)
            raw = f.executable.run([xv, y] + idx, [])[0]
            assert np.shares_memory(raw, xv), (op, m)
            assert xv.tolist() == ([0, 1, 1] if not idx else [2, 0, 0])
    assert IncSubtensor((("int", 0),)).destroy_map == {}
    # the default (not in place) never writes into x
    x, i = T.dvector("x"), T.lvector("i")
    for m in BACKENDS:
        f = theano.function([x, i], [T.set_subtensor(x[1:], 5.0), T.inc_subtensor(x[i], 1.0)],
                            mode=m)
        xv = np.zeros(3)
        a, b = f.executable.run([xv, np.array([0, 0])], [])
        assert xv.tolist() == [0, 0, 0] and a.tolist() == [0, 5, 5] and b.tolist() == [2, 0, 0]


def test_set_subtensor_mixed_int_and_slice_on_tensor3():
    x = T.dtensor3("x")
    xv = rand(2, 3, 4)
    out = both([x], T.set_subtensor(x[1, :, 2], 0.0), xv)
    exp = xv.copy()
    exp[1, :, 2] = 0
    np.testing.assert_array_equal(out, exp)


# ------------------------------------------------------------------- take / nonzero

def test_take():
    a = rand(3, 4)
    check_op(lambda v: T.take(v, np.array([2, 0, 2]), axis=0), [a],
             ref=lambda v: np.take(v, [2, 0, 2], axis=0))
    check_op(lambda v: T.take(v, np.array([[1, 3], [0, 0]]), axis=-1), [a],
             ref=lambda v: np.take(v, [[1, 3], [0, 0]], axis=-1), grad=False)
    check_op(lambda v: T.take(v, np.array([11, 0, 5])), [a],
             ref=lambda v: np.take(v, [11, 0, 5]), grad=False)
    check_op(lambda v: T.take(v, np.array([5, -7]), axis=1, mode="wrap"), [a],
             ref=lambda v: np.take(v, [5, -7], axis=1, mode="wrap"), grad=False)
    check_op(lambda v: T.take(v, np.array([5, -7]), axis=1, mode="clip"), [a],
             ref=lambda v: np.take(v, [5, -7], axis=1, mode="clip"), grad=False)
    with pytest.raises(TypeError, match="take: indices must be integers"):
        T.take(T.dmatrix(), T.dvector())
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        T.take(T.dmatrix(), T.lvector(), axis=2)


def test_nonzero_family():
    m = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    check_op(lambda v: T.nonzero(v, return_matrix=True), [m],
             ref=lambda v: np.array(np.nonzero(v)), grad=False)
    check_op(lambda v: list(T.nonzero(v)), [m], ref=lambda v: list(np.nonzero(v)), grad=False)
    check_op(T.flatnonzero, [m], ref=np.flatnonzero, grad=False)
    check_op(T.nonzero_values, [m], ref=lambda v: v[v != 0], grad=False)
    # (finite differences would turn zeros into non-zeros: check the gradient directly)
    x = T.dmatrix("x")
    g = T.grad((T.nonzero_values(x) * np.arange(1.0, 4.0)).sum(), x)
    np.testing.assert_array_equal(both([x], g, m), [[0, 1, 0], [2, 0, 3]])


# ------------------------------------------------------------------- property tests

@st.composite
def basic_index(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "full"]))
        if kind == "int" and n > 0:
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "full":
            parts.append(slice(None))
        else:
            bound = st.one_of(st.none(), st.integers(-6, 6))
            step = st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0))
            parts.append(slice(draw(bound), draw(bound), draw(step)))
    cut = draw(st.integers(0, len(parts)))
    parts = parts[:cut]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if draw(st.booleans()) and cut < len(shape):
        parts.insert(draw(st.integers(0, len(parts))), Ellipsis)
    return shape, tuple(parts)


@HYP
@given(basic_index(), st.sampled_from(["constant", "symbolic", "set"]))
def test_hypothesis_basic_indexing(case, how):
    shape, index = case
    xv = rng.standard_normal(shape)
    if how == "constant":
        check_op(lambda v: v[index], [xv], ref=lambda v: v[index], grad=False)
        return
    if how == "set":
        yv = rng.standard_normal(xv[index].shape)

        def ref(v, y):
            v = v.copy()
            v[index] = y
            return v
        check_op(lambda v, y: T.set_subtensor(v[index], y), [xv, yv], ref=ref, grad=False)
        return
    # every integer bound becomes a symbolic int64 input
    ints = []

    def sym(v):
        if isinstance(v, int):
            ints.append(np.int64(v))
            return len(ints) - 1
        return v
    pattern = tuple(slice(sym(p.start), sym(p.stop), sym(p.step)) if isinstance(p, slice)
                    else sym(p) for p in index)

    def build(v, *scal):
        def f(k):
            return None if k is None else scal[k]
        idx = tuple(slice(f(p.start), f(p.stop), f(p.step)) if isinstance(p, slice)
                    else (scal[p] if isinstance(p, int) else p) for p in pattern)
        return v[idx]

    check_op(build, [xv] + ints, ref=lambda v, *s: v[index], grad=False)


@st.composite
def advanced_index(draw):
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    parts = []
    n_arr = 0
    for n in shape:
        kind = draw(st.sampled_from(["array", "slice", "int"]))
        if kind == "array":
            k = draw(st.integers(0, 3))
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=k,
                                                max_size=k)), dtype="int64"))
            n_arr += 1
        elif kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            parts.append(slice(draw(st.one_of(st.none(), st.integers(-4, 4))), None,
                               draw(st.sampled_from([None, 1, -1, 2]))))
    if n_arr == 0:
        parts[0] = np.array([0, shape[0] - 1, 0])
    # equal lengths so several index arrays broadcast together
    lens = {len(p) for p in parts if isinstance(p, np.ndarray)}
    if len(lens) > 1:
        k = min(lens)
        parts = [p[:k] if isinstance(p, np.ndarray) else p for p in parts]
    return shape, tuple(parts)


@HYP
@given(advanced_index(), st.booleans())
def test_hypothesis_advanced_get_and_inc(case, inc):
    shape, index = case
    xv = rng.standard_normal(shape)
    arrays = [p for p in index if isinstance(p, np.ndarray)]

    def build(v, *arrs):
        it = iter(arrs)
        idx = tuple(next(it) if isinstance(p, np.ndarray) else p for p in index)
        return v[idx]
    if not inc:
        check_op(build, [xv] + arrays, ref=lambda v, *a: v[index], grad=False)
        return
    yv = rng.standard_normal(xv[index].shape)

    def ref(v, y, *a):
        v = v.copy()
        np.add.at(v, index, y)
        return v
    check_op(lambda v, y, *a: T.inc_subtensor(build(v, *a), y), [xv, yv] + arrays, ref=ref,
             grad=False)


# ------------------------------------------------------------------- errors

@pytest.mark.parametrize("mode", BACKENDS)
def test_out_of_range_integer_index(mode):
    x = T.dmatrix("x")
    i = T.lscalar("i")
    f = theano.function([x, i], x[1, i], mode=mode)
    with pytest.raises(IndexError) as e:
        f(rand(3, 4), 4)
    msg = str(e.value)
    assert "Subtensor{1, ?}" in msg and "index 4" in msg and "(3, 4)" in msg and "axis 1" in msg
    assert float(f(np.ones((3, 4)), -4)) == 1.0
    g = theano.function([x], x[5], mode=mode)
    with pytest.raises(IndexError, match=r"Subtensor\{5\}: index 5 is out of bounds for axis 0 "
                                         r"with size 3 \(input shape \(3, 4\)\)"):
        g(rand(3, 4))


@pytest.mark.parametrize("mode", BACKENDS)
def test_out_of_range_advanced_index_and_mask_mismatch(mode):
    x, i = T.dmatrix("x"), T.lvector("i")
    f = theano.function([x, i], x[i], mode=mode)
    with pytest.raises(IndexError, match=r"AdvancedSubtensor\{\[\?\]\}.*index 7 is out of "
                                         r"bounds.*size 3"):
        f(rand(3, 2), np.array([0, 7]))
    g = theano.function([x, i], T.inc_subtensor(x[i], 1.0), mode=mode)
    with pytest.raises(IndexError, match="AdvancedIncSubtensor.*out of bounds"):
        g(rand(3, 2), np.array([-4]))
    m = T.bvector("m").astype("bool")
    h = theano.function([x, m.owner.inputs[0]], x[m], mode=mode)
    with pytest.raises(IndexError, match=r"AdvancedSubtensor\{\[mask\]\}.*boolean"):
        h(rand(3, 2), np.array([1, 0], dtype="int8"))
    j = T.lvector("j")
    k = theano.function([x, i, j], x[i, j], mode=mode)
    with pytest.raises(IndexError, match="AdvancedSubtensor.*broadcast"):
        k(rand(3, 2), np.array([0, 1]), np.array([0, 1, 1]))


@pytest.mark.parametrize("mode", BACKENDS)
def test_value_shape_mismatch_and_zero_step(mode):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = theano.function([x, y], T.set_subtensor(x[1:], y), mode=mode)
    with pytest.raises(ValueError, match=r"IncSubtensor\{Set; 1:\}: the value has shape "
                                         r"\(2, 2\) but the indexed subtensor has shape "
                                         r"\(2, 3\)"):
        f(rand(3, 3), rand(2, 2))
    i = T.lscalar("i")
    g = theano.function([x, i], x[::i], mode=mode)
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        g(rand(2, 2), 0)


def test_build_time_errors():
    x = T.dmatrix("x")
    with pytest.raises(IndexError, match="too many indices for a 2-d tensor"):
        x[0, 0, 0]
    with pytest.raises(TypeError, match="index arrays must be integers or booleans.*float64"):
        x[T.dvector()]
    with pytest.raises(TypeError, match="slice start must be an integer scalar"):
        x[T.dscalar():]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(TypeError, match=r"set_subtensor: the first argument must be an "
                                        r"indexing expression.*Elemwise"):
        T.set_subtensor(x + 1, 0.0)
    with pytest.raises(TypeError, match="inc_subtensor: the first argument"):
        T.inc_subtensor(x, 0.0)
    with pytest.raises(TypeError, match=r"IncSubtensor\{Inc; 0\}: cannot increment a 1-d "
                                        r"subtensor with a 2-d value"):
        T.inc_subtensor(x[0], T.dmatrix())
    with pytest.raises(TypeError, match="cannot write a value of dtype float64 into a tensor "
                                        "of dtype int64"):
        T.set_subtensor(T.lvector()[0], T.dscalar())
    with pytest.raises(TypeError, match="expected 1 index inputs, got 0"):
        Subtensor((("int", "?"),))(x)
    with pytest.raises(TypeError, match="must be an integer scalar, got .*float32"):
        Subtensor((("int", "?"),))(x, T.fscalar())
    with pytest.raises(TypeError, match="Python bool"):
        x[True]


def test_infer_shape_without_running_the_op():
    x = T.dmatrix("x")
    i = T.lscalar("i")
    shp = shape_tuple(x[i:, ::2][None, 1:])
    f = theano.function([x, i], list(shp), mode="py", on_unused_input="ignore")
    assert [int(v) for v in f(rand(7, 5), 2)] == [1, 4, 3]
    nodes = theano.function([x, i], list(shp[1:]), mode="py").maker.fgraph.toposort()
    assert not any(isinstance(n.op, Subtensor) and n.inputs[0].type.dtype == "float64"
                   for n in nodes)
    assert str(Subtensor((("slice", 1, "?", None), ("none",), ("int", -1)))) == \
        "Subtensor{1:?, None, -1}"
    assert AdvancedIncSubtensor((("array",),), set_instead_of_inc=True) != \
        AdvancedIncSubtensor((("array",),))
