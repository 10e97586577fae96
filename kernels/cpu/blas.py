"""BLAS ``xgemm``/``xgemv`` for Numba code, bound straight to scipy's OpenBLAS library.

Why not ``np.dot`` or Numba's ``numba_xxgemm``: Numba finds its BLAS routines by importing
``scipy.linalg.cython_blas`` (at the first BLAS call of the process), and that import is slow:
scipy.linalg loads its array-API layer, which imports ``numpy.f2py``; it would add a
large fraction to the load of a cached training function (docs/benchmarks.md).
scipy's wheels ship OpenBLAS as a separate shared library
(``scipy.libs/libscipy_openblas*.so``); opening it with ctypes is quick and gives the
very same routines. The dynamic loader opens a file once, so ``scipy.linalg``, imported
later by anyone, uses this library object too, and a thread count set here holds for both.

Where that library is not there (scipy built against a system BLAS, conda's MKL), the
routines come from the capsules of ``scipy.linalg.cython_blas``, as Numba takes them. Both
are scipy internals: on a scipy symgraph was not checked against (or with
``SYMGRAPH_NUMBA_FALLBACK=1``) the same symbols are Numba ``cfunc``s computing with
``np.dot`` instead (``symgraph/numba_compat/scipy_blas.py``).

The addresses are registered with LLVM under fixed names (``symgraph_sgemm`` ...), so
disk-cached code that calls them links in any process that imported this module (the
kernels and the generated graphs import it before their cached code loads).

Jitted entry points: ``gemm_into(alpha, x, y, beta, c)`` and ``gemv_into(alpha, a, x,
beta, y)`` (any strides; operands BLAS cannot read in place are copied, outputs it cannot
write go through a temporary), and ``overlaps(a, b)``. Python: ``ROUTINES`` (where the
routines came from), ``num_threads()`` / ``set_num_threads(n)`` (None when the library
gives no such call).
"""
from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import by_symbol
from symgraph.numba_compat.llvm import stack_slot
from symgraph.numba_compat.scipy_blas import bind_blas

__all__ = ["gemm_into", "gemv_into", "overlaps", "ROUTINES", "num_threads", "set_num_threads"]

_KINDS = "sdcz"
_NAMES = [f"{k}{r}" for r in ("gemm", "gemv") for k in _KINDS]
_CACHE = {"cache": True}


def _bind():
    """Register the routines' addresses under ``symgraph_<name>``; where they came from
    (scipy's wheel library, its ``cython_blas`` capsules, or the public fallback) is
    decided in ``symgraph.numba_compat.scipy_blas``."""
    lib, addrs, where = bind_blas(_NAMES)
    for n, addr in addrs.items():
        llvm.add_symbol(f"symgraph_{n}", addr)
    return lib, where


_LIB, ROUTINES = _bind()


def _thread_call(name, restype, argtypes):
    """The library's ``openblas_<name>`` as a typed ctypes function, or None."""
    if _LIB is None:
        return None
    for cand in (f"{ROUTINES['prefix']}openblas_{name}", f"openblas_{name}"):
        if hasattr(_LIB, cand):
            fn = getattr(_LIB, cand)
            fn.restype, fn.argtypes = restype, argtypes
            return fn
    return None


_GET_THREADS = _thread_call("get_num_threads", ctypes.c_int, [])
_SET_THREADS = _thread_call("set_num_threads", None, [ctypes.c_int])


def num_threads() -> int | None:
    """The library's thread count (None when the routines did not come from the wheel's
    library: ``blas_threads.py`` then goes through threadpoolctl)."""
    return None if _GET_THREADS is None else int(_GET_THREADS())


def set_num_threads(n: int) -> int | None:
    """Set the library's thread count; the count now in force (None as ``num_threads``)."""
    if _SET_THREADS is None:
        return None
    _SET_THREADS(int(n))
    return num_threads()


# ------------------------------------------------------------------ jitted bindings

#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@intrinsic
def _scalar_ptr(typingctx, val):
    """Pointer to a stack slot holding ``val`` (Fortran BLAS takes every argument by
    pointer)."""
    sig = types.CPointer(val)(val)

    def codegen(context, builder, signature, args):
        return stack_slot(builder, args[0])

    return sig, codegen


_I32 = types.CPointer(types.int32)
_CH = types.CPointer(types.int8)
_KIND_OF = {types.float32: "s", types.float64: "d", types.complex64: "c",
            types.complex128: "z"}
_INT_MAX = 2 ** 31 - 1


@register_jitable
def _check_sizes(dims):
    """BLAS takes 32-bit sizes: refuse (rather than wrap) larger ones."""
    for d in dims:
        if d > _INT_MAX:
            raise ValueError("BLAS: a dimension or leading dimension exceeds 2**31 - 1")


def xgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS ``c = alpha op(a) op(b) + beta c``; ``trans*`` are the character
    codes 110 ('n') or 116 ('t'). Jitted code only."""
    raise NotImplementedError


@overload(xgemm, jit_options=_CACHE)
def _xgemm_ov(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    dt = c.dtype
    p = types.CPointer(dt)
    fn = types.ExternalFunction(f"symgraph_{_KIND_OF[dt]}gemm", types.void(
        _CH, _CH, _I32, _I32, _I32, p, p, _I32, p, _I32, p, p, _I32))

    def impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        _check_sizes((m, n, k, lda, ldb, ldc))
        fn(_scalar_ptr(np.int8(transa)), _scalar_ptr(np.int8(transb)),
           _scalar_ptr(np.int32(m)), _scalar_ptr(np.int32(n)), _scalar_ptr(np.int32(k)),
           _scalar_ptr(alpha), a.ctypes, _scalar_ptr(np.int32(lda)), b.ctypes,
           _scalar_ptr(np.int32(ldb)), _scalar_ptr(beta), c.ctypes, _scalar_ptr(np.int32(ldc)))

    return impl


def xgemv(trans, m, n, alpha, a, lda, x, beta, y):
    """Column-major BLAS ``y = alpha op(a) x + beta y``, unit strides. Jitted code only."""
    raise NotImplementedError


@overload(xgemv, jit_options=_CACHE)
def _xgemv_ov(trans, m, n, alpha, a, lda, x, beta, y):
    dt = y.dtype
    p = types.CPointer(dt)
    fn = types.ExternalFunction(f"symgraph_{_KIND_OF[dt]}gemv", types.void(
        _CH, _I32, _I32, p, p, _I32, p, _I32, p, p, _I32))

    def impl(trans, m, n, alpha, a, lda, x, beta, y):
        _check_sizes((m, n, lda))
        one = np.int32(1)
        fn(_scalar_ptr(np.int8(trans)), _scalar_ptr(np.int32(m)), _scalar_ptr(np.int32(n)),
           _scalar_ptr(alpha), a.ctypes, _scalar_ptr(np.int32(lda)), x.ctypes,
           _scalar_ptr(one), _scalar_ptr(beta), y.ctypes, _scalar_ptr(one))

    return impl


@intrinsic
def overlaps(typingctx, a, b):
    """Whether the byte ranges of arrays ``a`` and ``b`` intersect (an empty array
    overlaps nothing). Each range runs from the first element's address, moved by
    ``(shape[d] - 1) * strides[d]`` down or up per axis, to one item past its end.

    An intrinsic (a few IR instructions per axis): as a jitted function Numba compiled it
    once per process for every pair of array types that met it, six in a first run."""
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)

        def extent(aty, value):
            ary = context.make_array(aty)(context, builder, value)
            lo = builder.ptrtoint(ary.data, i64)
            hi = builder.add(lo, ary.itemsize)
            empty = ir.Constant(ir.IntType(1), 0)
            for d in range(aty.ndim):
                n = builder.extract_value(ary.shape, d)
                e = builder.mul(builder.sub(n, i64(1)), builder.extract_value(ary.strides, d))
                down = builder.icmp_signed("<", e, i64(0))
                lo = builder.select(down, builder.add(lo, e), lo)
                hi = builder.select(down, hi, builder.add(hi, e))
                empty = builder.or_(empty, builder.icmp_signed("==", n, i64(0)))
            return lo, hi, empty

        alo, ahi, aempty = extent(signature.args[0], args[0])
        blo, bhi, bempty = extent(signature.args[1], args[1])
        meet = builder.and_(builder.icmp_signed("<", alo, bhi), builder.icmp_signed("<", blo, ahi))
        return builder.and_(meet, builder.not_(builder.or_(aempty, bempty)))

    return types.boolean(a, b), codegen


@numba.njit(**_JIT, cache=True, nogil=True)
def _layout(a):
    """How BLAS can read 2-d ``a`` in place: (0, ld) row-major, (1, ld) column-major with
    leading dimension ``ld`` (in elements), or (-1, 0) when it needs a copy.

    A function of its own, not inlined: inlined at Numba's IR level, its branches and
    returns made each BLAS core's compile slower by about 0.1 s per call site (three in
    ``_gemm_core``: 0.3 s; docs/benchmarks.md). Its callers take arrays typed 'A', so it
    is compiled once per dtype."""
    m, n = a.shape
    isz = a.itemsize
    s0, s1 = a.strides
    n1 = n if n > 1 else 1      # max(n, 1), without compiling Numba's max for a tuple
    m1 = m if m > 1 else 1
    if n <= 1 or s1 == isz:
        if m <= 1:
            return 0, n1
        if s0 > 0 and s0 % isz == 0 and s0 // isz >= n1:
            return 0, s0 // isz
    if m <= 1 or s0 == isz:
        if n <= 1:
            return 1, m1
        if s1 > 0 and s1 % isz == 0 and s1 // isz >= m1:
            return 1, s1 // isz
    return -1, 0


@register_jitable(inline="always")
def any2(a):
    """A view of 2-d ``a`` typed with layout 'A': callers compile once per dtype."""
    return a[:, :]


@register_jitable(inline="always")
def any1(a):
    """A view of 1-d ``a`` typed with layout 'A'."""
    return a[:]


@numba.njit(**_JIT, cache=True, nogil=True)
def _gemm_core(alpha, x, y, beta, c, zero, one):
    m, k = x.shape
    n = y.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[i, j] = c[i, j] * beta if beta != 0 else zero
        return
    lx, ldx = _layout(x)
    if lx < 0:
        x = any2(alloc.ascontiguousarray(x))
        lx, ldx = 0, k
    ly, ldy = _layout(y)
    if ly < 0:
        y = any2(alloc.ascontiguousarray(y))
        ly, ldy = 0, n
    lc, ldc = _layout(c)
    # through a temporary when BLAS cannot write c in place or c overlaps an operand; also
    # when alpha == 0: BLAS would skip x and y, numpy's alpha * dot(x, y) propagates their
    # NaNs. One call site of xgemm for both (a call site is typed and lowered each time)
    direct = not (lc < 0 or alpha == 0 or overlaps(c, x) or overlaps(c, y))
    out = c if direct else any2(alloc.empty((m, n), c.dtype))
    if not direct:
        lc, ldc = 0, n
    if lc == 0:
        # row-major C: column-major BLAS computes C^T = op(y)^T op(x)^T
        ta, tb, rows, cols, a, lda, b, ldb = 110 if ly == 0 else 116, \
            110 if lx == 0 else 116, n, m, y, ldy, x, ldx
    else:
        ta, tb, rows, cols, a, lda, b, ldb = 110 if lx == 1 else 116, \
            110 if ly == 1 else 116, m, n, x, ldx, y, ldy
    xgemm(ta, tb, rows, cols, k, alpha if direct else one, a, lda, b, ldb,
          beta if direct else zero, out, ldc)
    if not direct:
        for i in range(m):
            for j in range(n):
                c[i, j] = alpha * out[i, j] + beta * c[i, j] if beta != 0 else alpha * out[i, j]


@numba.njit(**_JIT, cache=True, nogil=True)
def _gemv_core(alpha, a, x, beta, y, zero, one):
    m, k = a.shape
    if m == 0:
        return
    if k == 0:
        for i in range(m):
            y[i] = y[i] * beta if beta != 0 else zero
        return
    la, lda = _layout(a)
    if la < 0:
        a = any2(alloc.ascontiguousarray(a))
        la, lda = 0, k
    if k > 1 and x.strides[0] != x.itemsize:
        x = any1(alloc.ascontiguousarray(x))
    # through a temporary when y is strided or overlaps a or x, or alpha == 0 (BLAS would
    # skip a and x; numpy's alpha * dot(a, x) propagates their NaNs)
    direct = (m == 1 or y.strides[0] == y.itemsize) and alpha != 0 \
        and not overlaps(y, a) and not overlaps(y, x)
    out = y if direct else any1(alloc.empty(m, y.dtype))
    b = beta if direct else zero
    al = alpha if direct else one
    # row-major a: BLAS sees its transpose (one call site: each is typed and lowered)
    trans, rows, cols = (116, k, m) if la == 0 else (110, m, k)
    xgemv(trans, rows, cols, al, a, lda, x, b, out)
    if not direct:
        for i in range(m):
            y[i] = alpha * out[i] + beta * y[i] if beta != 0 else alpha * out[i]


def _public_gemm_into(alpha, x, y, beta, c):
    """``c[...] = alpha * x @ y + beta * c`` with BLAS xgemm (2-d arrays of one BLAS dtype;
    alpha and beta are converted to it).

    When beta == 0, c's values are not read. Any strides are accepted: an operand BLAS
    cannot read in place (neither stride unit) is copied; an output it cannot write, or
    one that overlaps x or y, goes through a temporary. Callable from jitted code only."""
    raise NotImplementedError("gemm_into is only callable from jitted code")


@overload(_public_gemm_into)
def _gemm_into_ov(alpha, x, y, beta, c):
    # the public path's gemm_into (Numba links _gemm_core into each caller)
    if c.dtype not in _KIND_OF:
        return None
    npt = np.dtype(str(c.dtype)).type
    zero, one = npt(0), npt(1)

    def impl(alpha, x, y, beta, c):
        _gemm_core(npt(alpha), any2(x), any2(y), npt(beta), any2(c), zero, one)

    return impl


def _public_gemv_into(alpha, a, x, beta, y):
    """``y[...] = alpha * a @ x + beta * y`` with BLAS xgemv (a 2-d, x and y 1-d); as
    ``gemm_into`` otherwise. Callable from jitted code only."""
    raise NotImplementedError("gemv_into is only callable from jitted code")


@overload(_public_gemv_into)
def _gemv_into_ov(alpha, a, x, beta, y):
    if y.dtype not in _KIND_OF:
        return None
    npt = np.dtype(str(y.dtype)).type
    zero, one = npt(0), npt(1)

    def impl(alpha, a, x, beta, y):
        _gemv_core(npt(alpha), any2(a), any1(x), npt(beta), any1(y), zero, one)

    return impl


def _core_types(ndims):
    """``convert`` for ``by_symbol`` (see below): ``(alpha, m, v, beta, out)`` with arrays
    of ``ndims`` dimensions and one BLAS dtype -> the core's argument types (the arrays
    typed 'A', the scalars that dtype) and its ``zero`` and ``one``."""
    def convert(args):
        alpha, m, v, beta, out = args
        arrays = (m, v, out)
        if not all(isinstance(a, types.Array) and a.ndim == nd
                   for a, nd in zip(arrays, ndims)):
            return None
        dt = out.dtype
        if dt not in _KIND_OF or m.dtype != dt or v.dtype != dt:
            return None
        if not (isinstance(alpha, types.Number) and isinstance(beta, types.Number)):
            return None
        return (dt, m.copy(layout="A"), v.copy(layout="A"), dt, out.copy(layout="A"), dt,
                dt), (0, 1)
    return convert


#: ``gemm_into(alpha, x, y, beta, c)``: ``c[...] = alpha * x @ y + beta * c`` with BLAS
#: xgemm (2-d arrays of one BLAS dtype; alpha and beta converted to it). When beta == 0,
#: c's values are not read. Any strides are accepted: an operand BLAS cannot read in
#: place (neither stride unit) is copied; an output it cannot write, or one that overlaps
#: x or y, goes through a temporary. Callable from jitted code only.
#:
#: ``gemv_into(alpha, a, x, beta, y)``: ``y[...] = alpha * a @ x + beta * y`` with BLAS
#: xgemv (a 2-d, x and y 1-d); as ``gemm_into`` otherwise.
#:
#: Both call the BLAS cores by symbol (``numba_compat.bysymbol``): compiled once per
#: dtype, instead of being linked, optimized and compiled again inside every kernel that
#: multiplies (each conv entry point, the parallel GEMM's loop body, ``dot``). So every
#: caller of ``gemm_into``/``gemv_into`` calls by symbol itself: it must be reached only
#: by symbol, and is disk-cached with ``caller_cache()``. The arguments are converted to
#: the cores' types (arrays typed 'A', scalars in the arrays' dtype) in the caller's own
#: code: an overload doing it was a compile of its own in each caller for each signature
#: (six in a first run, about 1 s; docs/benchmarks.md). The public path uses the overloads
#: above, which Numba links.
gemm_into = by_symbol(_gemm_core, _core_types((2, 2, 2)), ("alpha", "x", "y", "beta", "c"),
                      public=_public_gemm_into)
gemv_into = by_symbol(_gemv_core, _core_types((2, 1, 1)), ("alpha", "a", "x", "beta", "y"),
                      public=_public_gemv_into)
