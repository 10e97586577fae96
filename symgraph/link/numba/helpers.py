"""Small Numba helpers imported by generated modules (resolved at typing time)."""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload


def flat(a, n):
    """View a C-contiguous array as 1-d with ``n`` elements (caller checked contiguity)."""
    return np.lib.stride_tricks.as_strided(a, (n,), (a.itemsize,))


@overload(flat, jit_options={"cache": True})
def _flat_overload(a, n):
    if isinstance(a, types.Array) and a.layout == "C":
        return lambda a, n: a.reshape(n)

    def impl(a, n):
        return np.lib.stride_tricks.as_strided(a, (n,), (a.itemsize,))

    return impl


def unit_row(a, n):
    """A 1-d array whose unit stride the caller checked, typed C-contiguous.

    Why: a row of a sliced matrix (an LSTM's gate ``z[:, :H]``) is typed 'A'; its loop
    then vectorizes only with gathers, several times slower than on a 'C' view of the
    same memory (docs/benchmarks.md). Elementwise loops take these rows when every
    operand's last stride is one element.
    """
    return a


@overload(unit_row, jit_options={"cache": True})
def _unit_row_overload(a, n):
    if isinstance(a, types.Array) and a.ndim == 1:
        return lambda a, n: numba.carray(_data_ptr(a), n)
    return None


@intrinsic
def _data_ptr(typingctx, a):
    sig = types.CPointer(a.dtype)(a)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data

    return sig, codegen


@numba.njit(cache=True)
def transpose(a, axes):
    """``a.transpose(axes)``, compiled once per installation instead of once per process:
    Numba's own lowering compiles a shape-error formatter (str/repr/hash overloads, a long
    compile: docs/benchmarks.md) that its in-memory cache forgets at exit."""
    return a.transpose(axes)


# -- allocation, compiled once per installation -------------------------------------
# Numba compiles its ``np.empty``/``np.zeros``/``np.full``/``np.ascontiguousarray``
# implementations anew in every process, for every (shape arity, dtype) they meet: together
# a large share of the network3 training function's cold compile (docs/benchmarks.md).
# Generated modules call these disk-cached wrappers instead (``linker.ALLOCATORS`` rewrites
# the calls); their machine code is linked into ``graph_fn`` like any callee, so a cached
# graph pays nothing.
@numba.njit(cache=True, nogil=True)
def empty(shape, dtype):
    return np.empty(shape, dtype)


@numba.njit(cache=True, nogil=True)
def zeros(shape, dtype):
    return np.zeros(shape, dtype)


@numba.njit(cache=True, nogil=True)
def full(shape, fill_value, dtype):
    return np.full(shape, fill_value, dtype)


@numba.njit(cache=True, nogil=True)
def ascontiguousarray(a):
    return np.ascontiguousarray(a)


@numba.njit(cache=True, nogil=True)
def reshape_contiguous(a, shape):
    """``a`` (copied when not C-contiguous) viewed with ``shape``. Called by symbol from
    ``Reshape`` kernels: compiled once per installation and type, not in every kernel."""
    return np.ascontiguousarray(a).reshape(shape)


@numba.njit(cache=True, nogil=True)
def astype(a, dtype):
    """``a.astype(dtype)`` (a copy), compiled once per installation like the allocators."""
    return a.astype(dtype)


# -- float sums, compiled once per installation ---------------------------------------
# A float sum needs ``fastmath={'reassoc'}`` to vectorize, and a node function with its
# own fastmath flags cannot be inlined into ``graph_fn``: each such node was a Numba
# compilation of its own in every new graph (7 of them in network3's training function;
# docs/benchmarks.md). Reductions whose reduced axes are a leading and/or a trailing block
# call this cached function instead, through ``link/numba/extern.py`` (by symbol, not
# re-compiled).
@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def sum_lmr(x, acc_zero):
    """``out[m] = sum over l, r of x[l, m, r]`` for a 3-d ``x``, accumulated in the dtype
    of ``acc_zero`` (float64 for float32 input, as numpy's pairwise sum is that accurate)."""
    L, M, R = x.shape
    out = np.zeros(M, dtype=type(acc_zero))
    if R == 1 and M >= 16:
        # rows of a matrix added up: the kept axis is the contiguous one
        for l_ in range(L):
            for m in range(M):
                out[m] += x[l_, m, 0]
    elif R == 1:
        for m in range(M):
            acc = acc_zero
            for l_ in range(L):
                acc += x[l_, m, 0]
            out[m] = acc
    else:
        for l_ in range(L):
            for m in range(M):
                acc = acc_zero
                for r in range(R):
                    acc += x[l_, m, r]
                out[m] += acc
    return out


@numba.njit(cache=True, nogil=True)
def copy_into(dst, src):
    """``dst[...] = src`` for arrays of one shape: one flat loop when both are C-contiguous
    at run time, else an element loop over the index space.

    Called by symbol (compiled once per installation and type) from scan's loop, which
    copies each step's values into its output buffers, and from elementwise kernels, which
    write back an in-place result computed in a contiguous copy. Why not Numba's array
    assignment: between 2-D slices it runs a general strided loop, about three times
    slower than the flat one (which LLVM vectorizes); and its broadcasting error path
    formats the shapes into a message, whose compile took 2.6 s of the first LSTM's
    compile (per process, for every new array rank). A value typed with layout 'A' but
    contiguous at run time takes the flat loop too (``ascontiguousarray`` is then a view).
    """
    if src.shape != dst.shape:
        raise ValueError("copy_into: the value does not have the destination's shape")
    if src.flags.c_contiguous and dst.flags.c_contiguous:
        d = np.ascontiguousarray(dst).reshape(dst.size)
        s = np.ascontiguousarray(src).reshape(src.size)
        for k in range(d.size):
            d[k] = s[k]
    else:
        for idx in np.ndindex(dst.shape):
            dst[idx] = src[idx]
