"""Device-side building blocks: block-wide tree reductions, integer min/max.

Row-wise kernels (softmax, GEMV, filter gradients) all end a per-thread partial
result with the same shared-memory tree; writing it once keeps the barriers
right in one place. Each helper must be called by *every* thread of the block
(it contains ``syncthreads``), after the thread has stored its partial value in
``sh[tid]``; it returns the block-wide result to every thread and leaves ``sh``
free for reuse.

Example (inside a kernel with ``tpb`` threads, ``tpb`` a power of two)::

    sh = cuda.shared.array(TPB, float32)
    sh[tid] = partial
    total = block_sum(sh, tid, tpb)
"""

from __future__ import annotations

from numba import cuda

__all__ = ["block_sum", "block_max", "imin", "imax"]


# Python's builtin two-argument min/max do not compile for the CUDA target in
# numba 0.66-0.68 (numba issue #10753: they became *args overloads the CUDA
# dispatcher cannot fold). The simulator does not notice; use these instead.


@cuda.jit(device=True, inline=True)
def imin(a, b):
    """Smaller of two integers (device-side ``min``)."""
    return a if a < b else b


@cuda.jit(device=True, inline=True)
def imax(a, b):
    """Larger of two integers (device-side ``max``)."""
    return a if a > b else b


@cuda.jit(device=True)
def block_sum(sh, tid, n):
    """Sum of ``sh[0:n]`` (``n`` a power of two) returned to every thread."""
    cuda.syncthreads()
    s = n // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    r = sh[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def block_max(sh, tid, n):
    """Max of ``sh[0:n]`` (NaN-propagating) returned to every thread."""
    cuda.syncthreads()
    s = n // 2
    while s > 0:
        if tid < s:
            a = sh[tid]
            b = sh[tid + s]
            if b > a or b != b:
                sh[tid] = b
        cuda.syncthreads()
        s //= 2
    r = sh[0]
    cuda.syncthreads()
    return r
