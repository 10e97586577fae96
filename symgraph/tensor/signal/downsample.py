"""Theano's old ``theano.tensor.signal.downsample`` module: ``max_pool_2d`` and friends,
the same ops as ``symgraph.tensor.signal.pool``.

Example::

    >>> from symgraph.tensor.signal import downsample
    >>> import symgraph.tensor as T
    >>> y = downsample.max_pool_2d(T.tensor4('x'), (2, 2), ignore_border=True)
"""
from symgraph.tensor.signal.pool import (  # noqa: F401
    AveragePoolGrad,
    MaxPoolGrad,
    Pool,
    max_pool_2d,
    max_pool_2d_same_size,
    pool_2d,
)

DownsampleFactorMax = Pool

__all__ = ["max_pool_2d", "max_pool_2d_same_size", "pool_2d", "DownsampleFactorMax", "Pool",
           "MaxPoolGrad", "AveragePoolGrad"]
