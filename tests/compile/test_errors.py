"""Errors of compiled functions: argument checks, input conversion (Theano's rules),
missing inputs, run-time shape errors naming the user's line, and failed calls that leave
every shared variable unchanged."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph import MissingInputError

THIS_FILE = __file__


def _line_of(marker: str) -> int:
    """The line number in this file of the line containing ``marker``."""
    with open(THIS_FILE) as f:
        for k, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return k
    raise AssertionError(marker)


# -- argument count ------------------------------------------------------------------------
def test_wrong_argument_count(mode):
    a, b = T.dscalars("a", "b")
    f = theano.function([a, b], a + b, mode=mode)
    with pytest.raises(TypeError, match=r"takes 2 arguments \(a, b\), got 3"):
        f(1, 2, 3)
    with pytest.raises(TypeError, match=r"missing a value for input 1 \('b'\)"):
        f(1)
    with pytest.raises(TypeError, match=r"missing a value for input 0 \('a'\)"):
        f()


def test_symbolic_value_as_argument():
    a = T.dscalar("a")
    f = theano.function([a], a + 1)
    with pytest.raises(TypeError, match="symbolic"):
        f(T.dscalar("b"))


# -- input conversion ----------------------------------------------------------------------
def test_wrong_ndim(mode):
    x = T.dvector("x")
    f = theano.function([x], x * 2, mode=mode)
    with pytest.raises(TypeError, match=r"input 'x': expected 1-d data.*float64, vector.*got 2-d"):
        f(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"input 'x': expected 1-d.*got 0-d"):
        f(3.0)
    s = T.dscalar("s")
    g = theano.function([s], s * 2, mode=mode)
    with pytest.raises(TypeError, match=r"input 's': expected 0-d.*got 1-d data of shape \(1,\)"):
        g(np.array([1.0]))


def test_lossy_array_dtype_is_refused(mode):
    x = T.fvector("x")
    f = theano.function([x], x * 2, mode=mode)
    with pytest.raises(TypeError, match=r"input 'x'.*float32.*float64"):
        f(np.ones(3))
    i = T.iscalar("i")
    g = theano.function([i], i + 1, mode=mode)
    with pytest.raises(TypeError, match=r"input 'i'.*int32.*int64"):
        g(np.int64(3))
    with pytest.raises(TypeError, match=r"input 'i'.*int32.*float 1.5"):
        g(1.5)
    with pytest.raises(TypeError, match=r"input 'i'.*int32"):
        g(2 ** 40)             # does not fit


def test_lossless_conversions_are_accepted(mode):
    v = T.dvector("v")
    h = theano.function([v], v * 2, mode=mode)
    np.testing.assert_array_equal(h([1, 2, 3]), [2.0, 4.0, 6.0])          # int list
    np.testing.assert_array_equal(h(np.arange(3, dtype="int32")), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(h(np.arange(3, dtype="float32")), [0.0, 2.0, 4.0])
    x = T.fvector("x")
    f = theano.function([x], x * 2, mode=mode)
    r = f([1, 2, 3])
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, [2.0, 4.0, 6.0])
    assert f([1.5, 2.0]).dtype == np.float32          # exactly representable
    with pytest.raises(TypeError, match=r"input 'x'.*float32.*without loss"):
        f([0.1])                                       # not representable in float32
    i = T.iscalar("i")
    g = theano.function([i], i + 1, mode=mode)
    r = g(2.0)
    assert r == 3 and r.dtype == np.int32
    assert g(True) == 2
    d = T.dscalar("d")
    k = theano.function([d], d * 2, mode=mode)
    assert k(3) == 6.0 and k(np.float32(2)) == 4.0 and k(np.int64(5)) == 10.0


def test_python_float_into_float32_follows_floatx(mode, monkeypatch):
    """Theano's special case: a Python float is accepted by a floatX input even when it is
    not exactly representable; otherwise the conversion must be lossless."""
    fs = T.fscalar("fs")
    f = theano.function([fs], fs * 2, mode=mode)
    assert theano.config.floatX == "float64"
    assert f(1.5) == 3.0
    with pytest.raises(TypeError, match=r"input 'fs'.*float32.*0.1"):
        f(0.1)
    monkeypatch.setattr(theano.config, "floatX", "float32")
    r = f(0.1)
    assert r.dtype == np.float32 and r == np.float32(0.2)
    with pytest.raises(TypeError, match=r"input 'fs'.*float32.*float64"):
        f(np.float64(0.1))                             # numpy values get no special case


def test_allow_input_downcast(mode):
    x = T.fvector("x")
    f = theano.function([x], x * 2, allow_input_downcast=True, mode=mode)
    r = f(np.full(2, 0.1))
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, np.full(2, 0.1, dtype=np.float32) * 2)
    i = T.iscalar("i")
    g = theano.function([i], i + 1, allow_input_downcast=True, mode=mode)
    assert g(1.7) == 2 and g(np.int64(4)) == 5
    # per input, through In
    h = theano.function([theano.In(x, allow_downcast=True), i], x * i, mode=mode)
    np.testing.assert_array_equal(h(np.ones(2), 3), [3.0, 3.0])
    with pytest.raises(TypeError, match="input 'i'"):
        h(np.ones(2), 1.5)


# -- missing inputs at compile time ---------------------------------------------------------
def test_missing_input_names_the_variable(mode):
    x = T.dvector("x")
    forgotten = T.dscalar("forgotten")
    with pytest.raises(MissingInputError, match=r"forgotten.*not an input"):
        theano.function([x], x * forgotten, mode=mode)
    with pytest.raises(MissingInputError, match="forgotten"):
        theano.function([x], [x * 2, forgotten + 1], mode=mode)
    w = theano.shared(np.zeros(3), "w")
    with pytest.raises(MissingInputError, match="forgotten"):
        theano.function([x], x, updates=[(w, w + forgotten)], mode=mode)


# -- run-time errors -----------------------------------------------------------------------
def test_shape_mismatch_names_op_shapes_dtypes_and_user_line(mode):
    x, y = T.dvectors("x", "y")
    z = x + y  # <- marker: vector add
    f = theano.function([x, y], z * 2, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "add" in msg
    assert "(3,)" in msg and "(4,)" in msg
    assert "float64" in msg
    assert f'File "{THIS_FILE}", line {_line_of("# <- marker: vector add")}' in msg
    assert "z = x + y" in msg


def test_shape_mismatch_with_float32_and_matrix(mode):
    a = T.fmatrix("a")
    b = T.fmatrix("b")
    c = T.exp(a) * b  # <- marker: matrix mul
    f = theano.function([a, b], c.sum(), mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3), "float32"), np.ones((2, 4), "float32"))
    msg = str(info.value)
    assert "mul" in msg
    assert "(2, 3)" in msg and "(2, 4)" in msg and "float32" in msg
    assert f"line {_line_of('# <- marker: matrix mul')}" in msg
    # the function still works afterwards
    assert f(np.ones((2, 3), "float32"), np.ones((2, 3), "float32")).dtype == np.float32


def test_failed_call_leaves_shared_variables_unchanged(mode):
    a = theano.shared(np.ones(3), "a")
    b = theano.shared(np.full(3, 2.0), "b")
    n = theano.shared(0, "n")
    x, y = T.dvectors("x", "y")
    # a and n would be computed fine; b's new value fails on the shape of y
    ups = [(a, a * 2 + x), (n, n + 1), (b, b + x + y)]
    for order in (ups, ups[::-1]):
        f = theano.function([x, y], (a * b).sum(), updates=order, mode=mode)
        a_buf = a.get_value(borrow=True)
        with pytest.raises(ValueError, match=r"\(4,\)"):
            f(np.ones(3), np.ones(4))
        np.testing.assert_array_equal(a.get_value(), [1.0, 1.0, 1.0])
        np.testing.assert_array_equal(a_buf, [1.0, 1.0, 1.0])   # not even in place
        np.testing.assert_array_equal(b.get_value(), [2.0, 2.0, 2.0])
        assert n.get_value() == 0
    # a good call commits every update
    assert f(np.ones(3), np.ones(3)) == 6.0
    np.testing.assert_array_equal(a.get_value(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(b.get_value(), [4.0, 4.0, 4.0])
    assert n.get_value() == 1


def test_failed_call_with_output_error_keeps_state(mode):
    c = theano.shared(np.zeros(3), "c")
    x = T.dvector("x")
    h = theano.function([x], (c + x).sum(), updates=[(c, c + 1)], mode=mode)
    with pytest.raises(ValueError):
        h(np.ones(4))
    np.testing.assert_array_equal(c.get_value(), [0.0, 0.0, 0.0])
    assert h(np.ones(3)) == 3.0
    np.testing.assert_array_equal(c.get_value(), [1.0, 1.0, 1.0])


def test_bad_input_leaves_shared_variables_unchanged(mode):
    c = theano.shared(5.0, "c")
    x = T.dscalar("x")
    f = theano.function([x], c, updates=[(c, c + x)], mode=mode)
    with pytest.raises(TypeError):
        f(np.ones(2))
    with pytest.raises(TypeError):
        f()
    assert c.get_value() == 5.0
