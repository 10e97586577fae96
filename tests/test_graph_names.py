"""Theano names for gradient-only ops and printing (issue 21 item 2):
``grad_clip/grad_scale/zero_grad/disconnected_grad/undefined_grad/subgraph_grad``,
``printing.Print``, ``pydotprint``, ``T.square``. The graph utilities
(``theano.clone``, ``gof.graph.inputs``...) are tested in ``tests/graph/test_compare.py``."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import (DisconnectedInputError, NullTypeGradError, disconnected_grad,
                               grad_clip, grad_scale, subgraph_grad, undefined_grad, zero_grad)
from symgraph.testing import check_op


# ---------------------------------------------------------------- gradient ops

@pytest.fixture(scope="module")
def grads_fn():
    x = T.dvector("x")
    w = T.dvector("w")
    outs = [
        T.grad(T.sum(grad_clip(x, -1.0, 1.0) * w * 5), x),
        T.grad(T.sum(grad_scale(x, -2.0) * w), x),
        T.grad(T.sum(zero_grad(x) * x), x),
        T.grad(T.sum(disconnected_grad(x) * x ** 2), x),
        grad_clip(x, -1, 1) + zero_grad(x) + disconnected_grad(x) + undefined_grad(x),
    ]
    return {m: theano.function([x, w], outs, mode=m) for m in ("py", "numba")}


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_gradient_only_ops(grads_fn, mode):
    xv = np.array([-3.0, 0.5, 2.0])
    wv = np.array([1.0, 0.01, -1.0])
    g_clip, g_scale, g_zero, g_disc, val = grads_fn[mode](xv, wv)
    np.testing.assert_allclose(g_clip, np.clip(5 * wv, -1, 1))
    np.testing.assert_allclose(g_scale, -2 * wv)
    np.testing.assert_allclose(g_zero, xv)           # only the direct path counts
    np.testing.assert_allclose(g_disc, 2 * xv ** 2)  # d/dx of c * x**2 with c = x held
    np.testing.assert_allclose(val, 4 * xv)          # all are the identity forward


def test_gradient_only_ops_errors():
    x = T.dvector("x")
    with pytest.raises(DisconnectedInputError):
        T.grad(T.sum(disconnected_grad(x)), x)
    g = T.grad(T.sum(disconnected_grad(x)), x, disconnected_inputs="ignore")
    np.testing.assert_array_equal(theano.function([x], g, mode="py")([1.0, 2.0]), [0, 0])
    with pytest.raises(NullTypeGradError, match="undefined_grad"):
        T.grad(T.sum(undefined_grad(x) * 2), x)
    with pytest.raises(ValueError, match="clip_upper_bound"):
        grad_clip(x, 1, -1)
    with pytest.raises(TypeError, match="number"):
        grad_scale(x, "a")
    check_op(lambda v: grad_clip(v, -10, 10) * 3, [np.array([1.0, -2.0])],
             ref=lambda v: v * 3)


def test_subgraph_grad_matches_full_grad():
    x = T.dvector("x")
    w1 = theano.shared(np.array([[0.5, -1.0], [2.0, 0.3]]), name="w1")
    w2 = theano.shared(np.array([1.5, -0.7]), name="w2")
    h = T.tanh(T.dot(x, w1))
    cost = T.sum(T.sqr(T.dot(h, w2)))
    full = T.grad(cost, [w1, w2])
    # top part: gradient wrt w2 and the boundary h
    (g_w2,), (g_h,) = subgraph_grad(wrt=[w2], end=[h], cost=cost)
    # bottom part: start from h's gradient
    (g_w1,), (g_x,) = subgraph_grad(wrt=[w1], end=[x], start={h: g_h})
    f = theano.function([x], [g_w1, g_w2] + full, mode="py")
    a1, a2, b1, b2 = f(np.array([0.2, -0.4]))
    np.testing.assert_allclose(a1, b1)
    np.testing.assert_allclose(a2, b2)
    res = subgraph_grad(wrt=[w2], end=[h], cost=cost, start={h: g_h}, details=True)
    assert len(res) == 4
    with pytest.raises(ValueError, match="cost"):
        subgraph_grad(wrt=[w2], end=[h])
    with pytest.raises(TypeError, match="lists"):
        subgraph_grad(wrt=w2, end=[h], cost=cost)


# ------------------------------------------------------------------------ printing

def test_print_op_both_backends(capfd):
    x = T.dvector("x")
    p = theano.printing.Print("x is", attrs=("shape", "__str__"))(x)
    assert str(T.grad(T.sum(p * 2), x).owner.op) != ""
    for mode in ("py", "numba"):
        f = theano.function([x], p * 2, mode=mode)
        np.testing.assert_allclose(f(np.array([1.0, 2.0])), [2, 4])
        out = capfd.readouterr().out
        assert "x is shape = (2,)" in out and "x is __str__ = [1. 2.]" in out, (mode, out)
    seen = []
    q = theano.printing.Print("m", global_fn=lambda op, v: seen.append((op.message, v.sum())))(x)
    theano.function([x], q, mode="numba")(np.array([1.0, 2.0]))
    assert seen == [("m", 3.0)]
    g = theano.function([x], T.grad(T.sum(p ** 2), x), mode="py")(np.array([1.0, 3.0]))
    np.testing.assert_allclose(g, [2, 6])
    with pytest.raises(TypeError, match="message"):
        theano.printing.Print(3)


def test_pydotprint(tmp_path, capsys):
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2, mode="py")
    theano.printing.pydotprint(f, outfile=str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").stat().st_size > 1000
    assert "available at" in capsys.readouterr().out
    img = theano.printing.pydotprint(T.exp(x), format="svg", return_image=True)
    assert img.lstrip().startswith(b"<?xml")
    with pytest.raises(ValueError, match="format"):
        theano.printing.pydotprint(f, format="bogus")


def test_square():
    check_op(lambda v: T.square(v), [np.array([1.5, -2.0])], ref=np.square)
