"""``symgraph.function``: outputs, ``In``, updates, givens, default updates, unused inputs.

Every behaviour is checked on the reference backend (``mode='py'``) and on the default
backend (numba) through the ``mode`` fixture of conftest.py.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph import In, UnusedInputError


# -- outputs -------------------------------------------------------------------------------
def test_hypotenuse_returns_0d_array(mode):
    a, b = T.dscalars("a", "b")
    c = T.sqrt(a ** 2 + b ** 2)
    f = theano.function([a, b], c, mode=mode)
    r = f(3, 4)
    assert type(r) is np.ndarray
    assert r.shape == () and r.dtype == np.float64
    assert r == 5.0
    assert repr(r) == "array(5.)"
    # floats, numpy scalars and 0-d arrays are all accepted
    assert f(3.0, 4.0) == 5.0
    assert f(np.float64(6), np.array(8.0)) == 10.0


def test_default_mode_is_numba():
    a = T.dscalar("a")
    f = theano.function([a], a * 2)
    assert f.mode.linker == "numba"
    assert theano.function([a], a * 2, mode="FAST_RUN").mode.linker == "numba"
    assert theano.function([a], a * 2, mode="FAST_COMPILE").mode.linker == "py"
    assert theano.function([a], a * 2, mode=theano.Mode(linker="py")).mode.linker == "py"
    with pytest.raises(ValueError, match="bogus"):
        theano.function([a], a, mode="bogus")


def test_list_of_outputs_returns_list(mode):
    x = T.dvector("x")
    f = theano.function([x], [x * 2, x.sum()], mode=mode)
    r = f([1.0, 2.0, 3.0])
    assert isinstance(r, list) and len(r) == 2
    np.testing.assert_array_equal(r[0], [2.0, 4.0, 6.0])
    assert r[1].shape == () and r[1] == 6.0
    # a list with one output is still a list; a tuple behaves like a list
    r1 = theano.function([x], [x + 1], mode=mode)([1.0])
    assert isinstance(r1, list) and len(r1) == 1
    np.testing.assert_array_equal(r1[0], [2.0])
    rt = theano.function([x], (x + 1, x - 1), mode=mode)([1.0])
    assert isinstance(rt, list) and len(rt) == 2


def test_no_outputs_returns_empty_list(mode):
    x = T.dscalar("x")
    acc = theano.shared(0.0, "acc")
    f = theano.function([x], updates=[(acc, acc + x)], mode=mode)
    assert f(2.5) == []
    assert theano.function([x], [], updates=[(acc, acc + x)], mode=mode)(1.0) == []
    assert acc.get_value() == 3.5


def test_constant_and_input_outputs_are_fresh_arrays(mode):
    x = T.dvector("x")
    f = theano.function([], T.constant(np.arange(3.0)), mode=mode)
    r = f()
    r[0] = 100.0
    np.testing.assert_array_equal(f(), [0.0, 1.0, 2.0])
    g = theano.function([x], x, mode=mode)
    xv = np.ones(3)
    out = g(xv)
    np.testing.assert_array_equal(out, xv)
    assert not np.shares_memory(out, xv), "an output that is an input must be a copy"


def test_equal_outputs_do_not_alias(mode):
    x = T.dvector("x")
    f = theano.function([x], [x * 2, x * 2], mode=mode)
    r = f(np.ones(3))
    r[0][0] = 100.0
    np.testing.assert_array_equal(r[1], [2.0, 2.0, 2.0])


# -- In: names, defaults, keywords ---------------------------------------------------------
def test_in_default_value_and_keyword(mode):
    x, y = T.dscalars("x", "y")
    f = theano.function([x, In(y, value=1)], x + y, mode=mode)
    assert f(2) == 3.0
    assert f(2, 3) == 5.0
    assert f(2, y=3) == 5.0
    assert f(x=2, y=3) == 5.0
    assert f(y=10, x=1) == 11.0


def test_in_name_overrides_variable_name(mode):
    x, y, w = T.dscalars("x", "y", "w")
    f = theano.function([x, In(y, value=1, name="y_val"), In(w, value=2, name="w_by_name")],
                        (x + y) * w, mode=mode)
    assert f(1) == 4.0
    assert f(1, w_by_name=3) == 6.0
    assert f(1, y_val=2, w_by_name=3) == 9.0
    assert f(1, 2, 3) == 9.0
    with pytest.raises(TypeError, match="'y'"):  # the variable's name is not a keyword now
        f(1, y=3)


def test_in_errors(mode):
    x, y = T.dscalars("x", "y")
    f = theano.function([x, In(y, value=1)], x + y, mode=mode)
    with pytest.raises(TypeError, match="multiple values for input 'x'"):
        f(1, x=2)
    with pytest.raises(TypeError, match=r"missing a value for input 0 \('x'\)"):
        f(y=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(1, z=2)


def test_in_default_is_checked_against_type(mode):
    x = T.dvector("x")
    f = theano.function([In(x, value=[1, 2])], x * 2, mode=mode)
    np.testing.assert_array_equal(f(), [2.0, 4.0])
    np.testing.assert_array_equal(f([5.0]), [10.0])


# -- updates -------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["tuples", "lists", "ordereddict", "dict"])
def test_updates_forms(mode, form):
    x = T.dscalar("x")
    acc = theano.shared(0.0, "acc")
    cnt = theano.shared(0, "cnt")
    pairs = [(acc, acc + x), (cnt, cnt + 1)]
    updates = {
        "tuples": pairs,
        "lists": [list(p) for p in pairs],
        "ordereddict": OrderedDict(pairs),
        "dict": dict(pairs),
    }[form]
    f = theano.function([x], acc * 10, updates=updates, mode=mode)
    assert f(1.5) == 0.0          # outputs use the value from before the call
    assert f(2.0) == 15.0
    assert acc.get_value() == 3.5
    assert cnt.get_value() == 2
    assert cnt.get_value().dtype == np.int64


def test_updates_read_old_values(mode):
    a = theano.shared(1.0, "a")
    b = theano.shared(10.0, "b")
    swap = theano.function([], [a, b], updates=[(a, b), (b, a)], mode=mode)
    ra, rb = swap()
    assert (ra, rb) == (1.0, 10.0)
    assert (a.get_value(), b.get_value()) == (10.0, 1.0)
    swap()
    assert (a.get_value(), b.get_value()) == (1.0, 10.0)
    # Fibonacci: both updates read the old a and b
    a.set_value(0.0)
    b.set_value(1.0)
    step = theano.function([], [], updates=OrderedDict([(a, b), (b, a + b)]), mode=mode)
    for _ in range(10):
        step()
    assert (a.get_value(), b.get_value()) == (55.0, 89.0)
    # same with arrays and an output reading both old values
    u = theano.shared(np.ones(3), "u")
    v = theano.shared(np.full(3, 5.0), "v")
    g = theano.function([], u + v, updates=[(u, u * 2 + v), (v, v * 3 + u)], mode=mode)
    np.testing.assert_array_equal(g(), [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(u.get_value(), [7.0, 7.0, 7.0])
    np.testing.assert_array_equal(v.get_value(), [16.0, 16.0, 16.0])


def test_update_errors():
    x = T.dvector("x")
    w = theano.shared(np.zeros(3), "w")
    with pytest.raises(ValueError, match="updated twice"):
        theano.function([x], updates=[(w, w + x), (w, w * 2)])
    with pytest.raises(TypeError, match="wrong number of dimensions"):
        theano.function([x], updates=[(w, (w + x).sum())])
    with pytest.raises(TypeError, match="float32"):
        theano.function([x], updates=[(w, T.cast(w + x, "float32"))])
    with pytest.raises(TypeError, match="not a shared variable"):
        theano.function([x], updates=[(x, x + 1)])
    with pytest.raises(TypeError, match="pair"):
        theano.function([x], updates=[(w, w, w)])
    with pytest.raises(TypeError, match="shared variable"):
        theano.function([w], w * 2)


def test_outputs_and_updates_never_alias(mode):
    """Mutating a returned array must not change a shared variable (and shared variables
    must not share a buffer after an update), as with Theano's deep copies."""
    a = theano.shared(np.ones(3), "a")
    direct = theano.function([], a, mode=mode)()
    direct[0] = 100.0
    np.testing.assert_array_equal(a.get_value(), [1.0, 1.0, 1.0])
    f = theano.function([], a * 2, updates=[(a, a * 2)], mode=mode)
    out = f()
    out[0] = 100.0
    np.testing.assert_array_equal(a.get_value(), [2.0, 2.0, 2.0])
    b = theano.shared(np.ones(3), "b")
    c = theano.shared(np.ones(3), "c")
    g = theano.function([], [], updates=[(a, c), (b, c)], mode=mode)
    g()
    a.get_value(borrow=True)[0] = 100.0
    np.testing.assert_array_equal(b.get_value(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(c.get_value(), [1.0, 1.0, 1.0])
    x = T.dvector("x")
    h = theano.function([x], [], updates=[(b, x)], mode=mode)
    xv = np.full(3, 4.0)
    h(xv)
    xv[0] = -1.0
    np.testing.assert_array_equal(b.get_value(), [4.0, 4.0, 4.0])


# -- givens --------------------------------------------------------------------------------
def test_givens_replaces_input(mode):
    x, y = T.dscalars("x", "y")
    z = x * 2
    f = theano.function([y], z + 1, givens={x: y + 1}, mode=mode)
    assert f(3) == 9.0
    g = theano.function([y], z, givens=[(x, y * y)], mode=mode)
    assert g(3) == 18.0


def test_givens_replaces_intermediate(mode):
    x, y = T.dscalars("x", "y")
    z = x * 2
    out = z + y
    f = theano.function([x, y], out, givens=[(z, x * 100)], mode=mode)
    assert f(3, 1) == 301.0
    # the original expression is untouched
    assert theano.function([x, y], out, mode=mode)(3, 1) == 7.0


def test_givens_with_shared_and_constant(mode):
    x = T.dvector("x")
    s = T.dscalar("s")
    data = theano.shared(np.arange(3.0), "data")
    f = theano.function([s], x * s, givens=[(x, data)], mode=mode)
    np.testing.assert_array_equal(f(2), [0.0, 2.0, 4.0])
    g = theano.function([], x + 1, givens={x: np.array([1.0, 2.0])}, mode=mode)
    np.testing.assert_array_equal(g(), [2.0, 3.0])


def test_givens_type_mismatch():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="float32"):
        theano.function([], x, givens={x: T.fvector()})
    with pytest.raises(TypeError, match="cannot be replaced"):
        theano.function([], x, givens={x: T.dmatrix()})


def test_givens_minibatch_slice_of_shared_dataset(mode):
    """The classic Theano training loop: ``givens={x: data_x[i*bs:(i+1)*bs]}``."""
    data_x = theano.shared(np.arange(20.0).reshape(10, 2), "data_x")
    data_y = theano.shared(np.arange(10.0), "data_y")
    i = T.lscalar("i")
    bs = 3
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = theano.shared(np.ones(2), "w")
    cost = ((x * w).sum(axis=1) - y).sum()
    f = theano.function([i], cost, updates=[(w, w + 1)],
                        givens={x: data_x[i * bs:(i + 1) * bs], y: data_y[i * bs:(i + 1) * bs]},
                        mode=mode)
    X = data_x.get_value()
    Y = data_y.get_value()
    for k, wv in [(0, 1.0), (1, 2.0), (2, 3.0)]:
        expect = ((X[k * bs:(k + 1) * bs] * wv).sum(axis=1) - Y[k * bs:(k + 1) * bs]).sum()
        np.testing.assert_allclose(f(k), expect)
    np.testing.assert_array_equal(w.get_value(), [4.0, 4.0])
    # the last, short minibatch (index 3 covers row 9 only)
    np.testing.assert_allclose(f(3), (X[9:] * 4.0).sum() - Y[9:].sum())


# -- default updates -----------------------------------------------------------------------
def test_default_updates_and_no_default_updates(mode):
    s = theano.shared(0.0, "s")
    s.default_update = s + 1
    f = theano.function([], s * 1, mode=mode)
    assert [float(f()) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert s.get_value() == 3.0
    g = theano.function([], s * 1, no_default_updates=True, mode=mode)
    assert [float(g()) for _ in range(2)] == [3.0, 3.0]
    h = theano.function([], s * 1, no_default_updates=[s], mode=mode)
    h()
    assert s.get_value() == 3.0
    # an explicit update wins over the default update
    e = theano.function([], s * 1, updates=[(s, s * 10)], mode=mode)
    e()
    assert s.get_value() == 30.0


# -- unused inputs -------------------------------------------------------------------------
def test_on_unused_input(mode):
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match=r"input 1 \(y\)"):
        theano.function([x, y], x * 2, mode=mode)
    with pytest.warns(UserWarning, match=r"input 1 \(y\)"):
        f = theano.function([x, y], x * 2, on_unused_input="warn", mode=mode)
    assert f(1, 2) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = theano.function([x, y], x * 2, on_unused_input="ignore", mode=mode)
    assert g(3, 99) == 6.0
    with pytest.raises(TypeError):  # the unused input still takes a value
        g(3)


def test_input_given_twice_and_bad_inputs():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="twice"):
        theano.function([x, x], x)
    with pytest.raises(TypeError, match="constant"):
        theano.function([T.constant(1.0)], x + 1)
    with pytest.raises(TypeError, match="symbolic variable"):
        theano.function([1.0], x + 1)


# -- eval ----------------------------------------------------------------------------------
def test_eval():
    a, b = T.dscalars("a", "b")
    c = T.sqrt(a ** 2 + b ** 2)
    r = c.eval({a: 3, b: 4})
    assert type(r) is np.ndarray and r.shape == () and r == 5.0
    x = T.dvector("x")
    np.testing.assert_array_equal((x * 2).eval({x: [1, 2]}), [2.0, 4.0])
    w = theano.shared(np.arange(3.0), "w")
    np.testing.assert_array_equal((w * 2).eval(), [0.0, 2.0, 4.0])
    with pytest.raises(theano.MissingInputError, match="b"):
        (a + b).eval({a: 1})


# -- memory layouts --------------------------------------------------------------------------
def test_input_layouts_and_inputs_untouched(mode):
    """Strided, transposed, Fortran-order, reversed, read-only and broadcast (0-stride)
    inputs give the numpy result, and the caller's arrays are never modified."""
    x = T.dvector("x")
    m = T.dmatrix("m")
    f = theano.function([x], T.exp(x) * 2 + 1, mode=mode)
    a = np.arange(10.0) / 10
    a0 = a.copy()
    np.testing.assert_allclose(f(a[::3]), np.exp(a[::3]) * 2 + 1)
    np.testing.assert_allclose(f(a), np.exp(a0) * 2 + 1)
    np.testing.assert_array_equal(a, a0)
    ro = np.arange(3.0)
    ro.setflags(write=False)
    np.testing.assert_allclose(f(ro), np.exp(ro) * 2 + 1)
    np.testing.assert_allclose(f(np.broadcast_to(np.float64(0.5), (4,))),
                               np.full(4, np.exp(0.5) * 2 + 1))
    g = theano.function([m], [(m * 2).sum(axis=0), T.tanh(m) + m], mode=mode)
    b = np.arange(12.0).reshape(3, 4) / 12
    b0 = b.copy()
    for arr in (b, b.T, np.asfortranarray(b), b[:, ::2], b[::-1]):
        r0, r1 = g(arr)
        np.testing.assert_allclose(r0, (arr * 2).sum(axis=0))
        np.testing.assert_allclose(r1, np.tanh(arr) + arr)
    np.testing.assert_array_equal(b, b0)


def test_theano_compile_namespace():
    """Layer libraries reach these through ``theano.compile`` (Lasagne's create_param
    checks ``isinstance(spec, theano.compile.SharedVariable)``)."""
    import symgraph.compile as C

    w = theano.shared(np.zeros(2), name="w")
    assert isinstance(w, C.SharedVariable) and isinstance(w, C.TensorSharedVariable)
    assert C.function is theano.function and C.shared is theano.shared
    for name in ("Mode", "get_mode", "In", "Out", "Function", "DebugMode", "NanGuardMode"):
        assert hasattr(C, name), name


def test_rebuild_strict_governs_givens_dtype():
    """rebuild_strict=True (default) refuses a givens replacement of another dtype;
    False rebuilds the graph above it with the new dtype."""
    x = T.dvector("x")
    y = T.fvector("y")
    with pytest.raises(TypeError, match="cannot be replaced"):
        theano.function([y], T.exp(x), givens={x: y})
    f = theano.function([y], T.exp(x), givens={x: y}, rebuild_strict=False)
    out = f(np.array([0.0, 1.0], dtype="float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.exp([0.0, 1.0]), rtol=1e-6)
    # an update must keep its shared variable's type even then
    s = theano.shared(np.zeros(2), name="s")
    with pytest.raises(TypeError, match="update of shared variable"):
        theano.function([y], [], updates=[(s, T.exp(x))], givens={x: y}, rebuild_strict=False)
