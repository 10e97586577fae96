"""Vectorizable float32 ``exp``, ``tanh``, ``log1p``, ``sin`` and ``cos`` for generated loops.

Why: Numba lowers ``np.exp``/``np.sin`` on float32 to LLVM's ``llvm.exp``/``llvm.sin``
intrinsics. LLVM's loop vectorizer widens them to ``llvm.exp.v8f32``, and the backend then
scalarizes that into eight calls of libm's ``expf``: pip's llvmlite has no vector math
library (SVML or libmvec) wired in, so a fused loop of transcendentals runs one element at
a time while numpy's own SIMD float32 ``exp``/``sin`` run 8 or 16 at a time.

Here the functions are plain arithmetic: branch-free, no calls, so the loop vectorizer turns
them into SIMD code inside whatever fused loop uses them.

- ``exp`` (float32): Cody-Waite reduction ``x = n ln2 + r`` with ``|r| <= ln2/2``, the
  Cephes minimax polynomial for ``e**r`` evaluated with fused multiply-adds, and the scale
  ``2**n`` built from exponent bits in two halves, so gradual underflow to subnormals and
  overflow to ``inf`` round exactly once. Max error measured: 1.0 ulp (``tests/link``).
- ``tanh`` (float32): for ``|x| < 0.625`` Cephes' odd minimax polynomial
  ``x + x z P(z)``, ``z = x*x`` (no cancellation near 0, and tiny ``x`` gives ``x``); above,
  ``1 - 2 / (exp(2|x|) + 1)`` on the ``exp`` above, whose quotient is below 0.45 there,
  so its rounding errors shrink in the subtraction; ``exp`` overflowing to ``inf`` for
  large ``|x|`` gives exactly 1. The sign is copied back with ``copysign`` (``-0`` stays
  ``-0``, NaN stays NaN). Both branches are computed and one selected, so the loop stays
  branch-free. It matters because an LSTM's gate kernel is mostly tanh and sigmoid (which
  is ``1 / (1 + exp(-x))`` on this ``exp``).
- ``log1p`` (float32): computed in float64: ``u = 1 + x`` split into ``m 2**e`` with
  ``m`` in ``[sqrt(1/2), sqrt 2)``, ``log m = 2 atanh(s)``, ``s = (m-1)/(m+1)``, by its
  series to ``s**13``, plus ``(x - (u - 1)) / u`` for the rounding of ``1 + x``; the
  float64 result rounds to float32 within an ulp. ``softplus`` is
  ``max(x, 0) + log1p(exp(-|x|))``, so with ``exp`` it runs in SIMD loops too.
- ``sin``/``cos`` (float32): computed in float64. The reduction ``x * 2/pi mod 4`` uses
  seven 28-bit slices of 2/pi: each product with a 24-bit float32 is exact, each is reduced
  mod 4 exactly, so the quadrant and fraction are right for every finite float32 (up to
  3.4e38), not only near zero, and no lane needs a slow fallback. Taylor polynomials of
  degree 9/10 on ``[-pi/4, pi/4]`` then give the result to well under an ulp of float32.

float64 (and complex, and integer) arguments use numpy's own functions unchanged: the
float64 polynomials would need more terms than a libm call costs here.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["exp", "tanh", "log1p", "sin", "cos"]

_F32 = types.float32


# -- LLVM IR emitters -----------------------------------------------------------------
# Each function is emitted straight into the caller's LLVM IR by an ``@intrinsic``: the
# same instructions, in the same order, that Numba lowered from the Python formulas these
# replace (``fcmp`` ordered comparisons, ``select``, ``llvm.fma``/``llvm.rint``/...,
# plain ``fdiv`` as under ``error_model="numpy"``), so results are bit for bit the same.
# Why not Python formulas inlined at Numba's IR level: every call site then typed and
# lowered the whole body again, a large part of a fused loop's compile time
# (docs/benchmarks.md, stop 34). All calls below are speculatable LLVM intrinsics, so the
# loop vectorizer widens them.
_F = ir.FloatType()
_D = ir.DoubleType()
_I32 = ir.IntType(32)


def _fc(value):
    """A float32 IR constant (``value`` is exactly representable)."""
    return ir.Constant(_F, float(value))


def _dc(value):
    """A float64 IR constant."""
    return ir.Constant(_D, float(value))


def _call(builder, name, *args):
    ty = args[0].type
    fn = builder.module.declare_intrinsic(name, [ty], ir.FunctionType(ty, [ty] * len(args)))
    return builder.call(fn, list(args))


def _fma(builder, a, b, c):
    return _call(builder, "llvm.fma", a, b, c)


def _horner(builder, x, coefficients):
    """``fma(...fma(fma(c0, x, c1), x, c2)..., x, cn)`` for IR constants ``c0 .. cn``."""
    acc = coefficients[0]
    for c in coefficients[1:]:
        acc = _fma(builder, acc, x, c)
    return acc


def _scale_by_pow2(builder, p, t):
    """``p * 2**n`` for ``t = n + 1.5 * 2**23`` (float32): the exponent bits of ``t``'s
    integer part, applied in two halves so results in the subnormal range round once."""
    n = builder.sub(builder.bitcast(t, _I32), ir.Constant(_I32, 0x4B400000))
    n1 = builder.ashr(n, ir.Constant(_I32, 1))
    n2 = builder.sub(n, n1)

    def pow2(k):
        biased = builder.add(k, ir.Constant(_I32, 127))
        return builder.bitcast(builder.shl(biased, ir.Constant(_I32, 23)), _F)

    return builder.fmul(builder.fmul(p, pow2(n1)), pow2(n2))


# -- exp ----------------------------------------------------------------------------
_f = np.float32
_EXP_HI = _f(89.0)        # exp(89) > float32 max: overflows to inf in the scaling
_EXP_LO = _f(-104.0)      # exp(-104) < half the smallest subnormal: rounds to 0
_LOG2E = _f(1.44269504088896341)
_SHIFT = _f(12582912.0)   # 1.5 * 2**23: adding it rounds to an integer in the low bits
_LN2_HI = _f(0.693359375)  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = _f(-2.12194440e-4)
_EXP_POLY = tuple(_f(v) for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                  4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))


def _emit_exp(builder, x):
    """float32 ``exp``: Cody-Waite reduction, Cephes polynomial, exact 2**n scaling."""
    # clamps written so that NaN passes through both
    x = builder.select(builder.fcmp_ordered(">", x, _fc(_EXP_HI)), _fc(_EXP_HI), x)
    x = builder.select(builder.fcmp_ordered("<", x, _fc(_EXP_LO)), _fc(_EXP_LO), x)
    t = _fma(builder, x, _fc(_LOG2E), _fc(_SHIFT))
    n = builder.fsub(t, _fc(_SHIFT))
    r = _fma(builder, n, _fc(-_LN2_HI), x)
    r = _fma(builder, n, _fc(-_LN2_LO), r)
    poly = _horner(builder, r, [_fc(c) for c in _EXP_POLY])
    e = builder.fadd(_fma(builder, poly, builder.fmul(r, r), r), _fc(1.0))
    return _scale_by_pow2(builder, e, t)


# -- tanh ---------------------------------------------------------------------------
_TANH_SMALL = _f(0.625)
# Cephes tanhf: tanh(x) = x + x z P(z) on |x| < 0.625
_TANH_POLY = tuple(_f(v) for v in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                                   1.33314422036e-1, -3.33332819422e-1))


def _emit_tanh(builder, x):
    """float32 ``tanh``: odd polynomial below 0.625, ``1 - 2 / (exp(2|x|) + 1)`` above."""
    a = _call(builder, "llvm.fabs", x)
    z = builder.fmul(x, x)
    small = _fma(builder, builder.fmul(x, z),
                 _horner(builder, z, [_fc(c) for c in _TANH_POLY]), x)
    e = _emit_exp(builder, builder.fadd(a, a))
    q = builder.fdiv(_fc(2.0), builder.fadd(e, _fc(1.0)))
    large = _call(builder, "llvm.copysign", builder.fsub(_fc(1.0), q), x)
    r = builder.select(builder.fcmp_ordered(">=", a, _fc(_TANH_SMALL)), large, small)
    return builder.select(builder.fcmp_ordered("==", x, _fc(0.0)), x, r)  # sign of a zero


# -- log1p --------------------------------------------------------------------------
_SQRT2 = np.float64(math.sqrt(2.0))
_LN2_D = np.float64(math.log(2.0))
# 2 atanh(s) = 2 s (1 + s^2/3 + ... + s^12/13): truncation below 1e-12 relative for
# |s| <= (sqrt2 - 1) / (sqrt2 + 1)
_A = tuple(np.float64(1 / (2 * i + 1)) for i in range(7))


def _emit_log1p(builder, x):
    """float32 ``log1p`` computed in float64: ``u = 1 + x = m 2**e`` with ``m`` in
    ``[sqrt(1/2), sqrt 2)``, ``log m = 2 atanh(s)``, plus the rounding of ``1 + x``."""
    i64 = ir.IntType(64)
    xd = builder.fpext(x, _D)
    u = builder.fadd(_dc(1.0), xd)
    bits = builder.bitcast(u, i64)
    e = builder.sitofp(builder.sub(builder.and_(builder.lshr(bits, ir.Constant(i64, 52)),
                                                ir.Constant(i64, 0x7FF)),
                                   ir.Constant(i64, 1023)), _D)
    m = builder.bitcast(builder.or_(builder.and_(bits, ir.Constant(i64, (1 << 52) - 1)),
                                    ir.Constant(i64, 1023 << 52)), _D)
    big = builder.fcmp_ordered(">", m, _dc(_SQRT2))
    m = builder.select(big, builder.fmul(m, _dc(0.5)), m)
    e = builder.select(big, builder.fadd(e, _dc(1.0)), e)
    fm = builder.fsub(m, _dc(1.0))
    s = builder.fdiv(fm, builder.fadd(_dc(2.0), fm))
    z = builder.fmul(s, s)
    p = _horner(builder, z, [_dc(c) for c in reversed(_A)])
    # log(u), plus the rounding error of 1 + x to first order (which is all of the
    # result when |x| is below 2**-53 and u is 1)
    r = builder.fadd(_fma(builder, e, _dc(_LN2_D), builder.fmul(builder.fadd(s, s), p)),
                     builder.fdiv(builder.fsub(xd, builder.fsub(u, _dc(1.0))), u))
    r32 = builder.fptrunc(r, _F)
    r32 = builder.select(builder.fcmp_ordered("==", u, _dc(0.0)), _fc(-np.inf), r32)
    r32 = builder.select(builder.fcmp_ordered("<", u, _dc(0.0)), _fc(np.nan), r32)
    r32 = builder.select(builder.fcmp_ordered("==", x, _fc(np.inf)), x, r32)
    return builder.select(builder.fcmp_ordered("==", x, _fc(0.0)), x, r32)  # NaN stays NaN


# -- sin / cos ----------------------------------------------------------------------
def _two_over_pi_slices(n_slices=7, bits=28):
    """2/pi as ``n_slices`` doubles of ``bits`` bits each (exact binary slices)."""
    prec = n_slices * bits + 64
    # pi to ``prec`` bits by Machin's formula in integer arithmetic
    one = 1 << (prec + 16)

    def arctan_inv(k):
        total, term, n, sign = 0, one // k, 1, 1
        while term:
            total += sign * (term // n)
            term //= k * k
            n += 2
            sign = -sign
        return total

    pi_scaled = 4 * (4 * arctan_inv(5) - arctan_inv(239))  # pi * 2**(prec + 16)
    two_over_pi = (2 << (2 * (prec + 16))) // pi_scaled      # (2/pi) * 2**(prec + 16)
    total_bits = n_slices * bits
    top = two_over_pi >> (prec + 16 - total_bits)           # first total_bits bits
    out = []
    for i in range(n_slices):
        chunk = (top >> (total_bits - bits * (i + 1))) & ((1 << bits) - 1)
        out.append(math.ldexp(float(chunk), -bits * (i + 1)))
    return tuple(np.float64(c) for c in out)


_TWO_OVER_PI = _two_over_pi_slices()
_PI_2 = np.float64(math.pi / 2)
# Taylor coefficients; truncation error below 3e-9 (sin) and 2e-10 (cos) relative on
# [-pi/4, pi/4]: a small fraction of float32's 6e-8
_SIN_POLY = tuple(np.float64(v) for v in (1 / 362880, -1 / 5040, 1 / 120, -1 / 6))
_COS_POLY = tuple(np.float64(v) for v in (-1 / 3628800, 1 / 40320, -1 / 720, 1 / 24, -1 / 2,
                                          1.0))


def _emit_sin_cos(builder, x, quadrant_shift):
    """sin (shift 0) or cos (shift 1) of float32 ``x``, computed in float64. The reduction
    ``x * 2/pi mod 4`` takes seven 28-bit slices of 2/pi: each product with a 24-bit float32
    is exact and is reduced mod 4 exactly, so it holds for every finite float32."""
    xd = builder.fpext(x, _D)

    def mod4(p):
        rounded = _call(builder, "llvm.rint", builder.fmul(p, _dc(0.25)))
        return builder.fsub(p, builder.fmul(_dc(4.0), rounded))

    c0, c1, c2, c3, c4, c5, c6 = (_dc(c) for c in _TWO_OVER_PI)
    s = builder.fadd(mod4(builder.fmul(xd, c6)), mod4(builder.fmul(xd, c5)))
    for c in (c4, c3, c2, c1, c0):
        s = builder.fadd(s, mod4(builder.fmul(xd, c)))   # x * 2/pi, congruent mod 4
    j = _call(builder, "llvm.rint", s)
    a = builder.fmul(builder.fsub(s, j), _dc(_PI_2))       # |a| <= pi/4
    q = builder.fadd(j, _dc(quadrant_shift))
    q = builder.fsub(q, builder.fmul(_dc(4.0), _call(builder, "llvm.floor",
                                                   builder.fmul(q, _dc(0.25)))))  # 0..3
    a2 = builder.fmul(a, a)
    sin_a = _fma(builder, _horner(builder, a2, [_dc(c) for c in _SIN_POLY]),
                 builder.fmul(a2, a), a)
    cos_a = _horner(builder, a2, [_dc(c) for c in _COS_POLY])
    odd = builder.or_(builder.fcmp_ordered("==", q, _dc(1.0)),
                      builder.fcmp_ordered("==", q, _dc(3.0)))
    r = builder.select(odd, cos_a, sin_a)
    r = builder.select(builder.fcmp_ordered(">=", q, _dc(2.0)), builder.fneg(r), r)
    return builder.fptrunc(r, _F)


def _emit_sin(builder, x):
    r = _emit_sin_cos(builder, x, 0.0)
    return builder.select(builder.fcmp_ordered("==", x, _fc(0.0)), x, r)  # zero's sign


def _emit_cos(builder, x):
    return _emit_sin_cos(builder, x, 1.0)


def _float32_intrinsic(emit):
    """An intrinsic ``float32 -> float32`` whose body ``emit(builder, x)`` writes."""

    def call(typingctx, x):
        if x != _F32:
            return None

        def codegen(context, builder, signature, args):
            return emit(builder, args[0])

        return _F32(_F32), codegen

    return intrinsic(call)


# -- the names generated code binds -------------------------------------------------
def exp(x):
    """``np.exp``, vectorizable for float32 (see module docstring)."""
    return np.exp(x)


def tanh(x):
    """``np.tanh``, vectorizable for float32 (see module docstring)."""
    return np.tanh(x)


def log1p(x):
    """``np.log1p``, vectorizable for float32 (see module docstring)."""
    return np.log1p(x)


def sin(x):
    """``np.sin``, vectorizable for float32 (see module docstring)."""
    return np.sin(x)


def cos(x):
    """``np.cos``, vectorizable for float32 (see module docstring)."""
    return np.cos(x)


def _bind(generic, emit):
    """Overload ``generic``: the IR ``emit`` writes for float32, numpy's function otherwise.

    The float32 body is one intrinsic call, inlined at Numba's IR level
    (``inline="always"``): a generated graph's loop may reach a separately compiled callee
    only through a call LLVM does not inline, and a call per element keeps the loop
    scalar."""
    numpy_fn = getattr(np, generic.__name__)
    fast = _float32_intrinsic(emit)

    @overload(generic, inline="always", jit_options={"cache": True, "error_model": "numpy"})
    def _impl(x):
        if x == _F32:
            return lambda x: fast(x)
        if isinstance(x, (types.Number, types.Boolean)):
            return lambda x: numpy_fn(x)
        return None


for _generic, _emit in ((exp, _emit_exp), (tanh, _emit_tanh), (log1p, _emit_log1p),
                        (sin, _emit_sin), (cos, _emit_cos)):
    _bind(_generic, _emit)
