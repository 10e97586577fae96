"""Theano's ``theano.compile.sharedvalue``: ``shared`` and ``SharedVariable`` (defined in
``symgraph.tensor.sharedvar``; this name keeps imports and pickles made with it working)."""
from symgraph.tensor.sharedvar import (  # noqa: F401
    Container,
    SharedVariable,
    TensorSharedVariable,
    shared,
)

__all__ = ["shared", "SharedVariable", "TensorSharedVariable", "Container"]
