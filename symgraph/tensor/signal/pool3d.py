"""Theano's ``pool.pool_3d``: pooling over the last three axes.

Why two 2-D pools: max, sum and both averages over a ``d x h x w`` window factor into a
pool over ``(h, w)`` followed by a pool over ``d`` -- the maximum of maxima, the sum of
sums, and the divisors (window sizes, or counts of non-padding elements, including the
clipped windows at borders) are products of one count per axis. So ``pool_3d`` is exact,
differentiable and runs on every backend through the existing ``Pool`` op.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.signal.pool import pool_3d
    >>> y = pool_3d(T.TensorType('float64', (False,) * 5)('x'), ws=(2, 2, 2),
    ...             ignore_border=True)
"""
from __future__ import annotations

import warnings

import numpy as np

from symgraph.tensor.basic import as_tensor_variable

__all__ = ["pool_3d"]

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _triple(v, what, minimum):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * 3
    try:
        v = tuple(int(i) for i in v)
    except (TypeError, ValueError):
        raise TypeError(f"pool_3d: {what} must be 3 ints, got {v!r} (symbolic sizes are "
                        f"supported by pool_2d only)") from None
    if len(v) != 3 or any(i < minimum for i in v):
        raise ValueError(f"pool_3d: {what} must be 3 ints >= {minimum}, got {v!r}")
    return v


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max"):
    """Pool ``input`` (>= 3 dims) over its last three axes with window ``ws`` (3 ints),
    ``stride`` (default ``ws``), zero ``pad`` (needs ``ignore_border=True``) and ``mode``
    ('max', 'sum', 'average_inc_pad', 'average_exc_pad'), as Theano's ``pool_3d``."""
    from symgraph.tensor.signal.pool import pool_2d

    input = as_tensor_variable(input)
    if input.type.ndim < 3:
        raise NotImplementedError(f"pool_3d requires a dimension >= 3, got {input.type}")
    if ws is None:
        raise ValueError("pool_3d: the window size ws is required")
    if mode not in MODES:
        raise ValueError(f"pool_3d: mode must be one of {MODES}, got {mode!r}")
    ws = _triple(ws, "ws", 1)
    stride = ws if stride is None else _triple(stride, "stride", 1)
    pad = _triple(pad, "pad", 0)
    if ignore_border is None:
        warnings.warn("pool_3d: ignore_border=None means False (Theano's default); pass "
                      "ignore_border explicitly", UserWarning, stacklevel=2)
        ignore_border = False
    if any(pad) and not ignore_border:
        raise NotImplementedError("pool_3d: padding works only with ignore_border=True")
    nd = input.type.ndim
    hw = pool_2d(input, ws=ws[1:], ignore_border=ignore_border, stride=stride[1:],
                 pad=pad[1:], mode=mode)
    lead = list(range(nd - 3))
    d, h, w = nd - 3, nd - 2, nd - 1
    # pool the depth axis: put it second to last, next to a window of 1 over the cols
    t = hw.dimshuffle(*lead, h, d, w)
    pd = pool_2d(t, ws=(ws[0], 1), ignore_border=ignore_border, stride=(stride[0], 1),
                 pad=(pad[0], 0), mode=mode)
    # pd is (..., rows, depth, cols): back to (..., depth, rows, cols)
    return pd.dimshuffle(*lead, nd - 2, nd - 3, nd - 1)
