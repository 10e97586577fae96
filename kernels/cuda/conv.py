"""2-D convolution (NCHW) forward pass and both gradients, direct-loop kernels.

Shapes: ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, output ``(N, F, OH, OW)`` with
``OH = (H + 2*pad_h - KH) // stride_h + 1`` (same for W). ``flip=True`` is a
true convolution (the filter is rotated 180 degrees, Theano's
``filter_flip=True``); ``flip=False`` is cross-correlation. Padding is zeros.

Why direct loops and not im2col + GEMM: the MNIST-sized layers this project
trains are small enough that one kernel with no temporaries beats two kernels
and an ``(N*OH*OW, C*KH*KW)`` buffer, and the three kernels stay readable.

* forward: one thread per output element.
* grad wrt input: one thread per input element, *gathering* from the outputs
  whose windows cover it (no atomics, deterministic).
* grad wrt filters: one block per filter element, its threads striding over
  ``(n, oh, ow)`` and meeting in a shared-memory tree sum.

Example::

    d_y = conv2d_forward(d_x, d_w, 1, 1, 1, 1, True)      # 'same' 3x3 convolution
    d_gx = conv2d_grad_input(d_gy, d_w, H, W, 1, 1, 1, 1, True)
    d_gw = conv2d_grad_filters(d_x, d_gy, 3, 3, 1, 1, 1, 1, True)
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import cuda

from .block import block_sum
from .launch import (
    DeviceArray,
    blocks_for,
    check_c_contiguous,
    check_float,
    check_out,
    device_empty,
    grid_1d,
    pow2_at_least,
    reduce_threads_per_block,
)

__all__ = ["conv2d_output_shape", "conv2d_forward", "conv2d_grad_input", "conv2d_grad_filters"]


def conv2d_output_shape(
    h: int, w: int, kh: int, kw: int, pad_h: int, pad_w: int, stride_h: int, stride_w: int
) -> tuple[int, int]:
    """``(OH, OW)`` of a convolution; raises when the padded image is smaller than the filter.

    >>> conv2d_output_shape(28, 28, 5, 5, 0, 0, 1, 1)
    (24, 24)
    """
    if stride_h < 1 or stride_w < 1:
        raise ValueError(f"strides must be >= 1, got {(stride_h, stride_w)}")
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"pads must be >= 0, got {(pad_h, pad_w)}")
    oh = (h + 2 * pad_h - kh) // stride_h + 1
    ow = (w + 2 * pad_w - kw) // stride_w + 1
    if h + 2 * pad_h < kh or w + 2 * pad_w < kw:
        raise ValueError(
            f"filter {(kh, kw)} larger than padded image {(h + 2 * pad_h, w + 2 * pad_w)}"
        )
    return oh, ow


@functools.lru_cache(maxsize=None)
def _forward_kernel(dtype: np.dtype, flip: bool):
    zero = dtype.type(0)

    @cuda.jit
    def kernel(x, w, out, pad_h, pad_w, stride_h, stride_w):
        n_chan = x.shape[1]
        height = x.shape[2]
        width = x.shape[3]
        n_filt = w.shape[0]
        kh_size = w.shape[2]
        kw_size = w.shape[3]
        oh_size = out.shape[2]
        ow_size = out.shape[3]
        for idx in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            ow = idx % ow_size
            t = idx // ow_size
            oh = t % oh_size
            t //= oh_size
            f = t % n_filt
            n = t // n_filt
            h0 = oh * stride_h - pad_h
            w0 = ow * stride_w - pad_w
            acc = zero
            for c in range(n_chan):
                for kh in range(kh_size):
                    h = h0 + kh
                    if h >= 0 and h < height:
                        for kw in range(kw_size):
                            ww = w0 + kw
                            if ww >= 0 and ww < width:
                                if flip:
                                    wv = w[f, c, kh_size - 1 - kh, kw_size - 1 - kw]
                                else:
                                    wv = w[f, c, kh, kw]
                                acc += x[n, c, h, ww] * wv
            out[n, f, oh, ow] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def _grad_input_kernel(dtype: np.dtype, flip: bool):
    zero = dtype.type(0)

    @cuda.jit
    def kernel(gout, w, gx, pad_h, pad_w, stride_h, stride_w):
        n_chan = gx.shape[1]
        height = gx.shape[2]
        width = gx.shape[3]
        n_filt = w.shape[0]
        kh_size = w.shape[2]
        kw_size = w.shape[3]
        oh_size = gout.shape[2]
        ow_size = gout.shape[3]
        for idx in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
            xw = idx % width
            t = idx // width
            xh = t % height
            t //= height
            c = t % n_chan
            n = t // n_chan
            hp = xh + pad_h
            wp = xw + pad_w
            acc = zero
            for kh in range(kh_size):
                th = hp - kh  # == oh * stride_h when output row oh sees this pixel at kh
                if th >= 0 and th % stride_h == 0 and th // stride_h < oh_size:
                    oh = th // stride_h
                    for kw in range(kw_size):
                        tw = wp - kw
                        if tw >= 0 and tw % stride_w == 0 and tw // stride_w < ow_size:
                            ow = tw // stride_w
                            for f in range(n_filt):
                                if flip:
                                    wv = w[f, c, kh_size - 1 - kh, kw_size - 1 - kw]
                                else:
                                    wv = w[f, c, kh, kw]
                                acc += gout[n, f, oh, ow] * wv
            gx[n, c, xh, xw] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def _grad_filters_kernel(dtype: np.dtype, flip: bool, tpb: int):
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)

    @cuda.jit
    def kernel(x, gout, gw, pad_h, pad_w, stride_h, stride_w):
        sh = cuda.shared.array(tpb, nb_dtype)
        tid = cuda.threadIdx.x
        n_img = x.shape[0]
        height = x.shape[2]
        width = x.shape[3]
        n_chan = gw.shape[1]
        kh_size = gw.shape[2]
        kw_size = gw.shape[3]
        oh_size = gout.shape[2]
        ow_size = gout.shape[3]
        n_terms = n_img * oh_size * ow_size
        for r in range(cuda.blockIdx.x, gw.size, cuda.gridDim.x):
            kw = r % kw_size
            t = r // kw_size
            kh = t % kh_size
            t //= kh_size
            c = t % n_chan
            f = t // n_chan
            acc = zero
            for j in range(tid, n_terms, tpb):
                ow = j % ow_size
                t2 = j // ow_size
                oh = t2 % oh_size
                n = t2 // oh_size
                h = oh * stride_h - pad_h + kh
                ww = ow * stride_w - pad_w + kw
                if h >= 0 and h < height and ww >= 0 and ww < width:
                    acc += gout[n, f, oh, ow] * x[n, c, h, ww]
            sh[tid] = acc
            total = block_sum(sh, tid, tpb)
            if tid == 0:
                if flip:
                    gw[f, c, kh_size - 1 - kh, kw_size - 1 - kw] = total
                else:
                    gw[f, c, kh, kw] = total

    return kernel


def _check4(name: str, d: DeviceArray) -> np.dtype:
    if len(d.shape) != 4:
        raise ValueError(f"{name} must be 4-d, got shape {tuple(d.shape)}")
    check_c_contiguous(name, d)
    return check_float(name, d)


def _same_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    if a != b:
        raise TypeError(f"dtypes differ: {a} vs {b}")
    return a


def conv2d_forward(
    d_x: DeviceArray,
    d_w: DeviceArray,
    pad_h: int,
    pad_w: int,
    stride_h: int,
    stride_w: int,
    flip: bool,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Convolve ``x (N, C, H, W)`` with ``w (F, C, KH, KW)``; returns ``(N, F, OH, OW)``."""
    dt = _same_dtype(_check4("x", d_x), _check4("w", d_w))
    n, c, h, w = d_x.shape
    f, c2, kh, kw = d_w.shape
    if c != c2:
        raise ValueError(f"x has {c} channels, w expects {c2}")
    oh, ow = conv2d_output_shape(h, w, kh, kw, pad_h, pad_w, stride_h, stride_w)
    shape = (n, f, oh, ow)
    if out is None:
        out = device_empty(shape, dt)
    else:
        check_out(out, shape, dt)
    if out.size:
        blocks, tpb = grid_1d(out.size)
        _forward_kernel(dt, bool(flip))[blocks, tpb](
            d_x, d_w, out, pad_h, pad_w, stride_h, stride_w
        )
    return out


def conv2d_grad_input(
    d_gout: DeviceArray,
    d_w: DeviceArray,
    H: int,
    W: int,
    pad_h: int,
    pad_w: int,
    stride_h: int,
    stride_w: int,
    flip: bool,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Gradient wrt ``x`` given ``gout (N, F, OH, OW)``; returns ``(N, C, H, W)``.

    ``H``/``W`` are needed because with strides > 1 several input sizes give
    the same output size; input rows/cols no window reaches get zero.
    """
    dt = _same_dtype(_check4("gout", d_gout), _check4("w", d_w))
    n, f, oh, ow = d_gout.shape
    f2, c, kh, kw = d_w.shape
    if f != f2:
        raise ValueError(f"gout has {f} channels, w has {f2} filters")
    if conv2d_output_shape(H, W, kh, kw, pad_h, pad_w, stride_h, stride_w) != (oh, ow):
        raise ValueError(f"gout spatial shape {(oh, ow)} does not match input {(H, W)}")
    shape = (n, c, H, W)
    if out is None:
        out = device_empty(shape, dt)
    else:
        check_out(out, shape, dt)
    if out.size:
        blocks, tpb = grid_1d(out.size)
        _grad_input_kernel(dt, bool(flip))[blocks, tpb](
            d_gout, d_w, out, pad_h, pad_w, stride_h, stride_w
        )
    return out


def conv2d_grad_filters(
    d_x: DeviceArray,
    d_gout: DeviceArray,
    KH: int,
    KW: int,
    pad_h: int,
    pad_w: int,
    stride_h: int,
    stride_w: int,
    flip: bool,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Gradient wrt ``w`` given ``x (N, C, H, W)`` and ``gout (N, F, OH, OW)``.

    Returns ``(F, C, KH, KW)``, oriented like ``w`` for either ``flip``.
    """
    dt = _same_dtype(_check4("x", d_x), _check4("gout", d_gout))
    n, c, h, w = d_x.shape
    n2, f, oh, ow = d_gout.shape
    if n != n2:
        raise ValueError(f"x has batch {n}, gout has batch {n2}")
    if conv2d_output_shape(h, w, KH, KW, pad_h, pad_w, stride_h, stride_w) != (oh, ow):
        raise ValueError(f"gout spatial shape {(oh, ow)} does not match input {(h, w)}")
    shape = (f, c, KH, KW)
    if out is None:
        out = device_empty(shape, dt)
    else:
        check_out(out, shape, dt)
    if out.size:
        most = reduce_threads_per_block()
        tpb = pow2_at_least(n * oh * ow, min(32, most), most)
        _grad_filters_kernel(dt, bool(flip), tpb)[blocks_for(out.size), tpb](
            d_x, d_gout, out, pad_h, pad_w, stride_h, stride_w
        )
    return out
