"""Row-wise softmax kernels on 2-D arrays ``(batch, classes)``.

All functions are ``@njit(**_JIT, cache=True)`` dispatchers working for float32 and float64
(outputs keep the input dtype; all constants are typed). Everything is computed
stably: the row max is subtracted before ``exp`` and ``log`` is only ever taken of a
row sum that is ``>= 1``.

Algorithm: one pass per row for the max, one for ``exp`` and the sum, one to scale.
Small inputs run as one task on the calling thread (a parallel launch costs more than
the work); inputs with at least ``PARALLEL_MIN_SIZE`` elements run one block of rows per
thread (``numba_compat.launch``). Either way each row is computed by the same code, so
the results do not depend on the split.

Example::

    >>> import numpy as np
    >>> softmax(np.zeros((1, 4), np.float32))
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import caller_cache
from symgraph.numba_compat.launch import task_launcher

from .intops import imin
from .tasks import split_tasks

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_grad",
    "log_softmax_grad",
    "softmax_nll_forward",
    "softmax_nll_backward",
    "PARALLEL_MIN_SIZE",
]

#: number of elements from which the row loop runs in parallel
PARALLEL_MIN_SIZE = 1 << 15
#: the entry points run their rows as tasks called by symbol: disk-cached on the private
#: path only (``caller_cache``)
_CALLER_CACHE = caller_cache()
#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


# ---------------------------------------------------------------- softmax / log_softmax

@njit(**_JIT, cache=True)
def _softmax_row(xr, orow, log):
    K = xr.shape[0]
    dt = xr.dtype.type
    if K > 0:
        m = xr[0]
        for k in range(1, K):
            if xr[k] > m:
                m = xr[k]
        s = dt(0)
        if log:
            for k in range(K):
                s += np.exp(xr[k] - m)
            ls = np.log(s)
            for k in range(K):
                orow[k] = (xr[k] - m) - ls
        else:
            for k in range(K):
                e = np.exp(xr[k] - m)
                orow[k] = e
                s += e
            inv = dt(1) / s
            for k in range(K):
                orow[k] *= inv


@njit(**_JIT, cache=True, nogil=True)
def _softmax_block(t, step, x, out, log):
    """Task ``t``: the rows ``t * step`` up to ``(t + 1) * step``."""
    lo = t * step
    for i in range(lo, imin(x.shape[0], lo + step)):
        _softmax_row(x[i], out[i], log)


@njit(**_JIT, cache=True, inline="always")
def _row_tasks(rows, size):
    """``(tasks, rows per task)``: one task (run on the calling thread) below
    ``PARALLEL_MIN_SIZE`` elements, else one block of rows per thread."""
    if size >= PARALLEL_MIN_SIZE:
        return split_tasks(rows)
    return 1, rows


@njit(**_JIT, cache=_CALLER_CACHE)
def softmax(x):
    """Row-wise softmax of a 2-D array: ``exp(x - max) / sum(exp(x - max))``.

    >>> import numpy as np
    >>> softmax(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    """
    x = alloc.ascontiguousarray(x)
    out = alloc.empty(x.shape, x.dtype)
    tasks, step = _row_tasks(x.shape[0], x.size)
    _softmax_rows(tasks, step, x, out, False)
    return out


@njit(**_JIT, cache=_CALLER_CACHE)
def log_softmax(x):
    """Row-wise log-softmax: ``x - max - log(sum(exp(x - max)))``.

    >>> import numpy as np
    >>> np.round(log_softmax(np.array([[0.0, 0.0]])), 4)
    array([[-0.6931, -0.6931]])
    """
    x = alloc.ascontiguousarray(x)
    out = alloc.empty(x.shape, x.dtype)
    tasks, step = _row_tasks(x.shape[0], x.size)
    _softmax_rows(tasks, step, x, out, True)
    return out


# ----------------------------------------------------------------------------- gradients


@njit(**_JIT, cache=True)
def _softmax_grad_row(g, yr, o, log):
    K = yr.shape[0]
    dt = o.dtype.type
    s = dt(0)
    if log:
        # y = log_softmax(x): gx = gy - softmax(x) * sum(gy)
        for k in range(K):
            s += g[k]
        for k in range(K):
            o[k] = g[k] - np.exp(yr[k]) * s
    else:
        # y = softmax(x): gx = y * (gy - sum(gy * y))
        for k in range(K):
            s += g[k] * yr[k]
        for k in range(K):
            o[k] = yr[k] * (g[k] - s)


@njit(**_JIT, cache=True, nogil=True)
def _softmax_grad_block(t, step, gy, y, gx, log):
    lo = t * step
    for i in range(lo, imin(y.shape[0], lo + step)):
        _softmax_grad_row(gy[i], y[i], gx[i], log)


@njit(**_JIT, cache=True, inline="always")
def _check_same(gy, y):
    if gy.shape[0] != y.shape[0] or gy.shape[1] != y.shape[1]:
        raise ValueError("softmax grad: gy and y must have the same shape")


@njit(**_JIT, cache=_CALLER_CACHE)
def softmax_grad(gy, y):
    """Gradient wrt x of ``y = softmax(x)``: ``y * (gy - sum(gy * y, axis=1))``.

    >>> import numpy as np
    >>> y = softmax(np.zeros((1, 2))); softmax_grad(np.array([[1.0, 0.0]]), y)
    array([[ 0.25, -0.25]])
    """
    _check_same(gy, y)
    gy = alloc.ascontiguousarray(gy)
    y = alloc.ascontiguousarray(y)
    gx = alloc.empty(y.shape, y.dtype)
    tasks, step = _row_tasks(y.shape[0], y.size)
    _softmax_grad_rows(tasks, step, gy, y, gx, False)
    return gx


@njit(**_JIT, cache=_CALLER_CACHE)
def log_softmax_grad(gy, y):
    """Gradient wrt x of ``y = log_softmax(x)``: ``gy - exp(y) * sum(gy, axis=1)``.

    >>> import numpy as np
    >>> y = log_softmax(np.zeros((1, 2))); log_softmax_grad(np.array([[1.0, 0.0]]), y)
    array([[ 0.5, -0.5]])
    """
    _check_same(gy, y)
    gy = alloc.ascontiguousarray(gy)
    y = alloc.ascontiguousarray(y)
    gx = alloc.empty(y.shape, y.dtype)
    tasks, step = _row_tasks(y.shape[0], y.size)
    _softmax_grad_rows(tasks, step, gy, y, gx, True)
    return gx


# ------------------------------------------------------------------- softmax + NLL


@njit(**_JIT, cache=True)
def _check_labels(y_idx, B, K):
    if y_idx.shape[0] != B:
        raise ValueError("softmax_nll: y_idx must have one label per row")
    for i in range(B):
        t = y_idx[i]
        if t < 0 or t >= K:
            raise ValueError("softmax_nll: label out of range [0, n_classes)")


@njit(**_JIT, cache=True)
def _nll_row(xr, t, o):
    K = xr.shape[0]
    dt = xr.dtype.type
    m = xr[0]
    for k in range(1, K):
        if xr[k] > m:
            m = xr[k]
    s = dt(0)
    for k in range(K):
        e = np.exp(xr[k] - m)
        o[k] = e
        s += e
    inv = dt(1) / s
    for k in range(K):
        o[k] *= inv
    # s >= 1 (the max term is exp(0)), so log(s) is finite
    return np.log(s) - (xr[t] - m)


@njit(**_JIT, cache=True, nogil=True)
def _nll_block(t, step, x, y_idx, nll, sm):
    lo = t * step
    for i in range(lo, imin(x.shape[0], lo + step)):
        nll[i] = _nll_row(x[i], y_idx[i], sm[i])


@njit(**_JIT, cache=_CALLER_CACHE)
def softmax_nll_forward(x, y_idx):
    """Softmax + negative log-likelihood of integer labels, fused and stable.

    Returns ``(nll, sm)`` with ``nll[i] = -log_softmax(x)[i, y_idx[i]]`` (shape
    ``(batch,)``) and ``sm = softmax(x)``. Raises ``ValueError`` if a label is not in
    ``[0, n_classes)``.

    >>> import numpy as np
    >>> nll, sm = softmax_nll_forward(np.zeros((1, 4)), np.array([2]))
    >>> float(np.round(nll[0], 4)), float(sm[0, 2])
    (1.3863, 0.25)
    """
    x = alloc.ascontiguousarray(x)
    B, K = x.shape
    _check_labels(y_idx, B, K)
    nll = alloc.empty(B, x.dtype)
    sm = alloc.empty((B, K), x.dtype)
    tasks, step = _row_tasks(B, x.size)
    _nll_rows(tasks, step, x, y_idx, nll, sm)
    return nll, sm


@njit(**_JIT, cache=True)
def _nll_grad_row(gi, s, t, o):
    g = o.dtype.type(gi)
    for k in range(s.shape[0]):
        o[k] = g * s[k]
    o[t] -= g


@njit(**_JIT, cache=True, nogil=True)
def _nll_grad_block(t, step, gnll, sm, y_idx, gx):
    lo = t * step
    for i in range(lo, imin(sm.shape[0], lo + step)):
        _nll_grad_row(gnll[i], sm[i], y_idx[i], gx[i])


@njit(**_JIT, cache=_CALLER_CACHE)
def softmax_nll_backward(gnll, sm, y_idx):
    """Gradient wrt x of ``softmax_nll_forward``: ``gnll[:, None] * (sm - onehot(y_idx))``.

    >>> import numpy as np
    >>> softmax_nll_backward(np.ones(1), np.full((1, 2), 0.5), np.array([1]))
    array([[ 0.5, -0.5]])
    """
    B, K = sm.shape
    if gnll.shape[0] != B:
        raise ValueError("softmax_nll_backward: gnll must have one entry per row")
    _check_labels(y_idx, B, K)
    sm = alloc.ascontiguousarray(sm)
    gx = alloc.empty((B, K), sm.dtype)
    tasks, step = _row_tasks(B, sm.size)
    _nll_grad_rows(tasks, step, gnll, sm, y_idx, gx)
    return gx


#: the row loops: one task per block of rows (``numba_compat.launch``), the same
#: compiled task for a serial call (one task) and a parallel one
_softmax_rows = task_launcher(_softmax_block)
_softmax_grad_rows = task_launcher(_softmax_grad_block)
_nll_rows = task_launcher(_nll_block)
_nll_grad_rows = task_launcher(_nll_grad_block)
