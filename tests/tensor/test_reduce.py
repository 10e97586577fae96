"""Reductions: sum prod max min all any argmax argmin mean var std on both backends.

The axis handling (None, int, negative, tuple; keepdims; ndim 0-4) is exercised exhaustively
on the py backend (cheap), and the Numba code paths (0-d, full reduction, trailing axes,
general axes, every dtype's accumulator and initial value) with one compiled graph per
path; hypothesis draws the shapes and values (NaN, inf, empty arrays, integer extremes).
"""
from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.shape_inference import shape_tuple
from symgraph.testing import assert_close, check_op

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BACKENDS = ("py", "numba")
HYP = settings(max_examples=15, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
rng = np.random.default_rng(0)
DTYPES = ("float64", "float32", "int8", "uint8", "int32", "int64", "bool")

#: name -> (symbolic, numpy); numpy gets the same axis/keepdims
REDUCTIONS = {
    "sum": (T.sum, np.sum), "prod": (T.prod, np.prod), "max": (T.max, np.max),
    "min": (T.min, np.min), "all": (T.all, np.all), "any": (T.any, np.any),
    "mean": (T.mean, np.mean), "var": (T.var, np.var), "std": (T.std, np.std),
}


def _elements(dtype, special=True):
    if dtype == "bool":
        return st.booleans()
    if dtype.startswith("float"):
        base = st.floats(-10, 10, width=32 if dtype == "float32" else 64)
        return st.one_of(base, st.sampled_from([np.nan, np.inf, -np.inf])) if special else base
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


def _np_reduce(name, x, axis, keepdims):
    npf = REDUCTIONS[name][1]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if name in ("mean", "var", "std") and x.dtype != np.float32:
            return npf(x, axis=axis, keepdims=keepdims, dtype="float64")
        return npf(x, axis=axis, keepdims=keepdims)


def _np_arg(name, x, axis, keepdims):
    f = np.argmax if name == "argmax" else np.argmin
    if isinstance(axis, tuple):
        axis = None if len(axis) == x.ndim else axis[0]
    if x.ndim == 0:
        return np.asarray(f(x))
    return np.asarray(f(x, axis=axis, keepdims=keepdims))


def _tol(dtype):
    return (2e-5, 1e-4) if dtype == "float32" else (1e-9, 1e-9)


def _compare(outs, got, x, specs, backend):
    for o, r, (name, axis, kd) in zip(outs, got, specs):
        r = np.asarray(r)
        what = f"{backend}: {name}(axis={axis}, keepdims={kd}) of {x.dtype}{x.shape}"
        assert r.dtype == np.dtype(o.dtype), f"{what}: dtype {r.dtype}, declared {o.dtype}"
        want = (_np_arg if name.startswith("arg") else _np_reduce)(name, x, axis, kd)
        want = np.asarray(want)
        assert r.shape == want.shape, f"{what}: shape {r.shape}, numpy {want.shape}"
        if name in ("sum", "prod", "max", "min", "all", "any") or name.startswith("arg"):
            assert want.dtype == r.dtype, f"{what}: numpy dtype {want.dtype}, ours {r.dtype}"
        rt, at = _tol(o.dtype)
        if o.dtype.startswith("float") and x.size:
            # summation order differs from numpy's pairwise sums: allow for cancellation
            fin = np.abs(x[np.isfinite(x)]).astype("float64")
            scale = float(fin.max()) if fin.size else 0.0
            at = at * max(1.0, x.size * scale * (scale if name in ("var", "std") else 1.0))
        assert_close(r, want.astype(r.dtype), rt, at, what)


# ------------------------------------------------------------ axis handling (py)

def _axis_specs(nd):
    specs = [None] + list(range(-nd, nd))
    specs += [tuple(c) for k in range(2, nd + 1) for c in itertools.combinations(range(nd), k)]
    specs += [(-1, 0)] if nd >= 2 else []
    return specs


@settings(HYP, max_examples=10)
@given(st.data())
def test_axis_keepdims_and_dtypes_on_the_reference_backend(data):
    """Every axis form on ndim 0-4, keepdims, every dtype: values, dtypes (numpy's: sum of
    int8 is int64, of uint8 uint64, of bool int64; mean of ints float64) and infer_shape."""
    nd = data.draw(st.integers(0, 4))
    dt = data.draw(st.sampled_from(DTYPES))
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    xv = data.draw(hnp.arrays(dt, shape, elements=_elements(dt)))
    x = T.tensor(dt, (False,) * nd)
    outs, specs = [], []
    for axis in _axis_specs(nd):
        for kd in (False, True):
            for name, (f, _) in REDUCTIONS.items():
                outs.append(f(x, axis=axis, keepdims=kd))
                specs.append((name, axis, kd))
            if axis is None or isinstance(axis, int) or len(axis) == nd:
                for name in ("argmax", "argmin"):
                    outs.append(getattr(T, name)(x, axis=axis, keepdims=kd))
                    specs.append((name, axis, kd))
    f = theano.function([x], outs, mode="py")
    _compare(outs, f(xv), xv, specs, "py")
    # symbolic shapes agree with the real ones
    shp = [T.stack([T.cast(T.as_tensor_variable(s), "int64") for s in shape_tuple(o)])
           for o in outs if o.ndim]
    real = [r.shape for r, o in zip(f(xv), outs) if o.ndim]
    got = theano.function([x], shp, mode="py", on_unused_input="ignore")(xv) if shp else []
    assert [tuple(int(v) for v in g) for g in got] == real


def test_axis_errors():
    x = T.dtensor3("x")
    with pytest.raises(ValueError, match="axis 3 is out of range for a 3-d"):
        T.sum(x, axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of range"):
        x.max(axis=-4)
    with pytest.raises(ValueError, match="repeated axis"):
        T.mean(x, axis=(0, -3))
    with pytest.raises(TypeError, match="constant int"):
        T.sum(x, axis=T.lscalar())
    with pytest.raises(ValueError, match="out of range for a 0-d"):
        T.sum(T.dscalar(), axis=0)
    with pytest.raises(ValueError, match="several"):
        T.argmax(x, axis=(0, 1))
    with pytest.raises(ValueError, match="out of range"):
        T.Argmax(5)(x)


def test_reduction_dtype_rules():
    assert T.sum(T.bvector()).dtype == "int64" and T.sum(T.tensor("uint8", (False,))).dtype \
        == "uint64"
    assert T.sum(T.tensor("bool", (False,))).dtype == "int64"
    assert T.prod(T.ivector()).dtype == "int64" and T.sum(T.lvector()).dtype == "int64"
    assert T.sum(T.fmatrix(), axis=0).dtype == "float32"
    assert T.mean(T.fmatrix()).dtype == "float32" and T.mean(T.ivector()).dtype == "float64"
    assert T.var(T.bvector()).dtype == "float64" and T.std(T.fvector()).dtype == "float32"
    assert T.max(T.bvector()).dtype == "int8" and T.all(T.dvector()).dtype == "bool"
    assert T.argmax(T.fmatrix(), axis=1).dtype == "int64"
    assert T.sum(T.bvector(), dtype="int8").dtype == "int8"
    assert T.sum(T.bscalar()).dtype == "int64"  # as np.sum of an int8 scalar
    assert T.max(T.bscalar()).dtype == "int8"
    assert T.sum(T.fmatrix(), axis=1, keepdims=True).broadcastable == (False, True)
    assert T.max(T.row(), axis=1).broadcastable == (True,)


# --------------------------------------------------------------- numba code paths

#: (ndim, axis, dtype, reductions): 0-d, full reductions, trailing axes (one accumulator
#: per output), leading/middle axes (accumulator array); every dtype on some path
_ALL = ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin")
PATHS = [
    (0, None, "float32", _ALL + ("mean", "var")), (1, None, "int8", _ALL + ("mean",)),
    (1, 0, "bool", _ALL), (2, None, "float32", ("sum", "max", "argmin")),
    (2, 1, "uint8", _ALL), (2, 0, "float64", _ALL + ("var",)), (2, -1, "int64", _ALL),
    (3, (1, 2), "int32", ("sum", "prod", "min", "any")),
    (3, (0, 2), "float32", ("sum", "max", "all", "mean")), (3, 1, "int8", ("sum", "argmax")),
    (4, (1, 3), "float64", ("sum", "min")), (4, (2, 3), "float32", ("prod", "max")),
    (3, (), "int8", ("sum", "max")),
]


def _path_graph(nd, axis, dt, names):
    x = T.tensor(dt, (False,) * nd, "x")
    specs = [(n, axis, k % 3 == 1) for k, n in enumerate(names)]  # some with keepdims
    specs = [s for s in specs if nd or not s[0].startswith("arg")]
    outs = [(getattr(T, n) if n.startswith("arg") else REDUCTIONS[n][0])(x, axis=a, keepdims=k)
            for n, a, k in specs]
    fns = {b: theano.function([x], outs, mode=b) for b in BACKENDS}
    return outs, specs, fns


_paths: dict = {}


@pytest.mark.parametrize("nd,axis,dt,names", PATHS)
@settings(HYP, max_examples=6)
@given(data=st.data())
def test_numba_reduction_paths_match_numpy(nd, axis, dt, names, data):
    """Each Numba reduction path against numpy and the py backend: sizes 0-4 per axis,
    contiguous, transposed (F order) and strided inputs, NaN/inf and integer extremes."""
    key = (nd, axis, dt, names)
    if key not in _paths:
        _paths[key] = _path_graph(nd, axis, dt, names)
    outs, specs, fns = _paths[key]
    shape = tuple(data.draw(st.lists(st.integers(0, 4 if nd < 4 else 3), min_size=nd,
                                     max_size=nd)))
    if any(s == 0 for s in shape) and any(n in ("max", "min") or n.startswith("arg")
                                          for n, _, _ in specs):
        shape = tuple(s or 1 for s in shape)   # empty max/min: test_empty_inputs
    xv = data.draw(hnp.arrays(dt, shape, elements=_elements(dt)))
    layout = data.draw(st.sampled_from(["c", "transposed", "strided"]))
    if layout == "transposed" and nd >= 2:
        xv = np.ascontiguousarray(xv.T).T          # same values, F order
    elif layout == "strided" and nd >= 1:
        big = np.repeat(xv, 2, axis=0)             # every other row of a bigger array
        xv = big[::2]
    for b, f in fns.items():
        _compare(outs, f(xv), xv, specs, b)


def test_empty_inputs():
    """Sums and products of empty axes are 0 and 1; max/min/argmax of an empty axis raise
    ValueError on both backends, naming the op and the shape."""
    x = T.dmatrix("x")
    e = np.zeros((0, 3))
    for b in BACKENDS:
        f = theano.function([x], [T.sum(x), T.prod(x, axis=0), T.sum(x, axis=1), T.any(x),
                                  T.all(x, axis=0), T.max(x, axis=1), T.mean(x, axis=1)],
                            mode=b)
        r = f(e)
        assert r[0] == 0 and r[0].dtype == np.float64
        np.testing.assert_array_equal(r[1], np.ones(3))
        assert r[2].shape == (0,) and r[5].shape == (0,) and r[6].shape == (0,)
        assert not r[3] and r[4].all()
        for bad in (T.max(x), T.min(x, axis=0), T.argmax(x, axis=0), T.argmin(x)):
            g = theano.function([x], bad, mode=b)
            with pytest.raises(ValueError) as ei:
                g(e)
            msg = str(ei.value)
            assert "(0, 3)" in msg and ("max" in msg or "min" in msg), msg
            assert "test_reduce.py" in msg, msg


def test_nan_propagation_and_argmax_ties():
    v = np.array([[1.0, np.nan, 3.0, 3.0], [2.0, 5.0, 5.0, -1.0], [np.nan, 0.0, 1.0, np.nan],
                  [-np.inf, -np.inf, -np.inf, -np.inf]])
    for dt in ("float64", "float32"):
        check_op(lambda x: [T.max(x, axis=1), T.min(x, axis=0), T.max(x), T.min(x),
                            T.argmax(x, axis=1), T.argmin(x, axis=0), T.argmax(x),
                            T.argmin(x, axis=-1), T.max(x, axis=0, keepdims=True)],
                 [v.astype(dt)],
                 ref=lambda x: [np.max(x, axis=1), np.min(x, axis=0), np.max(x), np.min(x),
                                np.argmax(x, axis=1), np.argmin(x, axis=0), np.argmax(x),
                                np.argmin(x, axis=-1), np.max(x, axis=0, keepdims=True)],
                 grad=False)
    ties = np.array([[3, 1, 3, 3], [0, 0, 0, 0], [-5, 7, 7, -5]], dtype="int32")
    check_op(lambda x: [T.argmax(x, axis=1), T.argmin(x, axis=1), T.argmax(x, axis=0),
                        T.argmax(x), T.argmin(x)], [ties],
             ref=lambda x: [np.argmax(x, axis=1), np.argmin(x, axis=1), np.argmax(x, axis=0),
                            np.argmax(x), np.argmin(x)], grad=False)
    b = np.array([[False, True, True], [False, False, False]])
    check_op(lambda x: [T.argmax(x, axis=1), T.max(x, axis=1), T.sum(x), T.prod(x, axis=0)],
             [b], ref=lambda x: [np.argmax(x, axis=1), np.max(x, axis=1), np.sum(x),
                                 np.prod(x, axis=0)], grad=False)


def test_integer_sums_and_products_wrap_like_numpy():
    big = np.array([[2**62, 2**62, 2**62], [3, -5, 7]], dtype="int64")
    u = np.array([250, 250, 250], dtype="uint8")
    check_op(lambda x: [T.sum(x), T.prod(x, axis=1), T.sum(x, axis=0)], [big],
             ref=lambda x: [np.sum(x), np.prod(x, axis=1), np.sum(x, axis=0)], grad=False)
    check_op(lambda x: [T.sum(x), T.sum(x, dtype="uint8"), T.prod(x, dtype="int8"),
                        T.max(x)], [u],
             ref=lambda x: [np.sum(x), np.sum(x, dtype="uint8"), np.prod(x, dtype="int8"),
                            np.max(x)], grad=False)


def test_float32_sum_accumulates_accurately():
    """float32 sums accumulate in float64 (numpy's pairwise sum is about as accurate)."""
    v = np.full((3, 200_000), 0.1, dtype="float32")
    x = T.fmatrix()
    exact = v.astype("float64").sum(axis=1)
    for b in BACKENDS:
        r = theano.function([x], [T.sum(x, axis=1), T.sum(x), T.mean(x)], mode=b)(v)
        assert r[0].dtype == np.float32 and r[1].dtype == np.float32
        np.testing.assert_allclose(r[0], exact, rtol=2e-6)
        np.testing.assert_allclose(r[1], exact.sum(), rtol=2e-6)
        np.testing.assert_allclose(r[2], 0.1, rtol=2e-6)


def test_float_sums_call_the_cached_helper_and_stay_inlined():
    """Float sums over a leading and/or trailing block of axes call the disk-cached
    ``helpers.sum_lmr`` (no fastmath node compiled per graph); other axis sets keep their
    own loops. Values on every branch of the helper (rows of a wide matrix, a column of a
    tall one, inner runs) match numpy."""
    x4, m = T.ftensor4("x4"), T.dmatrix("m")
    outs = [T.sum(x4), T.sum(x4, axis=(0, 2, 3)), T.sum(x4, axis=(2, 3)), T.sum(m, axis=0),
            T.sum(m, axis=1), T.sum(x4, axis=(1, 3))]
    f = theano.function([x4, m], outs, mode="numba")
    src = f.executable.source
    # five sums are kernels that only call the helper (kernel modules, shared by any
    # graph with the same sum); only the (1, 3) sum is a fastmath loop of its own
    assert len(re.findall(r"\bs = _sg_sum_lmr\(", src)) == 5
    assert src.count("fastmath") == 1
    xv = rng.standard_normal((3, 20, 5, 6)).astype("float32")
    for mv in (rng.standard_normal((7, 40)), rng.standard_normal((50, 3))):
        got = f(xv, mv)
        want = [xv.sum(), xv.sum(axis=(0, 2, 3)), xv.sum(axis=(2, 3)), mv.sum(axis=0),
                mv.sum(axis=1), xv.sum(axis=(1, 3))]
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == w.dtype and np.shape(g) == np.shape(w)
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_mean_var_std_options():
    v = rng.standard_normal((4, 5, 3))
    check_op(lambda x: [T.var(x, axis=1, ddof=1), T.std(x, axis=(0, 2), corrected=True),
                        x.var(axis=-1, keepdims=True), x.std(), T.mean(x, axis=(1, 2),
                                                                 keepdims=True),
                        T.mean(x, dtype="float32")], [v],
             ref=lambda x: [np.var(x, axis=1, ddof=1), np.std(x, axis=(0, 2), ddof=1),
                            np.var(x, axis=-1, keepdims=True), np.std(x),
                            np.mean(x, axis=(1, 2), keepdims=True),
                            np.mean(x, dtype="float32")], grad=False, rtol=1e-6)
    i = np.array([[1, 2], [4, 7]], dtype="int8")
    check_op(lambda x: [T.mean(x), T.var(x, axis=0), T.std(x, axis=1), T.mean(x, axis=())],
             [i], ref=lambda x: [np.mean(x), np.var(x, axis=0), np.std(x, axis=1),
                                 x.astype("float64")], grad=False)


# --------------------------------------------------------------------- gradients

def test_reduction_gradients():
    """verify_grad (float64) of every differentiable reduction over several axis forms,
    at points without ties (max/min) or zeros (prod)."""
    x3 = rng.permutation(24).reshape(2, 3, 4) / 7.0 + 0.5
    for k, axis in enumerate((None, 0, -1, (0, 2))):
        for f in (T.sum, T.prod, T.max, T.min, T.mean, T.var, T.std):
            verify_grad(lambda x: f(x, axis=axis, keepdims=k % 2 == 1), [x3], mode="py")
    verify_grad(lambda x: T.var(x, axis=1, ddof=1), [x3], mode="py")
    # prod at zeros: one zero on an axis (its position gets the product of the others),
    # two zeros (every gradient is 0); float32 too
    z = x3.copy()
    z[0, 1, 2] = 0.0
    z[1, 0, :2] = 0.0
    for axis in (None, 2, (0, 1), -1):
        verify_grad(lambda x: T.prod(x, axis=axis), [z], mode="py")
    g = theano.function([x := T.dmatrix()], T.grad(T.prod(x, axis=1).sum(), x))(
        np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(g, [[0, 6, 0], [0, 0, 0], [8, 4, 2]])
    xf = T.fvector()
    assert T.grad(T.prod(xf), xf).dtype == "float32"
    verify_grad(lambda x: T.sum(x, dtype="float32") * 1.0, [x3[0]], mode="py", eps=1e-3,
                abs_tol=1e-2, rel_tol=1e-2)
    # through check_op: the gradient graphs run on the numba backend too
    check_op(lambda x: T.sum(x, axis=1) * T.max(x, axis=1) + T.mean(x, axis=1)
             - T.prod(x, axis=1) + T.std(x, axis=1), [x3[0]],
             ref=lambda x: (x.sum(1) * x.max(1) + x.mean(1) - x.prod(1) + x.std(1)))
    check_op(lambda s: T.sum(s) * 3, [np.array(2.0)], ref=lambda s: s * 3)   # 0-d
