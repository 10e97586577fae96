"""2-D convolution kernels (forward, gradient wrt input, gradient wrt filters).

Plain Numba functions on NCHW arrays; they know nothing about graphs. Every public
function is an ``@njit(**_JIT, cache=True)`` dispatcher, callable from Python and from other
njit code, taking only arrays and ints/bools. float32 and float64 are supported;
the output dtype is the dtype of ``x`` (``w``/``gout`` are converted to it).

Semantics (Theano's ``conv2d`` with explicit pads)::

    out[n, f, i, j] = sum_{c, a, b} xpad[n, c, i*sh + a, j*sw + b] * wk[f, c, a, b]

where ``xpad`` is ``x`` zero-padded by ``pad_h``/``pad_w`` on each side and
``wk = w[:, :, ::-1, ::-1]`` if ``flip`` (true convolution, Theano's default
``filter_flip=True``) else ``w`` (cross-correlation).
``OH = (H + 2*pad_h - KH) // stride_h + 1`` and likewise for ``OW``.

Algorithms (chosen per call from the shapes):

* **direct** (``stride_h == 1`` and ``C*KH*KW <= DIRECT_MAX_TAPS``; any ``stride_w``):
  the zero-padded input is copied once into ``KW`` column-shifted planes of width
  ``OW`` (``xs[n, b, c, h, j] = xpad[n, c, h, j*sw + b]``). Every filter tap
  ``(c, a, b)`` is then a constant offset into plane ``b`` and an output plane, seen as
  one flat vector of ``OH*OW`` values, is ``sum_t wk[t] * xs[n, b_t, o_t : o_t + OH*OW]``.
  Taps are applied four at a time in one long unit-stride SIMD loop that accumulates
  straight into the output (one load/store of the output per four FMAs), one task
  per (sample, block of 4 filters). The input gradient (both strides 1) is the same
  kernel run on ``gout`` padded by ``K-1-pad`` with the transposed, rotated filters. The
  filter gradient uses the same flat views: a dot-product reduction register-blocked 4
  filters x 4 taps (16 SIMD accumulators), one task per chunk of samples with
  per-chunk partial sums.
* **gemm** (everything else: ``stride_h > 1``, many input channels, pads larger than
  the kernel for the input gradient): im2col into a ``(C*KH*KW, OH*OW)`` matrix per
  sample (one task per (sample, channel)) and one BLAS GEMM per sample (``blas.py``'s
  ``gemm_into``), col2im in tasks for the input gradient. Samples are processed in
  chunks so the column buffer stays under ``GEMM_COLS_BUDGET`` elements.

Example::

    >>> import numpy as np
    >>> from symgraph.kernels.cpu.conv import conv2d_forward
    >>> x = np.ones((1, 1, 4, 4), np.float32); w = np.ones((2, 1, 3, 3), np.float32)
    >>> conv2d_forward(x, w, 0, 0, 1, 1, True).shape
    (1, 2, 2, 2)
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import by_symbol, caller_cache
from symgraph.numba_compat.launch import task_launcher

from .blas import gemm_into
from .intops import imax, imin

#: functions that call by symbol: disk-cached on the private path only (``caller_cache``)
_CALLER_CACHE = caller_cache()

__all__ = [
    "conv2d_forward",
    "conv2d_grad_input",
    "conv2d_grad_filters",
    "conv2d_out_size",
    "DIRECT_MAX_TAPS",
]

# fast-math subset that is safe for these kernels: allow FMA contraction and
# re-association of the sums (for SIMD reductions); keep NaN/Inf semantics.
_FM = {"contract", "reassoc"}

#: largest number of taps ``C*KH*KW`` (forward / filter gradient) or ``F*KH*KW``
#: (input gradient) for which the direct kernels are used; above it, im2col + GEMM wins.
DIRECT_MAX_TAPS = 128
#: maximum number of elements of the im2col buffer (per chunk of samples).
GEMM_COLS_BUDGET = 1 << 23
# output elements per cache block of the direct kernels
_CHUNK = 2048


#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@njit(**_JIT, cache=True)
def conv2d_out_size(size: int, k: int, pad: int, stride: int) -> int:
    """Output length of a convolution along one axis: ``(size + 2*pad - k)//stride + 1``.

    >>> conv2d_out_size(28, 5, 0, 1)
    24
    """
    return (size + 2 * pad - k) // stride + 1


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------


def _cast(a, like):  # pragma: no cover - only used inside njit code
    """``a`` converted to the dtype of ``like`` (no copy when it already has it)."""
    return a.astype(like.dtype)


@overload(_cast)
def _cast_ol(a, like):
    if a.dtype == like.dtype:
        return lambda a, like: a
    return lambda a, like: a.astype(like.dtype)


@njit(**_JIT, cache=True, inline="always")
def _check_args(pad_h, pad_w, stride_h, stride_w):
    if stride_h < 1 or stride_w < 1:
        raise ValueError("conv2d: strides must be >= 1")
    if pad_h < 0 or pad_w < 0:
        raise ValueError("conv2d: pads must be >= 0")


@njit(**_JIT, cache=True)
def _pad_flat(x, pad_h, pad_w):
    """Zero-padded copy of x (N, C, H, W) as (N, C*Hp*Wp) (a view when no padding)."""
    N, C, H, W = x.shape
    Hp = H + 2 * pad_h
    Wp = W + 2 * pad_w
    if pad_h == 0 and pad_w == 0:
        return alloc.ascontiguousarray(x).reshape(N, C * H * W)
    xp = alloc.zeros((N, C * Hp * Wp), x.dtype)
    for task in range(N * C):
        n = task // C
        c = task - n * C
        base = c * Hp * Wp + pad_h * Wp + pad_w
        for h in range(H):
            row = xp[n, base + h * Wp: base + h * Wp + W]
            src = x[n, c, h]
            for j in range(W):
                row[j] = src[j]
    return xp


@njit(**_JIT, cache=True)
def _shifted_task(task, x, xs, pad_h, pad_w, KW, OW, sw):
    """Task ``task`` of ``_shifted``'s parallel loop (run by ``launch``: end of module)."""
    N, C, H, W = x.shape
    Hp = H + 2 * pad_h
    z = x.dtype.type(0)
    n = task // C
    c = task - n * C
    for b in range(KW):
        dst = xs[n, b]
        for h in range(Hp):
            row = dst[(c * Hp + h) * OW: (c * Hp + h + 1) * OW]
            r = h - pad_h
            if r < 0 or r >= H:
                for j in range(OW):
                    row[j] = z
                continue
            src = x[n, c, r]
            for j in range(OW):
                q = j * sw + b - pad_w
                row[j] = src[q] if q >= 0 and q < W else z


@njit(**_JIT, cache=_CALLER_CACHE)
def _shifted(x, pad_h, pad_w, KW, OW, sw):
    """Column-shifted, zero-padded copies of x (N, C, H, W) for the direct kernels.

    Returns xs (N, KW, C*Hp*OW) with ``xs[n, b, (c*Hp + h)*OW + j] =
    xpad[n, c, h, j*sw + b]``. With stride_h == 1, tap (c, a, b) of output element
    ``p = i*OW + j`` then reads ``xs[n, b, c*Hp*OW + a*OW + p]``: a constant offset.
    """
    N, C, H, W = x.shape
    Hp = H + 2 * pad_h
    xs = alloc.empty((N, KW, C * Hp * OW), x.dtype)
    _shifted_tasks(N * C, x, xs, pad_h, pad_w, KW, OW, sw)
    return xs


@njit(**_JIT, cache=True)
def _tap_table(C, KH, KW, Hp, OW):
    """Offsets and shift index of every tap, padded to a multiple of 4 (offset 0)."""
    T = C * KH * KW
    Tp = (T + 3) // 4 * 4
    offs = alloc.zeros(Tp, np.int64)
    tapb = alloc.zeros(Tp, np.int64)
    for c in range(C):
        for a in range(KH):
            for b in range(KW):
                t = (c * KH + a) * KW + b
                offs[t] = (c * Hp + a) * OW
                tapb[t] = b
    return offs, tapb


@njit(**_JIT, cache=True)
def _tap_weights(w, dtype_like, flip, transpose):
    """Filters as (F', Tp) tap weights (zero-padded taps) in dtype_like's dtype.

    ``transpose`` swaps the roles of the first two axes of ``w`` (input gradient).
    """
    if transpose:
        F = w.shape[1]
        C = w.shape[0]
    else:
        F = w.shape[0]
        C = w.shape[1]
    KH = w.shape[2]
    KW = w.shape[3]
    T = C * KH * KW
    Tp = (T + 3) // 4 * 4
    wt = alloc.zeros((F, Tp), dtype_like.dtype)
    for c in range(C):
        for a in range(KH):
            for b in range(KW):
                t = (c * KH + a) * KW + b
                ka = KH - 1 - a if flip else a
                kb = KW - 1 - b if flip else b
                for f in range(F):
                    if transpose:
                        wt[f, t] = w[c, f, ka, kb]
                    else:
                        wt[f, t] = w[f, c, ka, kb]
    return wt


#: filters per task of the direct kernels (their register blocking)
_FB = 4


@njit(**_JIT, cache=True, inline="always")
def _filter_blocks(F):
    """Blocks of ``_FB`` filters: the task count per sample of the direct kernels, used by
    each parallel loop and by its task function alike."""
    return (F + _FB - 1) // _FB


@njit(**_JIT, cache=True, fastmath=_FM)
def _direct_corr_task(task, xs, wt, offs, tapb, T, out3):
    """Task ``task`` of ``_direct_corr``'s parallel loop (run by ``launch``: end of module)."""
    F = wt.shape[0]
    L = out3.shape[2]
    T4 = T - T % 4
    R = T - T4
    nfb = _filter_blocks(F)
    n = task // nfb
    f0 = (task - n * nfb) * _FB
    f1 = imin(f0 + _FB, F)
    for f in range(f0, f1):
        wr = wt[f]
        for p0 in range(0, L, _CHUNK):
            pl = imin(_CHUNK, L - p0)
            acc = out3[n, f, p0: p0 + pl]
            for t in range(0, T4, 4):
                o0 = offs[t] + p0
                o1 = offs[t + 1] + p0
                o2 = offs[t + 2] + p0
                o3 = offs[t + 3] + p0
                x0 = xs[n, tapb[t], o0: o0 + pl]
                x1 = xs[n, tapb[t + 1], o1: o1 + pl]
                x2 = xs[n, tapb[t + 2], o2: o2 + pl]
                x3 = xs[n, tapb[t + 3], o3: o3 + pl]
                w0 = wr[t]
                w1 = wr[t + 1]
                w2 = wr[t + 2]
                w3 = wr[t + 3]
                if t == 0:
                    for p in range(pl):
                        acc[p] = (w0 * x0[p] + w1 * x1[p]) + (w2 * x2[p] + w3 * x3[p])
                else:
                    for p in range(pl):
                        acc[p] += (w0 * x0[p] + w1 * x1[p]) + (w2 * x2[p] + w3 * x3[p])
            if R > 0:
                # the last 1-3 taps (the padded entries of the table have weight 0)
                o0 = offs[T4] + p0
                o1 = offs[T4 + 1] + p0
                o2 = offs[T4 + 2] + p0
                x0 = xs[n, tapb[T4], o0: o0 + pl]
                x1 = xs[n, tapb[T4 + 1], o1: o1 + pl]
                x2 = xs[n, tapb[T4 + 2], o2: o2 + pl]
                w0 = wr[T4]
                w1 = wr[T4 + 1]
                w2 = wr[T4 + 2]
                first = T4 == 0
                if R == 1:
                    if first:
                        for p in range(pl):
                            acc[p] = w0 * x0[p]
                    else:
                        for p in range(pl):
                            acc[p] += w0 * x0[p]
                elif R == 2:
                    if first:
                        for p in range(pl):
                            acc[p] = w0 * x0[p] + w1 * x1[p]
                    else:
                        for p in range(pl):
                            acc[p] += w0 * x0[p] + w1 * x1[p]
                else:
                    if first:
                        for p in range(pl):
                            acc[p] = (w0 * x0[p] + w1 * x1[p]) + w2 * x2[p]
                    else:
                        for p in range(pl):
                            acc[p] += (w0 * x0[p] + w1 * x1[p]) + w2 * x2[p]


@njit(**_JIT, cache=_CALLER_CACHE)
def _direct_corr(xs, wt, offs, tapb, T, out3):
    """out3[n, f, p] = sum_{t < T} wt[f, t] * xs[n, tapb[t], offs[t] + p]  (stride_h 1).

    Taps are applied four per pass over the output block; the last ``T % 4`` taps take
    one shorter pass.
    """
    _direct_corr_tasks(xs.shape[0] * _filter_blocks(wt.shape[0]), xs, wt, offs, tapb, T,
                       out3)


@njit(**_JIT, cache=True)
def _im2col_task(task, xf, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, cols):
    """Task ``task`` of ``_im2col``'s parallel loop (run by ``launch``: end of module)."""
    k = task // C
    c = task - k * C
    xs = xf[n0 + k]
    for a in range(KH):
        for b in range(KW):
            row = cols[k, (c * KH + a) * KW + b]
            for i in range(OH):
                base = c * Hp * Wp + (i * sh + a) * Wp + b
                dst = row[i * OW: (i + 1) * OW]
                if sw == 1:
                    src = xs[base: base + OW]
                    for j in range(OW):
                        dst[j] = src[j]
                else:
                    for j in range(OW):
                        dst[j] = xs[base + j * sw]


@njit(**_JIT, cache=_CALLER_CACHE)
def _im2col(xf, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, cols):
    """cols[k, (c*KH+a)*KW+b, i*OW+j] = xflat[n0+k, c, i*sh+a, j*sw+b]."""
    nb = cols.shape[0]
    _im2col_tasks(nb * C, xf, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, cols)


@njit(**_JIT, cache=True)
def _col2im_task(task, cols, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, gxp):
    """Task ``task`` of ``_col2im``'s parallel loop (run by ``launch``: end of module)."""
    k = task // C
    c = task - k * C
    gs = gxp[n0 + k]
    for a in range(KH):
        for b in range(KW):
            row = cols[k, (c * KH + a) * KW + b]
            for i in range(OH):
                base = c * Hp * Wp + (i * sh + a) * Wp + b
                src = row[i * OW: (i + 1) * OW]
                if sw == 1:
                    dst = gs[base: base + OW]
                    for j in range(OW):
                        dst[j] += src[j]
                else:
                    for j in range(OW):
                        gs[base + j * sw] += src[j]


@njit(**_JIT, cache=_CALLER_CACHE)
def _col2im(cols, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, gxp):
    """gxp[n0+k] (C*Hp*Wp flat) += scatter of cols[k] (adjoint of _im2col)."""
    nb = cols.shape[0]
    _col2im_tasks(nb * C, cols, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, gxp)


@njit(**_JIT, cache=True)
def _wmat(w, dtype_like, flip):
    """Filters as a C-contiguous (F, C*KH*KW) matrix in the dtype of dtype_like."""
    F, C, KH, KW = w.shape
    wm = alloc.empty((F, C * KH * KW), dtype_like.dtype)
    for f in range(F):
        for c in range(C):
            for a in range(KH):
                for b in range(KW):
                    ka = KH - 1 - a if flip else a
                    kb = KW - 1 - b if flip else b
                    wm[f, (c * KH + a) * KW + b] = w[f, c, ka, kb]
    return wm


@njit(**_JIT, cache=True, inline="always")
def _chunk(N, T, P):
    nb = GEMM_COLS_BUDGET // imax(1, T * P)
    return imax(1, imin(N, nb))


# ----------------------------------------------------------------------------------
# forward
# ----------------------------------------------------------------------------------


@njit(**_JIT, cache=_CALLER_CACHE)
def _forward_gemm(xf, w, C, Hp, Wp, OH, OW, sh, sw, flip):
    N = xf.shape[0]
    F, _, KH, KW = w.shape
    T = C * KH * KW
    P = OH * OW
    wm = _wmat(w, xf, flip)
    out = alloc.empty((N, F, P), xf.dtype)
    nb = _chunk(N, T, P)
    cols = alloc.empty((nb, T, P), xf.dtype)
    for n0 in range(0, N, nb):
        k = imin(nb, N - n0)
        _im2col_by_symbol(xf, C, Hp, Wp, KH, KW, OH, OW, sh, sw, n0, cols[:k])
        for kk in range(k):
            gemm_into(1, wm, cols[kk], 0, out[n0 + kk])
    return out.reshape(N, F, OH, OW)


@njit(**_JIT, cache=_CALLER_CACHE)
def conv2d_forward(x, w, pad_h, pad_w, stride_h, stride_w, flip):
    """2-D convolution of x (N, C, H, W) with w (F, C, KH, KW) -> (N, F, OH, OW).

    ``flip=True``: true convolution (filters rotated 180 degrees); ``False``:
    cross-correlation. Zero padding ``pad_h``/``pad_w`` on each side.

    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> conv2d_forward(x, w, 0, 0, 2, 2, False)[0, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    _check_args(pad_h, pad_w, stride_h, stride_w)
    x = alloc.ascontiguousarray(x)
    N, C, H, W = x.shape
    F, C2, KH, KW = w.shape
    if C2 != C:
        raise ValueError("conv2d_forward: x and w disagree on the number of channels")
    Hp = H + 2 * pad_h
    Wp = W + 2 * pad_w
    OH = (Hp - KH) // stride_h + 1
    OW = (Wp - KW) // stride_w + 1
    if OH <= 0 or OW <= 0 or N == 0 or F == 0:
        return alloc.zeros((N, F, imax(OH, 0), imax(OW, 0)), x.dtype)
    if C == 0:
        return alloc.zeros((N, F, OH, OW), x.dtype)
    if stride_h == 1 and C * KH * KW <= DIRECT_MAX_TAPS:
        xs = _shifted_by_symbol(x, pad_h, pad_w, KW, OW, stride_w)
        offs, tapb = _tap_table(C, KH, KW, Hp, OW)
        wt = _tap_weights(w, x, flip, False)
        out = alloc.empty((N, F, OH, OW), x.dtype)
        _direct_corr_by_symbol(xs, wt, offs, tapb, C * KH * KW, out.reshape(N, F, OH * OW))
        return out
    xf = _pad_flat(x, pad_h, pad_w)
    return _forward_gemm_by_symbol(xf, w, C, Hp, Wp, OH, OW, stride_h, stride_w, flip)


# ----------------------------------------------------------------------------------
# gradient wrt the input
# ----------------------------------------------------------------------------------


@njit(**_JIT, cache=_CALLER_CACHE)
def conv2d_grad_input(gout, w, H, W, pad_h, pad_w, stride_h, stride_w, flip):
    """Gradient of ``conv2d_forward`` wrt x: gout (N, F, OH, OW) -> gx (N, C, H, W).

    ``H``, ``W`` are the spatial sizes of the original input (rows/cols not reached
    by any window, possible when stride > 1, get zero gradient).

    >>> import numpy as np
    >>> g = np.ones((1, 1, 2, 2)); w = np.ones((1, 1, 2, 2))
    >>> conv2d_grad_input(g, w, 3, 3, 0, 0, 1, 1, True)[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    _check_args(pad_h, pad_w, stride_h, stride_w)
    gout = alloc.ascontiguousarray(gout)
    N, F, OH, OW = gout.shape
    F2, C, KH, KW = w.shape
    if F2 != F:
        raise ValueError("conv2d_grad_input: gout and w disagree on the number of filters")
    Hp = H + 2 * pad_h
    Wp = W + 2 * pad_w
    if (Hp - KH) // stride_h + 1 != OH or (Wp - KW) // stride_w + 1 != OW:
        raise ValueError("conv2d_grad_input: gout shape does not match H, W, pads, strides")
    if N == 0 or C == 0 or H == 0 or W == 0:
        return alloc.zeros((N, C, H, W), gout.dtype)
    if F == 0 or OH <= 0 or OW <= 0:
        return alloc.zeros((N, C, H, W), gout.dtype)
    if (stride_h == 1 and stride_w == 1 and pad_h <= KH - 1 and pad_w <= KW - 1
            and F * KH * KW <= DIRECT_MAX_TAPS):
        # full correlation of gout with the rotated, transposed filters
        qh = KH - 1 - pad_h
        qw = KW - 1 - pad_w
        gs = _shifted_by_symbol(gout, qh, qw, KW, W, 1)
        offs, tapb = _tap_table(F, KH, KW, OH + 2 * qh, W)
        wt = _tap_weights(w, gout, not flip, True)
        gx = alloc.empty((N, C, H, W), gout.dtype)
        _direct_corr_by_symbol(gs, wt, offs, tapb, F * KH * KW, gx.reshape(N, C, H * W))
        return gx
    # gemm + col2im
    T = C * KH * KW
    P = OH * OW
    wmT = alloc.ascontiguousarray(_wmat(w, gout, flip).T)  # (T, F)
    gc = alloc.ascontiguousarray(gout).reshape(N, F, P)
    gxp = alloc.zeros((N, C * Hp * Wp), gout.dtype)
    nb = _chunk(N, T, P)
    cols = alloc.empty((nb, T, P), gout.dtype)
    for n0 in range(0, N, nb):
        k = imin(nb, N - n0)
        for kk in range(k):
            gemm_into(1, wmT, gc[n0 + kk], 0, cols[kk])
        _col2im_by_symbol(cols[:k], C, Hp, Wp, KH, KW, OH, OW, stride_h, stride_w, n0, gxp)
    gx4 = gxp.reshape(N, C, Hp, Wp)
    if pad_h == 0 and pad_w == 0:
        return gx4
    return alloc.ascontiguousarray(gx4[:, :, pad_h: pad_h + H, pad_w: pad_w + W])


# ----------------------------------------------------------------------------------
# gradient wrt the filters
# ----------------------------------------------------------------------------------


@njit(**_JIT, cache=True, fastmath=_FM)
def _direct_gw_task(task, xs, g3, offs, tapb, nchunks, part):
    """Task ``task`` of ``_direct_gw``'s parallel loop (run by ``launch``: end of module)."""
    N = xs.shape[0]
    F = g3.shape[1]
    L = g3.shape[2]
    Tp = offs.shape[0]
    nfb = _filter_blocks(F)
    nq_per = (L + _CHUNK - 1) // _CHUNK
    z = xs.dtype.type(0)
    k = task // nfb
    fb0 = (task - k * nfb) * _FB
    F4 = fb0 + 4 if fb0 + 4 <= F else fb0
    n0 = k * N // nchunks
    n1 = (k + 1) * N // nchunks
    pk = part[k]
    for nq in range(n0 * nq_per, n1 * nq_per):
        n = nq // nq_per
        p0 = (nq - n * nq_per) * _CHUNK
        pl = imin(_CHUNK, L - p0)
        for tb in range(0, Tp, 4):
            q0 = offs[tb] + p0
            q1 = offs[tb + 1] + p0
            q2 = offs[tb + 2] + p0
            q3 = offs[tb + 3] + p0
            x0 = xs[n, tapb[tb], q0: q0 + pl]
            x1 = xs[n, tapb[tb + 1], q1: q1 + pl]
            x2 = xs[n, tapb[tb + 2], q2: q2 + pl]
            x3 = xs[n, tapb[tb + 3], q3: q3 + pl]
            for fb in range(fb0, F4, 4):
                g0 = g3[n, fb, p0: p0 + pl]
                g1 = g3[n, fb + 1, p0: p0 + pl]
                g2 = g3[n, fb + 2, p0: p0 + pl]
                g3_ = g3[n, fb + 3, p0: p0 + pl]
                s00 = z; s01 = z; s02 = z; s03 = z  # noqa: E702
                s10 = z; s11 = z; s12 = z; s13 = z  # noqa: E702
                s20 = z; s21 = z; s22 = z; s23 = z  # noqa: E702
                s30 = z; s31 = z; s32 = z; s33 = z  # noqa: E702
                for p in range(pl):
                    a0 = g0[p]
                    a1 = g1[p]
                    a2 = g2[p]
                    a3 = g3_[p]
                    b0 = x0[p]
                    b1 = x1[p]
                    b2 = x2[p]
                    b3 = x3[p]
                    s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3  # noqa: E702
                    s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3  # noqa: E702
                    s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3  # noqa: E702
                    s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3  # noqa: E702
                pk[fb, tb] += s00; pk[fb, tb + 1] += s01  # noqa: E702
                pk[fb, tb + 2] += s02; pk[fb, tb + 3] += s03  # noqa: E702
                pk[fb + 1, tb] += s10; pk[fb + 1, tb + 1] += s11  # noqa: E702
                pk[fb + 1, tb + 2] += s12; pk[fb + 1, tb + 3] += s13  # noqa: E702
                pk[fb + 2, tb] += s20; pk[fb + 2, tb + 1] += s21  # noqa: E702
                pk[fb + 2, tb + 2] += s22; pk[fb + 2, tb + 3] += s23  # noqa: E702
                pk[fb + 3, tb] += s30; pk[fb + 3, tb + 1] += s31  # noqa: E702
                pk[fb + 3, tb + 2] += s32; pk[fb + 3, tb + 3] += s33  # noqa: E702
            for f in range(F4, imin(fb0 + 4, F)):
                g0 = g3[n, f, p0: p0 + pl]
                s00 = z; s01 = z; s02 = z; s03 = z  # noqa: E702
                for p in range(pl):
                    a0 = g0[p]
                    s00 += a0 * x0[p]; s01 += a0 * x1[p]  # noqa: E702
                    s02 += a0 * x2[p]; s03 += a0 * x3[p]  # noqa: E702
                pk[f, tb] += s00; pk[f, tb + 1] += s01  # noqa: E702
                pk[f, tb + 2] += s02; pk[f, tb + 3] += s03  # noqa: E702


@njit(**_JIT, cache=_CALLER_CACHE)
def _direct_gw(xs, g3, offs, tapb, nchunks, part):
    """part[k, f, t] = sum_{n in chunk k} sum_p g3[n, f, p] * xs[n, tapb[t], offs[t] + p].

    Register-blocked 4 filters x 4 taps (a 1 x 4 loop for a last, partial block of
    filters); ``offs``/``tapb`` have a multiple of 4 entries. One task per
    (sample chunk, block of 4 filters): every task owns disjoint ``part`` entries.
    """
    _direct_gw_tasks(nchunks * _filter_blocks(g3.shape[1]), xs, g3, offs, tapb, nchunks,
                     part)


@njit(**_JIT, cache=_CALLER_CACHE)
def conv2d_grad_filters(x, gout, KH, KW, pad_h, pad_w, stride_h, stride_w, flip):
    """Gradient of ``conv2d_forward`` wrt w: x (N, C, H, W), gout (N, F, OH, OW)
    -> gw (F, C, KH, KW).

    >>> import numpy as np
    >>> x = np.ones((1, 1, 3, 3)); g = np.ones((1, 1, 2, 2))
    >>> conv2d_grad_filters(x, g, 2, 2, 0, 0, 1, 1, True)[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    _check_args(pad_h, pad_w, stride_h, stride_w)
    x = alloc.ascontiguousarray(x)
    N, C, H, W = x.shape
    N2, F, OH, OW = gout.shape
    if N2 != N:
        raise ValueError("conv2d_grad_filters: x and gout disagree on the batch size")
    Hp = H + 2 * pad_h
    Wp = W + 2 * pad_w
    if (Hp - KH) // stride_h + 1 != OH or (Wp - KW) // stride_w + 1 != OW:
        raise ValueError("conv2d_grad_filters: gout shape does not match x, KH, KW, pads")
    gw = alloc.zeros((F, C, KH, KW), x.dtype)
    if N == 0 or C == 0 or F == 0 or OH <= 0 or OW <= 0:
        return gw
    T = C * KH * KW
    if stride_h == 1 and T <= DIRECT_MAX_TAPS:
        xs = _shifted_by_symbol(x, pad_h, pad_w, KW, OW, stride_w)
        offs, tapb = _tap_table(C, KH, KW, Hp, OW)
        g3 = alloc.ascontiguousarray(_cast(gout, x)).reshape(N, F, OH * OW)
        nchunks = imin(N, 4)
        part = alloc.zeros((nchunks, F, offs.shape[0]), x.dtype)
        _direct_gw_by_symbol(xs, g3, offs, tapb, nchunks, part)
        gm = part[0]
        for k in range(1, nchunks):
            gm += part[k]
    else:
        xf = _pad_flat(x, pad_h, pad_w)
        P = OH * OW
        gc = alloc.ascontiguousarray(_cast(gout, x)).reshape(N, F, P)
        gm = alloc.zeros((F, T), x.dtype)
        nb = _chunk(N, T, P)
        cols = alloc.empty((nb, T, P), x.dtype)
        for n0 in range(0, N, nb):
            k = imin(nb, N - n0)
            _im2col_by_symbol(xf, C, Hp, Wp, KH, KW, OH, OW, stride_h, stride_w, n0, cols[:k])
            for kk in range(k):
                gemm_into(1, gc[n0 + kk], cols[kk].T, 1, gm)
    for f in range(F):
        for c in range(C):
            for a in range(KH):
                for b in range(KW):
                    ka = KH - 1 - a if flip else a
                    kb = KW - 1 - b if flip else b
                    gw[f, c, ka, kb] = gm[f, (c * KH + a) * KW + b]
    return gw


#: the parallel loops and the im2col product, called by symbol from the public entry
#: points (``numba_compat.bysymbol``): compiled once each, not again inside every entry
#: point and signature that calls them (the entry points are reached by symbol too, and
#: so is ``_forward_gemm``: ``gemm_into`` calls BLAS's core by symbol)
_shifted_by_symbol = by_symbol(_shifted)
_direct_corr_by_symbol = by_symbol(_direct_corr)
_direct_gw_by_symbol = by_symbol(_direct_gw)
_forward_gemm_by_symbol = by_symbol(_forward_gemm)
_im2col_by_symbol = by_symbol(_im2col)
_col2im_by_symbol = by_symbol(_col2im)
#: each parallel loop's body is a task (a sample's channel, a block of filters) run on
#: Numba's threads by ``numba_compat.launch``: compiled once, serially, and called by
#: symbol, without Numba's parfor compiler
_shifted_tasks = task_launcher(_shifted_task)
_direct_corr_tasks = task_launcher(_direct_corr_task)
_direct_gw_tasks = task_launcher(_direct_gw_task)
_im2col_tasks = task_launcher(_im2col_task)
_col2im_tasks = task_launcher(_col2im_task)
