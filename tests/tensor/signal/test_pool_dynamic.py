"""pool_2d with symbolic ws, stride and pad (issue 21, item 1): Theano's Pool takes them
as inputs. Values and gradients equal the static Pool's, on the py and Numba backends."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.signal import pool
from symgraph.tensor.signal.pool_dynamic import DynamicPool

RNG = np.random.default_rng(21)


def _dyn(x, mode, ws, st, pd):
    return pool.pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True, mode=mode)


@pytest.fixture(scope="module")
def graphs():
    x = T.dtensor4("x")
    m, g = T.dtensor4("m"), T.dtensor4("g")
    ws, st, pd = T.ivectors("ws", "st", "pd")
    ymax = _dyn(x, "max", ws, st, pd)
    yavg = _dyn(x, "average_exc_pad", ws, st, pd)
    assert isinstance(ymax.owner.op, DynamicPool)
    gmax = T.grad((ymax * g).sum(), x)                    # max_grad
    gavg = T.grad((yavg * g).sum(), x)                    # avg_grad
    ggmax = T.grad((gmax * m).sum(), g)                   # max_gradgrad
    return x, (m, g), (ws, st, pd), [ymax, gmax, yavg, gavg, ggmax]


def _static_outputs(a, b, c, ws, st, pd):
    x, m, g = T.dtensor4s("xmg")
    ymax = pool.pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True)
    yavg = pool.pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True, mode="average_exc_pad")
    gmax = T.grad((ymax * g).sum(), x)
    outs = [ymax, gmax, yavg, T.grad((yavg * g).sum(), x), T.grad((gmax * m).sum(), g)]
    return theano.function([x, m, g], outs, mode="py")(a, b, c)


@pytest.mark.parametrize("mode", ["py", pytest.param("numba", marks=pytest.mark.slow)])
def test_dynamic_pool_matches_static_pool(graphs, mode):
    # numba: one graph with the forward op and the three gradient ops (~25 s cold compile)
    x, (m, g), sizes, outs = graphs
    f = theano.function([x, m, g, *sizes], outs, mode=mode)
    a = RNG.standard_normal((2, 3, 5, 6))
    b = RNG.standard_normal(a.shape)
    for ws, st, pd in [((2, 3), (1, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))]:
        oh = (5 + 2 * pd[0] - ws[0]) // st[0] + 1
        ow = (6 + 2 * pd[1] - ws[1]) // st[1] + 1
        c = RNG.standard_normal((2, 3, oh, ow))
        got = f(a, b, c, ws, st, pd)
        for k, (gv, r) in enumerate(zip(got, _static_outputs(a, b, c, ws, st, pd))):
            np.testing.assert_allclose(gv, r, rtol=1e-12, atol=1e-12, err_msg=str(k))
    c = RNG.standard_normal((2, 3, 2, 2))
    with pytest.raises(ValueError, match="smaller than the window"):
        f(a, b, c, (2, 3), (1, 2), (2, 1))
    with pytest.raises(ValueError, match="2 entries"):
        f(a, b, c, (2, 3, 1), (1, 2), (0, 0))
    with pytest.raises(ValueError, match=">= 1"):
        f(a, b, c, (0, 3), (1, 2), (0, 0))


def test_dynamic_pool_gradient_numerically():
    ws = T.ivector("ws")
    a = RNG.standard_normal((1, 2, 5, 5))
    for mode in ("max", "sum", "average_inc_pad"):
        def cost(x):
            return (_dyn(x, mode, ws, (1, 2), (1, 0)) * T.constant(np.arange(1.0, 3.0))
                    .dimshuffle("x", 0, "x", "x")).sum()

        # ws is given through givens: verify_grad differentiates wrt x only
        def cost_ws(x):
            import symgraph.graph.basic as gb

            return gb.clone_replace([cost(x)], {ws: T.constant(np.array([2, 3], "int32"))})[0]

        verify_grad(cost_ws, [a], mode="py", eps=1e-6)


def test_constant_symbolic_sizes_give_the_static_op():
    x = T.tensor4("x")
    y = pool.pool_2d(x, ws=T.as_tensor_variable((2, 2)), stride=T.constant(1),
                     pad=[T.constant(0), 0], ignore_border=True)
    assert type(y.owner.op) is pool.Pool
    assert (y.owner.op.ws, y.owner.op.stride, y.owner.op.pad) == ((2, 2), (1, 1), (0, 0))
    with pytest.raises(TypeError, match="integer vector"):
        pool.pool_2d(x, ws=T.dvector("w"), ignore_border=True)
    # a pair mixing a symbolic int and a Python int
    n = T.iscalar("n")
    z = pool.pool_2d(x, ws=(n, 2), ignore_border=True)
    f = theano.function([x, n], z, mode="py")
    a = RNG.standard_normal((1, 1, 4, 4)).astype(x.dtype)
    np.testing.assert_allclose(f(a, 2), a.reshape(1, 1, 2, 2, 2, 2).max(axis=(3, 5)))
