"""Launch geometry and platform facts shared by every CUDA kernel module.

Every kernel in ``symgraph.kernels.cuda`` walks its index space with a grid-stride
loop, so *any* grid is correct and the grid size is purely a performance choice.
That lets one code path serve two very different machines:

* a real GPU, where we want a few waves of 256-thread blocks per SM, and
* Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where every simulated
  thread is a Python thread (slow: docs/benchmarks.md) and we want as few as possible.

Block sizes that kernels bake into shared-memory arrays (reduction trees, GEMM
tiles) are chosen here too, and kernel factories are keyed by them.

Example::

    >>> from symgraph.kernels.cuda import launch
    >>> blocks, threads = launch.grid_1d(1000)
    >>> blocks >= 1 and threads >= 1
    True
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

#: A CUDA device array: ``numba.cuda.cudadrv.devicearray.DeviceNDArray`` on a GPU,
#: ``FakeCUDAArray`` under the simulator. Launchers accept and return these.
DeviceArray = Any

# Simulator geometry: tiny on purpose, correctness only.
_SIM_TPB = 32
_SIM_REDUCE_TPB = 8
_SIM_MAX_BLOCKS = 2
_SIM_TILE = 4

# GPU geometry.
_GPU_TPB = 256
_GPU_REDUCE_TPB = 256
_GPU_TILE = 16
_GPU_BLOCKS_PER_SM = 32
_GPU_FALLBACK_SMS = 80


def using_simulator() -> bool:
    """True when ``numba.cuda`` is the pure-Python simulator.

    Decided by which implementation ``numba.cuda`` was imported as (the
    environment variable only matters before that first import).

    >>> isinstance(using_simulator(), bool)
    True
    """
    return cuda.to_device.__module__.startswith("numba.cuda.simulator")


@functools.lru_cache(maxsize=1)
def has_real_gpu() -> bool:
    """True when kernels will run on real CUDA hardware (not the simulator).

    >>> has_real_gpu() in (True, False)
    True
    """
    if using_simulator():
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # driver missing or broken: treat as no GPU
        return False


@functools.lru_cache(maxsize=1)
def sm_count() -> int:
    """Streaming multiprocessors on the current GPU (a typical count if it cannot be queried)."""
    try:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:
        return _GPU_FALLBACK_SMS


def threads_per_block() -> int:
    """Threads per block for 1-D elementwise-style kernels."""
    return _SIM_TPB if using_simulator() else _GPU_TPB


def reduce_threads_per_block() -> int:
    """Threads per block (a power of two) for shared-memory tree reductions."""
    return _SIM_REDUCE_TPB if using_simulator() else _GPU_REDUCE_TPB


def gemm_tile() -> int:
    """Edge of the square shared-memory tile used by :mod:`.gemm`."""
    return _SIM_TILE if using_simulator() else _GPU_TILE


def max_blocks() -> int:
    """Upper bound on blocks per launch; grid-stride loops cover the rest."""
    if using_simulator():
        return _SIM_MAX_BLOCKS
    return _GPU_BLOCKS_PER_SM * sm_count()


def blocks_for(n_items: int, per_block: int = 1) -> int:
    """Blocks needed to give each block ``per_block`` items, clamped to ``[1, max_blocks()]``.

    >>> blocks_for(0)
    1
    """
    need = -(-int(n_items) // max(int(per_block), 1))
    return max(1, min(need, max_blocks()))


def grid_1d(n: int, tpb: int | None = None) -> tuple[int, int]:
    """``(blocks, threads)`` for a 1-D grid-stride loop over ``n`` items.

    >>> grid_1d(10, tpb=4)[1]
    4
    """
    tpb = threads_per_block() if tpb is None else int(tpb)
    return blocks_for(n, tpb), tpb


def pow2_at_least(n: int, lo: int, hi: int) -> int:
    """Smallest power of two ``>= n``, clamped to ``[lo, hi]`` (both powers of two).

    Used to size a reduction block to a short row instead of always using the max.

    >>> pow2_at_least(10, 4, 256)
    16
    """
    p = 1 << max(0, math.ceil(math.log2(max(int(n), 1))))
    return max(lo, min(hi, p))


def check_c_contiguous(name: str, arr: DeviceArray) -> None:
    """Raise ``ValueError`` unless ``arr`` is C-contiguous (kernels index it flat)."""
    if not arr.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous, got strides {arr.strides}")


def check_float(name: str, arr: DeviceArray) -> np.dtype:
    """Return ``arr``'s dtype, raising ``TypeError`` unless it is float32 or float64."""
    dt = np.dtype(arr.dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def device_empty(shape: tuple[int, ...] | int, dtype: Any) -> DeviceArray:
    """Uninitialised C-contiguous device array (thin wrapper, one place to change)."""
    return cuda.device_array(shape, dtype=np.dtype(dtype))


def check_out(out: DeviceArray, shape: tuple[int, ...], dtype: Any, name: str = "out") -> None:
    """Validate a caller-provided output array's shape, dtype and contiguity."""
    if tuple(out.shape) != tuple(shape) or np.dtype(out.dtype) != np.dtype(dtype):
        raise ValueError(
            f"{name} must have shape {tuple(shape)} and dtype {np.dtype(dtype)}, "
            f"got {tuple(out.shape)} {np.dtype(out.dtype)}"
        )
    check_c_contiguous(name, out)
