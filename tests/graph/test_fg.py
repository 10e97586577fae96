"""FunctionGraph's bookkeeping (``symgraph.graph.fg``): after ``replace`` and
``change_input`` every client list matches the graph, and nodes nothing uses any more
are dropped."""
import pytest

import symgraph.tensor as T
from symgraph.graph.fg import OUTPUT, FunctionGraph


def _check_clients(fg):
    for v, clients in fg.clients.items():
        assert v in fg.variables
        for c, i in clients:
            assert (fg.outputs[i] if c == OUTPUT else c.inputs[i]) is v
    for node in fg.apply_nodes:
        for i, v in enumerate(node.inputs):
            assert (node, i) in fg.clients[v]
    for k, v in enumerate(fg.outputs):
        assert (OUTPUT, k) in fg.clients[v]


def _graph():
    x = T.dvector("x")
    e = T.exp(x)
    return FunctionGraph([x], [e * 2, e + 1, e]), e


def test_replace_moves_every_client():
    fg, _ = _graph()
    e = fg.outputs[2]
    new = T.log(fg.inputs[0])
    fg.replace(e, new, reason="test")
    assert fg.outputs[2] is new and fg.outputs[1].owner.inputs[0] is new
    assert e.owner not in fg.apply_nodes
    assert fg.replace_log[-1] == ("test", e, new)
    _check_clients(fg)


def test_change_input_moves_one_client_only():
    fg, _ = _graph()
    e = fg.outputs[2]
    mul = fg.outputs[0].owner
    new = T.log(fg.inputs[0])
    fg.change_input(mul, 0, new, reason="test")
    assert mul.inputs[0] is new and new.owner in fg.apply_nodes
    # the other users still read exp(x): it stays in the graph
    assert e.owner in fg.apply_nodes and fg.outputs[1].owner.inputs[0] is e
    assert fg.replace_log[-1] == ("test", e, new)
    _check_clients(fg)


def test_change_input_of_an_output_and_pruning():
    fg, _ = _graph()
    x = fg.inputs[0]
    e = fg.outputs[2]
    fg.change_input(OUTPUT, 2, x * 3)
    fg.change_input(fg.outputs[0].owner, 0, x)
    assert e.owner in fg.apply_nodes  # e + 1 still reads it
    _check_clients(fg)
    fg.change_input(fg.outputs[1].owner, 0, x)
    # exp(x) has no client left: its node is dropped with it
    assert e.owner not in fg.apply_nodes and e not in fg.variables
    assert all(n.op != e.owner.op for n in fg.apply_nodes)
    _check_clients(fg)


def test_change_input_to_the_same_variable_changes_nothing():
    fg, _ = _graph()
    n_log = len(fg.replace_log)
    fg.change_input(OUTPUT, 2, fg.outputs[2])
    assert len(fg.replace_log) == n_log
    _check_clients(fg)


def test_change_input_refuses_a_variable_from_outside_the_inputs():
    fg, _ = _graph()
    with pytest.raises(Exception, match="not an input"):
        fg.change_input(OUTPUT, 0, T.dvector("y") * 2)
