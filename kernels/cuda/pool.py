"""2-D pooling over the last two axes of ``(N, C, H, W)``, Theano ``pool_2d`` semantics.

Modes (int codes): ``0`` max, ``1`` sum, ``2`` average_inc_pad, ``3`` average_exc_pad.

Window ``(i, j)`` covers padded rows ``[i*stride_h, min(i*stride_h + ws_h, H + 2*pad_h))``
(same for columns). ``max``, ``sum`` and ``average_exc_pad`` only look at the
real (unpadded) part of the window; ``average_inc_pad`` divides by the window
size including padding (but clipped at the padded image edge, as Theano does
for ``ignore_border=False`` partial windows). Output size (Theano's
``Pool.out_shape``), with ``L = H + 2*pad``::

    ignore_border=True : max(0, (L - ws) // stride + 1)
    ignore_border=False: (L - 1) // stride + 1                    if stride >= ws
                         max(0, (L - 1 - ws + stride) // stride) + 1  otherwise

As in Theano, padding requires ``ignore_border=True`` and ``pad < ws``.

The backward pass gathers: one thread per *input* element visits the windows
that cover it, so there are no atomics and results are deterministic. For max
pooling the gradient of a window goes to the **first** position (row-major)
holding the window's maximum -- like cuDNN; Theano's CPU op instead gives it to
every tied position. For ``average_exc_pad`` with padding the gradient is the
exact derivative of the forward (Theano refused that case).

Example::

    d_y = pool2d_forward(d_x, 2, 2, 2, 2, 0, 0, True, 0)                 # 2x2 max pool
    d_gx = pool2d_backward(d_x, d_y, d_gy, 2, 2, 2, 2, 0, 0, True, 0)
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .block import imax, imin
from .launch import (
    DeviceArray,
    check_c_contiguous,
    check_float,
    check_out,
    device_empty,
    grid_1d,
)

__all__ = [
    "MAX",
    "SUM",
    "AVERAGE_INC_PAD",
    "AVERAGE_EXC_PAD",
    "MODE_CODES",
    "pool_mode",
    "pool2d_output_shape",
    "pool2d_forward",
    "pool2d_backward",
]

MAX, SUM, AVERAGE_INC_PAD, AVERAGE_EXC_PAD = 0, 1, 2, 3
MODE_CODES = {
    "max": MAX,
    "sum": SUM,
    "average_inc_pad": AVERAGE_INC_PAD,
    "average_exc_pad": AVERAGE_EXC_PAD,
}


def pool_mode(mode: int | str) -> int:
    """Normalise a mode name or code to its int code.

    >>> pool_mode("average_exc_pad")
    3
    """
    if isinstance(mode, str):
        try:
            return MODE_CODES[mode]
        except KeyError:
            raise ValueError(f"unknown pool mode {mode!r}; expected one of {list(MODE_CODES)}")
    code = int(mode)
    if code not in MODE_CODES.values():
        raise ValueError(f"unknown pool mode code {mode!r}; expected 0..3")
    return code


def _out_len(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    length = size + 2 * pad
    if ignore_border:
        return max(0, (length - ws) // stride + 1)
    if stride >= ws:
        return (length - 1) // stride + 1
    return max(0, (length - 1 - ws + stride) // stride) + 1


def pool2d_output_shape(
    h: int,
    w: int,
    ws_h: int,
    ws_w: int,
    stride_h: int,
    stride_w: int,
    pad_h: int,
    pad_w: int,
    ignore_border: bool,
) -> tuple[int, int]:
    """``(OH, OW)`` exactly as Theano's ``Pool.out_shape``; validates the parameters.

    >>> pool2d_output_shape(5, 5, 2, 2, 2, 2, 0, 0, False)
    (3, 3)
    """
    if min(ws_h, ws_w, stride_h, stride_w) < 1:
        raise ValueError("window sizes and strides must be >= 1")
    if pad_h < 0 or pad_w < 0:
        raise ValueError("pads must be >= 0")
    if (pad_h or pad_w) and not ignore_border:
        raise ValueError("padding works only with ignore_border=True (as in Theano)")
    if pad_h >= ws_h or pad_w >= ws_w:
        raise ValueError("padding must be smaller than the window size (as in Theano)")
    return (
        _out_len(h, ws_h, stride_h, pad_h, ignore_border),
        _out_len(w, ws_w, stride_w, pad_w, ignore_border),
    )


@functools.lru_cache(maxsize=None)
def _forward_kernel(dtype: np.dtype, mode: int):
    zero = dtype.type(0)
    neg_inf = dtype.type(-np.inf)
    to_float = dtype.type

    @cuda.jit
    def kernel(x, out, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w):
        height = x.shape[2]
        width = x.shape[3]
        n_chan = x.shape[1]
        oh_size = out.shape[2]
        ow_size = out.shape[3]
        img_h = height + 2 * pad_h
        img_w = width + 2 * pad_w
        for idx in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            j = idx % ow_size
            t = idx // ow_size
            i = t % oh_size
            t //= oh_size
            c = t % n_chan
            n = t // n_chan
            # window in padded coordinates, clipped to the padded image
            r0 = i * stride_h
            r1 = imin(r0 + ws_h, img_h)
            c0 = j * stride_w
            c1 = imin(c0 + ws_w, img_w)
            inc_count = (r1 - r0) * (c1 - c0)
            # real part of the window, in unpadded coordinates
            r0 = imax(r0, pad_h) - pad_h
            r1 = imin(r1, height + pad_h) - pad_h
            c0 = imax(c0, pad_w) - pad_w
            c1 = imin(c1, width + pad_w) - pad_w
            if mode == 0:
                acc = neg_inf
                for h in range(r0, r1):
                    for w in range(c0, c1):
                        v = x[n, c, h, w]
                        if v > acc or v != v:
                            acc = v
                            if v != v:
                                break
                    if acc != acc:
                        break
            else:
                acc = zero
                for h in range(r0, r1):
                    for w in range(c0, c1):
                        acc += x[n, c, h, w]
                if mode == 2:
                    acc = acc / to_float(inc_count)
                elif mode == 3:
                    acc = acc / to_float((r1 - r0) * (c1 - c0))
            out[n, c, i, j] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def _backward_kernel(dtype: np.dtype, mode: int):
    zero = dtype.type(0)
    neg_inf = dtype.type(-np.inf)
    to_float = dtype.type

    @cuda.jit
    def kernel(x, gout, gx, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w):
        height = x.shape[2]
        width = x.shape[3]
        n_chan = x.shape[1]
        oh_size = gout.shape[2]
        ow_size = gout.shape[3]
        img_h = height + 2 * pad_h
        img_w = width + 2 * pad_w
        for idx in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
            xw = idx % width
            t = idx // width
            xh = t % height
            t //= height
            c = t % n_chan
            n = t // n_chan
            hp = xh + pad_h
            wp = xw + pad_w
            # windows i with i*stride <= hp < i*stride + ws
            i_lo = imax(0, (hp - ws_h) // stride_h + 1)
            i_hi = imin(oh_size - 1, hp // stride_h)
            j_lo = imax(0, (wp - ws_w) // stride_w + 1)
            j_hi = imin(ow_size - 1, wp // stride_w)
            acc = zero
            for i in range(i_lo, i_hi + 1):
                pr0 = i * stride_h
                pr1 = imin(pr0 + ws_h, img_h)
                r0 = imax(pr0, pad_h) - pad_h
                r1 = imin(pr1, height + pad_h) - pad_h
                for j in range(j_lo, j_hi + 1):
                    pc0 = j * stride_w
                    pc1 = imin(pc0 + ws_w, img_w)
                    c0 = imax(pc0, pad_w) - pad_w
                    c1 = imin(pc1, width + pad_w) - pad_w
                    g = gout[n, c, i, j]
                    if mode == 0:
                        # first (row-major) position of the window's max, NaN first
                        best = neg_inf
                        bh = -1
                        bw = -1
                        for h in range(r0, r1):
                            for w in range(c0, c1):
                                v = x[n, c, h, w]
                                if bh < 0 or (best == best and (v > best or v != v)):
                                    best = v
                                    bh = h
                                    bw = w
                        if bh == xh and bw == xw:
                            acc += g
                    elif mode == 1:
                        acc += g
                    elif mode == 2:
                        acc += g / to_float((pr1 - pr0) * (pc1 - pc0))
                    else:
                        acc += g / to_float((r1 - r0) * (c1 - c0))
            gx[n, c, xh, xw] = acc

    return kernel


def _check_x(d_x: DeviceArray, name: str = "x") -> np.dtype:
    if len(d_x.shape) != 4:
        raise ValueError(f"{name} must be 4-d (N, C, H, W), got shape {tuple(d_x.shape)}")
    check_c_contiguous(name, d_x)
    return check_float(name, d_x)


def pool2d_forward(
    d_x: DeviceArray,
    ws_h: int,
    ws_w: int,
    stride_h: int,
    stride_w: int,
    pad_h: int,
    pad_w: int,
    ignore_border: bool,
    mode: int | str,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Pool ``x (N, C, H, W)``; returns ``(N, C, OH, OW)`` (see module docstring).

    ``mode``: 0/"max", 1/"sum", 2/"average_inc_pad", 3/"average_exc_pad".
    """
    code = pool_mode(mode)
    dt = _check_x(d_x)
    n, c, h, w = d_x.shape
    oh, ow = pool2d_output_shape(h, w, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border)
    shape = (n, c, oh, ow)
    if out is None:
        out = device_empty(shape, dt)
    else:
        check_out(out, shape, dt)
    if out.size:
        blocks, tpb = grid_1d(out.size)
        _forward_kernel(dt, code)[blocks, tpb](
            d_x, out, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w
        )
    return out


def pool2d_backward(
    d_x: DeviceArray,
    d_out: DeviceArray | None,
    d_gout: DeviceArray,
    ws_h: int,
    ws_w: int,
    stride_h: int,
    stride_w: int,
    pad_h: int,
    pad_w: int,
    ignore_border: bool,
    mode: int | str,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Gradient wrt ``x`` of :func:`pool2d_forward` given ``gout``; returns ``x``'s shape.

    ``d_out`` (the forward result) is accepted for parity with Theano's
    ``MaxPoolGrad(x, maxout, gz)`` and only shape-checked: the kernel recomputes
    each window's first argmax from ``x`` so ties and NaNs are handled exactly
    as described in the module docstring. Pass ``None`` if you do not have it.
    """
    code = pool_mode(mode)
    dt = _check_x(d_x)
    if _check_x(d_gout, "gout") != dt:
        raise TypeError(f"x and gout dtypes differ: {dt} vs {np.dtype(d_gout.dtype)}")
    n, c, h, w = d_x.shape
    oh, ow = pool2d_output_shape(h, w, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w, ignore_border)
    if tuple(d_gout.shape) != (n, c, oh, ow):
        raise ValueError(f"gout shape {tuple(d_gout.shape)} != pooled shape {(n, c, oh, ow)}")
    if d_out is not None and tuple(d_out.shape) != (n, c, oh, ow):
        raise ValueError(f"out shape {tuple(d_out.shape)} != pooled shape {(n, c, oh, ow)}")
    if out is None:
        out = device_empty((n, c, h, w), dt)
    else:
        check_out(out, (n, c, h, w), dt)
    if out.size:
        blocks, tpb = grid_1d(out.size)
        _backward_kernel(dt, code)[blocks, tpb](
            d_x, d_gout, out, ws_h, ws_w, stride_h, stride_w, pad_h, pad_w
        )
    return out
