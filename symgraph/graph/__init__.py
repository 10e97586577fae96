"""Graph IR (knows nothing else in symgraph)."""
from symgraph.graph.basic import (  # noqa: F401
    Apply, Constant, Variable, ancestors, clone_replace, graph_inputs, io_toposort, toposort,
)
from symgraph.graph.fg import FunctionGraph  # noqa: F401
from symgraph.graph.op import Op, ShapeNotImplemented  # noqa: F401
from symgraph.graph.type import Type  # noqa: F401
from symgraph.graph.utils import MissingInputError, UnusedInputError  # noqa: F401
