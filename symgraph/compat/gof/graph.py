"""Theano's ``theano.gof.graph``: the IR classes and the graph utilities, in Theano's
conventions (``inputs`` in Theano's order, ``clone(i, o)`` returning both lists)."""
from symgraph.graph.basic import Apply, Constant, Variable  # noqa: F401
from symgraph.graph.compare import (  # noqa: F401
    ancestors,
    clone,
    clone_get_equiv,
    equal_computations,
    inputs,
    io_toposort,
    is_same_graph,
    orphans,
    variables,
)
