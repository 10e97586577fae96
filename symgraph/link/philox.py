"""The scalar core of ``RandomDraw``'s streams, written once for the Numba and CUDA backends.

``symgraph.tensor.random`` defines the streams on numpy arrays (the py backend's
``perform``): Philox4x32-10 blocks, then uniform floats from the top bits and normal
floats by Box-Muller with ``log`` and ``sin``/``cos`` as polynomials in ``+ - * /``. The
functions below compute the same numbers one scalar at a time, with the same integer
operations and the same float operations in the same order, so a draw gives the same
bits on every backend. They are plain Python on numpy scalars: each backend compiles
them with its own decorator (``numba.njit`` on the CPU, ``cuda.jit(device=True)`` on the
device) and writes its own loops around them. Nothing here may use fast-math or a
function a backend would compute differently (``math.sqrt`` and ``math.frexp`` are exact).
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.tensor import random as R

_U = np.uint64
M0, M1, W0, W1 = _U(R.PHILOX_M0), _U(R.PHILOX_M1), _U(R.PHILOX_W0), _U(R.PHILOX_W1)
MASK32 = _U(0xFFFFFFFF)
S32, S11, S40 = _U(32), _U(11), _U(40)
ZERO, ONE = _U(0), _U(1)
TWO_M53 = R.TWO_M53
F32_TWO_M24 = np.float32(R.TWO_M24)
LN2_HI, LN2_LO, SQRT2, HALF_PI = R.LN2_HI, R.LN2_LO, R.SQRT2, R.HALF_PI
ROUNDS = R.PHILOX_ROUNDS
LC = tuple(R.LOG_COEFS)
SC = tuple(R.SIN_COEFS)
CC = tuple(R.COS_COEFS)


def philox_block(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block on uint64 scalars holding 32-bit words."""
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        p0 = M0 * c0
        p1 = M1 * c2
        n0 = (p1 >> S32) ^ c1 ^ k0
        n1 = p1 & MASK32
        n2 = (p0 >> S32) ^ c3 ^ k1
        n3 = p0 & MASK32
        c0 = n0
        c1 = n1
        c2 = n2
        c3 = n3
    return c0, c1, c2, c3


def log01(x):
    """log(x) for float64 x in (0, 1], as ``symgraph.tensor.random._log01``."""
    fr, ex = math.frexp(x)
    m = fr * 2.0
    e = ex - 1
    if m > SQRT2:
        m = m * 0.5
        e = e + 1
    f = (m - 1.0) / (m + 1.0)
    f2 = f * f
    p = LC[0]
    for i in range(1, len(LC)):
        p = p * f2 + LC[i]
    p = p * f2 + 1.0
    ef = np.float64(e)
    return ef * LN2_HI + (2.0 * f * p + ef * LN2_LO)


def sincos2pi(u):
    """(sin(2 pi u), cos(2 pi u)) for float64 u in [0, 1), as ``random._sincos2pi``."""
    t = u * 4.0
    q = math.floor(t)
    r = t - q
    flip = r > 0.5
    a = (1.0 - r if flip else r) * HALF_PI
    a2 = a * a
    s = SC[0]
    for i in range(1, len(SC)):
        s = s * a2 + SC[i]
    s = a * (s * a2 + 1.0)
    co = CC[0]
    for i in range(1, len(CC)):
        co = co * a2 + CC[i]
    co = co * a2 + 1.0
    sr = co if flip else s
    cr = s if flip else co
    qi = np.int64(q)
    if qi == 0:
        return sr, cr
    if qi == 1:
        return cr, -sr
    if qi == 2:
        return -sr, -cr
    return -cr, sr
