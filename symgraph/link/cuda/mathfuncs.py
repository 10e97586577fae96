"""The math vocabulary of scalar templates (``_sg_exp``...) bound for CUDA kernels.

``symgraph.tensor.scalar_ops`` writes scalar code with the function names of
``MATH_FUNCS`` prefixed by ``_sg_``. On a GPU they are ``math.<name>`` (Numba's CUDA
target maps them to libdevice, in float32 for float32 arguments); ``rint`` and ``exp2``,
which ``math`` lacks, are typed overloads on libdevice. Under Numba's CUDA simulator the
kernels are plain Python, where ``math.log(0.0)`` raises and ``math.floor`` returns an
int, so there they are the numpy ufuncs (numpy semantics: -inf, NaN, float results).

Example (inside a generated kernel)::

    r = _sg_exp(x)      # math.exp on the GPU, np.exp on the simulator
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.tensor.scalar_ops import MATH_FUNCS

_MATH = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2"}
_LIBDEVICE = {"rint": ("rintf", "rint"), "exp2": ("exp2f", "exp2")}

__all__ = [f"_sg_{f}" for f in MATH_FUNCS]


def _simulator() -> bool:
    from symgraph.link.cuda.runtime import using_simulator

    return using_simulator()


def _np_func(name):
    uf = getattr(np, name)

    def f(*args):
        with np.errstate(all="ignore"):
            return uf(*args)

    f.__name__ = f"_sg_{name}"
    return f


def _np_erf(x):
    if x != x:
        return x
    return type(x)(math.erf(x)) if isinstance(x, np.floating) else math.erf(x)


def _libdevice_func(name):
    from numba import types
    from numba.cuda import libdevice
    from numba.extending import overload

    f32, f64 = (getattr(libdevice, n) for n in _LIBDEVICE[name])

    def stub(x):  # pragma: no cover - only ever compiled for the CUDA target
        raise NotImplementedError(f"_sg_{name} runs only inside CUDA kernels")

    stub.__name__ = f"_sg_{name}"

    @overload(stub, target="cuda")
    def _ol(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, types.Float):
            return lambda x: f64(x)
        return None

    return stub


def numpy_table() -> dict:
    """The vocabulary bound to numpy (numpy-scalar semantics): the simulator's kernels and
    host-side scalar code use it."""
    return {f"_sg_{name}": _np_erf if name == "erf" else _np_func(name) for name in MATH_FUNCS}


def _bind():
    if _simulator():
        return numpy_table()
    table = {}
    for name in MATH_FUNCS:
        if name in _LIBDEVICE:
            table[f"_sg_{name}"] = _libdevice_func(name)
        else:
            table[f"_sg_{name}"] = getattr(math, _MATH.get(name, name))
    return table


globals().update(_bind())
