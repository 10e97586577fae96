"""Elementwise ops (Elemwise, DimShuffle, fused Composite) on the py and numba backends.

Every op is compared with numpy: values, output dtypes (the declared type, on both
backends), shapes. Hypothesis draws shapes and values (NaN, inf, zeros, negative
divisors, integer extremes); dtypes and broadcast patterns come from small fixed lists
and each graph is compiled once per backend (``compiled``), so examples cost no Numba
compile. ``check_op`` is used for one case per op family (it also checks infer_shape and
runs verify_grad on the numba backend); per-op gradients are verified on the py backend
(the gradient graphs are made of the same ops, whose Numba code is tested forward here).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.testing import assert_close, check_op

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BACKENDS = ("py", "numba")
HYP = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
rng = np.random.default_rng(0)

FLOATS = ("float32", "float64")


# ------------------------------------------------------------------------- helpers

_compiled: dict = {}


def compiled(key, build, mode_kw=None):
    """``build() -> (inputs, outputs)`` compiled once per backend for ``key``."""
    if key not in _compiled:
        ins, outs = build()
        outs = list(outs)
        fns = {b: theano.function(ins, outs, mode=Mode(b, **(mode_kw or {})),
                                  on_unused_input="ignore") for b in BACKENDS}
        _compiled[key] = (ins, outs, fns)
    return _compiled[key]


def tol(dtype):
    return (1e-5, 1e-6) if dtype == "float32" else (1e-10, 1e-12)


def run_compare(key, build, values, refs, rtol=None, atol=None, mode_kw=None):
    """Run both backends on ``values``; compare dtype (== declared), shape and values with
    each other and with ``refs[k](*values)`` (None: no numpy reference)."""
    ins, outs, fns = compiled(key, build, mode_kw)
    res = {}
    for b, f in fns.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res[b] = [np.asarray(r) for r in f(*[np.array(v, copy=True) for v in values])]
    for k, o in enumerate(outs):
        p, n = res["py"][k], res["numba"][k]
        what = f"output {k} ({key})"
        assert p.dtype == np.dtype(o.type.dtype), f"{what}: py dtype {p.dtype} != {o.type}"
        assert n.dtype == np.dtype(o.type.dtype), f"{what}: numba dtype {n.dtype} != {o.type}"
        rt, at = tol(o.type.dtype)
        rt, at = rtol or rt, atol or at
        assert_close(n, p, rt, at, what + " numba vs py")
        if refs[k] is not None:
            with np.errstate(all="ignore"):
                e = np.asarray(refs[k](*[np.array(v, copy=True) for v in values]))
            assert e.shape == p.shape, f"{what}: shape {p.shape}, numpy {e.shape}"
            assert_close(p, e.astype(p.dtype) if e.dtype != p.dtype else e, rt, at,
                         what + " vs numpy")
    return res["py"]


def assert_numba_types(fn, *args):
    """Every node of a numba-compiled ``fn`` produces exactly its declared types inside
    the compiled code (float32 stays float32, 0-d int8 results are int8 scalars, ...):
    intermediate values never reach the output boundary, where a cast would hide a wrong
    type. Recompiles ``graph_fn`` uncached on ``args`` to read Numba's type map."""
    import numba

    jf = numba.njit(error_model="numpy")(fn.executable.module.graph_fn.py_func)
    vals = [np.asarray(a) for a in args]
    # the graph's constants come after the inputs (arrays, scalars grouped by dtype)
    jf(*[v[()] if v.ndim == 0 else v for v in vals], *fn.executable.const_args)
    (cres,) = jf.overloads.values()
    typemap = cres.type_annotation.typemap
    checked = 0
    for n, node in enumerate(fn.maker.fgraph.toposort()):
        for j, o in enumerate(node.outputs):
            name = f"v{n}_{j}"
            if name not in typemap:
                continue
            got = typemap[name]
            want = numba.from_dtype(np.dtype(o.type.dtype))
            if o.type.ndim:
                assert isinstance(got, numba.types.Array) and (got.dtype, got.ndim) == (
                    want, o.type.ndim), f"{node.op} output {j}: {got}, declared {o.type}"
            else:
                assert got == want, f"{node.op} output {j}: {got}, declared {o.type}"
            checked += 1
    assert checked == sum(len(n.outputs) for n in fn.maker.fgraph.toposort())


def one_loop(ins, outs):
    """The outputs, each an Elemwise applied directly to ``ins``, computed by ONE node: a
    multi-output Composite of their scalar ops (the dtypes are the declared ones). One
    Numba compile covers every op, and its loop takes the fused-code path."""
    steps = []
    for o in outs:
        node = o.owner
        assert isinstance(node.op, T.Elemwise), o
        refs = tuple(("i", next(k for k, i in enumerate(ins) if i is x)) for x in node.inputs)
        steps.append((node.op.scalar_op, refs, o.dtype))
    comp = T.Composite(steps, list(range(len(steps))), [i.dtype for i in ins])
    res = T.Elemwise(comp)(*ins)
    return list(res) if isinstance(res, (list, tuple)) else [res]


def sym(dtype, bcast, name=None):
    return T.tensor(dtype, bcast, name=name)


def elements(dtype, lo=None, hi=None, special=True):
    """Hypothesis elements for ``dtype``: full integer range (or [lo, hi]), floats with
    NaN/inf/signed zeros when ``special``."""
    if dtype == "bool":
        return st.booleans()
    if dtype in FLOATS:
        width = 32 if dtype == "float32" else 64
        lo = -1e4 if lo is None else lo
        hi = 1e4 if hi is None else hi
        base = st.floats(lo, hi, width=width)
        if special:
            return st.one_of(base, st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]))
        return base
    info = np.iinfo(dtype)
    return st.integers(info.min if lo is None else lo, info.max if hi is None else hi)


def shape_for(bcast, sizes):
    return tuple(1 if b else s for b, s in zip(bcast, sizes))


@st.composite
def arrays_for(draw, dtypes, bcasts, lo=None, hi=None, special=True, min_side=0):
    """One array per (dtype, broadcastable pattern), sharing non-broadcast sizes."""
    nd = max((len(b) for b in bcasts), default=0)
    sizes = draw(st.lists(st.integers(min_side, 4), min_size=nd, max_size=nd))
    out = []
    for dt, bc in zip(dtypes, bcasts):
        shape = shape_for(bc, sizes[nd - len(bc):])
        out.append(draw(hnp.arrays(dt, shape, elements=elements(dt, lo, hi, special))))
    return out


# -------------------------------------------------------------------- binary ops

def _true_div_ref(out_dtype):
    return lambda a, b: np.true_divide(a.astype(out_dtype), b.astype(out_dtype))


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "int_div": (lambda a, b: a // b, np.floor_divide),
    "mod": (lambda a, b: a % b, np.mod),
    "maximum": (T.maximum, np.maximum),
    "minimum": (T.minimum, np.minimum),
    "lt": (lambda a, b: a < b, np.less),
    "gt": (lambda a, b: a > b, np.greater),
    "le": (lambda a, b: a <= b, np.less_equal),
    "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq": (T.eq, np.equal),
    "neq": (T.neq, np.not_equal),
}
BITWISE = {
    "and": (lambda a, b: a & b, np.bitwise_and),
    "or": (lambda a, b: a | b, np.bitwise_or),
    "xor": (lambda a, b: a ^ b, np.bitwise_xor),
}
#: dtype pairs: same dtypes, mixed signedness/width, int with float, bool with others
PAIRS = [("float64", "float64"), ("float32", "float32"), ("int8", "int8"),
         ("uint8", "uint8"), ("int64", "int64"), ("int32", "int64"), ("int8", "uint8"),
         ("bool", "bool"), ("bool", "int8"), ("int32", "float32"), ("float32", "float64")]


def _binary_graph(da, db, bca, bcb, fused=False):
    def build():
        a, b = sym(da, bca, "a"), sym(db, bcb, "b")
        outs, refs = [], []
        for name, (f, npf) in BINARY.items():
            if name == "sub" and da == db == "bool":
                continue
            outs.append(f(a, b))
            refs.append(npf)
        outs.append(a / b)
        refs.append(_true_div_ref(outs[-1].dtype))
        if da not in FLOATS and db not in FLOATS:
            for name, (f, npf) in BITWISE.items():
                outs.append(f(a, b))
                refs.append(npf)
        build.refs = refs
        return [a, b], (one_loop([a, b], outs) if fused else outs)
    return build


_refs: dict = {}


def _run_binary(da, db, bca, bcb, values, fused=False):
    key = ("binary", da, db, bca, bcb, fused)
    build = _binary_graph(da, db, bca, bcb, fused)
    if key not in _refs:
        compiled(key, build)
        _refs[key] = build.refs
    run_compare(key, build, values, _refs[key])


@pytest.mark.parametrize("da,db", PAIRS)
@settings(HYP, max_examples=6)
@given(data=st.data())
def test_binary_ops_match_numpy_for_every_dtype_pair(da, db, data):
    """+ - * / // % maximum minimum comparisons and bitwise ops: values including NaN,
    inf, zero and negative divisors, integer extremes (wrap-around as numpy). All ops of
    a dtype pair run in one loop (``one_loop``); ``test_binary_ops_as_separate_nodes``
    runs them as the separate nodes users build."""
    a, b = data.draw(arrays_for((da, db), ((False, False), (False, False))))
    _run_binary(da, db, (False, False), (False, False), [a, b], fused=True)


@pytest.mark.parametrize("da,db", PAIRS)
def test_binary_ops_dtype_rules(da, db):
    """Output dtypes: numpy promotion, true division of ints by Theano's upgrade_to_float,
    bool // bool and bool % bool give int8 (numpy's loops)."""
    a, b = sym(da, (False,)), sym(db, (False,))
    up = str(np.result_type(da, db))
    assert (a + b).dtype == up and (a * b).dtype == up
    assert (a < b).dtype == "bool" and T.eq(a, b).dtype == "bool"
    assert (a // b).dtype == (up if up != "bool" else "int8")
    assert (a % b).dtype == (up if up != "bool" else "int8")
    small = ("bool", "int8", "uint8", "int16", "uint16")
    assert (a / b).dtype == (up if up in FLOATS else "float32" if up in small else "float64")


@pytest.mark.parametrize("da,db", [("float32", "float32"), ("int8", "uint8"),
                                   ("bool", "int8")])
def test_binary_ops_as_separate_nodes(da, db):
    """Each op as its own node: 2-d (hypothesis-like values), empty, and 0-d inputs (Numba
    scalars inside generated code: results keep the declared dtype, int8 wraps)."""
    r = np.random.default_rng(3)
    if da == "float32":
        vals = [np.array([1.5, -2.0, np.nan, np.inf, 0.0, -0.0, 7.0], dtype=da),
                np.array([0.0, 3.0, 1.0, np.inf, -0.0, 2.0, -2.5], dtype=db)]
        scalars = [np.array(3.5, dtype=da), np.array(-0.7, dtype=db)]
    else:
        lo_a = 0 if da == "bool" else np.iinfo(da).min
        hi_a = 2 if da == "bool" else int(np.iinfo(da).max) + 1
        vals = [r.integers(lo_a, hi_a, 9).astype(da),
                r.integers(np.iinfo(db).min, int(np.iinfo(db).max) + 1, 9).astype(db)]
        vals[1][:3] = [0, -1 if db != "uint8" else 1, 0]
        scalars = [np.array(True) if da == "bool" else np.array(np.iinfo(da).max, dtype=da),
                   np.array(np.iinfo(db).min, dtype=db)]
    _run_binary(da, db, (False,), (False,), vals)
    _run_binary(da, db, (False,), (False,), [np.zeros(0, dtype=da), np.zeros(0, dtype=db)])
    _run_binary(da, db, (), (), scalars)
    assert_numba_types(_compiled[("binary", da, db, (), (), False)][2]["numba"], *scalars)
    assert_numba_types(_compiled[("binary", da, db, (False,), (False,), False)][2]["numba"],
                       *vals)


def test_integer_division_and_modulo_follow_numpy():
    """Floor division and modulo of negative numbers, by zero (0 as numpy), and
    INT64_MIN // -1 (wraps to INT64_MIN as numpy)."""
    i64 = np.iinfo("int64")
    a = np.array([7, -7, 7, -7, 5, -5, 0, i64.min, i64.min, i64.max, 3], dtype="int64")
    b = np.array([2, 2, -2, -2, 0, 0, -3, -1, 2, -1, i64.min], dtype="int64")
    _run_binary("int64", "int64", (False,), (False,), [a, b])
    check_op(lambda x, y: [x // y, x % y], [a, b],
             ref=lambda x, y: [np.floor_divide(x, y), np.mod(x, y)], grad=False)
    f = np.array([7.5, -7.5, 7.5, -7.5, 1.0, -1.0, np.inf, 1.0, 0.0])
    g = np.array([2.0, 2.0, -2.0, -2.0, 0.0, np.inf, 2.0, -np.inf, 0.0])
    check_op(lambda x, y: [x // y, x % y], [f, g],
             ref=lambda x, y: [np.floor_divide(x, y), np.mod(x, y)], grad=False)


def test_integer_overflow_wraps_like_numpy():
    a = np.array([100, -128, 127, 50], dtype="int8")
    b = np.array([100, -1, 1, 3], dtype="int8")
    check_op(lambda x, y: [x + y, x * y, x - y, -x, abs(x), T.sqr(x)], [a, b],
             ref=lambda x, y: [x + y, x * y, x - y, -x, np.abs(x), x * x], grad=False)
    u = np.array([0, 1, 255], dtype="uint8")
    check_op(lambda x: [x - 1, -x, ~x, x * 2], [u],
             ref=lambda x: [x - np.uint8(1), -x, ~x, x * np.uint8(2)], grad=False)


def test_weak_python_scalars_keep_the_tensor_dtype():
    """``fvector * 0.5`` stays float32 and computes in float32 on numba too: the literal
    is a typed float32 constant (float64 arithmetic would round differently)."""
    x = T.fvector("x")
    assert (x * 0.5).dtype == "float32" and (x + 1).dtype == "float32"
    assert (T.ivector() + 1).dtype == "int32" and (T.bvector() * 2).dtype == "int8"
    assert (T.ivector() * 0.5).dtype == theano.config.floatX
    v = np.random.default_rng(1).standard_normal(1000).astype("float32")
    f32 = np.float32
    exprs = lambda x: [x * 0.1, x / 3.0, x + 0.3, 0.7 - x, x ** 2.5, T.exp(x * 0.1),  # noqa: E731
                       ((x * 0.1 + 0.3) / 7.0 - x) * 3.0]
    res = check_op(exprs, [v], grad=False)
    ref = [v * f32(0.1), v / f32(3.0), v + f32(0.3), f32(0.7) - v, None, None,
           ((v * f32(0.1) + f32(0.3)) / f32(7.0) - v) * f32(3.0)]
    for got, want in zip(res["numba"], ref):
        assert got.dtype == np.float32
        if want is not None:  # bit-exact float32 arithmetic, step by step in a fused loop
            np.testing.assert_array_equal(got, want)
    # 0-d: scalars inside Numba; every node returns float32 (fusion off: one node per op)
    s = T.fscalar("s")
    out = T.sqrt(abs(s * 0.5 - 1) + T.exp(s) * 2) / 3 + T.sigmoid(s) - T.sqr(s) ** 1.5
    f = theano.function([s], out, mode=Mode("numba", excluding=("fusion",)))
    assert len(f.maker.fgraph.toposort()) > 5
    assert_numba_types(f, np.float32(0.7))
    assert f(np.float32(0.7)).dtype == np.float32


@pytest.mark.parametrize("da", ["int8", "uint8", "int32", "int64", "bool"])
def test_integer_power(da):
    """Integer powers wrap like numpy; a negative integer exponent raises on both."""
    x, y = sym(da, (False,)), sym(da, (False,))
    a = np.array([2, 3, 0, 1, 7, 5][: 6], dtype=da)
    b = np.array([3, 2, 0, 5, 4, 1], dtype=da)
    if da == "bool":
        a, b = a.astype(bool), b.astype(bool)
    out = x ** y
    assert out.dtype == (da if da != "bool" else "int8")
    for mode in BACKENDS:
        f = theano.function([x, y], out, mode=mode)
        got = f(a, b)
        assert got.dtype == np.dtype(out.dtype)
        np.testing.assert_array_equal(got, np.power(a, b))
        if da in ("int8", "int32", "int64"):
            with pytest.raises(ValueError, match="negative integer powers"):
                f(a, np.array([1, 1, -1, 1, 1, 1], dtype=da))


def test_float_power_and_arctan2():
    a = np.array([0.5, 2.0, 0.0, -2.0, 4.0, np.nan, np.inf])
    b = np.array([2.0, -1.5, -1.0, 3.0, 0.5, 1.0, -1.0])
    for dt in FLOATS:
        check_op(lambda x, y: [x ** y, T.arctan2(x, y)], [a.astype(dt), b.astype(dt)],
                 ref=lambda x, y: [np.power(x, y), np.arctan2(x, y)], grad=False)


def test_bool_arithmetic_follows_numpy():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    check_op(lambda x, y: [x + y, x * y, T.maximum(x, y), x & y, x | y, x ^ y, ~x, abs(x),
                           T.sqr(x), x // y, x % y, x / y],
             [a, b], ref=lambda x, y: [x + y, x * y, np.maximum(x, y), x & y, x | y, x ^ y,
                                       ~x, np.abs(x), x * x, np.floor_divide(x, y),
                                       np.mod(x, y), np.true_divide(x, y).astype("float32")],
             grad=False)
    x = T.bvector().astype("bool")
    for bad, what in [(lambda: x - x, "sub"), (lambda: -x, "neg"), (lambda: T.sgn(x), "sgn")]:
        with pytest.raises(TypeError, match=what):
            bad()
    with pytest.raises(TypeError, match="and_.*float64"):
        T.dvector() & T.dvector()
    with pytest.raises(TypeError, match="invert.*float32"):
        ~T.fvector()


# ---------------------------------------------------------------------- unary ops

#: name -> (symbolic fn, numpy reference (None: compare backends only), float input domain
#: for values and gradients, differentiable)
UNARY = {
    "neg": (T.neg, np.negative, None, True),
    "abs": (abs, np.abs, "nonzero", True),
    "sgn": (T.sgn, np.sign, "nonzero", True),
    "sqr": (T.sqr, np.square, None, True),
    "reciprocal": (T.reciprocal, np.reciprocal, "nonzero", True),
    "exp": (T.exp, np.exp, None, True),
    "exp2": (T.exp2, np.exp2, None, True),
    "log": (T.log, np.log, "pos", True),
    "log2": (T.log2, np.log2, "pos", True),
    "log10": (T.log10, np.log10, "pos", True),
    "log1p": (T.log1p, np.log1p, "pos", True),
    "expm1": (T.expm1, np.expm1, None, True),
    "sqrt": (T.sqrt, np.sqrt, "pos", True),
    "sin": (T.sin, np.sin, None, True),
    "cos": (T.cos, np.cos, None, True),
    "tan": (T.tan, np.tan, "unit", True),
    "tanh": (T.tanh, np.tanh, None, True),
    "sinh": (T.sinh, np.sinh, None, True),
    "cosh": (T.cosh, np.cosh, None, True),
    "arcsin": (T.arcsin, np.arcsin, "unit", True),
    "arccos": (T.arccos, np.arccos, "unit", True),
    "arctan": (T.arctan, np.arctan, None, True),
    "erf": (T.erf, None, None, True),
    "sigmoid": (T.sigmoid, lambda x: 1 / (1 + np.exp(-x)), None, True),
    "softplus": (T.softplus, lambda x: np.logaddexp(0, x), None, True),
    "floor": (T.floor, np.floor, "nonint", True),
    "ceil": (T.ceil, np.ceil, "nonint", True),
    "trunc": (T.trunc, np.trunc, "nonint", True),
    "round": (T.round, np.round, "nonint", True),
    "round_away": (lambda x: T.round(x, "half_away_from_zero"), None, "nonint", True),
    "isnan": (T.isnan, np.isnan, None, False),
    "isinf": (T.isinf, np.isinf, None, False),
}


def _unary_graph(dt, bc, fused=False):
    names = [n for n in UNARY if not (dt == "bool" and n in ("neg", "sgn"))]

    def build():
        x = sym(dt, bc, "x")
        outs = [UNARY[n][0](x) for n in names]
        if fused:  # round_away is a DimShuffle-free Elemwise too: every output is one op
            outs = one_loop([x], outs)
        return [x], outs
    return names, build


def _unary_ref(name, out_dtype):
    npf = UNARY[name][1]
    if npf is None:
        return None
    if name in ("isnan", "isinf"):
        return npf
    # float functions of ints: Theano's upgrade_to_float, computed in that dtype
    return lambda x: npf(x.astype(out_dtype)) if out_dtype.startswith("float") else npf(x)


UNARY_DTYPES = ("float64", "float32", "int8", "uint8", "int64", "bool")


@pytest.mark.parametrize("dt", UNARY_DTYPES)
@settings(HYP, max_examples=8)
@given(data=st.data())
def test_unary_ops_match_numpy(dt, data):
    """Every unary function on every dtype (NaN, inf, signed zeros included); output dtype
    is the declared one on both backends (float32 stays float32; int8 -> float32)."""
    (x,) = data.draw(arrays_for((dt,), ((False, False),)))
    names, build = _unary_graph(dt, (False, False), fused=True)
    _, outs, _ = compiled(("unary", dt), build)
    refs = [_unary_ref(n, o.dtype) for n, o in zip(names, outs)]
    run_compare(("unary", dt), build, [x], refs)


def test_unary_ops_as_separate_nodes_on_0d_and_special_values():
    """Each unary op as its own node on 0-d inputs (Numba scalars; int8 -> float32)."""
    for dt in ("float32", "int8"):
        names, build = _unary_graph(dt, ())
        _, outs, _ = compiled(("unary0d", dt), build)
        refs = [_unary_ref(n, o.dtype) for n, o in zip(names, outs)]
        vals = [-2.5, 0.5, np.nan, -np.inf] if dt == "float32" else [-128, 0, 7, 127]
        for v in vals:
            run_compare(("unary0d", dt), build, [np.array(v, dtype=dt)], refs)
        assert_numba_types(_compiled[("unary0d", dt)][2]["numba"], np.array(vals[0], dtype=dt))


def test_rounding_modes():
    """half_to_even (numpy's round) and half_away_from_zero, exact at the halves and just
    below them (0.49999999999999994 + 0.5 rounds up to 1 in floating point)."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                  2.4, -2.6, 1e300, -0.0, np.nan, np.inf, -np.inf, 4503599627370497.0])
    away = np.array([1, 2, 3, -1, -2, -3, 0, -0.0, 2, -3, 1e300, -0.0, np.nan, np.inf,
                     -np.inf, 4503599627370497.0])
    check_op(lambda v: [T.round(v), T.round(v, "half_to_even"),
                        T.round(v, "half_away_from_zero"), T.round_half_away_from_zero(v),
                        T.round_half_to_even(v)], [x],
             ref=lambda v: [np.round(v), np.round(v), away, away, np.round(v)], grad=False)
    x32 = np.array([0.5, 1.5, -2.5, 0.49999997, 2.4999998, -7.5], dtype="float32")
    check_op(lambda v: [T.round(v), T.round(v, "half_away_from_zero"), T.iround(v)], [x32],
             ref=lambda v: [np.round(v), np.array([1, 2, -3, 0, 2, -8], dtype="float32"),
                            np.round(v).astype("int64")], grad=False)
    assert T.iround(T.fvector()).dtype == "int64"
    with pytest.raises(ValueError, match="half_away_from_zero"):
        T.round(T.dvector(), "banker")


def test_unary_gradients_away_from_kinks():
    """verify_grad (float64) for every differentiable unary op, at points inside its
    domain and away from kinks; one combined graph also through check_op on numba."""
    domains = {
        None: lambda n: rng.uniform(-2, 2, n),
        "pos": lambda n: rng.uniform(0.2, 3, n),
        "unit": lambda n: rng.uniform(-0.8, 0.8, n),
        "nonzero": lambda n: rng.choice([-1, 1], n) * rng.uniform(0.2, 2, n),
        "nonint": lambda n: np.floor(rng.uniform(-3, 3, n)) + rng.uniform(0.1, 0.4, n),
    }
    for name, (f, _, dom, diff) in UNARY.items():
        if not diff:
            continue
        verify_grad(f, [domains[dom](5)], mode="py")
    # through check_op: the numba backend runs the gradient graph (fused)
    pts = [rng.uniform(0.2, 0.8, (2, 3))]
    check_op(lambda x: T.exp(x) * T.sin(x) + T.sqrt(x) / T.cosh(x) + T.log1p(x) * T.tanh(x)
             + T.sigmoid(x) * T.softplus(x) + abs(x) * T.arcsin(x) + T.erf(x),
             pts, ref=None)


def test_isnan_isinf_on_integers_are_false():
    check_op(lambda x: [T.isnan(x), T.isinf(x)], [np.array([1, -5, 0], dtype="int32")],
             ref=lambda x: [np.isnan(x), np.isinf(x)], grad=False)


# ----------------------------------------------------------- maximum/minimum, clip

def test_nan_propagation_in_maximum_minimum_clip():
    a = np.array([1.0, np.nan, 3.0, np.nan, -np.inf, 2.0])
    b = np.array([np.nan, 2.0, 1.0, np.nan, 0.0, 2.0])
    for dt in FLOATS:
        check_op(lambda x, y: [T.maximum(x, y), T.minimum(x, y), T.clip(x, y, 2.5),
                               T.clip(x, 0.0, y)],
                 [a.astype(dt), b.astype(dt)],
                 ref=lambda x, y: [np.maximum(x, y), np.minimum(x, y), np.clip(x, y, 2.5),
                                   np.clip(x, 0.0, y)], grad=False)


def test_clip_with_reversed_bounds_and_integer_types():
    # numpy's clip with a_min > a_max gives a_max everywhere
    x = np.array([-3, 0, 5, 12], dtype="int32")
    check_op(lambda v: [T.clip(v, 8, 2), T.clip(v, 0, 10), v.clip(-1, 1)], [x],
             ref=lambda v: [np.minimum(np.maximum(v, 8), 2), np.clip(v, 0, 10),
                            np.clip(v, -1, 1)], grad=False)


def test_binary_gradients_away_from_kinks():
    a = rng.uniform(0.5, 2.0, (3, 4))
    b = a + rng.choice([-1, 1], (3, 4)) * rng.uniform(0.2, 0.5, (3, 4))
    lo, hi = np.full((3, 4), 0.9), np.full((3, 4), 1.6)
    grads = [lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y, lambda x, y: x / y,
             lambda x, y: x ** y, T.maximum, T.minimum, T.arctan2, lambda x, y: x % y,
             lambda x, y: T.switch(T.gt(x, 1.2), x * y, y / x), lambda x, y: x // y + x]
    for g in grads:
        verify_grad(g, [a, b], mode="py")
    verify_grad(lambda x, low, high: T.clip(x, low, high), [a, lo, hi], mode="py")
    # row and column broadcasting: gradients are summed over the broadcast axes
    check_op(lambda x, r, c: x * r + c / r, [a, rng.uniform(1, 2, (1, 4)),
                                            rng.uniform(1, 2, (3, 1))],
             broadcastable=[(False, False), (True, False), (False, True)],
             ref=lambda x, r, c: x * r + c / r)


# ---------------------------------------------------------------- switch and cast

def test_switch_condition_dtypes_and_broadcasting():
    c = np.array([[True], [False], [True]])
    a = rng.standard_normal((3, 4))
    check_op(lambda cc, x: T.switch(cc, x, 0.0), [c, a],
             broadcastable=[(False, True), (False, False)],
             ref=lambda cc, x: np.where(cc, x, 0.0))
    cf = np.array([0.0, np.nan, -1.0, 2.0])
    ci = np.array([0, 3, -1, 0], dtype="int8")
    check_op(lambda f, i: [T.switch(f, i, 7), T.switch(i, f, -f), T.where(T.lt(f, 0), 1, 2)],
             [cf, ci], ref=lambda f, i: [np.where(f, i, np.int8(7)), np.where(i, f, -f),
                                         np.where(f < 0, np.int8(1), np.int8(2))], grad=False)


CASTS = ("bool", "int8", "uint8", "int32", "int64", "float32", "float64")


@pytest.mark.parametrize("src", ["float64", "int32", "bool", "uint8"])
def test_cast_to_every_dtype(src):
    """``T.cast`` and ``.astype`` to every dtype, for values representable in the target
    (float -> int truncates toward zero; nonzero -> True); a cast to the same dtype is a
    no-op."""
    v = {"float64": np.array([0.0, 1.7, 100.9, -0.0, 3.0, 127.2]),
         "bool": np.array([True, False, True])}.get(src, np.array([0, 1, 100, 7], dtype=src))
    x = sym(src, (False,))
    targets = [d for d in CASTS if d != src]
    outs = [T.cast(x, d) if k % 2 else x.astype(d) for k, d in enumerate(targets)]
    assert [o.dtype for o in outs] == targets
    assert T.cast(x, src) is x and x.astype(src) is x
    for mode in BACKENDS:
        res = theano.function([x], outs, mode=mode)(v)
        for r, d in zip(res, targets):
            assert r.dtype == np.dtype(d), (mode, d)
            np.testing.assert_array_equal(r, v.astype(d), err_msg=f"{mode} {src}->{d}")
    # NaN and infinities to float32 and bool; a float64 gradient through a cast
    check_op(lambda y: [T.cast(y, "float32"), T.cast(y, "bool")],
             [np.array([np.nan, np.inf, -np.inf, 0.5, 0.0, 1e300])],
             ref=lambda y: [y.astype("float32"), y.astype(bool)])


# ------------------------------------------------------------------- broadcasting

PATTERNS = [
    ((False, False), (True, False), (False, True)),     # matrix, row, col
    ((False, False), (True, True), ()),                 # matrix, 1x1, scalar
    ((True, False), (False, True), (True, True)),       # row x col -> matrix
    ((False,), (), (True,)),                            # vector, scalar, length-1 vector
    ((False, False, False), (False,), (True, False, True)),
    ((), (), ()),
]


@HYP
@given(st.data())
def test_broadcasting_patterns_of_a_fused_expression(data):
    """Row/col/scalar mixes through one fused loop (Composite): values as numpy's
    broadcasting, output pattern from the static patterns."""
    pats = data.draw(st.sampled_from(PATTERNS))
    dt = data.draw(st.sampled_from(("float64", "float32")))
    vals = data.draw(arrays_for((dt, dt, dt), pats, -10, 10, special=False))

    def build():
        a, b, c = (sym(dt, p) for p in pats)
        return [a, b, c], [T.maximum(a * b, c) - T.exp(T.minimum(c, 1.0)) / (1 + b * b),
                           T.switch(T.gt(a, b), a, c)]
    refs = [lambda a, b, c: np.maximum(a * b, c) - np.exp(np.minimum(c, 1.0)) / (1 + b * b),
            lambda a, b, c: np.where(a > b, a, c)]
    out = run_compare(("bcast", pats, dt), build, vals, refs)
    _, outs, _ = compiled(("bcast", pats, dt), build)
    nd = max(len(p) for p in pats)
    padded = [(True,) * (nd - len(p)) + p for p in pats]
    assert outs[0].broadcastable == tuple(all(p[d] for p in padded) for d in range(nd))
    assert out[0].shape == np.broadcast_shapes(*[v.shape for v in vals])


def test_fused_loop_is_one_composite_with_integer_temporaries():
    """Fusion makes a Composite whose temporaries keep their dtypes: (a + b) // c with
    int8 overflow in a + b, as numpy computes step by step."""
    a = np.array([100, -100, 50, 127], dtype="int8")
    b = np.array([100, -100, 50, 1], dtype="int8")
    c = np.array([3, 7, -2, 2], dtype="int8")
    x, y, z = T.bvectors("x", "y", "z")
    out = (x + y) // z * 2 - T.maximum(x, z)
    ref = (a + b) // c * np.int8(2) - np.maximum(a, c)
    for mode in BACKENDS:
        f = theano.function([x, y, z], out, mode=mode)
        ops = [n.op for n in f.maker.fgraph.toposort()]
        assert len(ops) == 1 and isinstance(ops[0].scalar_op, T.Composite), ops
        got = f(a, b, c)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, ref)
        # 0-d (scalars inside Numba)
        s = [T.bscalar() for _ in range(3)]
        g = theano.function(s, (s[0] + s[1]) // s[2] * 2 - T.maximum(s[0], s[2]), mode=mode)
        r = g(a[0], b[0], c[0])
        assert r.dtype == np.int8 and r == ref[0]
        if mode == "numba":
            assert_numba_types(f, a, b, c)
            assert_numba_types(g, a[0], b[0], c[0])


def test_static_broadcasting_rule_and_error_messages():
    """A length-1 dimension that is not broadcastable does not stretch: ValueError on both
    backends naming the op, the shapes, the dtypes and the user's source line."""
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    z = x * 2 + y  # this line is named in the error
    line = "z = x * 2 + y"
    for mode in BACKENDS:
        f = theano.function([x, y], z, mode=mode)
        with pytest.raises(ValueError) as ei:
            f(np.ones((3, 4)), np.ones((1, 4)))
        msg = str(ei.value)
        assert "add" in msg and "(3, 4)" in msg and "(1, 4)" in msg, msg
        assert "float64" in msg and "test_elemwise.py" in msg and line in msg, msg
    # the same with a broadcastable row works, and a wrong row length fails
    r = T.drow("r")
    for mode in BACKENDS:
        f = theano.function([x, r], x + r, mode=mode)
        np.testing.assert_array_equal(f(np.ones((3, 4)), np.ones((1, 4))), np.full((3, 4), 2.0))
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(1, 5\)"):
            f(np.ones((3, 4)), np.ones((1, 5)))


def test_mismatch_inside_a_fused_composite_names_the_fused_op():
    """Run directly on the optimized (fused) graph with the py backend: the message names
    the original operation inside the Composite and where it was created."""
    x, y, w = T.dvectors("x", "y", "w")
    out = T.exp(x) * 3 + (y - w)  # the sub is where (3,) meets (4,)
    f = theano.function([x, y, w], out, mode="py")
    (node,) = f.maker.fgraph.toposort()
    assert isinstance(node.op.scalar_op, T.Composite)
    with pytest.raises(ValueError) as ei:
        f.executable.run([np.ones(3), np.ones(3), np.ones(4)], [])
    msg = str(ei.value)
    assert "fused operation sub" in msg and "(3,) float64" in msg and "(4,) float64" in msg
    assert "out = T.exp(x) * 3 + (y - w)" in msg, msg


# ----------------------------------------------------- layouts and the flat fast path

def test_noncontiguous_inputs_take_the_strided_loop():
    """Transposed, sliced and negatively strided inputs (no flat fast path) give the
    same results as contiguous ones, including an in-place output."""
    x, y = T.dmatrices("x", "y")
    outs = [x * y + 1, T.exp(x) - y]
    base = rng.standard_normal((6, 8))
    other = rng.standard_normal((8, 6))
    cases = [(base[:, :6][:4], other[:4, :6]), (base.T[:6, :4], other[:6, :4]),
             (base[::-1, ::2][:4, :4], other[::2, ::-1][:4, :4]),
             (np.asfortranarray(base), np.asfortranarray(other.T))]
    for mode in BACKENDS:
        f = theano.function([x, y], outs, mode=mode)
        for a, b in cases:
            r = f(a, b)
            np.testing.assert_allclose(r[0], a * b + 1, rtol=1e-12)
            np.testing.assert_allclose(r[1], np.exp(a) - b, rtol=1e-12)
    # a transposed input mixed with a contiguous one, through check_op
    pts = [base[:3, :5].copy(), rng.standard_normal((5, 3))]
    check_op(lambda a, b: T.tanh(a.T) * b, pts, ref=lambda a, b: np.tanh(a.T) * b, grad=False)
    verify_grad(lambda a, b: T.tanh(a.T) * b, pts, mode="py")


def test_large_outputs_on_huge_pages():
    """Outputs of 4 MiB and more are madvise'd to huge pages (as numpy does); values and
    dtypes are unaffected, for flat, strided and in-place loops."""
    import numba

    from symgraph.link.numba import helpers

    @numba.njit
    def empty_hugepage(shape, dtype):
        # an intrinsic on the private path: reached from compiled code only
        return helpers.empty_hugepage(shape, dtype)

    x = T.fmatrix("x")
    f = theano.function([x], [x * 2 + 1, T.exp(x.T) * 0.5], mode="numba")
    assert "_sg_helpers.empty_hugepage(" in f.executable.source
    v = rng.standard_normal((1100, 1000)).astype("float32")   # 4.4 MB
    a, b = f(v)
    np.testing.assert_array_equal(a, v * np.float32(2) + np.float32(1))
    np.testing.assert_allclose(b, np.exp(v.T) * np.float32(0.5), rtol=1e-6)
    for shape, dtype in (((0,), np.float64), ((5,), np.float64), ((2048, 1024), np.float64),
                         ((10**6 + 3,), np.int8), ((3, 0, 2), np.float32)):
        arr = empty_hugepage(shape, dtype)   # any size, any alignment: no error
        assert arr.shape == shape and arr.dtype == dtype and arr.flags.c_contiguous


def test_inplace_elementwise_on_an_intermediate():
    x = T.dmatrix("x")
    out = T.exp(T.sum(x, axis=1)) * 2  # writes into the sum's fresh buffer
    f = theano.function([x], out, mode="numba")
    assert any(getattr(n.op, "destroy_map", None) for n in f.maker.fgraph.toposort())
    v = rng.standard_normal((4, 3))
    np.testing.assert_allclose(f(v), np.exp(v.sum(axis=1)) * 2, rtol=1e-12)
    np.testing.assert_allclose(f(v.T.copy().T), np.exp(v.sum(axis=1)) * 2, rtol=1e-12)


# ------------------------------------------------------------------------ DimShuffle

def test_dimshuffle_transpose_drop_augment():
    """Transpose, drop broadcastable axes and add new ones; views on both backends."""
    v = rng.standard_normal((3, 1, 4))
    for k, pattern in enumerate([(2, 0, 1), (0, 2), ("x", 2, "x", 0), (2, 1, 0),
                                 (0, "x", 2, 1)]):
        # the gradient on numba once; on the py backend for the other patterns
        check_op(lambda x: x.dimshuffle(*pattern), [v], grad=k == 2,
                 broadcastable=[(False, True, False)],
                 ref=lambda x: _np_dimshuffle(x, pattern))
        verify_grad(lambda x: T.patternbroadcast(x, (False, True, False)).dimshuffle(*pattern),
                    [v], mode="py")
    check_op(lambda s: s.dimshuffle("x", "x"), [np.array(2.5)], ref=lambda s: s.reshape(1, 1))
    check_op(lambda r: r.dimshuffle(), [np.array([[1.5]])], broadcastable=[(True, True)],
             ref=lambda r: r.reshape(()), grad=False)
    # a DimShuffle of a non-contiguous input
    t = rng.standard_normal((4, 5))[:, ::2]
    for mode in BACKENDS:
        f = theano.function([x := T.dmatrix()], x.dimshuffle(1, "x", 0), mode=mode)
        np.testing.assert_array_equal(f(t), t.T[:, None, :])
    with pytest.raises(ValueError, match="drop axis 0"):
        T.dmatrix().dimshuffle(1)
    with pytest.raises(ValueError, match="invalid axis 3"):
        T.dmatrix().dimshuffle(0, 3)


def _np_dimshuffle(x, pattern):
    kept = [p for p in pattern if p != "x"]
    drop = tuple(i for i in range(x.ndim) if i not in kept)
    y = x.squeeze(drop) if drop else x
    order = [sorted(kept).index(p) for p in kept]
    y = y.transpose(order)
    return np.expand_dims(y, [k for k, p in enumerate(pattern) if p == "x"])
