"""Each rewrite: the graph before and after, and numerical equality with the unoptimized graph."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.tensor.elemwise import Composite, Elemwise


def ops_of(f):
    return [n.op for n in f.maker.fgraph.toposort()]


def scalar_names(f):
    names = []
    for op in ops_of(f):
        if isinstance(op, Elemwise):
            so = op.scalar_op
            if isinstance(so, Composite):
                names.extend(s[0].name for s in so.steps)
            else:
                names.append(so.name)
    return names


def compare(inputs, outputs, values, **kw):
    fo = theano.function(inputs, outputs, **kw)
    fr = theano.function(inputs, outputs, mode=Mode("py", optimizer=None))
    a, b = fo(*values), fr(*values)
    if not isinstance(a, list):
        a, b = [a], [b]
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    return fo


NOFUSE = Mode(excluding=["fusion", "inplace"])


def test_constant_folding():
    x = T.dvector("x")
    f = compare([x], x + (T.constant(2.0) * 3.0 + 1.0), [np.arange(3.0)], mode=NOFUSE)
    # the constant subexpression became one constant: a single add remains
    assert scalar_names(f) == ["add"]


def test_merge_common_subexpressions():
    x = T.dvector("x")
    y = T.exp(x) + T.exp(x)
    f = compare([x], y, [np.arange(3.0)], mode=NOFUSE)
    assert scalar_names(f).count("exp") == 1


def test_merge_identical_constants():
    x = T.dvector("x")
    f = compare([x], [x + 1.5, x * 1.5], [np.arange(3.0)], mode=NOFUSE)
    consts = {id(v) for n in f.maker.fgraph.toposort() for v in n.inputs
              if isinstance(v, theano.graph.Constant)}
    assert len(consts) == 1


@pytest.mark.parametrize("expr,expected_absent", [
    (lambda x: x * 1, "mul"),
    (lambda x: x + 0, "add"),
    (lambda x: -(-x), "neg"),
    (lambda x: T.exp(T.log(x)), "exp"),
    (lambda x: T.log(T.exp(x)), "log"),
])
def test_canonicalize_removes(expr, expected_absent):
    x = T.dvector("x")
    f = compare([x], T.sin(expr(x)), [np.arange(1.0, 4.0)], mode=NOFUSE)
    assert expected_absent not in scalar_names(f)


def test_sub_self_and_div_self_keep_shape():
    x = T.dmatrix("x")
    f = compare([x], [x - x, x / x], [np.ones((2, 3)) * 2], mode=NOFUSE)
    out = f(np.ones((2, 3)))
    assert out[0].shape == (2, 3) and out[1].shape == (2, 3)
    assert "sub" not in scalar_names(f) and "true_div" not in scalar_names(f)


@pytest.mark.parametrize("p,name", [(2, "sqr"), (0.5, "sqrt"), (-1, "reciprocal"), (3, "mul")])
def test_pow_specialize(p, name):
    x = T.dvector("x")
    f = compare([x], x ** p, [np.arange(1.0, 4.0)], mode=NOFUSE)
    names = scalar_names(f)
    assert "pow" not in names and name in names


@pytest.mark.parametrize("reduce_, dtype", [(T.sum, "float64"), (T.max, "float64"),
                                             (T.sum, "int32"), (T.prod, "float32")])
def test_reduce_over_broadcastable_axes_becomes_dimshuffle(reduce_, dtype):
    from symgraph.tensor.math import Reduce

    b = T.vector("b", dtype=dtype)
    g = T.tensor4("g", dtype=dtype)
    bias = b.dimshuffle("x", 0, "x", "x")
    y = reduce_(bias, axis=(0, 2, 3)) + reduce_(g, axis=(0, 2, 3))
    vb = np.arange(1, 4).astype(dtype)
    vg = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2).astype(dtype)
    f = compare([b, g], y, [vb, vg], mode=NOFUSE)
    reductions = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Reduce)]
    assert [n.inputs[0].name for n in reductions] == ["g"]  # only the real reduction is left
    assert f(vb, vg).dtype == reduce_(g, axis=(0, 2, 3)).dtype


def test_flatten_add():
    x, y, z = T.dvectors("x", "y", "z")
    f = compare([x, y, z], (x + y) + z, [np.arange(3.0)] * 3, mode=NOFUSE)
    assert scalar_names(f) == ["add"]
    (node,) = f.maker.fgraph.toposort()
    assert len(node.inputs) == 3


def test_double_dimshuffle():
    x = T.dmatrix("x")
    f = compare([x], x.T.T + 1, [np.arange(6.0).reshape(2, 3)], mode=NOFUSE)
    assert not any(isinstance(op, T.DimShuffle) for op in ops_of(f))


def test_mul_div_cancel():
    x, y = T.dvectors("x", "y")
    f = compare([x, y], (x * y) / y, [np.arange(1.0, 4.0), np.arange(2.0, 5.0)], mode=NOFUSE)
    assert "true_div" not in scalar_names(f)


@pytest.mark.parametrize("dtype,big", [("float64", 100.0), ("float32", 30.0)])
def test_stabilize_sigmoid_family(dtype, big):
    x = T.scalar("x", dtype=dtype)
    exprs = [T.log(T.sigmoid(x)), T.log(1 - T.sigmoid(x)), T.log(1 + T.exp(x)),
             T.log1p(T.exp(x))]
    grads = [T.grad(e, x) for e in exprs]
    f = theano.function([x], exprs + grads)
    for v in (-big, big, 0.0):
        res = f(np.asarray(v, dtype))
        assert all(np.isfinite(r) for r in res), (v, res)
        sp = np.logaddexp(0, v)
        np.testing.assert_allclose(res[0], -np.logaddexp(0, -v), rtol=1e-5)
        np.testing.assert_allclose(res[1], -sp, rtol=1e-5)
        np.testing.assert_allclose(res[2], sp, rtol=1e-5)
    assert "log" not in scalar_names(f)


def test_fusion_single_loop_and_multi_output():
    x = T.dvector("x")
    y = (T.exp(-x ** 2) * T.sin(x) + 1 / (1 + T.exp(-x))).sum()
    f = compare([x], [y, T.grad(y, x)], [np.linspace(-2, 2, 9)])
    elem = [op for op in ops_of(f) if isinstance(op, Elemwise)]
    assert len(elem) == 1 and isinstance(elem[0].scalar_op, Composite)


def test_fusion_with_broadcasting_and_constants():
    x = T.dmatrix("x")
    b = T.dvector("b")
    y = T.tanh(x * 2.0 + b.dimshuffle("x", 0)) * 0.5
    f = compare([x, b], y, [np.arange(6.0).reshape(2, 3), np.arange(3.0)])
    assert sum(isinstance(op, Elemwise) for op in ops_of(f)) == 1


def test_fusion_excluded_by_mode_and_flag(monkeypatch):
    x = T.dvector("x")
    y = T.exp(x) * 2 + 1
    f = theano.function([x], y, mode=Mode(excluding=["fusion"]))
    assert not any(isinstance(getattr(op, "scalar_op", None), Composite) for op in ops_of(f))
    monkeypatch.setattr(theano.config, "optimizer_excluding", "fusion")
    g = theano.function([x], y)
    assert not any(isinstance(getattr(op, "scalar_op", None), Composite) for op in ops_of(g))


def test_optimizer_none_keeps_graph():
    x = T.dvector("x")
    y = x * 1 + 0
    f = theano.function([x], y, mode=Mode(optimizer=None))
    assert scalar_names(f) == ["mul", "add"]


def test_inplace_on_intermediate_only():
    x = T.dvector("x")
    y = T.exp(x)
    z = T.log(y + 1) * y.sum()   # y used twice: must not be overwritten
    f = compare([x], [T.exp(x) * 2 + 1, z], [np.arange(3.0)], mode=Mode(excluding=["fusion"]))
    xv = np.arange(3.0)
    f(xv)
    np.testing.assert_array_equal(xv, np.arange(3.0))  # inputs never overwritten
    assert any(getattr(op, "inplace_pattern", ()) for op in ops_of(f))


def test_rewrites_keep_creation_trace():
    x = T.dvector("x")
    y = T.dvector("y")
    z = T.exp(x) * 2 + y   # this line is the one errors must name
    f = theano.function([x, y], z)
    with pytest.raises(ValueError) as ei:
        f(np.ones(3), np.ones(4))
    assert "test_rewrites.py" in str(ei.value)
    assert "z = T.exp(x) * 2 + y" in str(ei.value)


def test_gemm_from_sgd_update():
    from symgraph.tensor.dot import Gemm

    X, Y = T.dmatrices("X", "Y")
    w = theano.shared(np.ones((3, 2)), name="w")
    lr = theano.shared(0.1, name="lr")
    f = theano.function([X, Y], [], updates=[(w, w - lr * T.dot(X.T, Y))])
    assert any(isinstance(op, Gemm) for op in ops_of(f))
    xv = np.arange(12.0).reshape(4, 3)
    f(xv, np.ones((4, 2)))
    np.testing.assert_allclose(w.get_value(), 1 - 0.1 * xv.T @ np.ones((4, 2)))


@pytest.mark.parametrize("lr", ["constant", "shared"])
def test_sgd_update_with_weight_decay_is_one_gemm_on_w(lr):
    """``w - lr * grad(cost + c * sum(w ** 2))``: before, a Gemm accumulating into the
    decay term ``2c * w`` and an elementwise subtraction; after, one Gemm with Z = w."""
    from symgraph.tensor.dot import Gemm

    X = T.dmatrix("X")
    Y = T.dmatrix("Y")
    r = np.random.RandomState(0)
    w0 = r.rand(3, 2)
    rate = 0.1 if lr == "constant" else theano.shared(0.1, name="lr")

    def build(mode):
        w = theano.shared(w0.copy(), name="w")
        cost = T.sum(T.dot(X, w) * Y) + 0.05 * (w ** 2).sum()
        f = theano.function([X, Y], cost, updates=[(w, w - rate * T.grad(cost, w))],
                            mode=mode)
        return f, w

    f, w = build(None)
    before, _ = build(Mode(excluding=["local_gemm_sgd_update"]))
    gemms = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]
    assert len(gemms) == 1 and gemms[0].inputs[0].name == "w"        # Z is w itself
    assert len([n for n in before.maker.fgraph.toposort() if isinstance(n.op, Gemm)]) == 1
    assert isinstance(f.maker.fgraph.outputs[-1].owner.op, Gemm)        # the update of w
    assert isinstance(before.maker.fgraph.outputs[-1].owner.op, Elemwise)
    fr, wr = build(Mode("py", optimizer=None))
    xv, yv = r.rand(4, 3), r.rand(4, 2)
    for _ in range(3):
        np.testing.assert_allclose(f(xv, yv), fr(xv, yv), rtol=1e-12)
        np.testing.assert_allclose(w.get_value(), wr.get_value(), rtol=1e-12)


def test_sgd_update_rewrite_leaves_other_z_alone():
    """Z that is not a scalar multiple of w (here w * w) keeps the general form."""
    from symgraph.tensor.dot import Gemm

    X, Y = T.dmatrices("X", "Y")
    w = theano.shared(np.ones((3, 2)), name="w")
    f = compare([X, Y], [w - 0.1 * (T.dot(X.T, Y) + w * w)],
                [np.arange(12.0).reshape(4, 3), np.ones((4, 2))])
    gemms = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]
    assert all(g.inputs[0] is not f.maker.fgraph.inputs[-1] for g in gemms)


def test_gemv_and_gemm_values_match_reference():
    from symgraph.tensor.dot import Gemm, Gemv

    A, Z = T.dmatrices("A", "Z")
    x, y = T.dvectors("x", "y")
    f = compare([A, Z, x, y], [Z + 2.0 * T.dot(A, A.T), y - T.dot(A, x) * 3.0],
                [np.arange(6.0).reshape(2, 3), np.ones((2, 2)), np.arange(3.0), np.ones(2)])
    kinds = {type(op) for op in ops_of(f)}
    assert Gemm in kinds and Gemv in kinds


def test_no_gemm_when_dot_is_reused():
    from symgraph.tensor.dot import Gemm

    A, Z = T.dmatrices("A", "Z")
    d = T.dot(A, A.T)
    f = compare([A, Z], [Z + d, d * 2], [np.arange(6.0).reshape(2, 3), np.ones((2, 2))])
    assert not any(isinstance(op, Gemm) for op in ops_of(f))


def test_multi_output_fusion_never_creates_a_cycle():
    # second derivative through shape ops: several fused groups share intermediates
    x = T.dvector("x")
    y = T.concatenate([x, T.tile(x ** 2, (2,)), T.repeat(x, [1, 2, 0]), T.flip(x)]).reshape((3, -1))
    c = (T.sum(T.alloc(y, 3, 3, y.shape[1]) ** 3) + T.sum(T.stack([x[0], x[1]]) ** 3)
         + T.sum(T.split(x, [1, 2], 2)[1] ** 3))
    g = T.grad(c, x)
    h = T.grad(T.sum(g * T.arange(3.0)), x)
    compare([x], [g, h], [np.array([0.5, -1.0, 2.0])], mode="py")
    compare([x], [g, h], [np.array([0.5, -1.0, 2.0])])


# ------------------------------------------------ property: optimizer preserves values
from hypothesis import given, settings, strategies as st  # noqa: E402

_UN = [T.exp, T.tanh, T.sigmoid, T.softplus, T.sqr, lambda a: -a, lambda a: T.log(1 + a * a),
       lambda a: 1 - T.sigmoid(a), lambda a: a ** 2, lambda a: a * 1 + 0, lambda a: a / (a * a + 1)]
_BIN = [T.add, T.sub, T.mul, T.maximum, lambda a, b: a - a + b, lambda a, b: (a * b) / (b * b + 1)]
_RED = [lambda a: a.sum(axis=0, keepdims=True) * a, lambda a: a - a.mean(axis=1, keepdims=True),
        lambda a: a.max(axis=1, keepdims=True) + a]


@st.composite
def _program(draw):
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        k = draw(st.sampled_from("ubr"))
        table = {"u": _UN, "b": _BIN, "r": _RED}[k]
        steps.append((k, draw(st.integers(0, len(table) - 1)), draw(st.integers(0, 9)),
                      draw(st.integers(0, 9))))
    return steps


def _build(steps, x, y):
    pool = [x, y]
    for k, i, a, b in steps:
        pa, pb = pool[a % len(pool)], pool[b % len(pool)]
        pool.append(_UN[i](pa) if k == "u" else _BIN[i](pa, pb) if k == "b" else _RED[i](pa))
    return pool[-1], pool[2:]


@settings(max_examples=20, deadline=None)
@given(_program(), st.integers(0, 1000))
def test_optimized_graph_matches_reference(steps, seed):
    rng = np.random.default_rng(seed)
    x, y = T.dmatrices("x", "y")
    out, inter = _build(steps, x, y)
    outs = [out] + inter[-2:]
    if out.owner is None:
        return
    xv, yv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    fo = theano.function([x, y], outs, on_unused_input="ignore")
    fr = theano.function([x, y], outs, mode=Mode("py", optimizer=None), on_unused_input="ignore")
    for a, b in zip(fo(xv, yv), fr(xv, yv)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
