"""What ``theano.gof`` resolves to under ``symgraph.compat.theano_alias``: the graph IR
classes under their Theano names, and ``gof.graph`` (``symgraph.compat.gof.graph``)."""
from symgraph.compat.gof import graph  # noqa: F401
from symgraph.graph.basic import Apply, Constant, Variable  # noqa: F401
from symgraph.graph.fg import FunctionGraph  # noqa: F401
from symgraph.graph.op import Op  # noqa: F401
from symgraph.graph.type import Type  # noqa: F401
from symgraph.graph.utils import MissingInputError  # noqa: F401
