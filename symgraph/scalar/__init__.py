"""``theano.scalar``: scalar operations under Theano's names and the dtype rule
(``upcast``); Theano's package re-exports its ``basic`` module, and so does this one.

Example::

    >>> import symgraph as theano
    >>> theano.scalar.upcast("int64", "float32")
    'float64'
"""
from symgraph.scalar.basic import *  # noqa: F401,F403
from symgraph.scalar.basic import __all__  # noqa: F401
