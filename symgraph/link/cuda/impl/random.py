"""CUDA implementation of ``RandomDraw``: the py backend's Philox4x32-10 stream on the GPU.

The streams of ``symgraph.tensor.random`` are counter-based: block ``b`` of a draw is
Philox(``counter + b``, ``key``), independent of every other block, so one thread per
block computes exactly the numbers the numpy ``perform`` computes (same integer
operations, same float operations in the same order; ``log``/``sin``/``cos`` of the
normal distribution are the module's polynomials). The state ``[key, counter]`` stays on
the device: kernels read it there and write the advanced state into a new array.

(``symgraph.kernels.cuda.random`` is a different generator -- xoroshiro128+ -- whose
numbers could not match the py and Numba backends; it is not used here.)
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from symgraph.link import philox as P
from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.tensor.random import RandomDraw

_U = np.uint64
MASK32, S32, S11, S40, ONE = P.MASK32, P.S32, P.S11, P.S40, P.ONE
TWO_M53, F32_TWO_M24 = P.TWO_M53, P.F32_TWO_M24


@functools.lru_cache(maxsize=None)
def _device_funcs():
    """The shared scalar core (``symgraph.link.philox``) as device functions, with
    ``philox(ctr, k0, k1)``: the four words of block counter ``ctr`` under key (k0, k1)."""
    block = cuda.jit(device=True)(P.philox_block)
    zero = P.ZERO

    @cuda.jit(device=True)
    def philox(ctr, k0, k1):
        return block(ctr & MASK32, ctr >> S32, zero, zero, k0, k1)

    return philox, cuda.jit(device=True)(P.log01), cuda.jit(device=True)(P.sincos2pi)


@functools.lru_cache(maxsize=None)
def _kernel(dist, dtype):
    philox, log01, sincos2pi = _device_funcs()
    f32 = dtype == "float32"
    odt = np.dtype(dtype).type

    if dist == "uniform":
        @cuda.jit
        def kernel(state, new, out, nblocks):
            key = state[0]
            ctr = state[1]
            k0 = key & MASK32
            k1 = key >> S32
            n = out.size
            for b in range(cuda.grid(1), nblocks, cuda.gridsize(1)):
                w0, w1, w2, w3 = philox(ctr + _U(b), k0, k1)
                ua = w0 | (w1 << S32)
                ub = w2 | (w3 << S32)
                if f32:
                    out[2 * b] = np.float32(ua >> S40) * F32_TWO_M24
                    if 2 * b + 1 < n:
                        out[2 * b + 1] = np.float32(ub >> S40) * F32_TWO_M24
                else:
                    out[2 * b] = np.float64(ua >> S11) * TWO_M53
                    if 2 * b + 1 < n:
                        out[2 * b + 1] = np.float64(ub >> S11) * TWO_M53
            if cuda.grid(1) == 0:
                new[0] = key
                new[1] = ctr + _U(nblocks)
    elif dist == "normal":
        @cuda.jit
        def kernel(state, new, out, nblocks):
            key = state[0]
            ctr = state[1]
            k0 = key & MASK32
            k1 = key >> S32
            n = out.size
            for b in range(cuda.grid(1), nblocks, cuda.gridsize(1)):
                w0, w1, w2, w3 = philox(ctr + _U(b), k0, k1)
                ua = w0 | (w1 << S32)
                ub = w2 | (w3 << S32)
                u1 = np.float64((ua >> S11) + ONE) * TWO_M53
                u2 = np.float64(ub >> S11) * TWO_M53
                r = math.sqrt(-2.0 * log01(u1))
                s, c = sincos2pi(u2)
                out[2 * b] = odt(r * c)
                if 2 * b + 1 < n:
                    out[2 * b + 1] = odt(r * s)
            if cuda.grid(1) == 0:
                new[0] = key
                new[1] = ctr + _U(nblocks)
    else:  # permutation: the raw bits, then a stable rank per row
        @cuda.jit
        def kernel(state, new, bits, nblocks):
            key = state[0]
            ctr = state[1]
            k0 = key & MASK32
            k1 = key >> S32
            n = bits.size
            for b in range(cuda.grid(1), nblocks, cuda.gridsize(1)):
                w0, w1, w2, w3 = philox(ctr + _U(b), k0, k1)
                bits[2 * b] = w0 | (w1 << S32)
                if 2 * b + 1 < n:
                    bits[2 * b + 1] = w2 | (w3 << S32)
            if cuda.grid(1) == 0:
                new[0] = key
                new[1] = ctr + _U(nblocks)
    return kernel


@functools.lru_cache(maxsize=None)
def _rank_kernel():

    @cuda.jit
    def rank(bits, out):
        """out[r, rank of bits[r, p] in its row (ties by position)] = p: a stable argsort."""
        k = out.shape[1]
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            r = e // k
            p = e - r * k
            v = bits[e]
            rk = 0
            base = r * k
            for q in range(k):
                w = bits[base + q]
                if w < v or (w == v and q < p):
                    rk += 1
            out[r, rk] = p

    return rank


@cuda_impl.register(RandomDraw)
def cuda_random_draw(op, node, ctx):
    dt = np.dtype(op.dtype)
    n_dims = len(node.inputs) - 1
    s_slot, o_slot = ctx.slot(), ctx.slot()

    def build(module):
        kern = _kernel(op.dist, op.dtype)

        def fn(state, *dims):
            if tuple(state.shape) != (2,) or state.dtype != np.uint64:
                raise ValueError(f"{op}: the random state must be a uint64 array of shape "
                                 f"(2,), got {state.dtype} {tuple(state.shape)}")
            shape = op.sample_shape(dims)
            n = 1
            for s in shape:
                n *= s
            new = s_slot.get((2,), np.dtype(np.uint64))
            out = o_slot.get(shape, dt)
            state = runtime.contiguous(state)
            if op.dist == "permutation":
                k = shape[-1] if shape else 1
                rows = n // k if k else 0
                bits = runtime.device_empty((max(n, 1),), np.uint64)
                nb = (n + 1) // 2
                blocks, t = runtime.grid(nb)
                kern[blocks, t](state, new, bits, nb)
                if n:
                    o2 = runtime.reshape(out, (rows, k))
                    blocks, t = runtime.grid(n)
                    _rank_kernel()[blocks, t](bits, o2)
                return new, out
            m = n + (n & 1) if op.dist == "normal" else n
            nb = (m + 1) // 2
            flat = runtime.reshape(out, (n,)) if n else runtime.device_empty((1,), dt)
            blocks, t = runtime.grid(nb)
            kern[blocks, t](state, new, flat, nb)
            return new, out
        return fn

    return CudaImpl(["device"] + ["host"] * n_dims, build, fresh_outputs=(0, 1),
                    slots={0: s_slot, 1: o_slot})
