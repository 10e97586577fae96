"""0-d arithmetic is not fused, and n-ary 0-d sums/products become binary chains
(``symgraph/rewriting/fusion.py``): a new model shape compiles no new scalar kernel."""
import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.tensor.elemwise import Composite, Elemwise


def _scalar_nodes(f):
    return [n for n in f.maker.fgraph.apply_nodes
            if isinstance(n.op, Elemwise) and n.outputs[0].type.ndim == 0]


def _l2_cost(depth):
    ws = [symgraph.shared(np.full((3, 3), 0.1 * (k + 1), "float32"), name=f"w{k}")
          for k in range(depth)]
    c = T.fscalar("c")
    cost = -c / 7 + 0.5 * sum((w ** 2).sum() for w in ws) / 10
    return symgraph.function([c], cost), ws


def test_no_scalar_composites_and_binary_chains():
    for depth in (2, 5):
        f, _ = _l2_cost(depth)
        nodes = _scalar_nodes(f)
        assert nodes, "the cost's scalar arithmetic is in the graph"
        assert not any(isinstance(n.op.scalar_op, Composite) for n in nodes)
        assert all(len(n.inputs) <= 2 for n in nodes)


def test_the_scalar_kernels_do_not_depend_on_the_depth():
    """Two depths use the same set of scalar operations (op, input dtypes): a deeper or
    shallower model finds every one already compiled."""
    def kinds(depth):
        f, _ = _l2_cost(depth)
        return {(str(n.op.scalar_op), tuple(x.type.dtype for x in n.inputs))
                for n in _scalar_nodes(f)}
    assert kinds(2) == kinds(6)


def test_a_chain_adds_left_to_right_as_the_nary_sum_did():
    """float32 values where the order of the additions shows in the result."""
    vals = np.array([1e8, 1.0, -1e8, 3.0, 0.5], "float32")
    xs = [T.fscalar(f"x{k}") for k in range(len(vals))]
    total = xs[0] + xs[1] + xs[2] + xs[3] + xs[4]
    expect = vals[0]
    for v in vals[1:]:
        expect = np.float32(expect + v)
    for mode in (None, Mode(excluding=["fusion"]), "py"):
        f = symgraph.function(xs, total, mode=mode)
        assert f(*vals) == expect
        assert f(*vals).dtype == np.float32
