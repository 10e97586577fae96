"""Numba generators for ``symgraph.sandbox``: MRGUniform (MRG31k3p, with the same int32
wrap-around arithmetic as ``rng_mrg.mrg_steps``, so both backends give Theano's bits),
MultinomialFromUniform and ChoiceFromUniform (the same loops as their ``perform``)."""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.sandbox import rng_mrg as R
from symgraph.tensor.categorical import ChoiceFromUniform, MultinomialFromUniform

_jit = numba.njit(cache=True, nogil=True)
M1 = np.int64(R.M1)
M2 = np.int64(R.M2)
NORM64 = R.NORM64
NORM32 = R.NORM32


@_jit
def _i32(v):
    return ((v + 2147483648) & 4294967295) - 2147483648


@_jit
def _fold(y, m):
    if y < 0 or y >= m:
        return _i32(y - m)
    return y


@_jit
def mrg_advance(states, s):
    """One MRG31k3p step of stream ``s`` of the int64 ``states``; returns z (x11 - x21
    folded into [1, M1])."""
    x11 = states[s, 0]
    x12 = states[s, 1]
    x13 = states[s, 2]
    x21 = states[s, 3]
    x22 = states[s, 4]
    x23 = states[s, 5]
    y1 = _i32(((x12 & 511) << 22) + (x12 >> 9) + ((x13 & 16777215) << 7) + (x13 >> 24))
    y1 = _fold(y1, M1)
    y1 = _fold(_i32(y1 + x13), M1)
    states[s, 0] = y1
    states[s, 1] = x11
    states[s, 2] = x12
    y1 = _fold(_i32(((x21 & 65535) << 15) + 21069 * (x21 >> 16)), M2)
    y2 = _fold(_i32(((x23 & 65535) << 15) + 21069 * (x23 >> 16)), M2)
    y2 = _fold(_i32(y2 + x23), M2)
    y2 = _fold(_i32(y2 + y1), M2)
    states[s, 3] = y2
    states[s, 4] = x21
    states[s, 5] = x22
    x11 = states[s, 0]
    if x11 <= y2:
        return x11 - y2 + M1
    return x11 - y2


@_jit
def mrg_fill32(states, out):
    """Fill flat float32 ``out``; element i from stream ``i % n_streams``."""
    n = states.shape[0]
    for i in range(out.shape[0]):
        out[i] = np.float32(mrg_advance(states, i % n)) * NORM32


@_jit
def mrg_fill64(states, out):
    """Fill flat float64 ``out``; element i from stream ``i % n_streams``."""
    n = states.shape[0]
    for i in range(out.shape[0]):
        out[i] = np.float64(mrg_advance(states, i % n)) * NORM64


@numba_impl.register(R.MRGUniform)
def numba_mrg_uniform(op, node, ctx):
    nd = op.ndim
    dt = np_dtype(op.dtype)
    bad = repr(f"{op}: size must have {nd} entries, all >= 0, and rstate 6 columns")
    lines = [f"if size.shape[0] != {nd} or rstate.shape[1] != 6: raise ValueError({bad})",
             "n = 1"]
    for d in range(nd):
        lines.append(f"d{d} = size[{d}]")
        lines.append(f"if d{d} < 0: raise ValueError({bad})")
        lines.append(f"n *= d{d}")
    lines += [f"if n > {R.M1}: raise ValueError("
              + repr("rng_mrg does not support more than (2**31 - 1) samples") + ")",
              "if n > 0 and rstate.shape[0] == 0: raise ValueError("
              + repr(f"{op}: rstate has no stream") + ")",
              "st = rstate.astype(np.int64)",
              f"flat = np.empty(n, dtype={dt})",
              f"_sg_mrg_fill{op.dtype[-2:]}(st, flat)",
              "shp = (" + "".join(f"d{d}, " for d in range(nd)) + ")",
              "return st.astype(np.int32), _sg_helpers.reshape_c(flat, shp)"]
    return NumbaCode(f"def {ctx.name}(rstate, size):\n" + indent("\n".join(lines)),
                     imports=(f"from symgraph.link.numba.impl.rng_mrg import "
                              f"mrg_fill{op.dtype[-2:]} as _sg_mrg_fill{op.dtype[-2:]}",))


@numba_impl.register(MultinomialFromUniform)
def numba_multinomial(op, node, ctx):
    odt = np_dtype(node.outputs[0].type.dtype)
    bad = repr(f"{op}: unis must have pvals.shape[0] * n entries, n >= 0")
    src = f"""def {ctx.name}(pvals, unis, n):
    rows = pvals.shape[0]
    k = pvals.shape[1]
    if n < 0 or unis.shape[0] != rows * n:
        raise ValueError({bad})
    z = np.zeros((rows, k), dtype={odt})
    for c in range(n):
        for r in range(rows):
            u = unis[c * rows + r]
            acc = 0.0
            for m in range(k):
                acc += np.float64(pvals[r, m])
                if acc > u:
                    z[r, m] += 1
                    break
    return z
"""
    return NumbaCode(src)


@numba_impl.register(ChoiceFromUniform)
def numba_choice(op, node, ctx):
    odt = np_dtype(node.outputs[0].type.dtype)
    pdt = np_dtype(node.inputs[0].type.dtype)
    bad = repr(f"{op}: unis must have pvals.shape[0] * n entries, n >= 0")
    many = repr(f"{op}: cannot draw more samples without replacement than outcomes")
    src = f"""def {ctx.name}(pvals, unis, n):
    rows = pvals.shape[0]
    k = pvals.shape[1]
    if n < 0 or unis.shape[0] != rows * n:
        raise ValueError({bad})
    if n > k:
        raise ValueError({many})
    p = pvals.copy()
    z = np.full((rows, n), -1, dtype={odt})
    for c in range(n):
        for r in range(rows):
            u = unis[c * rows + r]
            acc = {pdt}(0)
            for m in range(k):
                acc = acc + p[r, m]
                if acc > u:
                    z[r, c] = m
                    p[r, m] = 0
                    tot = {pdt}(0)
                    for j in range(k):
                        tot = tot + p[r, j]
                    if tot > 0:
                        for j in range(k):
                            p[r, j] = p[r, j] / tot
                    break
    return z
"""
    return NumbaCode(src)
