"""The user-facing functions of ``symgraph.tensor`` (math.py): names, operators, dtype
rules with weak Python scalars, gradients that keep float32, and the helpers (fill,
zeros_like, tensor_copy, max_and_argmax, float_dtype...). The numerics of every op are
tested in test_elemwise.py and test_reduce.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.graph.basic import ancestors
from symgraph.tensor import math as tm
from symgraph.tensor import scalar_ops as ts
from symgraph.testing import check_op

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BACKENDS = ("py", "numba")


def test_exports_have_docstrings_and_no_stray_names():
    for name in tm.__all__:
        obj = getattr(T, name)
        assert obj is getattr(tm, name), name
        assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"
    for stray in ("np", "Apply", "Op", "ts", "builtins", "_b"):
        assert stray not in tm.__all__
    assert not hasattr(T, "np")
    assert T.sum is tm.sum and T.max is tm.max and T.abs is tm.abs and T.round is tm.round


def test_operators_build_the_theano_ops():
    x, y = T.dmatrices("x", "y")
    pairs = [(x + y, ts.Add), (x - y, ts.Sub), (x * y, ts.Mul), (x / y, ts.TrueDiv),
             (x // y, ts.IntDiv), (x % y, ts.Mod), (x ** y, ts.Pow), (-x, ts.Neg),
             (abs(x), ts.Abs), (x < y, ts.LT), (x <= y, ts.LE), (x > y, ts.GT), (x >= y, ts.GE)]
    for out, cls in pairs:
        assert isinstance(out.owner.op, T.Elemwise) and isinstance(out.owner.op.scalar_op, cls)
    b = T.bmatrix()
    for out, cls in [(b & b, ts.And), (b | b, ts.Or), (b ^ b, ts.Xor), (~b, ts.Invert)]:
        assert isinstance(out.owner.op.scalar_op, cls)
    # reflected operators with Python scalars keep the operand order
    check_op(lambda v: [2 - v, 2 / v, 2 ** v, 7 // v, 7 % v, 1 + v, 3 * v, +v],
             [np.array([1.5, -2.0, 4.0])],
             ref=lambda v: [2 - v, 2 / v, 2 ** v, 7 // v, 7 % v, 1 + v, 3 * v, v], grad=False)
    # == is identity, as in Theano: use T.eq
    assert (x == x) is True and (x == y) is False
    with pytest.raises(TypeError, match="truth value"):
        bool(x < y)


def test_weak_python_scalars_and_numpy_scalars():
    f, i, b = T.fvector(), T.ivector(), T.bvector()
    assert (f * 0.5).dtype == "float32" and (0.5 * f).dtype == "float32"
    assert (f + 1).dtype == "float32" and T.maximum(f, 2).dtype == "float32"
    assert (i + 1).dtype == "int32" and (b * 2).dtype == "int8" and (i // 2).dtype == "int32"
    assert (i * 0.5).dtype == theano.config.floatX
    assert T.clip(f, 0, 1).dtype == "float32" and T.switch(f > 0, f, 0).dtype == "float32"
    assert T.pow(f, 2).dtype == "float32" and T.true_div(i, 2).dtype == "float64"
    # numpy scalars and arrays are not weak: numpy promotion
    assert (f * np.float64(0.5)).dtype == "float64"
    assert (f + np.ones(3, dtype="float64")).dtype == "float64"
    assert T.add(T.tensor("bool", (False,)), True).dtype == "bool"


def test_elementwise_ops_are_cached_and_hash_by_props():
    assert tm.elemwise(ts.add) is tm.elemwise(ts.add)
    assert T.Elemwise(ts.add) == T.Elemwise(ts.add) and hash(T.Elemwise(ts.add)) == hash(
        T.Elemwise(ts.add))
    assert T.Elemwise(ts.add) != T.Elemwise(ts.mul)
    assert T.Elemwise(ts.add, {0: 0}) != T.Elemwise(ts.add)
    assert ts.Cast("int8") == ts.Cast(np.int8) and ts.Cast("int8") != ts.Cast("int16")
    assert tm.Reduce(ts.add, (0,)) == tm.Reduce(ts.add, [0])
    assert tm.Reduce(ts.add, (0,)) != tm.Reduce(ts.add, (0,), "float32")
    assert tm.Argmax(1) == tm.Argmax(1) and tm.Argmax(1) != tm.Argmax(1, "min")
    x = T.dvector()
    c1 = T.Composite([(ts.add, (("i", 0), ("c", 1.0, "float64")), "float64")], [0],
                     ["float64"])
    c2 = T.Composite([(ts.add, (("i", 0), ("c", 1.0, "float64")), "float64")], [0],
                     ["float64"])
    assert c1 == c2 and hash(c1) == hash(c2) and c1.cache_key() == c2.cache_key()
    check_op(lambda v: T.Elemwise(c1)(v), [np.array([1.0, 2.0])], ref=lambda v: v + 1,
             grad=False)
    assert str(T.exp(x).owner.op) == "Elemwise{exp}"


def test_wrong_arity_and_types_are_type_errors():
    x = T.dvector()
    with pytest.raises(TypeError, match="sub.*expected 2 inputs, got 1"):
        tm.elemwise(ts.sub)(x)
    with pytest.raises(TypeError, match="at least one input"):
        T.add()
    with pytest.raises(TypeError, match="xor needs boolean or integer"):
        T.xor(x, x)
    with pytest.raises(TypeError, match="cannot convert"):
        T.exp("a string")


def test_float32_gradients_stay_float32():
    """Gradient graphs of float32 inputs contain no float64 value: the constants in the
    gradient rules (ln 2, 2/sqrt(pi), 0.5 ...) are weak Python floats."""
    x = T.fvector("x")
    y = T.fvector("y")
    fns = [T.exp, T.exp2, T.log, T.log2, T.log10, T.log1p, T.expm1, T.sqrt, T.sin, T.cos,
           T.tan, T.tanh, T.sinh, T.cosh, T.arcsin, T.arccos, T.arctan, T.erf, T.sigmoid,
           T.softplus, T.sqr, T.reciprocal, abs, T.neg, T.floor, T.round]
    for f in fns:
        g = T.grad(T.sum(f(x)), x)
        assert g.dtype == "float32"
        bad = [v for v in ancestors([g]) if getattr(v.type, "dtype", None) == "float64"]
        assert not bad, f"{f}: float64 in the gradient graph: {bad[:3]}"
    for out in [x ** y, x / y, x % y, T.maximum(x, y), T.arctan2(x, y), T.clip(x, 0.1, y),
                T.mean(x) * T.std(y), T.var(x * y), T.prod(x) + T.max(y)]:
        gx, gy = T.grad(T.sum(out), [x, y], disconnected_inputs="ignore")
        for g in (gx, gy):
            bad = [v for v in ancestors([g]) if getattr(v.type, "dtype", None) == "float64"]
            assert g.dtype == "float32" and not bad, f"{out}: {bad[:3]}"


def test_integer_inputs_have_no_gradient_and_float_outputs_do():
    i = T.ivector("i")
    x = T.dvector("x")
    cost = T.sum(x * i + T.cast(i, "float64") ** 2)
    gx = T.grad(cost, x)
    assert gx.dtype == "float64"
    f = theano.function([x, i], gx)
    np.testing.assert_array_equal(f(np.ones(3), np.array([1, 2, 3], dtype="int32")), [1, 2, 3])


def test_sigmoid_and_softplus_do_not_overflow():
    v = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, np.inf, -np.inf])
    for dt in ("float64", "float32"):
        res = check_op(lambda x: [T.sigmoid(x), T.softplus(x)], [v.astype(dt)],
                       ref=lambda x: [np.exp(-np.logaddexp(0, -x)), np.logaddexp(0, x)],
                       grad=False)
        for out in res["numba"]:
            assert np.isfinite(out[:-2]).all() and out.dtype == np.dtype(dt)
    check_op(lambda x: T.softplus(x) + T.sigmoid(x), [np.array([-30.0, -1.0, 0.5, 30.0])],
             ref=lambda x: np.logaddexp(0, x) + 1 / (1 + np.exp(-x)))


def test_fill_zeros_ones_like_copy():
    m = np.arange(6.0).reshape(2, 3)
    check_op(lambda x: [T.zeros_like(x), T.ones_like(x, dtype="int8"), T.fill(x, 7.0),
                        T.second(x, T.constant(np.array([1.0, 2.0, 3.0]))), T.tensor_copy(x),
                        x.copy(name="c")],
             [m], ref=lambda x: [np.zeros_like(x), np.ones_like(x, dtype="int8"),
                                 np.full_like(x, 7.0), np.tile([1.0, 2.0, 3.0], (2, 1)), x, x])
    x = T.dmatrix()
    assert T.ones_like(x, dtype="int8").dtype == "int8" and x.copy(name="c").name == "c"
    for mode in BACKENDS:
        f = theano.function([x], T.tensor_copy(x), mode=mode)
        r = f(m)
        assert not np.shares_memory(r, m)


def test_max_and_argmax_and_float_dtype():
    v = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    check_op(lambda x: list(T.max_and_argmax(x, axis=1)) + list(T.max_and_argmax(x)), [v],
             ref=lambda x: [x.max(1), x.argmax(1), x.max(), x.argmax()], grad=False)
    assert T.float_dtype(T.ivector()) == "float64" and T.float_dtype(T.bvector()) == "float32"
    assert T.float_dtype(T.fvector()) == "float32"


def test_cast_floatx_and_all_any_of_numbers():
    x = T.ivector()
    assert T.cast(x, "floatX").dtype == theano.config.floatX
    with pytest.raises(TypeError):
        T.cast(x, "float128")
    check_op(lambda v: [T.all(v), T.any(v, axis=0), v.all(keepdims=True), v.any()],
             [np.array([[0.0, 1.5], [np.nan, 2.0]])],
             ref=lambda v: [np.all(v), np.any(v, axis=0), np.all(v, keepdims=True),
                            np.any(v)], grad=False)
    check_op(lambda v: [T.sum(v, dtype="float32"), T.prod(v, dtype="float64"),
                        v.sum(axis=0, dtype="int16"), v.mean(dtype="float32")],
             [np.array([[1, 2], [3, 4]], dtype="int8")],
             ref=lambda v: [np.sum(v, dtype="float32"), np.prod(v, dtype="float64"),
                            np.sum(v, axis=0, dtype="int16"), np.mean(v, dtype="float32")],
             grad=False)
    # reductions accept Python lists too
    for mode in BACKENDS:
        f = theano.function([], [T.prod([1, 2, 3]), T.sum([[1.5, 2.5]], axis=1)], mode=mode)
        a, b = f()
        assert a == 6 and a.dtype == np.int64 and b.tolist() == [4.0]
