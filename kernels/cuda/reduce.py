"""Sum / max / min / argmax / argmin along one axis, or over a whole array.

Any single-axis reduction of a C-contiguous array is the same problem once the
array is viewed as ``(outer, n, inner)`` with ``n`` the reduced axis, so one
pair of kernels serves every axis and rank:

* ``block`` strategy: one block per output element (grid-stride over outputs),
  its threads stride over ``n`` and meet in a shared-memory tree. Best when
  there are few outputs or the reduced axis is the contiguous one.
* ``thread`` strategy: one thread per output element looping over ``n``;
  neighbouring threads read neighbouring ``inner`` elements (coalesced). Best
  for many outputs along a non-last axis.

A full reduction uses two passes of a grid-stride block kernel (partials per
block, then one block over the partials).

Semantics follow numpy: ``max``/``min`` propagate NaN, ``argmax``/``argmin``
return the first index of the extreme value (or of the first NaN); indices are
int64; ``sum`` keeps the input dtype (also for integers, unlike numpy, which
widens small integers). Reducing an empty axis is an error except for ``sum``.

Example::

    d = cuda.to_device(np.arange(6, dtype=np.float32).reshape(2, 3))
    reduce_axis(d, 1, "sum").copy_to_host()      # array([ 3., 12.], dtype=float32)
    reduce_all(d, "argmax").copy_to_host()       # array(5)
"""

from __future__ import annotations

import functools
from typing import Literal

import numba
import numpy as np
from numba import cuda

from .launch import (
    DeviceArray,
    blocks_for,
    check_c_contiguous,
    check_out,
    device_empty,
    grid_1d,
    pow2_at_least,
    reduce_threads_per_block,
)

__all__ = [
    "SUM",
    "MAX",
    "MIN",
    "ARGMAX",
    "ARGMIN",
    "OP_CODES",
    "op_code",
    "reduce_axis",
    "reduce_all",
]

#: Integer op codes (also accepted by the launchers in place of names).
SUM, MAX, MIN, ARGMAX, ARGMIN = 0, 1, 2, 3, 4
OP_CODES = {"sum": SUM, "max": MAX, "min": MIN, "argmax": ARGMAX, "argmin": ARGMIN}

# Index carried by the identity element: larger than any real index, so ties
# between the identity and a real element always go to the real element.
_NO_INDEX = np.int64(2**62)
# Below this many outputs the block strategy wins even for strided axes.
_THREAD_STRATEGY_MIN_OUTPUTS = 4096


def op_code(op: str | int) -> int:
    """Normalise ``op`` (``"sum"``, ``"max"``, ``"min"``, ``"argmax"``, ``"argmin"`` or 0..4).

    >>> op_code("argmax")
    3
    """
    if isinstance(op, str):
        try:
            return OP_CODES[op]
        except KeyError:
            raise ValueError(f"unknown reduction {op!r}; expected one of {list(OP_CODES)}")
    code = int(op)
    if code not in OP_CODES.values():
        raise ValueError(f"unknown reduction code {op!r}; expected 0..4")
    return code


# --- combiners: (acc_value, acc_index) x (value, index) -> (value, index) -------------
# Order-independent: ties and NaNs are decided by index, so any traversal order
# (grid-stride, tree) gives numpy's answer.


@cuda.jit(device=True, inline=True)
def _comb_sum(av, ai, bv, bi):
    return av + bv, ai


@cuda.jit(device=True, inline=True)
def _comb_max(av, ai, bv, bi):
    if av != av:  # accumulated NaN: only an earlier NaN replaces it
        if bv != bv and bi < ai:
            return bv, bi
        return av, ai
    if bv != bv or bv > av or (bv == av and bi < ai):
        return bv, bi
    return av, ai


@cuda.jit(device=True, inline=True)
def _comb_min(av, ai, bv, bi):
    if av != av:
        if bv != bv and bi < ai:
            return bv, bi
        return av, ai
    if bv != bv or bv < av or (bv == av and bi < ai):
        return bv, bi
    return av, ai


_COMBINERS = {SUM: _comb_sum, MAX: _comb_max, MIN: _comb_min, ARGMAX: _comb_max, ARGMIN: _comb_min}


def _identity(code: int, dtype: np.dtype):
    if code == SUM:
        return dtype.type(0)
    largest = code in (MIN, ARGMIN)
    if np.issubdtype(dtype, np.floating):
        return dtype.type(np.inf if largest else -np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.max if largest else info.min)


def _out_dtype(code: int, dtype: np.dtype) -> np.dtype:
    return np.dtype(np.int64) if code in (ARGMAX, ARGMIN) else dtype


# --- kernels --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _block_kernel(code: int, dtype: np.dtype, tpb: int):
    """x (outer, n, inner) -> out (outer, inner); one block per output element."""
    comb = _COMBINERS[code]
    ident = _identity(code, dtype)
    no_index = _NO_INDEX
    is_arg = code in (ARGMAX, ARGMIN)
    nb_dtype = numba.from_dtype(dtype)
    half = tpb // 2

    @cuda.jit
    def kernel(x, out):
        sv = cuda.shared.array(tpb, nb_dtype)
        si = cuda.shared.array(tpb, numba.int64)
        tid = cuda.threadIdx.x
        n = x.shape[1]
        inner = x.shape[2]
        n_out = x.shape[0] * inner
        for r in range(cuda.blockIdx.x, n_out, cuda.gridDim.x):
            o = r // inner
            i = r - o * inner
            av = ident
            ai = no_index
            for k in range(tid, n, tpb):
                av, ai = comb(av, ai, x[o, k, i], k)
            sv[tid] = av
            si[tid] = ai
            cuda.syncthreads()
            s = half
            while s > 0:
                if tid < s:
                    v, j = comb(sv[tid], si[tid], sv[tid + s], si[tid + s])
                    sv[tid] = v
                    si[tid] = j
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                if is_arg:
                    out[o, i] = si[0]
                else:
                    out[o, i] = sv[0]
            cuda.syncthreads()  # shared arrays are reused by the next output

    return kernel


@functools.lru_cache(maxsize=None)
def _thread_kernel(code: int, dtype: np.dtype):
    """x (outer, n, inner) -> out (outer, inner); one thread per output element."""
    comb = _COMBINERS[code]
    ident = _identity(code, dtype)
    no_index = _NO_INDEX
    is_arg = code in (ARGMAX, ARGMIN)

    @cuda.jit
    def kernel(x, out):
        n = x.shape[1]
        inner = x.shape[2]
        n_out = x.shape[0] * inner
        for r in range(cuda.grid(1), n_out, cuda.gridsize(1)):
            o = r // inner
            i = r - o * inner
            av = ident
            ai = no_index
            for k in range(n):
                av, ai = comb(av, ai, x[o, k, i], k)
            if is_arg:
                out[o, i] = ai
            else:
                out[o, i] = av

    return kernel


@functools.lru_cache(maxsize=None)
def _partial_kernel(code: int, dtype: np.dtype, tpb: int, indexed: bool):
    """Flat x -> one (value, index) partial per block; ``indexed`` reads indices from idx."""
    comb = _COMBINERS[code]
    ident = _identity(code, dtype)
    no_index = _NO_INDEX
    nb_dtype = numba.from_dtype(dtype)
    half = tpb // 2

    @cuda.jit
    def kernel(x, idx, part_v, part_i):
        sv = cuda.shared.array(tpb, nb_dtype)
        si = cuda.shared.array(tpb, numba.int64)
        tid = cuda.threadIdx.x
        av = ident
        ai = no_index
        for k in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            if indexed:
                av, ai = comb(av, ai, x[k], idx[k])
            else:
                av, ai = comb(av, ai, x[k], k)
        sv[tid] = av
        si[tid] = ai
        cuda.syncthreads()
        s = half
        while s > 0:
            if tid < s:
                v, j = comb(sv[tid], si[tid], sv[tid + s], si[tid + s])
                sv[tid] = v
                si[tid] = j
            cuda.syncthreads()
            s //= 2
        if tid == 0:
            part_v[cuda.blockIdx.x] = sv[0]
            part_i[cuda.blockIdx.x] = si[0]

    return kernel


# --- launchers ------------------------------------------------------------------------


def _check_input(d_x: DeviceArray) -> np.dtype:
    check_c_contiguous("x", d_x)
    dt = np.dtype(d_x.dtype)
    if dt.kind not in "fiu":
        raise TypeError(f"reductions support float and integer arrays, got {dt}")
    return dt


def reduce_axis(
    d_x: DeviceArray,
    axis: int,
    op: str | int,
    out: DeviceArray | None = None,
    strategy: Literal["auto", "block", "thread"] = "auto",
) -> DeviceArray:
    """Reduce C-contiguous ``d_x`` along ``axis`` with ``op``; the result drops that axis.

    ``op``: ``"sum"`` (0), ``"max"`` (1), ``"min"`` (2), ``"argmax"`` (3), ``"argmin"`` (4).
    Output dtype is ``d_x.dtype`` (int64 for arg-reductions). ``out``, if given,
    must already have that shape and dtype and is returned. ``strategy`` forces
    one of the two kernels (see module docstring); ``"auto"`` picks.
    """
    code = op_code(op)
    dt = _check_input(d_x)
    shape = tuple(d_x.shape)
    if not shape:
        raise ValueError("reduce_axis needs at least one dimension; use reduce_all")
    ax = axis + len(shape) if axis < 0 else axis
    if not 0 <= ax < len(shape):
        raise ValueError(f"axis {axis} out of range for {len(shape)}-d array")
    outer = int(np.prod(shape[:ax], dtype=np.int64))
    n = shape[ax]
    inner = int(np.prod(shape[ax + 1 :], dtype=np.int64))
    out_shape = shape[:ax] + shape[ax + 1 :]
    odt = _out_dtype(code, dt)
    if n == 0 and code != SUM:
        raise ValueError(f"cannot take {op!r} along an empty axis")
    if out is None:
        out = device_empty(out_shape, odt)
    else:
        check_out(out, out_shape, odt)
    n_out = outer * inner
    if n_out == 0:
        return out
    if n == 0:  # sum over an empty axis; device arrays cannot reshape zero-size views
        out.copy_to_device(np.zeros(out_shape, odt))
        return out
    x3 = d_x.reshape(outer, n, inner)
    o2 = out.reshape(outer, inner)
    if strategy == "auto":
        strategy = "thread" if inner > 1 and n_out >= _THREAD_STRATEGY_MIN_OUTPUTS else "block"
    if strategy == "block":
        most = reduce_threads_per_block()
        tpb = pow2_at_least(n, min(32, most), most)  # short rows: smaller blocks
        _block_kernel(code, dt, tpb)[blocks_for(n_out), tpb](x3, o2)
    elif strategy == "thread":
        blocks, tpb = grid_1d(n_out)
        _thread_kernel(code, dt)[blocks, tpb](x3, o2)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    return out


def reduce_all(d_x: DeviceArray, op: str | int, out: DeviceArray | None = None) -> DeviceArray:
    """Reduce every element of C-contiguous ``d_x``; returns a 0-d device array.

    Arg-reductions give the flat (C-order) index, like ``np.argmax(x)``.
    """
    code = op_code(op)
    dt = _check_input(d_x)
    odt = _out_dtype(code, dt)
    n = int(d_x.size)
    if n == 0 and code != SUM:
        raise ValueError(f"cannot take {op!r} of an empty array")
    if out is None:
        out = device_empty((), odt)
    else:
        check_out(out, (), odt)
    if n == 0:
        out.copy_to_device(np.zeros((), odt))
        return out
    tpb = reduce_threads_per_block()
    flat = d_x.reshape(n)
    blocks = blocks_for(n, tpb)
    # Final (value, index) land in ``out`` viewed as 1-element; the other is scratch.
    is_arg = code in (ARGMAX, ARGMIN)
    fin_v = device_empty(1, dt) if is_arg else out.reshape(1)
    fin_i = out.reshape(1) if is_arg else device_empty(1, np.int64)
    if blocks == 1:
        # ``fin_i`` doubles as the (unread) index argument of the unindexed pass.
        _partial_kernel(code, dt, tpb, False)[1, tpb](flat, fin_i, fin_v, fin_i)
        return out
    part_v = device_empty(blocks, dt)
    part_i = device_empty(blocks, np.int64)
    _partial_kernel(code, dt, tpb, False)[blocks, tpb](flat, part_i, part_v, part_i)
    _partial_kernel(code, dt, tpb, True)[1, tpb](part_v, part_i, fin_v, fin_i)
    return out
