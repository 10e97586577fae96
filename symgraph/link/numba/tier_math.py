"""Transcendental functions for the Python tier's numpy programs (``tier_numpy.py``): each
applied elementwise by a small compiled loop shared by every graph, calling what a
kernel calls.

Why: numpy cannot reproduce a kernel's ``exp`` or ``tanh``: for float32 they are
symgraph's own polynomials with fused multiply-adds (``vmath.py``), for float64 libm's
functions, and numpy's ufuncs are neither. Yet nearly every network's elementwise
kernels have one (a sigmoid, a tanh, a softplus, their gradients), and each such kernel
cost a new graph 0.15-0.35 s of Numba's pipeline before its first call
(docs/benchmarks.md: most of the compile time of 200 small functions). Here each
function is one loop per dtype, ``out[i] = f(x[i])``, compiled once per installation
(Numba's disk cache, checked against symgraph's sources like a link table's callees):
the tier computes a node's other steps with numpy and these with their loop.

The same bits: ``f`` is the very function a generated kernel calls (its module binds
``_sg_exp`` and the rest as this one does: ``linker.HEADER``; a test compares the two),
on a value of the same type. ``vmath``'s float32 functions are branch-free IEEE
arithmetic and ``llvm.fma``, which LLVM neither reorders nor contracts without fast-math
and whose vector and scalar forms round alike; a libm function (float64, and the float32
functions ``vmath`` lacks) is a call of the same libm function per element, in a loop as
in the kernel. Only with a vector math library wired into LLVM (Numba's SVML) would a
vectorized kernel call other functions: then only ``vmath``'s float32 functions qualify
(:func:`exact`).
"""
from __future__ import annotations

import threading

import numba
import numpy as np

from symgraph.link.numba import vmath
from symgraph.numba_compat import jit_options

__all__ = ["FUNCTIONS", "exact", "apply"]

#: how generated kernels bind the functions (``linker.HEADER``): ``vmath``'s for its names
_sg_exp, _sg_tanh, _sg_log1p = vmath.exp, vmath.tanh, vmath.log1p
_sg_sin, _sg_cos = vmath.sin, vmath.cos
_sg_log, _sg_expm1 = np.log, np.expm1

_JIT = dict(cache=True, error_model="numpy", nogil=True, **jit_options())


@numba.njit(**_JIT)
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_exp(x[i])


@numba.njit(**_JIT)
def _tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_tanh(x[i])


@numba.njit(**_JIT)
def _log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_log1p(x[i])


@numba.njit(**_JIT)
def _sin(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_sin(x[i])


@numba.njit(**_JIT)
def _cos(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_cos(x[i])


@numba.njit(**_JIT)
def _log(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_log(x[i])


@numba.njit(**_JIT)
def _expm1(x, out):
    for i in range(x.shape[0]):
        out[i] = _sg_expm1(x[i])


#: function name (``scalar_ops.MATH_FUNCS``) -> its loop
FUNCTIONS = {"exp": _exp, "tanh": _tanh, "log1p": _log1p, "sin": _sin, "cos": _cos,
             "log": _log, "expm1": _expm1}

_entries: dict = {}
_lock = threading.Lock()


def exact(name: str, dtype: str) -> bool:
    """Whether function ``name`` on ``dtype`` values computes a kernel's bits here."""
    if name not in FUNCTIONS or dtype not in ("float32", "float64"):
        return False
    if dtype == "float32" and name in vmath.__all__:
        return True
    return not numba.config.USING_SVML


def _entry(name: str, dtype: np.dtype):
    """The compiled loop of ``name`` for 1-d C-contiguous ``dtype`` arrays: loaded from
    Numba's disk cache (after the check against symgraph's sources), else compiled here,
    once per installation."""
    key = (name, dtype.char)
    run = _entries.get(key)
    if run is None:
        from numba import from_dtype, types

        from symgraph.link.numba.extern import check_stale
        from symgraph.link.numba.fastload import load_or_compile

        disp = FUNCTIONS[name]
        t = types.Array(from_dtype(dtype), 1, "C")
        with _lock:
            check_stale(disp)
            load_or_compile(disp, (t, t))
            run = _entries[key] = disp.overloads[(t, t)].entry_point
    return run


def apply(name: str, x):
    """``name`` of every element of ``x`` (a float array or numpy scalar, as
    :func:`exact` allows): an array of ``x``'s shape and dtype, or a numpy scalar."""
    a = np.asarray(x)
    flat = np.ascontiguousarray(a).reshape(-1)
    out = np.empty(flat.shape, a.dtype)
    _entry(name, a.dtype)(flat, out)
    return out.reshape(a.shape) if a.ndim else out[0]
