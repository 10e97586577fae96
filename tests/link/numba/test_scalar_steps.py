"""The Numba backend splits fused 0-d expressions into single operations, n-ary sums and
products into left-to-right binary chains (``symgraph/link/numba/scalar_steps.py``): a
new model shape compiles no new scalar kernel, with the same results bit for bit."""
import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.tensor.elemwise import Composite, Elemwise


def _scalar_nodes(f):
    return [n for n in f.maker.fgraph.apply_nodes
            if isinstance(n.op, Elemwise) and all(o.type.ndim == 0 for o in n.outputs)]


def _l2_cost(depth, mode=None):
    ws = [symgraph.shared(np.full((3, 3), 0.1 * (k + 1), "float32"), name=f"w{k}")
          for k in range(depth)]
    c = T.fscalar("c")
    cost = -c / np.float32(7) + np.float32(0.5) * sum((w ** 2).sum() for w in ws) / np.float32(10)
    return symgraph.function([c], cost, mode=mode)


def test_no_scalar_composites_and_binary_chains():
    for depth in (2, 5):
        nodes = _scalar_nodes(_l2_cost(depth))
        assert nodes, "the cost's scalar arithmetic is in the graph"
        assert not any(isinstance(n.op.scalar_op, Composite) for n in nodes)
        assert all(len(n.inputs) <= 2 for n in nodes)


def test_the_scalar_kernels_do_not_depend_on_the_depth():
    """Two depths use the same scalar operations (op, input dtypes): a deeper or
    shallower model finds every one already compiled."""
    def kinds(depth):
        return {(str(n.op.scalar_op), tuple(x.type.dtype for x in n.inputs))
                for n in _scalar_nodes(_l2_cost(depth))}
    assert kinds(2) == kinds(6)


def test_the_py_and_cuda_graphs_keep_the_composite():
    nodes = _scalar_nodes(_l2_cost(3, mode="py"))
    assert any(isinstance(n.op.scalar_op, Composite) for n in nodes)


def test_same_values_as_the_fused_expression():
    """float32 values where the order of the additions shows in the result, against the
    py backend (which runs the fused composite) and numpy left to right."""
    vals = np.array([1e8, 1.0, -1e8, 3.0, 0.5], "float32")
    xs = [T.fscalar(f"x{k}") for k in range(len(vals))]
    total = (xs[0] + xs[1] + xs[2] + xs[3] + xs[4]) * xs[1] / np.float32(3)
    expect = vals[0]
    for v in vals[1:]:
        expect = np.float32(expect + v)
    expect = np.float32(np.float32(expect * vals[1]) / np.float32(3))
    results = [symgraph.function(xs, total, mode=m)(*vals)
               for m in (None, Mode(excluding=["fusion"]), "py")]
    for r in results:
        assert r == expect and r.dtype == np.float32


def test_a_training_cost_matches_the_py_backend_bit_for_bit():
    for depth in (1, 3):
        f, g = _l2_cost(depth), _l2_cost(depth, mode="py")
        for c in (np.float32(0.3), np.float32(-2.7)):
            assert f(c) == g(c)
