"""Elemwise (single scalar ops and fused Composites) and DimShuffle: cuda vs py."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode

NOFUSE = Mode("cuda").excluding("fusion")

UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "arcsin",
         "arccos", "arctan", "sinh", "cosh", "floor", "ceil", "round_half_to_even",
         "round_half_away_from_zero", "trunc", "abs", "sgn", "sqr", "neg", "reciprocal",
         "sigmoid", "softplus", "log2", "log10", "exp2", "erf", "isnan", "isinf"]


def _run(syms, outs, values, mode):
    f = symgraph.function(syms, outs, mode=mode, on_unused_input="ignore")
    return f, f(*[np.array(v, copy=True) for v in values])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_unary_op_unfused(helpers, dtype):
    """One node per scalar op (fusion off): each op's own template compiles and matches."""
    x = T.matrix("x", dtype=dtype)
    # in (0, 1) so that every function is defined; halves test the rounding rules
    v = np.array([[0.1, 0.5, 0.25], [0.75, 0.9, 0.5]], dtype)
    outs = [getattr(T, name)(x) for name in UNARY]
    f, got = _run([x], outs, [v], NOFUSE)
    _, want = _run([x], outs, [v], "py")
    r, a = helpers.tol([v])
    for name, g, w in zip(UNARY, got, want):
        helpers.assert_same(g, w, r, a, name)
    kinds = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert "Elemwise" in kinds and "Composite" not in str(f.maker.fgraph.outputs)


def test_binary_and_ternary_ops_with_broadcasting(helpers):
    x = T.matrix("x")
    r = T.row("r")
    c = T.col("c")
    rng = np.random.default_rng(0)
    xv = rng.uniform(0.5, 2.0, (3, 4))
    rv = rng.uniform(0.5, 2.0, (1, 4))
    cv = rng.uniform(0.5, 2.0, (3, 1))
    outs = [x + r, x - c, x * r * c, x / r, x ** c, T.maximum(x, r), T.minimum(c, x),
            T.arctan2(x, c), T.int_div(x, r), T.mod(x, c), T.switch(T.gt(x, 1.0), r, c),
            T.clip(x, 0.8, 1.5), T.eq(x, x), T.lt(x, r), T.ge(c, x), T.neq(x, r)]
    f, got = _run([x, r, c], outs, [xv, rv, cv], NOFUSE)
    _, want = _run([x, r, c], outs, [xv, rv, cv], "py")
    for k, (g, w) in enumerate(zip(got, want)):
        helpers.assert_same(g, w, 1e-12, 1e-12, f"output {k} ({outs[k]})")


def test_integer_and_boolean_ops(helpers):
    a = T.matrix("a", dtype="int32")
    b = T.matrix("b", dtype="int32")
    rng = np.random.default_rng(1)
    av = rng.integers(-20, 20, (3, 5)).astype("int32")
    bv = rng.integers(1, 7, (3, 5)).astype("int32")
    m = T.gt(a, 0)
    helpers.compare(lambda a, b: [a + b, a * b, a - b, T.int_div(a, b), T.mod(a, b), a ** 2,
                                  T.and_(a, b), T.or_(a, b), T.xor(a, b), T.invert(a),
                                  T.and_(m, T.lt(b, 4)), T.invert(m), T.cast(a, "float32"),
                                  T.cast(T.true_div(a, b), "int8"), T.abs(a), T.sgn(a),
                                  T.maximum(a, b), a.sum(axis=1)],
                    [av, bv], syms=[a, b])


def test_fused_composite_multi_output_and_scalars(helpers):
    """A fused chain with two outputs, a 0-d host input passed by value, a 0-d device value
    (a reduction) read inside the kernel and a single-element constant inlined."""
    x = T.matrix("x", dtype="float32")
    s = T.scalar("s", dtype="float32")
    y = T.tanh(x * s + 1.5) * T.exp(-x)
    z = y / (y.sum() + 1.0) + T.sqrt(abs(x)) * 0.5
    xv = np.random.default_rng(2).standard_normal((4, 3)).astype("float32")
    f = helpers.compare(lambda x, s: [y, z, (x * s).max()], [xv, np.float32(0.7)],
                        syms=[x, s], rtol=1e-5, atol=1e-5)
    assert any("Composite" in str(n.op) for n in f.maker.fgraph.apply_nodes)


def test_strided_inputs_transpose_and_slices(helpers):
    """Views (a transpose, a strided slice) are read in place by the kernels."""
    x = T.matrix("x")
    xv = np.arange(30.0).reshape(5, 6)
    helpers.compare(lambda x: [x.T * 2.0, x[::2, 1::2] + 1.0, (x.T[1:4] ** 2).sum(axis=0),
                               T.exp(x.dimshuffle(1, "x", 0))], [xv], syms=[x])


def test_0d_graph(helpers):
    a, b = T.dscalars("a", "b")
    # host scalars only: computed on the host, no device transfer at all
    f = helpers.compare(lambda a, b: T.sqrt(a ** 2 + b ** 2), [3.0, 4.0], syms=[a, b])
    assert not any(type(n.op).__name__ in ("GpuFromHost",) for n in f.maker.fgraph.apply_nodes)
    assert float(f(3.0, 4.0)[0]) == 5.0


def test_broadcast_mismatch_raises_naming_the_op():
    x, y = T.matrices("x", "y")
    f = symgraph.function([x, y], x + y, mode="cuda")
    with pytest.raises(ValueError, match="Elemwise|dimension mismatch|shape"):
        f(np.ones((2, 3)), np.ones((3, 3)))


def test_empty_arrays(helpers):
    x = T.matrix("x")
    helpers.compare(lambda x: [T.exp(x) + 1.0, x.sum(axis=0), x.T * 2.0], [np.ones((0, 3))],
                    syms=[x])


def test_dimshuffle_views(helpers):
    x = T.tensor3("x")
    b = T.tensor("float64", (False, True, False), "b")
    xv = np.arange(24.0).reshape(2, 3, 4)
    bv = np.arange(8.0).reshape(2, 1, 4)
    helpers.compare(lambda x, b: [x.dimshuffle(2, 0, 1) + 0.0, b.dimshuffle(0, 2) * 1.0,
                                  b.dimshuffle("x", 2, 0, "x") + 1.0, x.dimshuffle(1, "x", 2, 0)
                                  * 3.0], [xv, bv], syms=[x, b])
    s = T.dscalar("s")
    helpers.compare(lambda s, x: x + s.dimshuffle("x", "x", "x"), [2.0, xv], syms=[s, x])


def test_host_scalar_arithmetic(helpers):
    """0-d arithmetic on host values runs on the host, generated from the same templates."""
    i = T.lscalar("i")
    a = T.scalar("a", dtype="float32")
    b = T.bscalar("b")
    outs = [i * 10 + 3, T.int_div(i, -3), T.mod(-i, 4), T.cast(i, "float32") / a,
            T.exp(a) * 2.0, T.switch(T.lt(i, 2), a, -a), T.maximum(a, 0.5), b * 3,
            T.cast(a * 100, "int8"), T.sgn(a - 1.0), T.eq(i, 7), T.int_div(i, 0)]
    f = helpers.compare(lambda i, a, b: outs, [7, np.float32(0.25), np.int8(100)],
                        syms=[i, a, b])
    assert not any(type(n.op).__name__ in ("GpuFromHost", "HostFromGpu")
                   for n in f.maker.fgraph.apply_nodes)
