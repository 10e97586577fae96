"""What the backends share: op attributes (identity, expensive), the scalar renderer, the
Philox core, and the Numba backend's per-op registry of inner-graph sources."""
from __future__ import annotations

import gc

import numpy as np
import pytest

from symgraph.link import philox as P
from symgraph.link import scalar_render as SR
from symgraph.tensor import random as R
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Composite

REDUCERS = [ts.add, ts.mul, ts.maximum, ts.minimum, ts.and_, ts.or_]
DTYPES = ["bool", "int8", "uint8", "int32", "int64", "uint64", "float32", "float64"]


def _samples(dtype):
    if dtype == "bool":
        return np.array([False, True])
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.finfo(dt).max,
                         np.finfo(dt).tiny], dtype=dt)
    info = np.iinfo(dt)
    return np.array([0, 1, info.min, info.max, info.max // 3], dtype=dt)


@pytest.mark.parametrize("sop", REDUCERS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_identity_is_neutral(sop, dtype):
    """op(identity, x) == x for every value, including the dtype's extremes: what lets
    every backend start a reduction from it."""
    ident = sop.identity(dtype)
    if ident is None:  # bitwise ops of floats
        assert sop in (ts.and_, ts.or_) and dtype.startswith("float")
        return
    x = _samples(dtype)
    with np.errstate(over="ignore"):
        got = np.asarray(sop.np_impl(np.array(ident).astype(dtype), x)).astype(dtype)
    assert np.array_equal(got, x)
    assert np.array_equal(np.signbit(got), np.signbit(x)) or sop is ts.add


def test_no_identity_no_reduction():
    """max/min of complex numbers have no identity; the renderer refuses to reduce."""
    assert ts.maximum.identity("complex128") is None
    with pytest.raises(TypeError, match="no identity"):
        SR.reduce_identity(ts.maximum, "complex128")
    assert not ts.maximum.reduces_empty and ts.add.reduces_empty


def test_expensive_marks_libm_calls_and_composites():
    assert ts.exp.expensive and ts.sigmoid.expensive and ts.pow_.expensive
    assert not ts.sqrt.expensive and not ts.add.expensive and not ts.maximum.expensive
    cheap = Composite([(ts.add, (("i", 0), ("i", 1)), "float64")], [0],
                      ["float64", "float64"])
    costly = Composite([(ts.add, (("i", 0), ("i", 1)), "float64"),
                        (ts.exp, (("s", 0),), "float64")], [1], ["float64", "float64"])
    assert not cheap.expensive and costly.expensive


def _run(stmts, exprs, env):
    src = "\n".join(stmts + [f"_out = [{', '.join(exprs)}]"])
    exec(src, env)
    return env["_out"]


def test_composite_rendering_matches_its_numpy_steps():
    """A fused program rendered as text computes what ``np_impl`` computes, each step
    rounded to its own dtype (float32 here)."""
    comp = Composite([(ts.mul, (("i", 0), ("c", 3.0, "float32")), "float32"),
                      (ts.add, (("s", 0), ("i", 1)), "float32"),
                      (ts.exp, (("s", 1),), "float32")], [1, 2], ["float32", "float32"])
    n = [0]

    def fresh():
        n[0] += 1
        return f"t{n[0]}"

    stmts, exprs = SR.scalar_body(comp, ["a", "b"], ["float32", "float32"],
                                  ["float32", "float32"], fresh)
    env = {"np": np, "_sg_exp": np.exp, "_sg_dt_float32": np.float32}
    a, b = np.float32(0.1), np.float32(-0.7)
    got = _run(stmts, exprs, dict(env, a=a, b=b))
    want = comp.np_impl(np.float32(a), np.float32(b))
    for g, w in zip(got, want):
        assert type(g) is np.float32 and g == w


def test_result_cast_wraps_discrete_results():
    """int8 + int8 promotes under Numba: the sum is cast back (numpy's wrap-around);
    a float result of its declared dtype is left alone."""
    assert SR.result_cast("(a + b)", "int8", "int8") == "_sg_dt_int8((a + b))"
    assert SR.result_cast("(a + b)", "float32", "float32") == "(a + b)"
    assert SR.result_cast("(a + b)", "float32", "float64") == "_sg_dt_float64((a + b))"


def test_philox_core_matches_the_numpy_reference():
    """The scalar functions both backends compile, run as plain Python, give the bits of
    ``symgraph.tensor.random``'s array functions."""
    rng = np.random.default_rng(7)
    words = rng.integers(0, 1 << 32, size=(20, 6), dtype=np.uint64)
    for c0, c1, c2, c3, k0, k1 in words:
        want = R.philox4x32(*[np.array([w], np.uint64) for w in (c0, c1, c2, c3)], k0, k1)
        got = P.philox_block(c0, c1, c2, c3, k0, k1)
        assert tuple(int(w) for w in got) == tuple(int(w[0]) for w in want)
    u = np.concatenate([rng.random(200), [0.0, 0.25, 0.5, 0.75, 1 - 2.0 ** -53]])
    s_ref, c_ref = R._sincos2pi(u)
    x = 1.0 - u  # (0, 1]
    log_ref = R._log01(x)
    for k in range(u.size):
        s, c = P.sincos2pi(np.float64(u[k]))
        assert s == s_ref[k] and c == c_ref[k]
        assert P.log01(np.float64(x[k])) == log_ref[k]


def test_inner_sources_are_built_once_and_leave_with_their_op():
    from symgraph.link.numba.impl.scan import _inner_sources, inner_source

    class Op:  # compared by identity, like Scan, Map and LazyIfElse
        pass

    op, calls = Op(), []
    for _ in range(3):
        assert inner_source(op, "step", lambda: calls.append(1) or "src") == "src"
    assert calls == [1]
    assert inner_source(op, "else", lambda: "other") == "other"
    gc.collect()   # ops of earlier tests waiting for the collector: not this test's count
    n = len(_inner_sources)
    del op
    gc.collect()
    assert len(_inner_sources) == n - 1
