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
    ws, st, pd = T.ivectors("ws", "st", "pd")
    ymax = _dyn(x, "max", ws, st, pd)
    yavg = _dyn(x, "average_exc_pad", ws, st, pd)
    assert isinstance(ymax.owner.op, DynamicPool)
    gmax = T.grad((ymax ** 2).sum(), x)
    ggmax = T.grad((gmax * T.sin(x)).sum(), x)            # reaches the max grad-grad op
    gavg = T.grad((yavg ** 2).sum(), x)
    outs = [ymax, gmax, ggmax, yavg, gavg]
    return x, (ws, st, pd), outs


def _static_outputs(a, ws, st, pd):
    x = T.dtensor4("x")
    ymax = pool.pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True)
    yavg = pool.pool_2d(x, ws=ws, stride=st, pad=pd, ignore_border=True, mode="average_exc_pad")
    gmax = T.grad((ymax ** 2).sum(), x)
    outs = [ymax, gmax, T.grad((gmax * T.sin(x)).sum(), x), yavg,
            T.grad((yavg ** 2).sum(), x)]
    return theano.function([x], outs, mode="py")(a)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_dynamic_pool_matches_static_pool(graphs, mode):
    x, sizes, outs = graphs
    f = theano.function([x, *sizes], outs, mode=mode)
    a = RNG.standard_normal((2, 3, 5, 6))
    for ws, st, pd in [((2, 3), (1, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))]:
        got = f(a, ws, st, pd)
        for g, r in zip(got, _static_outputs(a, ws, st, pd)):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="smaller than the window"):
        f(a, (2, 3), (1, 2), (2, 1))
    with pytest.raises(ValueError, match="2 entries"):
        f(a, (2, 3, 1), (1, 2), (0, 0))
    with pytest.raises(ValueError, match=">= 1"):
        f(a, (0, 3), (1, 2), (0, 0))


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
