"""Dense matrix products on the device: GEMM and GEMV (BLAS semantics).

``gemm`` computes ``C = alpha * op(A) @ op(B) + beta * C`` with square
shared-memory tiles (16x16 on a GPU): each block stages one tile of ``op(A)``
and one of ``op(B)`` per step along ``K`` and every thread accumulates one
element of ``C``. When ``C`` has too few tiles to fill the GPU and ``K`` is
long (dense layers at small batch), ``K`` is split across blocks and a second
kernel sums the partial products (split-K). Transposed operands are read with
the same coalesced pattern and transposed while being stored into shared
memory, so ``trans_a``/``trans_b`` cost nothing extra. Edges that are not
multiples of the tile are zero-filled. As in BLAS, ``beta == 0`` means ``C``
is not read (it may hold garbage/NaN).

``gemv`` computes ``y = alpha * op(A) @ x + beta * y``: one block per output
row with a tree reduction for ``op(A) = A``, one thread per output for
``op(A) = A.T`` (neighbouring threads read neighbouring columns).

Example::

    d_c = gemm(cuda.to_device(a), cuda.to_device(b))             # a @ b
    gemm(d_a, d_b, d_c, alpha=0.5, beta=1.0, trans_b=True)       # c += 0.5 * a @ b.T
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import cuda

from .block import block_sum, imin
from .launch import (
    DeviceArray,
    blocks_for,
    check_c_contiguous,
    check_float,
    check_out,
    device_empty,
    gemm_tile,
    grid_1d,
    max_blocks,
    pow2_at_least,
    reduce_threads_per_block,
    sm_count,
    using_simulator,
)

__all__ = ["gemm", "gemv"]


@functools.lru_cache(maxsize=None)
def _gemm_kernel(
    dtype: np.dtype, tile: int, trans_a: bool, trans_b: bool, read_c: bool, split: bool
):
    """Tiled GEMM. With ``split``, block z sums only k-tiles [z*chunk, (z+1)*chunk) and
    stores the raw partial product in ``part[z]`` (alpha/beta are applied by the epilogue);
    without it ``part`` is unused and the result goes straight to ``c``."""
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)
    pitch = tile + 1  # pad rows so column reads of a tile avoid bank conflicts

    @cuda.jit
    def kernel(a, b, c, part, alpha, beta, chunk):
        sa = cuda.shared.array((tile, pitch), nb_dtype)  # sa[m, k] = op(A) tile
        sb = cuda.shared.array((tile, pitch), nb_dtype)  # sb[k, n] = op(B) tile
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        m_size = c.shape[0]
        n_size = c.shape[1]
        if trans_a:
            k_size = a.shape[0]
        else:
            k_size = a.shape[1]
        n_tile_m = (m_size + tile - 1) // tile
        n_tile_n = (n_size + tile - 1) // tile
        n_tile_k = (k_size + tile - 1) // tile
        n_split = part.shape[0]
        for z in range(cuda.blockIdx.z, n_split, cuda.gridDim.z):
            for tm in range(cuda.blockIdx.y, n_tile_m, cuda.gridDim.y):
                for tn in range(cuda.blockIdx.x, n_tile_n, cuda.gridDim.x):
                    acc = zero
                    for tk in range(z * chunk, imin((z + 1) * chunk, n_tile_k)):
                        # Stage op(A)[tm-tile, tk-tile]; global reads are row-contiguous in tx.
                        if trans_a:
                            ga_r = tk * tile + ty  # row of a == k
                            ga_c = tm * tile + tx  # col of a == m
                            if ga_r < k_size and ga_c < m_size:
                                sa[tx, ty] = a[ga_r, ga_c]
                            else:
                                sa[tx, ty] = zero
                        else:
                            ga_r = tm * tile + ty
                            ga_c = tk * tile + tx
                            if ga_r < m_size and ga_c < k_size:
                                sa[ty, tx] = a[ga_r, ga_c]
                            else:
                                sa[ty, tx] = zero
                        # Stage op(B)[tk-tile, tn-tile].
                        if trans_b:
                            gb_r = tn * tile + ty  # row of b == n
                            gb_c = tk * tile + tx  # col of b == k
                            if gb_r < n_size and gb_c < k_size:
                                sb[tx, ty] = b[gb_r, gb_c]
                            else:
                                sb[tx, ty] = zero
                        else:
                            gb_r = tk * tile + ty
                            gb_c = tn * tile + tx
                            if gb_r < k_size and gb_c < n_size:
                                sb[ty, tx] = b[gb_r, gb_c]
                            else:
                                sb[ty, tx] = zero
                        cuda.syncthreads()
                        for kk in range(tile):
                            acc += sa[ty, kk] * sb[kk, tx]
                        cuda.syncthreads()
                    row = tm * tile + ty
                    col = tn * tile + tx
                    if row < m_size and col < n_size:
                        if split:
                            part[z, row, col] = acc
                        elif read_c:
                            c[row, col] = alpha * acc + beta * c[row, col]
                        else:
                            c[row, col] = alpha * acc

    return kernel


@functools.lru_cache(maxsize=None)
def _split_epilogue_kernel(dtype: np.dtype, read_c: bool):
    """c = alpha * sum_z part[z] (+ beta * c): the deterministic reduction of split-K."""
    zero = dtype.type(0)

    @cuda.jit
    def kernel(part, c, alpha, beta):
        n_cols = c.shape[1]
        n_split = part.shape[0]
        for idx in range(cuda.grid(1), c.size, cuda.gridsize(1)):
            i = idx // n_cols
            j = idx - i * n_cols
            acc = zero
            for z in range(n_split):
                acc += part[z, i, j]
            if read_c:
                c[i, j] = alpha * acc + beta * c[i, j]
            else:
                c[i, j] = alpha * acc

    return kernel


# Split-K scratch buffers, reused across calls (all launches share the default stream).
_SCRATCH: dict[tuple[tuple[int, ...], np.dtype], DeviceArray] = {}
_SCRATCH_MAX = 8


def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> DeviceArray:
    key = (shape, dtype)
    buf = _SCRATCH.pop(key, None)
    if buf is None:
        buf = device_empty(shape, dtype)
        if len(_SCRATCH) >= _SCRATCH_MAX:
            _SCRATCH.pop(next(iter(_SCRATCH)))
    _SCRATCH[key] = buf  # most recently used last
    return buf


def _auto_split_k(tiles: int, k_tiles: int) -> int:
    """Split K when the output has too few tiles to occupy the GPU but K is long.

    MNIST's 2880->100 layer at batch 100 has 49 16x16 output tiles and 180 k-tiles:
    without splitting, 49 blocks each walk all 180 steps while most SMs idle.
    """
    if using_simulator():
        return 1
    sms = sm_count()
    if tiles >= sms or k_tiles < 16:
        return 1
    return max(1, min(-(-2 * sms // tiles), k_tiles // 8))


@functools.lru_cache(maxsize=None)
def _gemv_rows_kernel(dtype: np.dtype, tpb: int, read_y: bool):
    """y[i] = alpha * sum_j a[i, j] x[j] (+ beta y[i]); one block per row."""
    nb_dtype = numba.from_dtype(dtype)
    zero = dtype.type(0)

    @cuda.jit
    def kernel(a, x, y, alpha, beta):
        sh = cuda.shared.array(tpb, nb_dtype)
        tid = cuda.threadIdx.x
        n_rows = a.shape[0]
        n_cols = a.shape[1]
        for i in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
            acc = zero
            for j in range(tid, n_cols, tpb):
                acc += a[i, j] * x[j]
            sh[tid] = acc
            total = block_sum(sh, tid, tpb)
            if tid == 0:
                if read_y:
                    y[i] = alpha * total + beta * y[i]
                else:
                    y[i] = alpha * total

    return kernel


@functools.lru_cache(maxsize=None)
def _gemv_cols_kernel(dtype: np.dtype, read_y: bool):
    """y[j] = alpha * sum_i a[i, j] x[i] (+ beta y[j]); one thread per output."""
    zero = dtype.type(0)

    @cuda.jit
    def kernel(a, x, y, alpha, beta):
        n_rows = a.shape[0]
        n_cols = a.shape[1]
        for j in range(cuda.grid(1), n_cols, cuda.gridsize(1)):
            acc = zero
            for i in range(n_rows):
                acc += a[i, j] * x[i]
            if read_y:
                y[j] = alpha * acc + beta * y[j]
            else:
                y[j] = alpha * acc

    return kernel


def _check_matrix(name: str, d: DeviceArray, ndim: int) -> np.dtype:
    if len(d.shape) != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {tuple(d.shape)}")
    check_c_contiguous(name, d)
    return check_float(name, d)


def gemm(
    d_a: DeviceArray,
    d_b: DeviceArray,
    d_c: DeviceArray | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
    trans_a: bool = False,
    trans_b: bool = False,
    tile: int | None = None,
    split_k: int | None = None,
) -> DeviceArray:
    """``C = alpha * op(A) @ op(B) + beta * C``; returns ``d_c`` (allocated when ``None``).

    ``op(X)`` is ``X.T`` when the matching ``trans_*`` flag is set. All arrays are
    2-D, C-contiguous, and share one float dtype. With ``d_c=None`` a new
    ``(M, N)`` array is allocated and ``beta`` is ignored. ``tile`` overrides
    the tile edge (default :func:`launch.gemm_tile`); ``split_k`` the number of
    slices ``K`` is cut into (default: chosen from the GPU's size, 1 when the
    output alone fills the GPU). Split-K sums the slices in a second kernel, in
    a fixed order, so results stay deterministic.
    """
    dt = _check_matrix("a", d_a, 2)
    if _check_matrix("b", d_b, 2) != dt:
        raise TypeError(f"a and b dtypes differ: {dt} vs {np.dtype(d_b.dtype)}")
    m, k = (d_a.shape[1], d_a.shape[0]) if trans_a else tuple(d_a.shape)
    k2, n = (d_b.shape[1], d_b.shape[0]) if trans_b else tuple(d_b.shape)
    if k != k2:
        raise ValueError(
            f"inner dimensions differ: op(a) is {(m, k)}, op(b) is {(k2, n)} "
            f"(trans_a={trans_a}, trans_b={trans_b})"
        )
    if d_c is None:
        d_c = device_empty((m, n), dt)
        beta = 0.0
    else:
        check_out(d_c, (m, n), dt, "c")
    if m == 0 or n == 0:
        return d_c
    tile = gemm_tile() if tile is None else int(tile)
    read_c = beta != 0.0
    tiles_n = -(-n // tile)
    tiles_m = -(-m // tile)
    k_tiles = -(-k // tile)
    splits = _auto_split_k(tiles_m * tiles_n, k_tiles) if split_k is None else int(split_k)
    splits = max(1, min(splits, k_tiles))
    chunk = -(-k_tiles // splits) if k_tiles else 0
    splits = -(-k_tiles // chunk) if chunk else 1  # no empty splits
    cap = max_blocks()
    grid_x = min(tiles_n, cap)
    grid_y = max(1, min(tiles_m, cap // grid_x))
    grid_z = max(1, min(splits, cap // (grid_x * grid_y)))
    alpha_, beta_ = dt.type(alpha), dt.type(beta)
    kernel = _gemm_kernel(dt, tile, bool(trans_a), bool(trans_b), read_c, splits > 1)
    if splits == 1:
        part = d_c.reshape(1, m, n)  # unused by the kernel, typed like the split buffer
        kernel[(grid_x, grid_y, 1), (tile, tile)](d_a, d_b, d_c, part, alpha_, beta_, chunk)
        return d_c
    part = _scratch((splits, m, n), dt)
    kernel[(grid_x, grid_y, grid_z), (tile, tile)](d_a, d_b, d_c, part, alpha_, beta_, chunk)
    blocks, tpb = grid_1d(m * n)
    _split_epilogue_kernel(dt, read_c)[blocks, tpb](part, d_c, alpha_, beta_)
    return d_c


def gemv(
    d_a: DeviceArray,
    d_x: DeviceArray,
    d_y: DeviceArray | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
    trans_a: bool = False,
) -> DeviceArray:
    """``y = alpha * op(A) @ x + beta * y``; returns ``d_y`` (allocated when ``None``).

    ``A`` is 2-D, ``x`` and ``y`` 1-D, all C-contiguous with one float dtype.
    """
    dt = _check_matrix("a", d_a, 2)
    if _check_matrix("x", d_x, 1) != dt:
        raise TypeError(f"a and x dtypes differ: {dt} vs {np.dtype(d_x.dtype)}")
    rows, cols = d_a.shape
    n_out, n_in = (cols, rows) if trans_a else (rows, cols)
    if d_x.shape[0] != n_in:
        raise ValueError(f"x has {d_x.shape[0]} elements, op(a) has {n_in} columns")
    if d_y is None:
        d_y = device_empty((n_out,), dt)
        beta = 0.0
    else:
        check_out(d_y, (n_out,), dt, "y")
    if n_out == 0:
        return d_y
    read_y = beta != 0.0
    args = (d_a, d_x, d_y, dt.type(alpha), dt.type(beta))
    if trans_a:
        blocks, tpb = grid_1d(n_out)
        _gemv_cols_kernel(dt, read_y)[blocks, tpb](*args)
    else:
        most = reduce_threads_per_block()
        tpb = pow2_at_least(n_in, min(32, most), most)
        _gemv_rows_kernel(dt, tpb, read_y)[blocks_for(n_out), tpb](*args)
    return d_y
