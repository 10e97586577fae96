"""Array allocation for compiled kernels without a Numba compilation per argument types.

``empty(shape, dtype)``, ``zeros(shape, dtype)`` and ``ascontiguousarray(a)`` behave as
numpy's functions do in Numba code (positional arguments; the result types are Numba's).

Why: Numba implements ``np.empty``, ``np.zeros`` and ``np.ascontiguousarray`` as
``@overload`` functions. The implementation each one returns is compiled on its own, in
memory (never cached), once per process for every combination of argument types it
meets. The kernel library and the link helpers meet many: a new installation's first
run compiled 27 ``np.empty``, 14 ``np.ascontiguousarray`` and 8 ``np.zeros``
implementations (with their zero fills), about 3.2 s of its two processes' compile
(docs/benchmarks.md). These intrinsics emit the code those implementations end in
straight into the caller: nothing is compiled on its own.

Private: ``numba.np.arrayobj``'s ``ty_parse_shape``, ``ty_parse_dtype`` (typing, as
``np.empty``'s overload types its arguments), ``_parse_shape``, ``_empty_nd_impl`` and
``_array_copy`` (the allocation and copy that ``np.empty`` and ``np.ascontiguousarray``
lower to), and ``cgutils.memset`` (``np.zeros``' zero fill). The contiguity test of an
array typed 'A' is :func:`symgraph.numba_compat.llvm.c_contiguous` (Numba's own lowering
compiles a helper for it once per process). Public path: the names are numpy's own
functions (Numba compiles its implementations as before).
"""
from __future__ import annotations

import numpy as np

from symgraph.numba_compat import numba_internals

__all__ = ["empty", "zeros", "ascontiguousarray"]


def _intrinsics():
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
    from numba.np import arrayobj

    from symgraph.numba_compat.llvm import c_contiguous

    def _new_array(context, builder, sig, args):
        shapes = arrayobj._parse_shape(context, builder, sig.args[0], args[0])
        return arrayobj._empty_nd_impl(context, builder, sig.return_type, shapes)

    def _array_type(shape, dtype):
        nb_dtype = arrayobj.ty_parse_dtype(dtype)
        ndim = arrayobj.ty_parse_shape(shape)
        if nb_dtype is None or ndim is None:
            return None
        return types.Array(nb_dtype, ndim, "C")

    def _allocator(name, zero_fill):
        """The intrinsic ``name(shape, dtype)``: a new C-ordered array, zero-filled or
        not (``np.zeros`` / ``np.empty``)."""

        def typer(typingctx, shape, dtype):
            retty = _array_type(shape, dtype)
            if retty is None:
                return None

            def codegen(context, builder, sig, args):
                ary = _new_array(context, builder, sig, args)
                if zero_fill:
                    cgutils.memset(builder, ary.data, builder.mul(ary.itemsize, ary.nitems),
                                   0)
                return ary._getvalue()

            return retty(shape, dtype), codegen

        typer.__name__ = typer.__qualname__ = name
        return intrinsic(typer)

    empty = _allocator("empty", zero_fill=False)
    zeros = _allocator("zeros", zero_fill=True)

    @intrinsic
    def ascontiguousarray(typingctx, a):
        """``np.ascontiguousarray(a)`` for an array: ``a`` itself when its type is C, or
        when it is typed 'A' and C-contiguous at run time; else a C-ordered copy. Like
        Numba's, the result type is C, writable, at least 1-d."""
        if not isinstance(a, types.Array) or a.ndim == 0:
            return None
        retty = a.copy(layout="C", readonly=False)

        def codegen(context, builder, sig, args):
            aty = sig.args[0]
            if aty.layout == "C" or (aty.ndim == 1 and aty.layout == "F"):
                context.nrt.incref(builder, aty, args[0])   # borrowed, returned as new
                return args[0]
            if aty.layout != "A":
                return arrayobj._array_copy(context, builder, sig, args)
            with builder.if_else(c_contiguous(context, builder, aty, args[0])) as (
                    view, copy):
                with view:
                    context.nrt.incref(builder, aty, args[0])
                    view_block = builder.block
                with copy:
                    copied = arrayobj._array_copy(context, builder, sig, args)
                    copy_block = builder.block
            out = builder.phi(args[0].type)
            out.add_incoming(args[0], view_block)
            out.add_incoming(copied, copy_block)
            return out

        return retty(a), codegen

    return empty, zeros, ascontiguousarray


if numba_internals():
    empty, zeros, ascontiguousarray = _intrinsics()
else:
    empty, zeros, ascontiguousarray = np.empty, np.zeros, np.ascontiguousarray
