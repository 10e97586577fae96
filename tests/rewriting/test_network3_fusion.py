"""The network3 training graph leaves the optimizer with no unfused elementwise chains.

An Elemwise node that feeds another Elemwise node is a missed fusion unless something
structural keeps them apart: a different loop shape (broadcast pattern), or another path
from the producer to the consumer through a non-elementwise node (fusing would make a
cycle: e.g. a ReLU output read by the forward ``Dot`` and by the backward mask).
"""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
from symgraph.tensor.elemwise import Elemwise


def _descendants_avoiding_edge(fgraph, producer, consumer):
    """Nodes reachable from ``producer`` without using its direct edges into ``consumer``."""
    seen, stack = set(), []
    for out in producer.outputs:
        stack.extend(c for c, _ in fgraph.clients.get(out, []) if c not in ("output", consumer))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for out in node.outputs:
            stack.extend(c for c, _ in fgraph.clients.get(out, []) if c != "output")
    return seen


def unfused_chains(fgraph):
    """Elemwise -> Elemwise edges that fusion could have merged into one loop."""
    chains = []
    for consumer in fgraph.toposort():
        if not isinstance(consumer.op, Elemwise):
            continue
        for x in consumer.inputs:
            producer = x.owner
            if producer is None or not isinstance(producer.op, Elemwise):
                continue
            if x.type.broadcastable != consumer.outputs[0].type.broadcastable:
                continue  # a different loop: a broadcast operand, computed once
            if consumer in _descendants_avoiding_edge(fgraph, producer, consumer):
                continue  # merging the two would create a cycle
            chains.append(f"{producer.op} -> {consumer.op}")
    return chains


def _network3_train_fn(mode=None, p_dropout=0.5):
    rng = np.random.RandomState(0)
    np.random.seed(0)  # the layers draw their initial weights from numpy's global state
    bs = 10
    x = symgraph.shared(rng.rand(4 * bs, 784).astype("float32"), borrow=True)
    y = T.cast(symgraph.shared(rng.randint(0, 10, 4 * bs).astype("float32")), "int32")
    net = Network([
        ConvPoolLayer(image_shape=(bs, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU,
                            p_dropout=p_dropout),
        SoftmaxLayer(n_in=100, n_out=10, p_dropout=p_dropout)], bs)
    return net.build_train_fn((x, y), bs, 0.03, lmbda=0.1, mode=mode)


@pytest.mark.parametrize("p_dropout", [0.0, 0.5])
def test_network3_training_graph_has_no_unfused_elemwise_chains(float32, p_dropout):
    f = _network3_train_fn(p_dropout=p_dropout)
    assert unfused_chains(f.maker.fgraph) == []
    # the check can fail: without the fusion phase the same graph is full of chains
    unfused = _network3_train_fn(Mode(excluding=["fusion"]), p_dropout=p_dropout)
    assert len(unfused_chains(unfused.maker.fgraph)) >= 5
    if p_dropout == 0.0:  # (dropout masks are random) the same training step, both ways
        np.testing.assert_allclose(f(0), unfused(0), rtol=1e-5)
        np.testing.assert_allclose(f(1), unfused(1), rtol=1e-5)
