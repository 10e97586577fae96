"""``symgraph.shared``: construction, get/set_value and borrow, type checks, persistence."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T


# -- construction --------------------------------------------------------------------------
@pytest.mark.parametrize("value, dtype", [(1.5, "float64"), (3, "int64"), (True, "bool"),
                                          (np.float32(2.0), "float32"),
                                          (np.int32(7), "int32")])
def test_python_and_numpy_scalars_become_0d_arrays(value, dtype):
    s = theano.shared(value)
    v = s.get_value()
    assert type(v) is np.ndarray and v.shape == () and v.dtype == dtype
    assert v == value
    assert s.type == T.TensorType(dtype, ())
    assert s.name is None


def test_name_type_and_broadcastable():
    w = theano.shared(np.zeros((2, 3), dtype="float32"), name="W")
    assert w.name == "W" and str(w) == "W"
    assert w.type == T.TensorType("float32", (False, False))
    assert w.ndim == 2 and w.dtype == "float32"
    # as in Theano, no dimension is broadcastable by default, even a length-1 one
    assert theano.shared(np.zeros((1, 3))).broadcastable == (False, False)
    row = theano.shared(np.zeros((1, 3)), broadcastable=(True, False))
    assert row.broadcastable == (True, False)
    assert theano.shared([1.0, 2.0]).type == T.TensorType("float64", (False,))


def test_shared_rejects_symbolic_and_non_numeric():
    with pytest.raises(TypeError, match="symbolic"):
        theano.shared(T.dscalar())
    with pytest.raises(TypeError, match="str"):
        theano.shared("abc")
    with pytest.raises(TypeError):
        theano.shared({"a": 1})


# -- borrow semantics ----------------------------------------------------------------------
def test_construction_copies_unless_borrow():
    arr = np.arange(3.0)
    s = theano.shared(arr)
    arr[0] = 100.0
    np.testing.assert_array_equal(s.get_value(), [0.0, 1.0, 2.0])
    arr2 = np.arange(3.0)
    t = theano.shared(arr2, borrow=True)
    arr2[0] = 100.0
    np.testing.assert_array_equal(t.get_value(), [100.0, 1.0, 2.0])


def test_get_value_copies_unless_borrow():
    s = theano.shared(np.arange(3.0))
    v = s.get_value()
    v[0] = -1.0
    np.testing.assert_array_equal(s.get_value(), [0.0, 1.0, 2.0])
    vb = s.get_value(borrow=True)
    vb[0] = -1.0
    np.testing.assert_array_equal(s.get_value(), [-1.0, 1.0, 2.0])
    assert s.get_value(borrow=True) is vb


def test_set_value_copies_unless_borrow():
    s = theano.shared(np.zeros(3))
    n = np.ones(3)
    s.set_value(n)
    n[0] = 7.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 1.0, 1.0])
    m = np.ones(3)
    s.set_value(m, borrow=True)
    m[0] = 7.0
    np.testing.assert_array_equal(s.get_value(), [7.0, 1.0, 1.0])


def test_set_value_conversions_and_shape_change():
    s = theano.shared(np.zeros(3))
    s.set_value([1, 2])                      # a list, and a new length: fine
    v = s.get_value()
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v, [1.0, 2.0])
    s.set_value(np.arange(4, dtype="int32"))  # lossless upcast int32 -> float64
    assert s.get_value().dtype == np.float64 and s.get_value().shape == (4,)
    i = theano.shared(np.arange(3))
    i.set_value(np.arange(5, dtype="int32"))
    assert i.get_value().dtype == np.int64


def test_set_value_wrong_ndim_or_lossy_dtype_raises():
    s = theano.shared(np.zeros(3), name="s")
    with pytest.raises(TypeError, match=r"expected 1-d.*got 2-d"):
        s.set_value(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="1-d"):
        s.set_value(5.0)
    i = theano.shared(np.arange(3), name="i")
    with pytest.raises(TypeError, match=r"int64.*float64"):
        i.set_value(np.zeros(3))
    with pytest.raises(TypeError, match="int64"):
        i.set_value([1.5, 2, 3])
    f = theano.shared(np.zeros(2, dtype="float32"), name="f")
    with pytest.raises(TypeError, match=r"float32.*float64"):
        f.set_value(np.zeros(2))
    # the failed set_value left the values alone
    np.testing.assert_array_equal(s.get_value(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(i.get_value(), [0, 1, 2])


# -- persistence across calls and functions -------------------------------------------------
def test_updates_persist_across_calls(mode):
    state = theano.shared(0, "state")
    inc = T.lscalar("inc")
    accumulator = theano.function([inc], state, updates=[(state, state + inc)], mode=mode)
    assert accumulator(1) == 0
    assert state.get_value() == 1
    assert accumulator(300) == 1
    assert state.get_value() == 301
    state.set_value(-1)
    assert accumulator(3) == -1
    assert state.get_value() == 2


def test_two_functions_see_each_others_updates():
    """Theano tutorial: an accumulator and a decrementor on the same shared state."""
    state = theano.shared(0.0, "state")
    x = T.dscalar("x")
    inc = theano.function([x], state, updates=[(state, state + x)])
    dec = theano.function([x], state, updates=[(state, state - x)], mode="py")
    peek = theano.function([], state * 1)
    assert inc(5) == 0.0
    assert inc(2) == 5.0
    assert peek() == 7.0
    assert dec(3) == 7.0
    assert state.get_value() == 4.0
    assert inc(0) == 4.0


def test_function_sees_set_value():
    w = theano.shared(np.ones(3), "w")
    x = T.dvector("x")
    f = theano.function([x], (w * x).sum())
    assert f([1.0, 2.0, 3.0]) == 6.0
    w.set_value(np.full(3, 2.0))
    assert f([1.0, 2.0, 3.0]) == 12.0
    w.get_value(borrow=True)[:] = 3.0    # in-place change of the borrowed buffer
    assert f([1.0, 2.0, 3.0]) == 18.0


def test_update_with_array_state(mode):
    w = theano.shared(np.zeros((2, 2)), "w")
    g = T.dmatrix("g")
    step = theano.function([g], w.sum(), updates=[(w, w - 0.5 * g)], mode=mode)
    gv = np.arange(4.0).reshape(2, 2)
    assert step(gv) == 0.0
    np.testing.assert_allclose(w.get_value(), -0.5 * gv)
    assert step(gv) == pytest.approx(-3.0)
    np.testing.assert_allclose(w.get_value(), -gv)
    assert w.get_value().dtype == np.float64


def test_borrowed_strided_fortran_and_readonly_values(mode):
    x = T.dvector("x")
    w = theano.shared(np.zeros(4), "w")
    f = theano.function([x], (w * x).sum(), updates=[(w, w * 2 + x)], mode=mode)
    big = np.arange(8.0)
    w.set_value(big[::2], borrow=True)             # a strided view
    assert f(np.ones(4)) == 12.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 5.0, 9.0, 13.0])
    np.testing.assert_array_equal(big, np.arange(8.0))   # the update made a new array
    ro = np.arange(4.0)
    ro.setflags(write=False)
    w.set_value(ro, borrow=True)                   # read-only
    assert f(np.ones(4)) == 6.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 3.0, 5.0, 7.0])
    m = theano.shared(np.asfortranarray(np.arange(6.0).reshape(2, 3)), "m")
    g = theano.function([], (m * 1).sum(axis=1), updates=[(m, m + 1)], mode=mode)
    np.testing.assert_array_equal(g(), [3.0, 12.0])
    np.testing.assert_array_equal(m.get_value(), np.arange(1.0, 7.0).reshape(2, 3))
