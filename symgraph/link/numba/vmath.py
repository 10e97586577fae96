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

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["exp", "tanh", "log1p", "sin", "cos"]

_F32 = types.float32


# -- LLVM intrinsics: all speculatable, so the vectorizer widens them ------------------
def _llvm_intrinsic(name, nargs):
    """An intrinsic calling LLVM's ``name`` on ``nargs`` arguments of one float type."""
    params = ", ".join(f"a{i}" for i in range(nargs))
    src = (f"def call(typingctx, {params}):\n"
           f"    sig = a0({params})\n"
           f"    def codegen(context, builder, signature, args):\n"
           f"        ty = args[0].type\n"
           f"        fnty = ir.FunctionType(ty, [ty] * {nargs})\n"
           f"        fn = builder.module.declare_intrinsic({name!r}, [ty], fnty)\n"
           f"        return builder.call(fn, args)\n"
           f"    return sig, codegen\n")
    scope = {"ir": ir}
    exec(src, scope)  # fixed arity: Numba's intrinsic lowering rejects *args
    return intrinsic(scope["call"])


_fma = _llvm_intrinsic("llvm.fma", 3)
_rint = _llvm_intrinsic("llvm.rint", 1)
_floor = _llvm_intrinsic("llvm.floor", 1)
_copysign = _llvm_intrinsic("llvm.copysign", 2)


@intrinsic
def _select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select``: no branch for the vectorizer to
    flatten, and no phi in Numba's IR, whose inliner loses track of those (it warns)."""
    sig = a(types.boolean, a, b)

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return sig, codegen
_fabs = _llvm_intrinsic("llvm.fabs", 1)


@intrinsic
def _scale_by_pow2(typingctx, p, t):
    """``p * 2**n`` for ``t = n + 1.5 * 2**23`` (float32): the exponent bits of ``t``'s
    integer part, applied in two halves so results in the subnormal range round once."""
    sig = _F32(_F32, _F32)

    def codegen(context, builder, signature, args):
        p, t = args
        i32, f32 = ir.IntType(32), ir.FloatType()
        n = builder.sub(builder.bitcast(t, i32), ir.Constant(i32, 0x4B400000))
        n1 = builder.ashr(n, ir.Constant(i32, 1))
        n2 = builder.sub(n, n1)

        def pow2(k):
            biased = builder.add(k, ir.Constant(i32, 127))
            return builder.bitcast(builder.shl(biased, ir.Constant(i32, 23)), f32)

        return builder.fmul(builder.fmul(p, pow2(n1)), pow2(n2))

    return sig, codegen


# -- exp ----------------------------------------------------------------------------
_f = np.float32
_EXP_HI = _f(89.0)        # exp(89) > float32 max: overflows to inf in the scaling
_EXP_LO = _f(-104.0)      # exp(-104) < half the smallest subnormal: rounds to 0
_LOG2E = _f(1.44269504088896341)
_SHIFT = _f(12582912.0)   # 1.5 * 2**23: adding it rounds to an integer in the low bits
_LN2_HI = _f(0.693359375)  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = _f(-2.12194440e-4)
_E5, _E4, _E3 = _f(1.9875691500e-4), _f(1.3981999507e-3), _f(8.3334519073e-3)
_E2, _E1, _E0 = _f(4.1665795894e-2), _f(1.6666665459e-1), _f(5.0000001201e-1)
_ONE = _f(1.0)
_ZERO_F = _f(0.0)


def exp_f32(x):
    # clamps written so that NaN passes through both
    x = _select(x > _EXP_HI, _EXP_HI, x)
    x = _select(x < _EXP_LO, _EXP_LO, x)
    t = _fma(x, _LOG2E, _SHIFT)
    n = t - _SHIFT
    r = _fma(n, -_LN2_HI, x)
    r = _fma(n, -_LN2_LO, r)
    poly = _fma(_fma(_fma(_fma(_fma(_E5, r, _E4), r, _E3), r, _E2), r, _E1), r, _E0)
    return _scale_by_pow2(_fma(poly, r * r, r) + _ONE, t)


# -- tanh ---------------------------------------------------------------------------
_TANH_SMALL = _f(0.625)
# Cephes tanhf: tanh(x) = x + x z P(z) on |x| < 0.625
_T4, _T3, _T2 = _f(-5.70498872745e-3), _f(2.06390887954e-2), _f(-5.37397155531e-2)
_T1, _T0 = _f(1.33314422036e-1), _f(-3.33332819422e-1)
_TWO_F = _f(2.0)


def tanh_f32(x):
    a = _fabs(x)
    z = x * x
    small = _fma(x * z, _fma(_fma(_fma(_fma(_T4, z, _T3), z, _T2), z, _T1), z, _T0), x)
    large = _copysign(_ONE - _TWO_F / (exp(a + a) + _ONE), x)  # the float32 exp below
    r = _select(a >= _TANH_SMALL, large, small)
    return _select(x == _ZERO_F, x, r)  # keeps the sign of a zero


# -- log1p --------------------------------------------------------------------------
@intrinsic
def _frexp_1_2(typingctx, u):
    """(m, e) with ``u = m * 2**e``, ``1 <= m < 2``, for a positive normal float64
    ``u``: the exponent field and the mantissa bits with a zero exponent."""
    sig = types.UniTuple(types.float64, 2)(types.float64)

    def codegen(context, builder, signature, args):
        i64, f64 = ir.IntType(64), ir.DoubleType()
        bits = builder.bitcast(args[0], i64)
        e = builder.sub(builder.and_(builder.lshr(bits, ir.Constant(i64, 52)),
                                     ir.Constant(i64, 0x7FF)), ir.Constant(i64, 1023))
        m = builder.or_(builder.and_(bits, ir.Constant(i64, (1 << 52) - 1)),
                        ir.Constant(i64, 1023 << 52))
        return context.make_tuple(builder, signature.return_type,
                                  [builder.bitcast(m, f64), builder.sitofp(e, f64)])

    return sig, codegen


_SQRT2 = np.float64(math.sqrt(2.0))
_LN2_D = np.float64(math.log(2.0))
_HALF_D = np.float64(0.5)
# 2 atanh(s) = 2 s (1 + s^2/3 + ... + s^12/13): truncation below 1e-12 relative for
# |s| <= (sqrt2 - 1) / (sqrt2 + 1)
_A = tuple(np.float64(1 / (2 * i + 1)) for i in range(7))
_INF_F = _f(np.inf)
_NAN_F = _f(np.nan)


def log1p_f32(x):
    xd = np.float64(x)
    u = _ONE_D + xd
    m, e = _frexp_1_2(u)
    big = m > _SQRT2
    m = _select(big, m * _HALF_D, m)
    e = _select(big, e + _ONE_D, e)
    f = m - _ONE_D
    s = f / (_TWO + f)
    z = s * s
    p = _fma(_fma(_fma(_fma(_fma(_fma(_A[6], z, _A[5]), z, _A[4]), z, _A[3]), z, _A[2]),
                  z, _A[1]), z, _A[0])
    # log(u), plus the rounding error of 1 + x to first order (which is all of the
    # result when |x| is below 2**-53 and u is 1)
    r = _fma(e, _LN2_D, (s + s) * p) + (xd - (u - _ONE_D)) / u
    r32 = np.float32(r)
    r32 = _select(u == _ZERO, -_INF_F, r32)
    r32 = _select(u < _ZERO, _NAN_F, r32)
    r32 = _select(x == _INF_F, x, r32)
    return _select(x == _ZERO_F, x, r32)  # NaN stays NaN through r; zeros keep their sign


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


_C0, _C1, _C2, _C3, _C4, _C5, _C6 = _two_over_pi_slices()
_PI_2 = np.float64(math.pi / 2)
_QUARTER, _FOUR, _ZERO, _ONE_D, _TWO = (np.float64(v) for v in (0.25, 4.0, 0.0, 1.0, 2.0))
# Taylor coefficients; truncation error below 3e-9 (sin) and 2e-10 (cos) relative on
# [-pi/4, pi/4]: a small fraction of float32's 6e-8
_S1, _S2, _S3, _S4 = (np.float64(v) for v in (-1 / 6, 1 / 120, -1 / 5040, 1 / 362880))
_K1, _K2, _K3, _K4, _K5 = (np.float64(v) for v in (-1 / 2, 1 / 24, -1 / 720, 1 / 40320,
                                                    -1 / 3628800))


@numba.njit(cache=True)
def _mod4(p):
    return p - _FOUR * _rint(p * _QUARTER)


@numba.njit(error_model="numpy", cache=True)
def _sin_cos_f32(x, quadrant_shift):
    """sin (shift 0) or cos (shift 1) of float32 ``x``, computed in float64."""
    xd = np.float64(x)
    s = _mod4(xd * _C6) + _mod4(xd * _C5)
    s = s + _mod4(xd * _C4)
    s = s + _mod4(xd * _C3)
    s = s + _mod4(xd * _C2)
    s = s + _mod4(xd * _C1)
    s = s + _mod4(xd * _C0)            # x * 2/pi, congruent mod 4
    j = _rint(s)
    a = (s - j) * _PI_2                # |a| <= pi/4
    q = j + quadrant_shift
    q = q - _FOUR * _floor(q * _QUARTER)  # quadrant 0..3, NaN for inf/NaN x
    a2 = a * a
    sin_a = _fma(_fma(_fma(_fma(_S4, a2, _S3), a2, _S2), a2, _S1), a2 * a, a)
    cos_a = _fma(_fma(_fma(_fma(_fma(_K5, a2, _K4), a2, _K3), a2, _K2), a2, _K1), a2, _ONE_D)
    odd = (q == _ONE_D) | (q == _FOUR - _ONE_D)
    r = cos_a if odd else sin_a
    r = -r if q >= _TWO else r
    return np.float32(r)


def sin_f32(x):
    r = _sin_cos_f32(x, _ZERO)
    return _select(x == _ZERO_F, x, r)  # keeps the sign of a zero


def cos_f32(x):
    return _sin_cos_f32(x, _ONE_D)


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


def _bind(generic, fast):
    """Overload ``generic``: ``fast`` for float32, numpy's function otherwise.

    Inlined at Numba's IR level (``inline="always"``): a generated graph's loop may reach
    a separately compiled callee only through a call LLVM does not inline, and a call per
    element keeps the loop scalar."""
    numpy_fn = getattr(np, generic.__name__)

    @overload(generic, inline="always", jit_options={"cache": True, "error_model": "numpy"})
    def _impl(x):
        if x == _F32:
            return fast
        if isinstance(x, (types.Number, types.Boolean)):
            return lambda x: numpy_fn(x)
        return None


for _generic, _fast in ((exp, exp_f32), (tanh, tanh_f32), (log1p, log1p_f32),
                       (sin, sin_f32), (cos, cos_f32)):
    _bind(_generic, _fast)
