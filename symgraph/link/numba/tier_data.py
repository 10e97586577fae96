"""Nodes that only check shapes, copy or fill, which the Python tier runs as numpy:
``SpecifyShape``, ``Join`` and ``Alloc`` of a scalar.

Why: their kernels (``impl/shape.py``) compute no arithmetic, yet each new graph
compiled them before its first call (0.06-0.13 s each, and Numba's first-compile set-up
of 0.4 s in a process that compiled nothing else): the last kernels an LSTM's cold
graph compiled before its first call (docs/benchmarks.md).

The same values by construction: ``SpecifyShape`` returns its input itself after the
kernel's checks; a ``Join`` of inputs of the output's dtype is ``np.concatenate`` (a copy
of each block into a new C-ordered array, as ``helpers.join_block`` copies it); an
``Alloc`` of a scalar of the output's dtype is ``np.full`` (the value copied). A failed
check, or any other argument types, runs the compiled kernel, which raises its own
error.
"""
from __future__ import annotations

import numpy as np

from symgraph.link.numba.plan_compile import Compiled, new_value_type

__all__ = ["data_program", "data_entry"]


def data_program(node):
    """A description of ``node`` (plain values) for :func:`data_entry`, or None."""
    from symgraph.tensor.array_ops import Alloc, Join
    from symgraph.tensor.shape_ops import SpecifyShape

    op = node.op
    out = node.outputs[0].type
    if type(op) is SpecifyShape:
        return {"kind": "specify_shape", "ndim": node.inputs[0].type.ndim}
    if type(op) is Join and all(v.type.dtype == out.dtype and v.type.ndim == out.ndim
                                for v in node.inputs) and out.ndim >= 1:
        return {"kind": "join", "axis": int(op.axis), "ndim": out.ndim, "dtype": out.dtype,
                "n": len(node.inputs)}
    if type(op) is Alloc and node.inputs[0].type.ndim == 0 and out.ndim >= 1 \
            and node.inputs[0].type.dtype == out.dtype:
        return {"kind": "alloc", "ndim": out.ndim, "dtype": out.dtype}
    return None


def data_entry(node, argtys):
    """A :class:`~.plan_compile.Compiled` running ``node`` (a ``NumpyNode`` whose program
    is :func:`data_program`'s) for arguments of types ``argtys``, or None (the compiled
    kernel runs)."""
    from numba import types
    from numba.np.numpy_support import as_dtype

    prog = node.prog
    kind, nd = prog["kind"], prog["ndim"]

    def kernel(*args):
        return node._compiled(argtys).entry_point(*args)

    if kind == "specify_shape":
        if len(argtys) != 1 + nd or not isinstance(argtys[0], types.Array) or \
                not all(isinstance(t, types.Integer) for t in argtys[1:]):
            return None

        def specified(x, *sizes):
            if any(x.shape[d] != s for d, s in enumerate(sizes)):
                return kernel(x, *sizes)
            return x
        return Compiled(specified, argtys[0])
    dtype = np.dtype(prog["dtype"])
    try:
        if kind == "join":
            fits = len(argtys) == prog["n"] and all(
                isinstance(t, types.Array) and t.ndim == nd and as_dtype(t.dtype) == dtype
                for t in argtys)
        else:
            fits = (len(argtys) == 1 + nd and isinstance(argtys[0], (types.Float,
                                                                      types.Integer))
                    and as_dtype(argtys[0]) == dtype
                    and all(isinstance(t, types.Integer) for t in argtys[1:]))
    except NotImplementedError:
        return None
    if not fits:
        return None
    ret = new_value_type(prog["dtype"], nd)
    if kind == "join":
        ax = prog["axis"]

        def joined(*xs):
            x0 = xs[0]
            if any(x.shape[d] != x0.shape[d] for x in xs[1:] for d in range(nd) if d != ax):
                return kernel(*xs)
            shape = list(x0.shape)
            shape[ax] = sum(x.shape[ax] for x in xs)
            out = np.empty(tuple(shape), dtype)   # C-ordered, as the kernel's
            return np.concatenate(xs, axis=ax, out=out)
        return Compiled(joined, ret)

    def filled(v, *sizes):
        if any(s < 0 for s in sizes):
            return kernel(v, *sizes)
        return np.full(sizes, v, dtype)
    return Compiled(filled, ret)
