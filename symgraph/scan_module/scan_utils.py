"""``theano.scan_module.scan_utils``: where Theano kept its graph-comparison helper,
``equal_computations(xs, ys)`` (whether two lists of variables compute the same thing),
which test suites of Theano-era libraries import from here (Lasagne's does). The helper
itself is ``symgraph.graph.compare``'s."""
from symgraph.graph.compare import clone_with_replace as clone  # noqa: F401
from symgraph.graph.compare import equal_computations  # noqa: F401

__all__ = ["equal_computations", "clone"]
