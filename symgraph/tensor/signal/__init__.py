"""``symgraph.tensor.signal`` — Theano's ``theano.tensor.signal``: pooling.

Example::

    >>> from symgraph.tensor.signal import pool
    >>> import symgraph.tensor as T
    >>> y = pool.pool_2d(T.tensor4('x'), ws=(2, 2), ignore_border=True)
"""
from symgraph.tensor.signal import downsample, pool  # noqa: F401
