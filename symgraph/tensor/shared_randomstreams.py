"""Theano's ``theano.tensor.shared_randomstreams``: ``RandomStreams`` with shared states.

The implementation lives in ``symgraph.tensor.random`` (a counter-based Philox generator
whose numbers are identical on every backend).

Example::

    >>> import symgraph as theano
    >>> from symgraph.tensor.shared_randomstreams import RandomStreams
    >>> srng = RandomStreams(seed=42)
    >>> f = theano.function([], srng.normal((3,)))
    >>> f().shape
    (3,)
"""
from symgraph.tensor.random import RandomDraw, RandomStreams, random_state  # noqa: F401

__all__ = ["RandomStreams", "RandomDraw", "random_state"]
