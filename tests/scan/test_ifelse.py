"""ifelse: only the chosen branch runs (py and Numba), values, several outputs, gradient
routed to the taken branch, and type errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.ifelse import IfElse, LazyIfElse, ifelse


@pytest.fixture(scope="module")
def lazy_fns():
    a, b = T.dscalars("a", "b")
    x = T.dvector("x")
    i = T.lscalar("i")
    # the then branch indexes x[i]: out of bounds unless it is chosen with a valid i
    then = [x[i] * a, T.exp(x).sum()]
    other = [b * 2, T.sqrt(x).sum()]
    outs = ifelse(T.lt(a, b), then, other)
    return {m: theano.function([a, b, x, i], outs, mode=m) for m in ("py", "numba")}, \
        theano.function([a, b, x, i], outs, mode=Mode("py", optimizer=None))


def test_only_the_chosen_branch_runs(lazy_fns):
    fns, eager = lazy_fns
    for mode, f in fns.items():
        kinds = {type(n.op) for n in f.maker.fgraph.toposort()}
        assert LazyIfElse in kinds and IfElse not in kinds, mode
        # else branch chosen: the then branch's x[10] would raise if it ran
        r = f(3., 2., [1., 4.], 10)
        np.testing.assert_allclose([float(v) for v in r], [4., 3.], err_msg=mode)
        r = f(1., 2., [1., 4.], 1)
        np.testing.assert_allclose([float(v) for v in r], [4., np.e + np.e ** 4], err_msg=mode)
        with pytest.raises(IndexError):
            f(1., 2., [1., 4.], 10)
    with pytest.raises(IndexError):  # the unoptimized (eager) graph computes both branches
        eager(3., 2., [1., 4.], 10)


def test_gradient_goes_to_the_taken_branch():
    verify_grad(lambda a, b: ifelse(T.lt(a.sum(), b.sum()), (a ** 2).sum() * b, T.exp(b)),
                [np.array([0.5, -0.3]), np.array([1.0, 2.0])], mode="py")
    verify_grad(lambda a, b: ifelse(T.lt(a.sum(), b.sum()), (a ** 2).sum() * b, T.exp(b)),
                [np.array([5.5, -0.3]), np.array([1.0, 2.0])], mode="py")
    a = T.dscalar("a")
    g = theano.function([a], T.grad(ifelse(T.gt(a, 0), a ** 2, -a), a), mode="py")
    assert float(g(3.)) == 6. and float(g(-3.)) == -1.


def test_ifelse_inside_scan():
    x = T.dvector("x")
    r, _ = theano.scan(lambda v, acc: ifelse(T.gt(v, 0), acc + v, acc * 2), sequences=x,
                       outputs_info=T.constant(1.))
    f = theano.function([x], r, mode="py")
    np.testing.assert_allclose(f([1., -1., 2.]), [2., 4., 6.])


def test_type_errors():
    a = T.dscalar("a")
    with pytest.raises(TypeError, match="output 0 is TensorType\\(float64, scalar\\) in the then "
                                        "branch but TensorType\\(float64, vector\\)"):
        ifelse(T.gt(a, 0), a, T.dvector())
    with pytest.raises(TypeError, match="the condition must be a scalar"):
        ifelse(T.dvector(), a, a)
    with pytest.raises(ValueError, match="then branch has 2 values, the else branch 1"):
        ifelse(T.gt(a, 0), [a, a], [a])


def test_a_constant_that_types_a_node_stays_in_its_branch():
    """A branch's boundary variables become inputs of its inner graph, but not a constant
    a node reads to type its output (``reshape((3, 1))``: the 1 makes the second axis
    broadcastable, which ``sum(axis=1)`` relies on); moving it out failed with a
    TypeError."""
    x = T.dvector("x")
    w = np.array([1., 2., 3.])
    out = ifelse(T.gt(x.sum(), 0), x.reshape((3, 1)).sum(axis=1) * w, x - 1)
    for mode in ("py", "numba"):
        f = theano.function([x], out, mode=mode)
        np.testing.assert_array_equal(f(np.ones(3)), w)
        np.testing.assert_array_equal(f(-np.ones(3)), -2 * np.ones(3))


def test_a_branch_graph_does_not_depend_on_the_order_of_a_set():
    """A branch's inner inputs follow the graph, not the iteration order of the set of
    its nodes (which follows their addresses and so differed between processes: the
    branch module's source, and its cache entry, changed from one process to the next)."""
    from symgraph.graph.basic import toposort
    from symgraph.ifelse import _branch_graph

    x, y = T.dvector("x"), T.dvector("y")
    branch = [(x * 2 + y.reshape((3, 1)).sum(axis=1)) * np.array([1., 2., 3.])]
    nodes = toposort(branch, blockers=[x, y])
    got = [_branch_graph(branch, order)[0] for order in (nodes, nodes[::-1])]
    assert got[0] == got[1]
    assert x in got[0] and y in got[0]
