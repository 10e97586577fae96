"""Plain-numpy references the CUDA kernels are checked against.

Written for obviousness, not speed: explicit loops over windows, mirroring
Theano's ``perform`` methods where Theano defines the semantics.
"""

from __future__ import annotations

import numpy as np


def tol(dtype) -> dict:
    """assert_allclose tolerances for a dtype."""
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-5, "atol": 2e-5}
    return {"rtol": 1e-12, "atol": 1e-12}


# --- convolution ----------------------------------------------------------------------


def conv_forward(x, w, ph, pw, sh, sw, flip):
    wf = w[:, :, ::-1, ::-1] if flip else w
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, f, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            out[:, :, i, j] = np.einsum("nckl,fckl->nf", patch, wf)
    return out


def conv_grads(x, w, gout, ph, pw, sh, sw, flip):
    """(grad wrt x, grad wrt w) of sum(gout * conv_forward(x, w))."""
    wf = w[:, :, ::-1, ::-1] if flip else w
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = gout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gxp = np.zeros_like(xp)
    gwf = np.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            rs = slice(i * sh, i * sh + kh)
            cs = slice(j * sw, j * sw + kw)
            gxp[:, :, rs, cs] += np.einsum("nf,fckl->nckl", gout[:, :, i, j], wf)
            gwf += np.einsum("nf,nckl->fckl", gout[:, :, i, j], xp[:, :, rs, cs])
    gw = gwf[:, :, ::-1, ::-1] if flip else gwf
    return gxp[:, :, ph : ph + h, pw : pw + wd], np.ascontiguousarray(gw)


# --- pooling (Theano pool_2d) ---------------------------------------------------------


def pool_out_len(size, ws, st, pad, ignore_border):
    """Theano's Pool.out_shape for one axis, transcribed."""
    v = size + 2 * pad
    if ignore_border:
        if ws == st:
            return v // st
        return max((v - ws) // st + 1, 0)
    if st >= ws:
        return (v - 1) // st + 1
    return max(0, (v - 1 - ws + st) // st) + 1


def _windows(size, ws, st, pad, ignore_border):
    """Per output index: (padded start, padded end clipped to padded image,
    real start, real end) in padded coordinates, as Theano's perform builds them."""
    img = size + 2 * pad
    out = []
    for j in range(pool_out_len(size, ws, st, pad, ignore_border)):
        start = j * st
        end = min(start + ws, img)
        out.append((start, end, max(start, pad), min(end, img - pad)))
    return out


def pool_forward(x, ws, st, pad, ignore_border, mode):
    """mode: 0 max, 1 sum, 2 average_inc_pad, 3 average_exc_pad (Theano's Pool.perform)."""
    n, c, h, w = x.shape
    rows = _windows(h, ws[0], st[0], pad[0], ignore_border)
    cols = _windows(w, ws[1], st[1], pad[1], ignore_border)
    y = np.zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]), x.dtype)
    y[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    out = np.zeros((n, c, len(rows), len(cols)), x.dtype)
    for i, (r0, r1, rr0, rr1) in enumerate(rows):
        for j, (c0, c1, cc0, cc1) in enumerate(cols):
            if mode == 2:
                region = y[:, :, r0:r1, c0:c1]
            else:
                region = y[:, :, rr0:rr1, cc0:cc1]
            if mode == 0:
                out[:, :, i, j] = region.max(axis=(2, 3))
            elif mode == 1:
                out[:, :, i, j] = region.sum(axis=(2, 3))
            else:
                out[:, :, i, j] = region.mean(axis=(2, 3))
    return out


def pool_backward(x, gout, ws, st, pad, ignore_border, mode):
    """Gradient of pool_forward; max routes to the first (row-major) argmax per window."""
    n, c, h, w = x.shape
    rows = _windows(h, ws[0], st[0], pad[0], ignore_border)
    cols = _windows(w, ws[1], st[1], pad[1], ignore_border)
    gx = np.zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]), x.dtype)
    y = np.full(gx.shape, -np.inf, x.dtype)
    y[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    for i, (r0, r1, rr0, rr1) in enumerate(rows):
        for j, (c0, c1, cc0, cc1) in enumerate(cols):
            g = gout[:, :, i, j]
            if mode == 0:
                region = y[:, :, rr0:rr1, cc0:cc1]
                for a in range(n):
                    for b in range(c):
                        k = int(np.argmax(region[a, b]))
                        kr, kc = divmod(k, cc1 - cc0)
                        gx[a, b, rr0 + kr, cc0 + kc] += g[a, b]
            elif mode == 1:
                gx[:, :, rr0:rr1, cc0:cc1] += g[:, :, None, None]
            elif mode == 2:
                gx[:, :, r0:r1, c0:c1] += (g / ((r1 - r0) * (c1 - c0)))[:, :, None, None]
            else:
                gx[:, :, rr0:rr1, cc0:cc1] += (g / ((rr1 - rr0) * (cc1 - cc0)))[:, :, None, None]
    return gx[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w]


# --- softmax --------------------------------------------------------------------------


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
