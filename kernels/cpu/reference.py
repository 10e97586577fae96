"""Plain-numpy reference implementations of the CPU kernels (the specification).

Same names and argument orders as the Numba kernels in ``conv``, ``pool`` and
``softmax``, with a ``_ref`` suffix. They are written for clarity, not speed:
conv sums one strided slice per filter tap (einsum over channels) in float64;
pooling follows Theano's ``Pool.perform`` / ``MaxPoolGrad.perform`` window loops.
Results are returned in the input's dtype.

    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d_forward_ref(x, np.ones((1, 1, 2, 2)), 0, 0, 2, 2, False)[0, 0]
    array([[10., 18.],
           [42., 50.]])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "conv2d_forward_ref",
    "conv2d_grad_input_ref",
    "conv2d_grad_filters_ref",
    "pool2d_out_size_ref",
    "pool2d_forward_ref",
    "pool2d_backward_ref",
    "softmax_ref",
    "log_softmax_ref",
    "softmax_grad_ref",
    "log_softmax_grad_ref",
    "softmax_nll_forward_ref",
    "softmax_nll_backward_ref",
    "gemm_ref",
]


# ------------------------------------------------------------------------------ conv


def _conv_sizes(H, W, KH, KW, pad_h, pad_w, stride_h, stride_w):
    OH = (H + 2 * pad_h - KH) // stride_h + 1
    OW = (W + 2 * pad_w - KW) // stride_w + 1
    return OH, OW


def _kernel(w, flip):
    w = np.asarray(w, np.float64)
    return w[:, :, ::-1, ::-1] if flip else w


def conv2d_forward_ref(x, w, pad_h, pad_w, stride_h, stride_w, flip):
    """out[n,f,i,j] = sum_{c,a,b} xpad[n,c,i*sh+a,j*sw+b] * wk[f,c,a,b]."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = _conv_sizes(H, W, KH, KW, pad_h, pad_w, stride_h, stride_w)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    wk = _kernel(w, flip)
    out = np.zeros((N, F, max(OH, 0), max(OW, 0)))
    if OH <= 0 or OW <= 0:
        return out.astype(x.dtype)
    for a in range(KH):
        for b in range(KW):
            sl = xp[:, :, a: a + stride_h * (OH - 1) + 1: stride_h,
                    b: b + stride_w * (OW - 1) + 1: stride_w]
            out += np.einsum("nchw,fc->nfhw", sl, wk[:, :, a, b])
    return out.astype(x.dtype)


def conv2d_grad_input_ref(gout, w, H, W, pad_h, pad_w, stride_h, stride_w, flip):
    """Adjoint of conv2d_forward_ref wrt x (scatter of every tap)."""
    N, F, OH, OW = gout.shape
    _, C, KH, KW = w.shape
    g = np.asarray(gout, np.float64)
    wk = _kernel(w, flip)
    gxp = np.zeros((N, C, H + 2 * pad_h, W + 2 * pad_w))
    for a in range(KH):
        for b in range(KW):
            gxp[:, :, a: a + stride_h * (OH - 1) + 1: stride_h,
                b: b + stride_w * (OW - 1) + 1: stride_w] += np.einsum(
                    "nfhw,fc->nchw", g, wk[:, :, a, b])
    return gxp[:, :, pad_h: pad_h + H, pad_w: pad_w + W].astype(gout.dtype)


def conv2d_grad_filters_ref(x, gout, KH, KW, pad_h, pad_w, stride_h, stride_w, flip):
    """Gradient of conv2d_forward_ref wrt w."""
    N, C, H, W = x.shape
    _, F, OH, OW = gout.shape
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    g = np.asarray(gout, np.float64)
    gk = np.zeros((F, C, KH, KW))
    for a in range(KH):
        for b in range(KW):
            sl = xp[:, :, a: a + stride_h * (OH - 1) + 1: stride_h,
                    b: b + stride_w * (OW - 1) + 1: stride_w]
            gk[:, :, a, b] = np.einsum("nfhw,nchw->fc", g, sl)
    if flip:
        gk = gk[:, :, ::-1, ::-1]
    return np.ascontiguousarray(gk).astype(x.dtype)


# ------------------------------------------------------------------------------ pool


def pool2d_out_size_ref(size, ws, stride, pad, ignore_border):
    """Theano's Pool.out_shape along one axis."""
    v = size + 2 * pad
    if ignore_border:
        return max(0, (v - ws) // stride + 1)
    if stride >= ws:
        return (v - 1) // stride + 1
    return max(0, (v - 1 - ws + stride) // stride) + 1


def _regions(n_out, size, ws, stride, pad, mode):
    """Per output index: (real-cell slice in unpadded coords, divisor factor)."""
    v = size + 2 * pad
    res = []
    for i in range(n_out):
        start = i * stride
        end = min(start + ws, v)
        inc = end - start
        rs = max(start, pad) - pad
        re = min(end, size + pad) - pad
        res.append((slice(rs, re), inc if mode == 2 else re - rs))
    return res


def pool2d_forward_ref(x, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border,
                       mode):
    """Theano's Pool.perform (2-D). mode: 0 max, 1 sum, 2 avg_inc_pad, 3 avg_exc_pad."""
    if (pad_h or pad_w) and not ignore_border:
        raise ValueError("padding works only with ignore_border=True")
    N, C, H, W = x.shape
    OH = pool2d_out_size_ref(H, ws_h, stride_h, pad_h, ignore_border)
    OW = pool2d_out_size_ref(W, ws_w, stride_w, pad_w, ignore_border)
    out = np.zeros((N, C, OH, OW))
    xd = np.asarray(x, np.float64)
    rows = _regions(OH, H, ws_h, stride_h, pad_h, mode)
    cols = _regions(OW, W, ws_w, stride_w, pad_w, mode)
    for i, (rs, rdiv) in enumerate(rows):
        for j, (cs, cdiv) in enumerate(cols):
            win = xd[:, :, rs, cs]
            if mode == 0:
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif mode == 1:
                out[:, :, i, j] = win.sum(axis=(2, 3))
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / (rdiv * cdiv)
    return out.astype(x.dtype)


def pool2d_backward_ref(x, out, gout, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w,
                        ignore_border, mode):
    """Gradient of pool2d_forward_ref wrt x. Max routes gout to every cell equal to
    the window max (Theano's MaxPoolGrad)."""
    N, C, H, W = x.shape
    OH, OW = gout.shape[2:]
    gx = np.zeros((N, C, H, W))
    xd = np.asarray(x)
    g = np.asarray(gout, np.float64)
    rows = _regions(OH, H, ws_h, stride_h, pad_h, mode)
    cols = _regions(OW, W, ws_w, stride_w, pad_w, mode)
    for i, (rs, rdiv) in enumerate(rows):
        for j, (cs, cdiv) in enumerate(cols):
            gij = g[:, :, i, j][:, :, None, None]
            if mode == 0:
                mask = xd[:, :, rs, cs] == np.asarray(out)[:, :, i, j][:, :, None, None]
                gx[:, :, rs, cs] += mask * gij
            elif mode == 1:
                gx[:, :, rs, cs] += gij
            else:
                gx[:, :, rs, cs] += gij / (rdiv * cdiv)
    return gx.astype(x.dtype)


# --------------------------------------------------------------------------- softmax


def softmax_ref(x):
    """Row-wise softmax."""
    xd = np.asarray(x, np.float64)
    e = np.exp(xd - xd.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(x.dtype)


def log_softmax_ref(x):
    """Row-wise log-softmax."""
    xd = np.asarray(x, np.float64)
    z = xd - xd.max(axis=1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(x.dtype)


def softmax_grad_ref(gy, y):
    """Gradient wrt x of y = softmax(x)."""
    g = np.asarray(gy, np.float64)
    yd = np.asarray(y, np.float64)
    return (yd * (g - (g * yd).sum(axis=1, keepdims=True))).astype(y.dtype)


def log_softmax_grad_ref(gy, y):
    """Gradient wrt x of y = log_softmax(x)."""
    g = np.asarray(gy, np.float64)
    yd = np.asarray(y, np.float64)
    return (g - np.exp(yd) * g.sum(axis=1, keepdims=True)).astype(y.dtype)


def softmax_nll_forward_ref(x, y_idx):
    """(nll, softmax) with nll[i] = -log_softmax(x)[i, y_idx[i]]."""
    y_idx = np.asarray(y_idx)
    B, K = x.shape
    if y_idx.shape != (B,) or (B and (y_idx.min() < 0 or y_idx.max() >= K)):
        raise ValueError("label out of range")
    ls = log_softmax_ref(np.asarray(x, np.float64))
    nll = -ls[np.arange(B), y_idx]
    return nll.astype(x.dtype), np.exp(ls).astype(x.dtype)


def softmax_nll_backward_ref(gnll, sm, y_idx):
    """gnll[:, None] * (sm - onehot(y_idx))."""
    sm_d = np.asarray(sm, np.float64)
    onehot = np.zeros_like(sm_d)
    onehot[np.arange(sm_d.shape[0]), np.asarray(y_idx)] = 1.0
    return (np.asarray(gnll, np.float64)[:, None] * (sm_d - onehot)).astype(sm.dtype)


def gemm_ref(alpha, x, y, beta, z):
    """alpha * x @ y + beta * z, computed in float64 (z ignored when beta == 0)."""
    r = alpha * (np.asarray(x, np.float64) @ np.asarray(y, np.float64))
    if beta != 0:
        r = r + beta * np.asarray(z, np.float64)
    return r.astype(x.dtype)
