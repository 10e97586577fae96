"""2-D pooling kernels with Theano's ``pool_2d`` semantics.

Input is 4-D ``(N, C, H, W)`` (the caller reshapes other leading dims); pooling runs
over the last two axes. ``mode`` is an int:

* ``0`` max, ``1`` sum, ``2`` average_inc_pad, ``3`` average_exc_pad
  (see ``MODE_MAX``, ``MODE_SUM``, ``MODE_AVG_INC_PAD``, ``MODE_AVG_EXC_PAD``).

Output size (Theano's ``Pool.out_shape``), with ``Hp = H + 2*pad_h``::

    ignore_border=True : max(0, (Hp - ws_h) // stride_h + 1)
    ignore_border=False: (Hp - 1) // stride_h + 1                      if stride_h >= ws_h
                         max(0, (Hp - 1 - ws_h) // stride_h + 1) + 1   otherwise

Window ``i`` covers padded rows ``[i*stride_h, min(i*stride_h + ws_h, Hp))``.
Padding requires ``ignore_border=True`` and ``pad < ws`` (as in Theano; a
``ValueError`` otherwise), so every window holds at least one real cell.

* max ignores padded cells; sum adds the real cells;
* average_inc_pad divides by the window size clipped to the padded image (that is
  ``ws_h*ws_w`` whenever ``ignore_border=True``; a partial window at the border when
  ``ignore_border=False`` divides by its clipped size, as Theano does);
* average_exc_pad divides by the number of real cells in the window.

Gradient (``pool2d_backward``): max routes ``gout`` to *every* position of the
window whose value equals the window's max (Theano's ``MaxPoolGrad`` rule; with ties
each tied cell receives the full gradient); sum/average spread ``gout`` (divided by
the same divisor) over the window's real cells. Unlike Theano, average_exc_pad with
padding has a gradient here (the exact one).

Algorithm: one task per thread (``numba_compat.launch``), each a contiguous block of the
``N*C`` image planes. Windows that tile the image (``stride == ws``, no padding, every window full:
the common 2x2 case) take a specialised loop (for 2x2 max:
``max(max(r0[2j], r0[2j+1]), max(r1[2j], r1[2j+1]))`` over a row pair, and its mirror
for the gradient, writing every cell once, no zeroing pass); everything else uses window
bounds precomputed per output row/column.

Example::

    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> pool2d_forward(x, 2, 2, 2, 2, 0, 0, True, 0)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import caller_cache
from symgraph.numba_compat.launch import task_launcher

from .intops import imax, imin
from .tasks import split_tasks

#: functions that call by symbol: disk-cached on the private path only (``caller_cache``)
_CALLER_CACHE = caller_cache()

__all__ = [
    "pool2d_forward",
    "pool2d_backward",
    "pool2d_out_size",
    "MODE_MAX",
    "MODE_SUM",
    "MODE_AVG_INC_PAD",
    "MODE_AVG_EXC_PAD",
    "MODE_NAMES",
]

MODE_MAX = 0
MODE_SUM = 1
MODE_AVG_INC_PAD = 2
MODE_AVG_EXC_PAD = 3
#: mode name (Theano's spelling) -> int code
MODE_NAMES = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}


#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@njit(**_JIT, cache=True, inline="always")
def pool2d_out_size(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    """Theano's ``Pool.out_shape`` along one axis.

    >>> pool2d_out_size(5, 2, 2, 0, False), pool2d_out_size(5, 2, 2, 0, True)
    (3, 2)
    """
    v = size + 2 * pad
    if ignore_border:
        return imax(0, (v - ws) // stride + 1)
    if stride >= ws:
        return (v - 1) // stride + 1
    return imax(0, (v - 1 - ws) // stride + 1) + 1


@njit(**_JIT, cache=True, inline="always")
def _check(ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border, mode):
    if ws_h < 1 or ws_w < 1:
        raise ValueError("pool2d: window sizes must be >= 1")
    if stride_h < 1 or stride_w < 1:
        raise ValueError("pool2d: strides must be >= 1")
    if pad_h < 0 or pad_w < 0:
        raise ValueError("pool2d: pads must be >= 0")
    if (pad_h != 0 or pad_w != 0) and not ignore_border:
        raise ValueError("pool2d: padding works only with ignore_border=True")
    if pad_h >= ws_h or pad_w >= ws_w:
        raise ValueError("pool2d: padding must be smaller than the window size")
    if mode < 0 or mode > 3:
        raise ValueError("pool2d: mode must be 0 (max), 1 (sum), 2 (average_inc_pad) "
                         "or 3 (average_exc_pad)")


@njit(**_JIT, cache=True)
def _bounds(n_out, size, ws, stride, pad):
    """Per output index: real-cell range [lo, hi) in unpadded coords and the
    inc-pad extent (window clipped to the padded image)."""
    lo = alloc.empty(n_out, np.int64)
    hi = alloc.empty(n_out, np.int64)
    ext = alloc.empty(n_out, np.int64)
    v = size + 2 * pad
    for i in range(n_out):
        s = i * stride
        e = imin(s + ws, v)
        ext[i] = e - s
        lo[i] = imax(s, pad) - pad
        hi[i] = imin(e, size + pad) - pad
    return lo, hi, ext


@njit(**_JIT, cache=True)
def _plane_generic(xp, op, rlo, rhi, rext, clo, chi, cext, mode):
    OH = op.shape[0]
    OW = op.shape[1]
    dt = xp.dtype.type
    for i in range(OH):
        r0 = rlo[i]
        r1 = rhi[i]
        for j in range(OW):
            c0 = clo[j]
            c1 = chi[j]
            if mode == 0:
                m = xp[r0, c0]
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        v = xp[r, q]
                        if v > m:
                            m = v
                op[i, j] = m
            else:
                s = dt(0)
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        s += xp[r, q]
                if mode == 1:
                    op[i, j] = s
                elif mode == 2:
                    op[i, j] = s / dt(rext[i] * cext[j])
                else:
                    op[i, j] = s / dt((r1 - r0) * (c1 - c0))


@njit(**_JIT, cache=True)
def _plane_tiled(xp, op, ws_h, ws_w, mode):
    """Non-overlapping full windows (stride == ws, no padding)."""
    OH = op.shape[0]
    OW = op.shape[1]
    dt = xp.dtype.type
    if mode == 0 and ws_h == 2 and ws_w == 2:
        for i in range(OH):
            r0 = xp[2 * i]
            r1 = xp[2 * i + 1]
            o = op[i]
            for j in range(OW):
                o[j] = max(max(r0[2 * j], r0[2 * j + 1]), max(r1[2 * j], r1[2 * j + 1]))
        return
    inv = dt(1) / dt(ws_h * ws_w)
    for i in range(OH):
        o = op[i]
        r = xp[i * ws_h]
        for j in range(OW):
            o[j] = r[j * ws_w]
        for a in range(ws_h):
            r = xp[i * ws_h + a]
            for b in range(1 if a == 0 else 0, ws_w):
                if mode == 0:
                    for j in range(OW):
                        o[j] = max(o[j], r[j * ws_w + b])
                else:
                    for j in range(OW):
                        o[j] += r[j * ws_w + b]
        if mode >= 2:
            for j in range(OW):
                o[j] *= inv


@njit(**_JIT, cache=True, nogil=True)
def _pool_task(t, step, x, out, ws_h, ws_w, rlo, rhi, rext, clo, chi, cext, mode, tiled):
    """Task ``t``: the planes ``t * step`` up to ``(t + 1) * step`` (flat index
    ``n * C + c``), one contiguous block per thread (``split_tasks``)."""
    C = x.shape[1]
    planes = x.shape[0] * C
    lo = imin(planes, t * step)
    for task in range(lo, imin(planes, lo + step)):
        n = task // C
        c = task - n * C
        if tiled:
            _plane_tiled(x[n, c], out[n, c], ws_h, ws_w, mode)
        else:
            _plane_generic(x[n, c], out[n, c], rlo, rhi, rext, clo, chi, cext, mode)


@njit(**_JIT, cache=_CALLER_CACHE)
def pool2d_forward(x, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border, mode):
    """Pool x (N, C, H, W) over its last two axes -> (N, C, OH, OW).

    ``mode``: 0 max, 1 sum, 2 average_inc_pad, 3 average_exc_pad.

    >>> import numpy as np
    >>> x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    >>> pool2d_forward(x, 2, 2, 2, 2, 0, 0, False, 3)[0, 0]
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    _check(ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border, mode)
    N, C, H, W = x.shape
    OH = pool2d_out_size(H, ws_h, stride_h, pad_h, ignore_border)
    OW = pool2d_out_size(W, ws_w, stride_w, pad_w, ignore_border)
    out = alloc.empty((N, C, OH, OW), x.dtype)
    if N * C * OH * OW == 0:
        return out
    if H == 0 or W == 0:
        raise ValueError("pool2d: empty image with a non-empty output")
    tiled = (stride_h == ws_h and stride_w == ws_w and pad_h == 0 and pad_w == 0
             and OH * ws_h <= H and OW * ws_w <= W)
    rlo, rhi, rext = _bounds(OH, H, ws_h, stride_h, pad_h)
    clo, chi, cext = _bounds(OW, W, ws_w, stride_w, pad_w)
    tasks, step = split_tasks(N * C)
    _pool_tasks(tasks, step, alloc.ascontiguousarray(x), out, ws_h, ws_w, rlo, rhi, rext, clo,
                chi, cext, mode, tiled)
    return out


@njit(**_JIT, cache=True)
def _unplane_generic(xp, op, gop, gp, rlo, rhi, rext, clo, chi, cext, mode):
    OH = gop.shape[0]
    OW = gop.shape[1]
    dt = gp.dtype.type
    gp[:] = dt(0)
    for i in range(OH):
        r0 = rlo[i]
        r1 = rhi[i]
        for j in range(OW):
            c0 = clo[j]
            c1 = chi[j]
            g = dt(gop[i, j])
            if mode == 0:
                m = op[i, j]
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        if xp[r, q] == m:
                            gp[r, q] += g
            else:
                if mode == 2:
                    g = g / dt(rext[i] * cext[j])
                elif mode == 3:
                    g = g / dt((r1 - r0) * (c1 - c0))
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        gp[r, q] += g


@njit(**_JIT, cache=True)
def _unplane_tiled(xp, op, gop, gp, ws_h, ws_w, mode):
    """Backward of _plane_tiled (stride == ws, no padding, full windows)."""
    H = gp.shape[0]
    W = gp.shape[1]
    OH = gop.shape[0]
    OW = gop.shape[1]
    dt = gp.dtype.type
    z = dt(0)
    inv = dt(1) / dt(ws_h * ws_w)
    for i in range(OH):
        orow = op[i]
        grow = gop[i]
        for a in range(ws_h):
            xr = xp[i * ws_h + a]
            gr = gp[i * ws_h + a]
            if mode == 0:
                if ws_w == 2:
                    for j in range(OW):
                        m = orow[j]
                        g = dt(grow[j])
                        gr[2 * j] = g if xr[2 * j] == m else z
                        gr[2 * j + 1] = g if xr[2 * j + 1] == m else z
                else:
                    for b in range(ws_w):
                        for j in range(OW):
                            q = j * ws_w + b
                            gr[q] = dt(grow[j]) if xr[q] == orow[j] else z
            else:
                for b in range(ws_w):
                    if mode == 1:
                        for j in range(OW):
                            gr[j * ws_w + b] = dt(grow[j])
                    else:
                        for j in range(OW):
                            gr[j * ws_w + b] = dt(grow[j]) * inv
            for q in range(OW * ws_w, W):
                gr[q] = z
    for r in range(OH * ws_h, H):
        gr = gp[r]
        for q in range(W):
            gr[q] = z


@njit(**_JIT, cache=True, nogil=True)
def _unpool_task(t, step, x, out, gout, gx, ws_h, ws_w, rlo, rhi, rext, clo, chi, cext, mode,
                 tiled):
    """Task ``t`` of the gradient: the planes of ``_pool_task``'s task ``t``."""
    C = x.shape[1]
    planes = x.shape[0] * C
    lo = imin(planes, t * step)
    for task in range(lo, imin(planes, lo + step)):
        n = task // C
        c = task - n * C
        if tiled:
            _unplane_tiled(x[n, c], out[n, c], gout[n, c], gx[n, c], ws_h, ws_w, mode)
        else:
            _unplane_generic(x[n, c], out[n, c], gout[n, c], gx[n, c], rlo, rhi, rext,
                             clo, chi, cext, mode)


@njit(**_JIT, cache=_CALLER_CACHE)
def pool2d_backward(x, out, gout, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w,
                    ignore_border, mode):
    """Gradient of ``pool2d_forward`` wrt x -> gx, same shape and dtype as x.

    ``out`` is the forward result (used by max pooling to find the max positions).

    >>> import numpy as np
    >>> x = np.array([[[[1., 2.], [4., 3.]]]]); out = pool2d_forward(x, 2, 2, 2, 2, 0, 0,
    ...                                                                True, 0)
    >>> pool2d_backward(x, out, np.ones_like(out), 2, 2, 2, 2, 0, 0, True, 0)[0, 0]
    array([[0., 0.],
           [1., 0.]])
    """
    _check(ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border, mode)
    N, C, H, W = x.shape
    OH = pool2d_out_size(H, ws_h, stride_h, pad_h, ignore_border)
    OW = pool2d_out_size(W, ws_w, stride_w, pad_w, ignore_border)
    if gout.shape[0] != N or gout.shape[1] != C or gout.shape[2] != OH or gout.shape[3] != OW:
        raise ValueError("pool2d_backward: gout has the wrong shape")
    if mode == 0 and (out.shape[0] != N or out.shape[1] != C or out.shape[2] != OH
                      or out.shape[3] != OW):
        raise ValueError("pool2d_backward: out has the wrong shape")
    gx = alloc.empty((N, C, H, W), x.dtype)
    if N * C * H * W == 0:
        return gx
    if OH * OW == 0:
        gx[:] = 0
        return gx
    tiled = (stride_h == ws_h and stride_w == ws_w and pad_h == 0 and pad_w == 0
             and OH * ws_h <= H and OW * ws_w <= W)
    rlo, rhi, rext = _bounds(OH, H, ws_h, stride_h, pad_h)
    clo, chi, cext = _bounds(OW, W, ws_w, stride_w, pad_w)
    if mode != 0:
        out = gout  # not read
    tasks, step = split_tasks(N * C)
    _unpool_tasks(tasks, step, alloc.ascontiguousarray(x), alloc.ascontiguousarray(out),
                  alloc.ascontiguousarray(gout), gx, ws_h, ws_w, rlo, rhi, rext, clo, chi, cext,
                  mode, tiled)
    return gx


#: the parallel loops over the planes, one task per thread (``numba_compat.launch``: the
#: tasks compiled once each and called by symbol, without Numba's parfor compiler)
_pool_tasks = task_launcher(_pool_task)
_unpool_tasks = task_launcher(_unpool_task)
