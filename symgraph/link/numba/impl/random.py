"""Numba implementation of ``RandomDraw`` (Philox4x32-10 streams).

The scalar core (the Philox block, ``log`` and ``sin``/``cos`` of the normal
distribution) is ``symgraph.link.philox``, shared with the CUDA backend and compiled here
with ``numba.njit`` (no fast-math): it mirrors ``symgraph.tensor.random`` operation by
operation, so a draw gives the same bits on the py, numba and cuda backends. The loops
below fill whole arrays; generated code calls them by import path.
"""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link import philox as P
from symgraph.link.numba.dispatch import NumbaCode, indent, numba_impl
from symgraph.tensor.random import RandomDraw

_U = np.uint64
MASK32, S32, S11, S40, ZERO, ONE = P.MASK32, P.S32, P.S11, P.S40, P.ZERO, P.ONE
TWO_M53, F32_TWO_M24 = P.TWO_M53, P.F32_TWO_M24

_jit = numba.njit(cache=True, nogil=True)

philox_block = _jit(P.philox_block)
log01 = _jit(P.log01)
sincos2pi = _jit(P.sincos2pi)


@_jit
def random_bits(state, count):
    """``count`` uint64 values from ``state = [key, counter]`` -> (new_state, bits)."""
    if state.shape[0] != 2:
        raise ValueError("RandomDraw: the random state must have shape (2,)")
    key = state[0]
    ctr = state[1]
    nblocks = (count + 1) // 2
    out = np.empty(2 * nblocks, np.uint64)
    k0 = key & MASK32
    k1 = key >> S32
    for j in range(nblocks):
        b = ctr + _U(j)
        w0, w1, w2, w3 = philox_block(b & MASK32, b >> S32, ZERO, ZERO, k0, k1)
        out[2 * j] = w0 | (w1 << S32)
        out[2 * j + 1] = w2 | (w3 << S32)
    new = np.empty(2, np.uint64)
    new[0] = key
    new[1] = ctr + _U(nblocks)
    return new, out[:count]


@_jit
def uniform_f64(state, n):
    new, u = random_bits(state, n)
    out = np.empty(n, np.float64)
    for i in range(n):
        out[i] = np.float64(u[i] >> S11) * TWO_M53
    return new, out


@_jit
def uniform_f32(state, n):
    new, u = random_bits(state, n)
    out = np.empty(n, np.float32)
    for i in range(n):
        out[i] = np.float32(u[i] >> S40) * F32_TWO_M24
    return new, out


@_jit
def normal_f64(state, n):
    m = n + (n & 1)
    new, u = random_bits(state, m)
    out = np.empty(m, np.float64)
    for i in range(m // 2):
        u1 = np.float64((u[2 * i] >> S11) + ONE) * TWO_M53
        u2 = np.float64(u[2 * i + 1] >> S11) * TWO_M53
        r = np.sqrt(-2.0 * log01(u1))
        s, c = sincos2pi(u2)
        out[2 * i] = r * c
        out[2 * i + 1] = r * s
    return new, out[:n]


@_jit
def normal_f32(state, n):
    new, z = normal_f64(state, n)
    return new, z.astype(np.float32)


@_jit
def permutation(state, rows, k):
    new, u = random_bits(state, rows * k)
    out = np.empty((rows, k), np.int64)
    for r in range(rows):
        out[r] = np.argsort(u[r * k:(r + 1) * k], kind="mergesort")
    return new, out


_FUNCS = {("uniform", "float64"): "uniform_f64", ("uniform", "float32"): "uniform_f32",
          ("normal", "float64"): "normal_f64", ("normal", "float32"): "normal_f32"}


@numba_impl.register(RandomDraw)
def numba_random_draw(op, node, ctx):
    args = ["state"] + [f"d{k}" for k in range(len(op.dim_lens))]
    lines, dims = [], []
    for k, ln in enumerate(op.dim_lens):
        if ln is None:
            dims.append(f"d{k}")
            continue
        lines.append(f"if d{k}.shape[0] != {ln}:\n    raise ValueError('RandomDraw: a size "
                     f"vector has the wrong length')")
        dims.extend(f"d{k}[{i}]" for i in range(ln))
    names = []
    for j, d in enumerate(dims):
        lines.append(f"s{j} = np.int64({d})")
        names.append(f"s{j}")
    if names:
        lines.append(f"if {' or '.join(f'{n} < 0' for n in names)}:\n    raise ValueError("
                     f"'RandomDraw: negative dimensions are not allowed')")
    bad = [n for n, b in zip(names, op.bcast) if b]
    if bad:
        lines.append(f"if {' or '.join(f'{n} != 1' for n in bad)}:\n    raise ValueError("
                     f"'RandomDraw: a broadcastable dimension is not 1')")
    total = " * ".join(names) if names else "1"
    shape = "(" + "".join(f"{n}, " for n in names) + ")"
    imports = []
    if op.dist == "permutation":
        rows = " * ".join(names[:-1]) if len(names) > 1 else "1"
        lines.append(f"new, v = _sg_rnd_permutation(state, {rows}, {names[-1]})")
        lines.append(f"return new, _sg_helpers.reshape_c(v.astype(_sg_dt_{op.dtype}), {shape})")
        imports.append("from symgraph.link.numba.impl.random import permutation as "
                       "_sg_rnd_permutation")
    else:
        fn = _FUNCS[(op.dist, op.dtype)]
        lines.append(f"new, flat = _sg_rnd_{fn}(state, {total})")
        lines.append("return new, flat[0]" if not names
                     else f"return new, _sg_helpers.reshape_c(flat, {shape})")
        imports.append(f"from symgraph.link.numba.impl.random import {fn} as _sg_rnd_{fn}")
    src = f"def {ctx.name}({', '.join(args)}):\n" + indent("\n".join(lines)) + "\n"
    return NumbaCode(src, imports=tuple(imports))
