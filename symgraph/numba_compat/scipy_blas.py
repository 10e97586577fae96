"""The BLAS routines symgraph's compiled code calls: where their addresses come from.

``kernels/cpu/blas.py`` registers ``?gemm``/``?gemv`` (Fortran calling convention:
every argument by pointer) with LLVM under fixed names; compiled code, also cached
machine code, calls those names. :func:`bind_blas` finds the addresses:

* private, scipy's wheel layout (:func:`vendored_openblas`): the wheels ship OpenBLAS as
  ``scipy.libs/*openblas*.so``; opening it with ctypes is quick, unlike importing
  ``scipy.linalg.cython_blas`` (scipy.linalg loads its array-API layer, which imports
  ``numpy.f2py``): most of the time of a new process loading a cached training function.
  It also gives ``openblas_set_num_threads`` (``link/numba/blas_threads.py``);
* private, the capsules of ``scipy.linalg.cython_blas`` (:func:`cython_blas_addresses`),
  as Numba takes them, where that library is not there (scipy built on a system BLAS);
* public (:func:`public_blas_addresses`): Numba ``cfunc``s with the same Fortran
  signatures that compute with ``np.dot`` in Numba code, Numba's public BLAS binding.
  Used on a scipy that symgraph was not checked against, with
  ``SYMGRAPH_NUMBA_FALLBACK=1``, or when both private paths fail. Slower (operands
  copied to contiguous arrays), the same products; the symbols keep their names, so
  machine code cached by either path loads under the other.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from pathlib import Path

import numpy as np
from numba import carray

__all__ = ["bind_blas", "vendored_openblas", "cython_blas_addresses",
           "public_blas_addresses", "scipy_library_dirs"]


def _scipy_site() -> str | None:
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(os.path.dirname(spec.origin))


def vendored_openblas(names):
    """scipy's own OpenBLAS library (pip wheels), opened without importing scipy:
    ``(CDLL, symbol prefix)`` when it exports every routine in ``names`` (``"sgemm"``...),
    else None.

    Private: scipy's wheel layout (``<site-packages>/scipy.libs/*openblas*.so*``, symbols
    ``scipy_sgemm_`` or ``sgemm_``). Public path: :func:`public_blas_addresses`."""
    site = _scipy_site()
    if site is None:
        return None
    for path in sorted(glob.glob(os.path.join(glob.escape(site), "scipy.libs",
                                              "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            if all(hasattr(lib, f"{prefix}{n}_") for n in names):
                return lib, prefix
    return None


def cython_blas_addresses(names) -> dict:
    """``{name: address}`` of the routines in ``scipy.linalg.cython_blas`` (the slow
    import), read from its Cython capsules as Numba reads them.

    Private: ``cython_blas.__pyx_capi__`` and ``PyCapsule_GetPointer`` through ctypes.
    Public path: :func:`public_blas_addresses`."""
    import scipy.linalg.cython_blas as cb

    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    out = {}
    for n in names:
        cap = cb.__pyx_capi__[n]
        out[n] = get_ptr(cap, get_name(cap))
    return out


def _public_gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Fortran ``?gemm``: ``C = alpha op(A) op(B) + beta C``, column-major, computed as
    the row-major transposes (a column-major ``r x c`` matrix with leading dimension
    ``ld`` is the row-major ``(c, ld)`` array's first ``r`` columns, transposed)."""
    M, N, K = m[0], n[0], k[0]
    if M <= 0 or N <= 0:
        return
    ct = carray(c, (N, ldc[0]))[:, :M]                       # C^T, N x M
    # op(A)^T (K x M) and op(B)^T (N x K), made contiguous for np.dot
    if transa[0] == 110:
        at = np.ascontiguousarray(carray(a, (K, lda[0]))[:, :M])
    else:
        at = np.ascontiguousarray(carray(a, (M, lda[0]))[:, :K].T)
    if transb[0] == 110:
        bt = np.ascontiguousarray(carray(b, (N, ldb[0]))[:, :K])
    else:
        bt = np.ascontiguousarray(carray(b, (K, ldb[0]))[:, :N].T)
    if K > 0:
        prod = np.dot(bt, at)                                    # (op(A) op(B))^T
    else:
        prod = np.zeros((N, M), dtype=ct.dtype)
    al, be = alpha[0], beta[0]
    for j in range(N):
        for i in range(M):
            ct[j, i] = al * prod[j, i] + be * ct[j, i] if be != 0 else al * prod[j, i]


def _public_gemv(trans, m, n, alpha, a, lda, x, incx, beta, y, incy):
    """Fortran ``?gemv``: ``y = alpha op(A) x + beta y`` (A column-major ``m x n``)."""
    M, N = m[0], n[0]
    if M <= 0 or N <= 0:
        return
    at = np.ascontiguousarray(carray(a, (N, lda[0]))[:, :M])    # A^T, N x M
    lx, ly = (N, M) if trans[0] == 110 else (M, N)
    ix, iy = incx[0], incy[0]
    xv = np.ascontiguousarray(carray(x, ((lx - 1) * ix + 1,))[::ix])
    yv = carray(y, ((ly - 1) * iy + 1,))[::iy]
    prod = np.dot(xv, at) if trans[0] == 110 else np.dot(at, xv)
    al, be = alpha[0], beta[0]
    for i in range(ly):
        yv[i] = al * prod[i] + be * yv[i] if be != 0 else al * prod[i]


_cfuncs: dict = {}


def public_blas_addresses(names) -> dict:
    """``{name: address}`` of Numba ``cfunc``s with the Fortran signature of each routine
    in ``names`` (``"dgemm"``...), computing with ``np.dot`` in Numba code (Numba's own,
    public BLAS binding). Compiled once and kept in Numba's disk cache.

    The public path of :func:`vendored_openblas` and :func:`cython_blas_addresses`."""
    from numba import cfunc, types

    kinds = {"s": types.float32, "d": types.float64, "c": types.complex64,
             "z": types.complex128}
    i32, ch = types.CPointer(types.int32), types.CPointer(types.int8)
    out = {}
    for n in names:
        fn = _cfuncs.get(n)
        if fn is None:
            p = types.CPointer(kinds[n[0]])
            if n[1:] == "gemm":
                sig = types.void(ch, ch, i32, i32, i32, p, p, i32, p, i32, p, p, i32)
                fn = cfunc(sig, cache=True)(_public_gemm)
            elif n[1:] == "gemv":
                sig = types.void(ch, i32, i32, p, p, i32, p, i32, p, p, i32)
                fn = cfunc(sig, cache=True)(_public_gemv)
            else:
                raise ValueError(f"no public fallback for BLAS routine {n!r}")
            _cfuncs[n] = fn
        out[n] = fn.address
    return out


def bind_blas(names):
    """``(library or None, {name: address}, where)`` for the BLAS routines ``names``:
    the wheel's OpenBLAS, else the ``cython_blas`` capsules, when scipy is a checked
    version; else (or when both fail) the public ``cfunc``s. ``where`` says which:
    ``{"source": "library" | "scipy.linalg.cython_blas" | "numba-public", "path",
    "prefix"}``; the library is returned only for the first (its thread calls)."""
    from symgraph.numba_compat import scipy_internals

    if scipy_internals():
        found = vendored_openblas(names)
        if found is not None:
            lib, prefix = found
            addrs = {n: ctypes.cast(getattr(lib, f"{prefix}{n}_"), ctypes.c_void_p).value
                     for n in names}
            where = {"source": "library", "path": os.path.realpath(lib._name),
                     "prefix": prefix}
            return lib, addrs, where
        try:
            addrs = cython_blas_addresses(names)
            return None, addrs, {"source": "scipy.linalg.cython_blas", "path": None,
                                 "prefix": None}
        except Exception:  # noqa: BLE001 - capsules renamed or gone: the public path
            pass
    return None, public_blas_addresses(names), {"source": "numba-public", "path": None,
                                                "prefix": None}


def scipy_library_dirs() -> list[Path]:
    """The folders where scipy keeps its shared libraries: its package and, in pip
    wheels, ``scipy.libs`` beside it (wheel layout). ``blas_threads.py`` limits the
    threads of BLAS libraries found there (through threadpoolctl, public). Should the
    layout change, nothing is found and nothing is limited: slower on a busy machine,
    never wrong."""
    site = _scipy_site()
    if site is None:
        return []
    pkg = Path(site, "scipy").resolve()
    return [pkg, pkg.parent / "scipy.libs"]
