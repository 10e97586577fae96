"""Shape ops: reshape, flatten, dimshuffle helpers, (un)broadcast, specify_shape, join/split,
stack, alloc/zeros/ones, arange, eye, tile, repeat, flip.

Each op is checked with ``check_op`` (py and numba backends against numpy, infer_shape,
verify_grad); hypothesis tests reuse one compiled function per graph (shapes vary at run
time, so no recompilation per example).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as theano
import symgraph.tensor as T
from symgraph.config import config
from symgraph.gradient import verify_grad
from symgraph.tensor.shape_inference import shape_tuple
from symgraph.testing import check_op

BACKENDS = ("py", "numba")
rng = np.random.default_rng(0)
HYP = settings(max_examples=15, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow])


def check(fn, values, ref, grad=True, numba_grad=False, **kw):
    """``check_op`` on py and numba; the gradient is verified on numba only when
    ``numba_grad`` (each verify_grad costs five Numba compiles), else on the py backend
    (gradient graphs are built from the same ops, whose Numba code is checked forward)."""
    check_op(fn, values, ref=ref, grad=grad and numba_grad, **kw)
    if grad and not numba_grad and all(np.asarray(v).dtype.kind == "f" for v in values):
        def joined(*xs):   # every float output takes part in the checked gradient
            outs = fn(*xs)
            outs = [o for o in (outs if isinstance(outs, (list, tuple)) else [outs])
                    if o.dtype.startswith("float")]
            return outs[0] if len(outs) == 1 else T.concatenate([T.flatten(o) for o in outs])

        verify_grad(joined, values, mode="py")


def rand(*shape, dtype="float64"):
    return rng.standard_normal(shape).astype(dtype)


_fn_cache: dict = {}


def cached_fn(key, build):
    """Compile ``build()`` -> (inputs, outputs) once per backend and key."""
    if key not in _fn_cache:
        ins, outs = build()
        _fn_cache[key] = {b: theano.function(ins, outs, mode=b) for b in BACKENDS}
    return _fn_cache[key]


def run_both(fns, *args):
    """Outputs of both backends (equal dtypes and values), returned from the py one."""
    res = {b: f(*args) for b, f in fns.items()}
    py, nb = res["py"], res["numba"]
    if not isinstance(py, list):
        py, nb = [py], [nb]
    for a, b in zip(py, nb):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    return res["py"]


# ---------------------------------------------------------------------------- reshape

def test_reshape_constant_shape_with_minus_one():
    check(lambda x: T.reshape(x, (3, -1)), [rand(2, 3, 2)], ref=lambda x: x.reshape(3, -1),
          numba_grad=True)


def test_reshape_symbolic_entries_and_vector():
    # a tuple mixing ints and a symbolic scalar, and a symbolic vector with ndim
    n = T.lscalar("n")
    x = T.dmatrix("x")
    v = T.lvector("v")
    xv = rand(4, 3)
    for b in BACKENDS:
        f = theano.function([x, n, v], [x.reshape((n, -1)), T.reshape(x, v, ndim=3)], mode=b)
        a, c = f(xv, 6, np.array([2, -1, 3]))
        np.testing.assert_array_equal(a, xv.reshape(6, -1))
        np.testing.assert_array_equal(c, xv.reshape(2, -1, 3))
    # infer_shape through the symbolic entries (including a run-time -1)
    out = T.reshape(x, v, ndim=3)
    sv = T.stack([T.as_tensor_variable(s) for s in shape_tuple(out)])
    got = theano.function([x, v], sv, mode="py")(xv, np.array([2, -1, 3]))
    assert tuple(got) == (2, 2, 3)
    check(lambda x: T.reshape(x, T.shape(T.transpose(x))), [rand(2, 5)],
             ref=lambda x: x.reshape(5, 2))


def test_reshape_theano_idioms_with_shape_expressions():
    x = T.dtensor3("x")
    xv = rand(2, 3, 4)
    outs = [x.reshape((x.shape[0], -1)), x.reshape(T.concatenate([T.shape(x)[:1], [-1]])),
            T.zeros(x.shape[1:]), x.reshape(x.shape[::-1])]
    assert [o.ndim for o in outs] == [2, 2, 2, 3]
    for b in BACKENDS:
        r = theano.function([x], outs, mode=b)(xv)
        assert [a.shape for a in r] == [(2, 12), (2, 12), (3, 4), (4, 3, 2)]
        np.testing.assert_array_equal(r[1], xv.reshape(2, -1))
    assert T.get_vector_length(T.shape(x)[1:]) == 2
    assert T.get_vector_length([1, T.lscalar()]) == 2
    with pytest.raises(ValueError, match="cannot be determined"):
        T.get_vector_length(T.lvector("v"))


def test_reshape_broadcastable_only_from_constant_ones():
    x = T.dvector("x")
    n = T.lscalar("n")
    assert T.reshape(x, (1, -1)).broadcastable == (True, False)
    assert T.reshape(x, (n, 1)).broadcastable == (False, True)
    assert T.reshape(x, (n, -1)).broadcastable == (False, False)
    assert T.reshape(x, T.shape(T.row("r"))).broadcastable == (True, False)
    # the gradient keeps the input's pattern
    r = T.drow("r")
    g = T.grad(T.sum(T.reshape(r, (-1,)) ** 2), r)
    assert g.broadcastable == (True, False)


def test_reshape_of_noncontiguous_input_copies_and_contiguous_is_view():
    x = T.dmatrix("x")
    f = theano.function([x], T.reshape(x, (6,)), mode="numba")
    order = f.fgraph.toposort()
    k = next(i for i, nd in enumerate(order) if isinstance(nd.op, T.Reshape))
    node_fn = getattr(f.executable.module, f"node{k}")
    shp = np.array([6], dtype="int64")
    a = np.arange(6.0).reshape(2, 3)
    r = node_fn(a, shp)
    assert np.shares_memory(r, a)                # contiguous: a view
    t = np.arange(6.0).reshape(3, 2).T           # non-contiguous
    r = node_fn(t, shp)
    assert not np.shares_memory(r, t)
    np.testing.assert_array_equal(r, t.reshape(6))
    np.testing.assert_array_equal(f(t), t.reshape(6))
    # reshape of a transposed intermediate inside one graph
    check(lambda x: T.reshape(x.T, (-1,)), [rand(3, 4)], ref=lambda x: x.T.reshape(-1))


def test_reshape_0d_cases():
    check(lambda s: T.reshape(s, (1, 1)), [np.array(2.5)], ref=lambda s: s.reshape(1, 1))
    check(lambda v: T.reshape(v, ()), [rand(1)], ref=lambda v: v.reshape(()))


@pytest.mark.parametrize("mode", BACKENDS)
def test_reshape_bad_size_names_op_and_shapes(mode):
    x = T.dmatrix("x")
    f = theano.function([x], T.reshape(x, (4, -1)), mode=mode)
    with pytest.raises(ValueError, match=r"Reshape.*\(2, 3\).*\(4, -1\)"):
        f(rand(2, 3))
    v = T.lvector("v")
    g = theano.function([x, v], T.reshape(x, v, ndim=2), mode=mode)
    with pytest.raises(ValueError, match=r"Reshape.*\(2, 3\).*\(5, 2\)"):
        g(rand(2, 3), np.array([5, 2]))


def test_reshape_build_time_errors():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match=r"integer vector.*float64"):
        T.reshape(x, T.dvector("s"), ndim=2)
    with pytest.raises(TypeError, match=r"integer scalar.*float"):
        T.reshape(x, (2, 1.5))
    with pytest.raises(TypeError, match=r"integer scalar.*TensorType\(float64, scalar\)"):
        T.reshape(x, (T.dscalar("d"), 3))
    with pytest.raises(ValueError, match="ndim"):
        T.reshape(x, T.lvector("s"))
    with pytest.raises(ValueError, match="-1"):
        T.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="ndim=3"):
        T.reshape(x, (6,), ndim=3)


@HYP
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3),
       st.sampled_from(["float64", "float32", "int32", "int64", "bool"]),
       st.integers(0, 3), st.booleans())
def test_reshape_hypothesis(shape, dtype, split_at, use_neg):
    size = int(np.prod(shape))
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    # target: 2-d (p, size // p) with p a divisor, optionally with a -1
    divs = [d for d in range(1, size + 1) if size % d == 0] or [1]
    p = divs[split_at % len(divs)]
    q = size // p
    target = np.array([p, -1 if (use_neg and p) else q], dtype="int64")
    fns = cached_fn(("reshape", dtype, len(shape)), lambda: _reshape_graph(dtype, len(shape)))
    out = run_both(fns, a, target)
    np.testing.assert_array_equal(out, a.reshape(tuple(target)))


def _reshape_graph(dtype, nd):
    x = T.tensor(dtype, (False,) * nd, name="x")
    s = T.lvector("s")
    return [x, s], T.reshape(x, s, ndim=2)


# ---------------------------------------------------------------------------- flatten

def test_flatten_keeps_first_dims():
    check(lambda x: [T.flatten(x), T.flatten(x, 2), T.flatten(x, 3), x.flatten(2)],
             [rand(2, 3, 4)],
             ref=lambda x: [x.reshape(-1), x.reshape(2, -1), x, x.reshape(2, -1)])
    c = T.tensor("float64", (False, True, True))
    assert T.flatten(c, 2).broadcastable == (False, True)
    assert T.flatten(T.tensor("float64", (True, False)), 2).broadcastable == (True, False)
    with pytest.raises(ValueError, match="ndim=4"):
        T.flatten(T.tensor3(), 4)
    with pytest.raises(ValueError, match="ndim=0"):
        T.flatten(T.tensor3(), 0)


# ---------------------------------------------------------------------------- dimshuffle family

def test_transpose_dimshuffle_pad_squeeze():
    def fn(x):
        return [T.transpose(x), T.transpose(x, (1, 0, 2)), x.T, x.transpose(2, 0, 1),
                T.dimshuffle(x, (2, "x", 0, 1)), T.shape_padleft(x, 2), T.shape_padright(x),
                T.shape_padaxis(x, -2), T.squeeze(T.shape_padaxis(x, 1)), T.swapaxes(x, 0, -1)]

    check(fn, [rand(2, 3, 4)],
             ref=lambda x: [x.T, x.transpose(1, 0, 2), x.T, x.transpose(2, 0, 1),
                            x.transpose(2, 0, 1)[:, None], x[None, None], x[..., None],
                            x[:, :, None], x, x.swapaxes(0, 2)])
    assert T.shape_padaxis(T.matrix(), 1).broadcastable == (False, True, False)
    assert T.squeeze(T.tensor("float64", (True, False, True))).broadcastable == (False,)
    with pytest.raises(ValueError, match="permutation"):
        T.transpose(T.matrix(), (0, 0))
    with pytest.raises(IndexError, match="axis 3"):
        T.shape_padaxis(T.matrix(), 3)


@pytest.mark.parametrize("mode", BACKENDS)
def test_squeeze_given_axis_checks_length_at_run_time(mode):
    x = T.dmatrix("x")
    f = theano.function([x], T.squeeze(x, axis=1), mode=mode)
    np.testing.assert_array_equal(f(np.ones((3, 1))), np.ones(3))
    with pytest.raises(ValueError, match=r"Rebroadcast.*length 1.*\(3, 2\)"):
        f(np.ones((3, 2)))


# ---------------------------------------------------------------------------- Rebroadcast

def test_rebroadcast_values_patterns_and_grad():
    check(lambda x: [T.addbroadcast(x, 0) * 2, T.unbroadcast(T.addbroadcast(x, 0), 0)],
             [rand(1, 3)], ref=lambda x: [x * 2, x])
    x = T.dmatrix()
    assert T.addbroadcast(x, 0, 1).broadcastable == (True, True)
    assert T.unbroadcast(T.row(), 0).broadcastable == (False, False)
    assert T.patternbroadcast(x, (False, True)).broadcastable == (False, True)
    assert T.patternbroadcast(x, (False, False)) is x
    with pytest.raises(TypeError, match=r"3 entries, expected 2"):
        T.patternbroadcast(x, (True, False, False))


@pytest.mark.parametrize("mode", BACKENDS)
def test_rebroadcast_runtime_check(mode):
    x = T.dmatrix("x")
    f = theano.function([x], T.addbroadcast(x, 1) + 1, mode=mode)
    with pytest.raises(ValueError, match=r"Rebroadcast.*length 1.*\(2, 3\)"):
        f(np.ones((2, 3)))


# ---------------------------------------------------------------------------- specify_shape

@pytest.mark.parametrize("mode", BACKENDS)
def test_specify_shape(mode):
    x = T.dmatrix("x")
    n = T.lscalar("n")
    y = T.specify_shape(x, (n, 3))
    assert shape_tuple(y)[1] == 3
    f = theano.function([x, n], y * 2, mode=mode)
    np.testing.assert_array_equal(f(np.ones((2, 3)), 2), 2 * np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"SpecifyShape.*\(2, 3\).*\(2, 4\)"):
        f(np.ones((2, 4)), 2)
    with pytest.raises(TypeError, match=r"expected 2 shape entries.*got 3"):
        T.specify_shape(x, (1, 2, 3))


def test_specify_shape_grad():
    check(lambda x: T.specify_shape(x, (2, 3)) ** 2, [rand(2, 3)], ref=lambda x: x ** 2)


# ---------------------------------------------------------------------------- join / split

def test_concatenate_and_join():
    check(lambda a, b, c: [T.concatenate([a, b, c], axis=1), T.join(-1, a, b)],
             [rand(2, 3), rand(2, 1), rand(2, 2)],
             ref=lambda a, b, c: [np.concatenate([a, b, c], 1), np.concatenate([a, b], 1)],
          numba_grad=True)


def test_concatenate_mixed_dtypes_and_broadcastable():
    check(lambda a, b: T.concatenate([a, b]), [np.arange(3, dtype="int32"),
                                                  rand(2, dtype="float32")],
             ref=lambda a, b: np.concatenate([a, b]).astype("float64"), grad=False)
    r = T.drow()
    m = T.dmatrix()
    assert T.concatenate([r, m], axis=1).broadcastable == (True, False)
    assert T.concatenate([r, r], axis=0).broadcastable == (False, False)
    # gradient of a broadcastable input keeps its pattern
    check(lambda a, b: T.concatenate([a, b], axis=1), [rand(1, 2), rand(1, 3)],
             ref=lambda a, b: np.concatenate([a, b], 1), broadcastable=[(True, False),
                                                                         (False, False)])


@pytest.mark.parametrize("mode", BACKENDS)
def test_concatenate_shape_mismatch(mode):
    a, b = T.dmatrices("a", "b")
    f = theano.function([a, b], T.concatenate([a, b], axis=0), mode=mode)
    with pytest.raises(ValueError, match=r"Join.*\(2, 3\).*\(2, 4\)"):
        f(rand(2, 3), rand(2, 4))


def test_join_build_time_errors():
    with pytest.raises(TypeError, match=r"TensorType\(float64, matrix\).*2-d.*vector.*1-d"):
        T.concatenate([T.dmatrix(), T.dvector()])
    with pytest.raises(TypeError, match="list or tuple"):
        T.concatenate(T.dmatrix())
    with pytest.raises(ValueError, match="out of range"):
        T.concatenate([T.dvector(), T.dvector()], axis=1)
    with pytest.raises(TypeError, match="constant int"):
        T.join(T.lscalar(), T.dvector(), T.dvector())


def test_split_and_grad_with_unused_piece():
    check(lambda x: T.split(x, [1, 3, 0], 3, axis=1), [rand(2, 4)],
             ref=lambda x: [x[:, :1], x[:, 1:], x[:, 4:]])
    check(lambda x: T.split(x, [2, 1], 2)[1] * 3, [rand(3)], ref=lambda x: x[2:] * 3)


@pytest.mark.parametrize("mode", BACKENDS)
def test_split_bad_sizes(mode):
    x = T.dvector("x")
    s = T.lvector("s")
    f = theano.function([x, s], T.split(x, s, 2), mode=mode)
    with pytest.raises(ValueError, match=r"Split.*\(1, 1\).*sum to 3"):
        f(rand(3), np.array([1, 1]))


@HYP
@given(st.lists(st.integers(0, 3), min_size=2, max_size=3), st.integers(1, 3),
       st.sampled_from([("float64", "float64"), ("int32", "float32"), ("int64", "int8")]))
def test_concatenate_hypothesis(lengths, other, dtypes):
    d0, d1 = dtypes
    fns = cached_fn(("concat", dtypes), lambda: _concat_graph(d0, d1))
    xs = [(rng.standard_normal((other, n)) * 5).astype(d0 if k % 2 == 0 else d1)
          for k, n in enumerate(lengths[:2])]
    out = run_both(fns, *xs)
    for o, ax in zip(out, (1, 0)):
        ref = np.concatenate(xs if ax == 1 else [x.T for x in xs], axis=ax)
        np.testing.assert_array_equal(o, ref)
        assert o.dtype == np.result_type(np.dtype(d0), np.dtype(d1))


def _concat_graph(d0, d1):
    a = T.tensor(d0, (False, False), name="a")
    b = T.tensor(d1, (False, False), name="b")
    return [a, b], [T.concatenate([a, b], axis=1), T.concatenate([a.T, b.T], axis=0)]


# ---------------------------------------------------------------------------- stack

def test_stack_scalars_gives_vector_and_grad():
    check(lambda a, b, c: T.stack([a, b, c]), [np.array(1.0), np.array(2.0), np.array(-3.0)],
             ref=lambda a, b, c: np.stack([a, b, c]), numba_grad=True)
    check(lambda a: T.stack([a]), [np.array(1.5)], ref=lambda a: np.stack([a]))
    a, b = T.dscalars("a", "b")
    v = T.as_tensor_variable([a, b])
    assert v.type == T.TensorType("float64", (False,))
    assert T.stack([T.iscalar(), 1]).dtype == "int32"
    assert T.stack([T.fscalar(), 1.0]).dtype == "float32"
    assert T.stack(a, b).ndim == 1


def test_stack_tensors_on_axes():
    check(lambda a, b: [T.stack([a, b]), T.stack([a, b], axis=1), T.stack([a, b], axis=-1),
                           T.as_tensor_variable([[a, b], [b, a]])],
             [rand(2, 3), rand(2, 3)],
             ref=lambda a, b: [np.stack([a, b]), np.stack([a, b], 1), np.stack([a, b], -1),
                               np.array([[a, b], [b, a]])])
    with pytest.raises(TypeError, match=r"same number of dimensions.*vector.*matrix"):
        T.stack([T.dvector(), T.dmatrix()])
    with pytest.raises(ValueError, match="at least one"):
        T.stack([])


def test_horizontal_vertical_stack():
    check(lambda a, b: [T.horizontal_stack(a, b), T.vertical_stack(a, b)],
             [rand(2, 2), rand(2, 2)], ref=lambda a, b: [np.hstack([a, b]), np.vstack([a, b])])
    with pytest.raises(TypeError, match=r"2-d.*vector"):
        T.horizontal_stack(T.dvector(), T.dvector())


# ---------------------------------------------------------------------------- alloc / zeros / ones

def test_alloc_broadcasts_value_and_grad():
    check(lambda v, r: [T.alloc(v, 2, 4, 3), T.alloc(r, 3, 3)],
             [rand(4, 3), rand(1, 3)],
             ref=lambda v, r: [np.broadcast_to(v, (2, 4, 3)), np.broadcast_to(r, (3, 3))],
             broadcastable=[(False, False), (True, False)], numba_grad=True)
    check(lambda s: T.alloc(s, 2, 3), [np.array(1.5)], ref=lambda s: np.full((2, 3), 1.5))


def test_alloc_symbolic_shape_and_patterns():
    n = T.lscalar("n")
    x = T.dmatrix("x")
    assert T.alloc(0.0, n, 1).broadcastable == (False, True)
    assert T.alloc(0.0, n).dtype == config.floatX
    assert T.alloc(np.float32(0), n).dtype == "float32"
    for b in BACKENDS:
        f = theano.function([n, x], [T.alloc(np.float32(2), n, 2), T.zeros(x.shape),
                                     T.ones((n, 2), dtype="int32"), T.zeros(3),
                                     T.zeros((n,))], mode=b)
        a, z, o, z3, zn = f(3, np.ones((4, 5)))
        np.testing.assert_array_equal(a, np.full((3, 2), 2, dtype="float32"))
        assert a.dtype == np.float32
        np.testing.assert_array_equal(z, np.zeros((4, 5)))
        assert z.dtype == config.floatX
        assert o.dtype == np.int32 and o.shape == (3, 2)
        assert z3.shape == (3,) and zn.shape == (3,)


@pytest.mark.parametrize("mode", BACKENDS)
def test_alloc_runtime_errors(mode):
    v = T.dvector("v")
    n = T.lscalar("n")
    f = theano.function([v, n], T.alloc(v, 2, n), mode=mode)
    with pytest.raises(ValueError, match=r"Alloc.*\(3,\).*\(2, 4\)"):
        f(rand(3), 4)
    g = theano.function([n], T.alloc(1.0, n), mode=mode)
    with pytest.raises(ValueError, match="Alloc.*negative"):
        g(-2)


def test_alloc_build_time_errors():
    with pytest.raises(TypeError, match=r"Alloc.*shape entry 1.*integer scalar.*float64"):
        T.alloc(0.0, 2, T.dscalar())
    with pytest.raises(TypeError, match=r"Alloc.*2 dimensions.*more than the 1"):
        T.alloc(T.dmatrix(), 3)
    with pytest.raises(TypeError, match=r"integer scalar.*float"):
        T.zeros((2, 2.5))


# ---------------------------------------------------------------------------- arange / eye

def test_arange_dtypes():
    assert T.arange(5).dtype == "int64"
    assert T.arange(T.iscalar()).dtype == "int64"
    assert T.arange(0.5, 3).dtype == config.floatX
    assert T.arange(T.fscalar(), 3).dtype == "float32"
    assert T.arange(T.dscalar(), T.fscalar()).dtype == "float64"
    assert T.arange(3, dtype="int32").dtype == "int32"


def test_arange_int_and_float_with_grad():
    check(lambda a, b, c: T.arange(a, b, c), [np.int64(2), np.int64(11), np.int64(3)],
             ref=lambda a, b, c: np.arange(a, b, c))
    check(lambda a, b, c: T.arange(a, b, c), [np.int32(9), np.int32(-2), np.int32(-4)],
             ref=lambda a, b, c: np.arange(a, b, c))
    check(lambda a, b, c: T.arange(a, b, c) ** 2,
             [np.array(0.3), np.array(4.45), np.array(0.7)],
             ref=lambda a, b, c: np.arange(a, b, c) ** 2)
    check(lambda a: T.arange(a), [np.array(3.5, dtype="float32")],
             ref=lambda a: np.arange(a), grad=False)


@pytest.mark.parametrize("mode", BACKENDS)
def test_arange_zero_step(mode):
    a = T.lscalar("a")
    f = theano.function([a], T.arange(0, 5, a), mode=mode)
    assert f(7).tolist() == [0]
    with pytest.raises(ValueError, match="ARange.*step"):
        f(0)


@HYP
@given(st.integers(-6, 6), st.integers(-6, 6), st.integers(-3, 3).filter(lambda s: s != 0),
       st.floats(0.1, 2.0))
def test_arange_hypothesis(start, stop, step, fstep):
    fi = cached_fn("arange_int", lambda: _arange_graph("int64"))
    np.testing.assert_array_equal(run_both(fi, start, stop, step),
                                  np.arange(start, stop, step))
    ff = cached_fn("arange_float", lambda: _arange_graph("float64"))
    ref = np.arange(float(start), float(stop), fstep)
    res = {b: f(float(start), float(stop), fstep) for b, f in ff.items()}
    for r in res.values():
        assert r.shape == ref.shape
        np.testing.assert_allclose(r, ref, rtol=1e-12, atol=1e-12)


def _arange_graph(dtype):
    a, b, c = (T.tensor(dtype, (), name=n) for n in "abc")
    return [a, b, c], T.arange(a, b, c)


def test_eye_and_identity_like():
    check(lambda n, m, k: T.eye(n, m, k), [np.int64(3), np.int64(4), np.int64(1)],
             ref=lambda n, m, k: np.eye(n, m, k))
    check(lambda n: T.eye(n, k=-1, dtype="int32"), [np.int64(3)],
             ref=lambda n: np.eye(3, k=-1, dtype="int32"))
    check(lambda x: T.identity_like(x) * x, [rand(2, 3)], ref=lambda x: np.eye(2, 3) * x)
    assert T.eye(3).dtype == config.floatX
    with pytest.raises(TypeError, match=r"Eye.*integer scalar.*float64"):
        T.eye(T.dscalar())
    with pytest.raises(TypeError, match=r"identity_like.*matrix.*vector"):
        T.identity_like(T.dvector())


# ---------------------------------------------------------------------------- tile / repeat / flip

def test_tile():
    check(lambda x: [T.tile(x, (2, 3)), T.tile(x, 2), T.tile(x, (2, 1, 1))], [rand(2, 3)],
             ref=lambda x: [np.tile(x, (2, 3)), np.tile(x, 2), np.tile(x, (2, 1, 1))])
    check(lambda v: T.tile(v, (3, 2)), [rand(2)], ref=lambda v: np.tile(v, (3, 2)))
    r = T.lscalar("r")
    x = T.dvector("x")
    for b in BACKENDS:
        f = theano.function([x, r], T.tile(x, [r]), mode=b)
        np.testing.assert_array_equal(f(np.arange(3.0), 2), np.tile(np.arange(3.0), 2))
    assert T.tile(T.drow(), (1, 2)).broadcastable == (True, False)
    with pytest.raises(ValueError, match="ndim"):
        T.tile(x, T.lvector())


@HYP
@given(st.integers(0, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 2),
       st.sampled_from(["float32", "int64"]))
def test_tile_repeat_hypothesis(rows, cols, r0, r1, dtype):
    fns = cached_fn(("tile", dtype), lambda: _tile_graph(dtype))
    a = (rng.standard_normal((rows, cols)) * 4).astype(dtype)
    t, rp = run_both(fns, a, r0, r1)
    np.testing.assert_array_equal(t, np.tile(a, (r0, r1)))
    np.testing.assert_array_equal(rp, np.repeat(a, r0, axis=1))


def _tile_graph(dtype):
    x = T.tensor(dtype, (False, False), name="x")
    r0, r1 = T.lscalars("r0", "r1")
    return [x, r0, r1], [T.tile(x, [r0, r1]), T.repeat(x, r0, axis=1)]


def test_repeat():
    check(lambda x: [T.repeat(x, 2, axis=1), T.repeat(x, 3), x.repeat(2, axis=0),
                        T.repeat(x, [1, 0, 2], axis=1), T.repeat(x, [2], axis=0)],
             [rand(2, 3)],
             ref=lambda x: [np.repeat(x, 2, 1), np.repeat(x, 3), np.repeat(x, 2, 0),
                            np.repeat(x, [1, 0, 2], 1), np.repeat(x, [2], 0)])
    check(lambda x: T.repeat(x, [1, 0, 2], axis=1), [rand(2, 3)],
             ref=lambda x: np.repeat(x, [1, 0, 2], 1))
    n = T.lscalar("n")
    x = T.dvector("x")
    for b in BACKENDS:
        f = theano.function([x, n], T.repeat(x, n), mode=b)
        np.testing.assert_array_equal(f(np.arange(3.0), 2), np.repeat(np.arange(3.0), 2))
    with pytest.raises(TypeError, match="repeats"):
        T.repeat(x, T.lvector())


@pytest.mark.parametrize("mode", BACKENDS)
def test_repeat_length_mismatch(mode):
    x = T.dvector("x")
    f = theano.function([x], T.repeat(x, [1, 2]), mode=mode)
    with pytest.raises(ValueError, match=r"Repeat.*2 repeats.*length 3"):
        f(rand(3))


def test_flip():
    check(lambda x: [T.flip(x, 0), T.flip(x, (1, 2)), T.flip(x)], [rand(2, 3, 2)],
             ref=lambda x: [np.flip(x, 0), np.flip(x, (1, 2)), np.flip(x)])


# ---------------------------------------------------------------------------- misc

def test_second_derivatives_through_shape_ops():
    # gradients are graphs of ordinary ops, so they differentiate again
    def cost(x):
        y = T.concatenate([x, T.tile(x ** 2, (2,)), T.repeat(x, [1, 2, 0]), T.flip(x)])
        z = T.alloc(T.reshape(y, (3, -1)), 2, 3, 5)
        return T.sum(z ** 3) + T.sum(T.stack([T.sum(x), T.max(x)]) ** 3)

    verify_grad(lambda x: T.grad(cost(x), x), [np.array([0.5, -1.0, 2.0])], mode="py")


def test_shape_i_and_make_vector_errors():
    with pytest.raises(TypeError, match=r"Shape_i.*more than 2 dimensions.*matrix"):
        T.Shape_i(2)(T.dmatrix())
    with pytest.raises(TypeError, match=r"MakeVector.*input 1.*0-d int64.*float64"):
        T.MakeVector("int64")(T.lscalar(), T.dscalar())


def test_public_names_exported():
    import symgraph.tensor.shape_ops as so

    for name in so.__all__:
        assert getattr(T, name) is getattr(so, name)
    assert "np" not in so.__all__
