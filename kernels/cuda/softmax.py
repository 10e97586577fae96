"""Row-wise softmax family on 2-D ``(rows, cols)`` arrays, one block per row.

Every row needs a max (for stability) and a sum, so each block strides over its
row and meets in shared-memory trees (:mod:`.block`); rows are visited with a
grid-stride loop. Block width follows the row length (a power of two between a
warp and 256), so the 10-class MNIST output does not idle 246 threads per row.

* ``softmax(x)``                 ``exp(x - max) / sum(exp(x - max))``
* ``log_softmax(x)``             ``x - max - log(sum(exp(x - max)))``
* ``softmax_grad(gy, y)``        ``(gy - sum(gy * y)) * y``  with ``y = softmax(x)``
* ``log_softmax_grad(gy, y)``    ``gy - exp(y) * sum(gy)``   with ``y = log_softmax(x)``
* ``softmax_nll_forward(x, t)``  ``(nll, sm)``: ``nll[i] = -log_softmax(x)[i, t[i]]``
  computed as ``log(sum) + max - x[i, t[i]]`` (never ``log`` of a rounded-to-0
  probability), and ``sm = softmax(x)`` kept for the backward pass. A target
  outside ``[0, cols)`` yields ``nll = NaN`` for that row (kernels cannot raise).
* ``softmax_nll_backward(gnll, sm, t)``  ``gnll[i] * (sm[i, j] - [j == t[i]])``
  (Theano's ``CrossentropySoftmax1HotWithBiasDx``).

Example::

    d_nll, d_sm = softmax_nll_forward(d_logits, d_targets)
    d_gx = softmax_nll_backward(d_gnll, d_sm, d_targets)
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from .block import block_max, block_sum
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

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_grad",
    "log_softmax_grad",
    "softmax_nll_forward",
    "softmax_nll_backward",
]

_SOFTMAX, _LOG_SOFTMAX = 0, 1


@functools.lru_cache(maxsize=None)
def _softmax_kernel(dtype: np.dtype, tpb: int, kind: int):
    """kind 0: softmax, 1: log_softmax; out may alias x."""
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)
    one = dtype.type(1)
    neg_inf = dtype.type(-np.inf)

    @cuda.jit
    def kernel(x, out):
        sh = cuda.shared.array(tpb, nb_dtype)
        tid = cuda.threadIdx.x
        n_rows = x.shape[0]
        n_cols = x.shape[1]
        for r in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
            m = neg_inf
            for j in range(tid, n_cols, tpb):
                v = x[r, j]
                if v > m or v != v:
                    m = v
            sh[tid] = m
            m = block_max(sh, tid, tpb)
            s = zero
            for j in range(tid, n_cols, tpb):
                e = math.exp(x[r, j] - m)
                if kind == 0:
                    out[r, j] = e
                s += e
            sh[tid] = s
            s = block_sum(sh, tid, tpb)
            if kind == 0:
                inv = one / s
                for j in range(tid, n_cols, tpb):  # same j's this thread wrote
                    out[r, j] = out[r, j] * inv
            else:
                shift = m + math.log(s)
                for j in range(tid, n_cols, tpb):
                    out[r, j] = x[r, j] - shift

    return kernel


@functools.lru_cache(maxsize=None)
def _grad_kernel(dtype: np.dtype, tpb: int, kind: int):
    """kind 0: softmax grad, 1: log_softmax grad."""
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)

    @cuda.jit
    def kernel(gy, y, gx):
        sh = cuda.shared.array(tpb, nb_dtype)
        tid = cuda.threadIdx.x
        n_rows = y.shape[0]
        n_cols = y.shape[1]
        for r in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
            s = zero
            for j in range(tid, n_cols, tpb):
                if kind == 0:
                    s += gy[r, j] * y[r, j]
                else:
                    s += gy[r, j]
            sh[tid] = s
            s = block_sum(sh, tid, tpb)
            for j in range(tid, n_cols, tpb):
                if kind == 0:
                    gx[r, j] = (gy[r, j] - s) * y[r, j]
                else:
                    gx[r, j] = gy[r, j] - math.exp(y[r, j]) * s

    return kernel


@functools.lru_cache(maxsize=None)
def _nll_forward_kernel(dtype: np.dtype, tpb: int):
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)
    one = dtype.type(1)
    neg_inf = dtype.type(-np.inf)
    nan = dtype.type(np.nan)

    @cuda.jit
    def kernel(x, target, nll, sm):
        sh = cuda.shared.array(tpb, nb_dtype)
        tid = cuda.threadIdx.x
        n_rows = x.shape[0]
        n_cols = x.shape[1]
        for r in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
            m = neg_inf
            for j in range(tid, n_cols, tpb):
                v = x[r, j]
                if v > m or v != v:
                    m = v
            sh[tid] = m
            m = block_max(sh, tid, tpb)
            s = zero
            for j in range(tid, n_cols, tpb):
                e = math.exp(x[r, j] - m)
                sm[r, j] = e
                s += e
            sh[tid] = s
            s = block_sum(sh, tid, tpb)
            inv = one / s
            for j in range(tid, n_cols, tpb):
                sm[r, j] = sm[r, j] * inv
            if tid == 0:
                t = target[r]
                if t >= 0 and t < n_cols:
                    nll[r] = math.log(s) + m - x[r, t]
                else:
                    nll[r] = nan

    return kernel


@functools.lru_cache(maxsize=None)
def _nll_backward_kernel(dtype: np.dtype):
    one = dtype.type(1)

    @cuda.jit
    def kernel(gnll, sm, target, gx):
        n_cols = sm.shape[1]
        for idx in range(cuda.grid(1), sm.size, cuda.gridsize(1)):
            r = idx // n_cols
            j = idx - r * n_cols
            v = sm[r, j]
            if target[r] == j:
                v -= one
            gx[r, j] = gnll[r] * v

    return kernel


def _check2(name: str, d: DeviceArray) -> np.dtype:
    if len(d.shape) != 2:
        raise ValueError(f"{name} must be 2-d (rows, cols), got shape {tuple(d.shape)}")
    check_c_contiguous(name, d)
    return check_float(name, d)


def _check_targets(d_t: DeviceArray, rows: int) -> None:
    if tuple(d_t.shape) != (rows,):
        raise ValueError(f"targets must have shape ({rows},), got {tuple(d_t.shape)}")
    if np.dtype(d_t.dtype).kind not in "iu":
        raise TypeError(f"targets must be integers, got {np.dtype(d_t.dtype)}")
    check_c_contiguous("targets", d_t)


def _row_tpb(cols: int) -> int:
    most = reduce_threads_per_block()
    return pow2_at_least(cols, min(32, most), most)


def _row_launch(kernel_for, rows: int, cols: int, *args) -> None:
    if rows and cols:
        tpb = _row_tpb(cols)
        kernel_for(tpb)[blocks_for(rows), tpb](*args)


def _alloc(out: DeviceArray | None, shape: tuple[int, ...], dt: np.dtype) -> DeviceArray:
    if out is None:
        return device_empty(shape, dt)
    check_out(out, shape, dt)
    return out


def softmax(d_x: DeviceArray, out: DeviceArray | None = None) -> DeviceArray:
    """Row-wise softmax of 2-D ``x``; ``out`` may be ``x`` itself (in place)."""
    dt = _check2("x", d_x)
    out = _alloc(out, tuple(d_x.shape), dt)
    _row_launch(lambda t: _softmax_kernel(dt, t, _SOFTMAX), *d_x.shape, d_x, out)
    return out


def log_softmax(d_x: DeviceArray, out: DeviceArray | None = None) -> DeviceArray:
    """Row-wise log-softmax of 2-D ``x``; ``out`` may be ``x`` itself (in place)."""
    dt = _check2("x", d_x)
    out = _alloc(out, tuple(d_x.shape), dt)
    _row_launch(lambda t: _softmax_kernel(dt, t, _LOG_SOFTMAX), *d_x.shape, d_x, out)
    return out


def _grad(kind: int, d_gy: DeviceArray, d_y: DeviceArray, out: DeviceArray | None) -> DeviceArray:
    dt = _check2("y", d_y)
    if _check2("gy", d_gy) != dt or tuple(d_gy.shape) != tuple(d_y.shape):
        raise ValueError("gy must match y in shape and dtype")
    out = _alloc(out, tuple(d_y.shape), dt)
    _row_launch(lambda t: _grad_kernel(dt, t, kind), *d_y.shape, d_gy, d_y, out)
    return out


def softmax_grad(
    d_gy: DeviceArray, d_y: DeviceArray, out: DeviceArray | None = None
) -> DeviceArray:
    """Gradient wrt ``x`` of ``y = softmax(x)`` given ``gy`` and ``y``."""
    return _grad(_SOFTMAX, d_gy, d_y, out)


def log_softmax_grad(
    d_gy: DeviceArray, d_y: DeviceArray, out: DeviceArray | None = None
) -> DeviceArray:
    """Gradient wrt ``x`` of ``y = log_softmax(x)`` given ``gy`` and ``y``."""
    return _grad(_LOG_SOFTMAX, d_gy, d_y, out)


def softmax_nll_forward(d_x: DeviceArray, d_y_idx: DeviceArray) -> tuple[DeviceArray, DeviceArray]:
    """``(nll, sm)``: per-row negative log-likelihood of integer targets, and ``softmax(x)``.

    ``nll`` has shape ``(rows,)`` and ``x``'s dtype; out-of-range targets give NaN.
    """
    dt = _check2("x", d_x)
    rows, cols = d_x.shape
    _check_targets(d_y_idx, rows)
    nll = device_empty((rows,), dt)
    sm = device_empty((rows, cols), dt)
    if rows and not cols:  # no class can be the target
        nll.copy_to_device(np.full(rows, np.nan, dt))
    _row_launch(lambda t: _nll_forward_kernel(dt, t), rows, cols, d_x, d_y_idx, nll, sm)
    return nll, sm


def softmax_nll_backward(
    d_gnll: DeviceArray,
    d_sm: DeviceArray,
    d_y_idx: DeviceArray,
    out: DeviceArray | None = None,
) -> DeviceArray:
    """Gradient wrt ``x`` of :func:`softmax_nll_forward`'s ``nll`` given ``gnll (rows,)``."""
    dt = _check2("sm", d_sm)
    rows, cols = d_sm.shape
    _check_targets(d_y_idx, rows)
    if tuple(d_gnll.shape) != (rows,) or check_float("gnll", d_gnll) != dt:
        raise ValueError(f"gnll must have shape ({rows},) and dtype {dt}")
    out = _alloc(out, (rows, cols), dt)
    if out.size:
        blocks, tpb = grid_1d(out.size)
        _nll_backward_kernel(dt)[blocks, tpb](d_gnll, d_sm, d_y_idx, out)
    return out
