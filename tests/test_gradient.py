"""grad(): API semantics, second derivatives, stability, and random-graph gradient checks."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import (DisconnectedInputError, GradientError, NullTypeGradError,
                               verify_grad)

PY = Mode("py")


def test_grad_scalar_tutorial():
    x = T.dscalar("x")
    f = theano.function([x], T.grad(x ** 2, x))
    assert float(f(4)) == 8.0


def test_grad_list_and_shared():
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    b = theano.shared(0.5, name="b")
    x = T.dvector("x")
    cost = T.sum((x * w + b) ** 2)
    gw, gb = T.grad(cost, [w, b])
    f = theano.function([x], [gw, gb])
    xv = np.array([3.0, -1.0])
    r = xv * w.get_value() + 0.5
    np.testing.assert_allclose(f(xv)[0], 2 * r * xv)
    np.testing.assert_allclose(f(xv)[1], 2 * r.sum())


def test_cost_must_be_scalar():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        T.grad(x * 2, x)


def test_integer_wrt_gradient_is_zero_as_in_theano():
    # Theano: an integer variable's gradient is zeros of floatX where the cost depends
    # on it; a disconnected one follows disconnected_inputs
    i = T.iscalar("i")
    g = T.grad(T.cast(i, "float64") * 2.0, i)
    assert g.dtype == theano.config.floatX
    assert float(g.eval({i: 3})) == 0.0
    x = T.dscalar("x")
    with pytest.raises(DisconnectedInputError):
        T.grad(x * 2.0, i)
    assert float(T.grad(x * 2.0, i, disconnected_inputs="ignore").eval({i: 1})) == 0.0


def test_integer_inputs_on_path_get_no_gradient():
    x = T.dvector("x")
    i = T.ivector("i")
    g = T.grad(T.sum(x * i), x)
    f = theano.function([x, i], g)
    np.testing.assert_allclose(f(np.ones(3), np.array([1, 2, 3], "int32")), [1, 2, 3])


def test_disconnected_inputs():
    x, y = T.dscalars("x", "y")
    with pytest.raises(DisconnectedInputError, match="y"):
        T.grad(x ** 2, [x, y])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        gx, gy = T.grad(x ** 2, [x, y], disconnected_inputs="warn")
        assert any("disconnected" in str(m.message) for m in w)
    gx, gy = T.grad(x ** 2, [x, y], disconnected_inputs="ignore")
    f = theano.function([x, y], [gx, gy])
    assert [float(v) for v in f(3.0, 1.0)] == [6.0, 0.0]


def test_consider_constant():
    x = T.dscalar("x")
    y = x ** 2
    g = T.grad(y * x, x, consider_constant=[y])
    assert float(theano.function([x], g)(3.0)) == 9.0  # d/dx (c * x) with c = x**2


def test_known_grads():
    x = T.dvector("x")
    y = T.exp(x)
    g = T.grad(None, x, known_grads={y: T.ones_like(y) * 2.0})
    np.testing.assert_allclose(theano.function([x], g)(np.zeros(2)), [2.0, 2.0])


def test_second_derivative_and_hessian_vector_product():
    x = T.dvector("x")
    cost = T.sum(T.sin(x) * x ** 2)
    g = T.grad(cost, x)
    v = T.dvector("v")
    hv = T.grad(T.sum(g * v), x)
    f = theano.function([x, v], hv)
    xv = np.array([0.3, -1.2, 2.0])
    vv = np.array([1.0, 0.5, -2.0])
    d2 = -np.sin(xv) * xv ** 2 + 4 * xv * np.cos(xv) + 2 * np.sin(xv)
    np.testing.assert_allclose(f(xv, vv), d2 * vv, rtol=1e-10)
    gg = T.grad(T.grad(T.exp(2 * x[0]) if False else T.sum(T.exp(2 * x)), x).sum(), x)
    np.testing.assert_allclose(theano.function([x], gg)(xv), 4 * np.exp(2 * xv))


def test_broadcast_gradient_sums_over_broadcast_axes():
    m = T.dmatrix("m")
    r = T.row("r", dtype="float64")
    s = T.dscalar("s")
    cost = T.sum((m * r + s) ** 2)
    gr, gs = T.grad(cost, [r, s])
    assert gr.type.broadcastable == (True, False)
    f = theano.function([m, r, s], [gr, gs])
    mv = np.arange(6.0).reshape(2, 3)
    rv = np.array([[1.0, 2.0, 3.0]])
    e = mv * rv + 0.5
    out = f(mv, rv, 0.5)
    np.testing.assert_allclose(out[0], (2 * e * mv).sum(0, keepdims=True))
    np.testing.assert_allclose(out[1], (2 * e).sum())


@pytest.mark.parametrize("dtype,big", [("float64", 100.0), ("float32", 30.0)])
def test_numerically_sound_gradients(dtype, big):
    x = T.vector("x", dtype=dtype)
    exprs = {"log_sigmoid": T.log(T.sigmoid(x)), "softplus": T.softplus(x),
             "log1m_sigmoid": T.log(1 - T.sigmoid(x))}
    xs = np.array([-big, -big / 2, 0.0, big / 2, big], dtype=dtype)
    for name, e in exprs.items():
        g = T.grad(T.sum(e), x)
        f = theano.function([x], [e, g])
        val, gv = f(xs)
        assert np.all(np.isfinite(val)) and np.all(np.isfinite(gv)), (name, val, gv)
        x64 = xs.astype("float64")
        sig = 1 / (1 + np.exp(-x64))
        one_minus_sig = 1 / (1 + np.exp(x64))  # stable 1 - sigmoid(x)
        expect = {"log_sigmoid": one_minus_sig, "softplus": sig, "log1m_sigmoid": -sig}[name]
        np.testing.assert_allclose(gv, expect, rtol=1e-4, atol=1e-30)


def test_verify_grad_detects_wrong_gradient():
    from symgraph.tensor import scalar_ops as ts

    class BadExp(ts.Exp):
        name = "bad_exp"

        def grad(self, inputs, output, gz):
            return [gz * 2.0]

    f = lambda x: T.Elemwise(BadExp())(x)  # noqa: E731
    with pytest.raises(GradientError) as ei:
        verify_grad(f, [np.array([0.1, 0.2])], mode=PY)
    assert ei.value.max_abs_err > 0.1
    assert "index" in str(ei.value)


# ---------------------------------------------------------------- random graphs
UNARY = [T.exp, T.tanh, T.sin, T.cos, T.sigmoid, T.softplus, T.sqr, lambda a: -a,
         lambda a: T.log(1 + a * a), lambda a: T.sqrt(1 + a * a), T.abs]
BINARY = [T.add, T.sub, T.mul, lambda a, b: a / (1 + b * b), T.maximum, T.minimum,
          lambda a, b: T.switch(a > b, a, b * 2.0)]
REDUCE = [lambda a: a.sum(axis=0, keepdims=True), lambda a: a.mean(axis=1, keepdims=True),
          lambda a: a.max(axis=0, keepdims=True), lambda a: a * a.sum()]


@st.composite
def random_graph(draw):
    n_ops = draw(st.integers(1, 7))
    program = []
    for k in range(n_ops):
        kind = draw(st.sampled_from(["u", "b", "r"]))
        if kind == "u":
            program.append(("u", draw(st.integers(0, len(UNARY) - 1)), draw(st.integers(0, 10))))
        elif kind == "b":
            program.append(("b", draw(st.integers(0, len(BINARY) - 1)), draw(st.integers(0, 10)),
                            draw(st.integers(0, 10))))
        else:
            program.append(("r", draw(st.integers(0, len(REDUCE) - 1)), draw(st.integers(0, 10))))
    seed = draw(st.integers(0, 2 ** 16))
    return program, seed


def build(program, x, y):
    pool = [x, y]
    for step in program:
        pick = lambda i: pool[i % len(pool)]  # noqa: E731
        if step[0] == "u":
            pool.append(UNARY[step[1]](pick(step[2])))
        elif step[0] == "b":
            pool.append(BINARY[step[1]](pick(step[2]), pick(step[3])))
        else:
            pool.append(REDUCE[step[1]](pick(step[2])))
    return pool[-1]


@settings(max_examples=25, deadline=None)
@given(random_graph())
def test_random_graph_gradients(case):
    program, seed = case
    rng = np.random.default_rng(seed)
    # values away from ties/kinks of abs/max/switch
    xv = rng.uniform(0.2, 1.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    yv = rng.uniform(0.2, 1.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    out = build(program, T.dmatrix("x"), T.dmatrix("y"))
    if out.owner is None:
        return
    verify_grad(lambda a, b: build(program, a, b), [xv, yv], mode=PY, rng=rng, eps=1e-6,
                abs_tol=1e-4, rel_tol=1e-3)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_jacobian_and_hessian(mode):
    x = T.dvector("x")
    w = theano.shared(np.array([1.0, -2.0, 0.5]), name="w")
    y = T.sin(x) * T.sum(x * w)
    J = T.jacobian(y, [x, w])
    H = T.hessian(T.sum(x ** 3 * w), x)
    f = theano.function([x], J + [H], mode=mode)
    v = np.array([0.5, 1.0, 2.0])
    wv = w.get_value()
    jx, jw, h = f(v)
    s = np.sum(v * wv)
    np.testing.assert_allclose(jx, np.diag(np.cos(v)) * s + np.sin(v)[:, None] * wv[None, :])
    np.testing.assert_allclose(jw, np.sin(v)[:, None] * v[None, :])
    np.testing.assert_allclose(h, np.diag(6 * v * wv))
    assert jx.shape == (3, 3) and jx.dtype == np.float64


def test_jacobian_scalar_expression_is_grad():
    x = T.dvector("x")
    j = T.jacobian(T.sum(x ** 2), x)
    np.testing.assert_allclose(theano.function([x], j)(np.array([1.0, 2.0])), [2.0, 4.0])


def test_jacobian_rejects_matrix_expression():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="vector"):
        T.jacobian(x * 2, x)


def test_return_disconnected_and_null_gradients_are_honoured_or_refused():
    """grad's Theano arguments do what they say or refuse clearly (never silently ignored)."""
    x, y = T.dscalars("x", "y")
    i = T.iscalar("i")
    gx, gy, gi = T.grad(x * 2, [x, y, i], disconnected_inputs="ignore",
                        return_disconnected="None")
    assert gy is None and gi is None and gx is not None
    gx, gy = T.grad(x * 2, [x, y], disconnected_inputs="ignore")
    assert gy is not None  # 'zero', the default
    with pytest.raises(ValueError, match="DisconnectedType"):
        T.grad(x * 2, x, return_disconnected="Disconnected")
    with pytest.raises(ValueError, match="NullType"):
        T.grad(x * 2, x, null_gradients="return")
    with pytest.raises(ValueError, match="disconnected_inputs"):
        T.grad(x * 2, x, disconnected_inputs="bogus")
