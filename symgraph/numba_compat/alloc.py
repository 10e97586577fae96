"""Array allocation for compiled kernels without a Numba compilation per argument types.

``empty(shape, dtype)``, ``zeros(shape, dtype)`` and ``ascontiguousarray(a)`` behave as
numpy's functions do in Numba code (positional arguments; the result types are Numba's).
``empty_hugepage(shape, dtype)`` is ``empty`` whose memory, from ``HUGEPAGE_MIN_BYTES`` on,
is advised onto transparent huge pages (``madvise(MADV_HUGEPAGE)`` on its page-aligned
interior, on Linux; as numpy does for its large allocations).

Why: Numba implements ``np.empty``, ``np.zeros`` and ``np.ascontiguousarray`` as
``@overload`` functions. The implementation each one returns is compiled on its own, in
memory (never cached), once per process for every combination of argument types it
meets. The kernel library and the link helpers meet many: a new installation's first
run compiled 27 ``np.empty``, 14 ``np.ascontiguousarray`` and 8 ``np.zeros``
implementations (with their zero fills), about 3.2 s of its two processes' compile
(docs/benchmarks.md). These intrinsics emit the code those implementations end in
straight into the caller: nothing is compiled on its own.

Private: ``numba.np.arrayobj``'s ``ty_parse_shape``, ``ty_parse_dtype`` (typing, as
``np.empty``'s overload types its arguments), ``_parse_shape``, ``make_array`` and
``populate_array``; the runtime's ``meminfo_alloc_aligned``; ``cgutils``' ``memset``,
``raw_memcpy``, ``loop_nest`` and ``get_item_pointer2``. The allocation and the copy are
the code of ``arrayobj._empty_nd_impl`` and ``_array_copy`` (what ``np.empty`` and
``np.ascontiguousarray`` lower to), except that they call the runtime's allocator
directly: Numba's goes through a trampoline compiled once in every process. The
contiguity test of an array typed 'A' is :func:`symgraph.numba_compat.llvm.c_contiguous`
(Numba's own lowering compiles a helper for it once per process). Public path: the names
are numpy's own functions (Numba compiles its implementations as before).
"""
from __future__ import annotations

import sys

import numpy as np

from symgraph.numba_compat import numba_internals

__all__ = ["empty", "zeros", "ascontiguousarray", "empty_hugepage", "HUGEPAGE_MIN_BYTES",
           "HUGEPAGE"]

#: allocations of this many bytes and more are advised onto huge pages (numpy's threshold)
HUGEPAGE_MIN_BYTES = 1 << 22
#: madvise's huge-page advice exists on Linux only
HUGEPAGE = sys.platform.startswith("linux")


def _intrinsics():
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
    from numba.np import arrayobj

    from symgraph.numba_compat.llvm import advise_hugepages, c_contiguous

    def _empty_nd(context, builder, arrtype, shapes):
        """A new C-ordered array of ``arrtype`` with dimensions ``shapes``: what
        ``arrayobj._empty_nd_impl`` emits, with the runtime's aligned allocation called
        directly. Numba's reaches it through ``compile_internal`` of a trampoline to the
        array class's ``_allocate``, compiled once in every process (an overridable class
        method; symgraph's arrays are plain ``types.Array``)."""
        i64 = ir.IntType(64)
        ary = arrayobj.make_array(arrtype)(context, builder)
        itemsize = i64(context.get_abi_sizeof(context.get_data_type(arrtype.dtype)))
        n = i64(1)
        overflow = ir.Constant(ir.IntType(1), 0)
        for s in list(shapes) + [itemsize]:
            prod = builder.smul_with_overflow(n, s)
            n = builder.extract_value(prod, 0)
            overflow = builder.or_(overflow, builder.extract_value(prod, 1))
        with builder.if_then(overflow, likely=False):
            context.call_conv.return_user_exc(
                builder, ValueError, ("array is too big; `arr.size * arr.dtype.itemsize` is "
                                      "larger than the maximum possible size.",))
        strides = [itemsize]
        for dim in reversed(list(shapes)[1:]):
            strides.append(builder.mul(strides[-1], dim))
        strides = list(reversed(strides))[:arrtype.ndim]
        align = ir.IntType(32)(context.get_preferred_array_alignment(arrtype.dtype))
        meminfo = context.nrt.meminfo_alloc_aligned(builder, n, align)
        data = context.nrt.meminfo_data(builder, meminfo)
        arrayobj.populate_array(
            ary, data=builder.bitcast(data, context.get_data_type(arrtype.dtype).as_pointer()),
            shape=cgutils.pack_array(builder, list(shapes), ty=i64),
            strides=cgutils.pack_array(builder, strides, ty=i64),
            itemsize=itemsize, meminfo=meminfo)
        return ary

    def _new_array(context, builder, sig, args):
        shapes = arrayobj._parse_shape(context, builder, sig.args[0], args[0])
        return _empty_nd(context, builder, sig.return_type, shapes)

    def _copy(context, builder, sig, args):
        """A C-ordered copy of the array ``args[0]`` (``arrayobj._array_copy``'s code,
        allocating with :func:`_empty_nd`); a new reference."""
        aty, rty = sig.args[0], sig.return_type
        src = arrayobj.make_array(aty)(context, builder, value=args[0])
        shapes = cgutils.unpack_tuple(builder, src.shape)
        out = _empty_nd(context, builder, rty, shapes)
        if aty.layout == "C":
            cgutils.raw_memcpy(builder, out.data, src.data, src.nitems, src.itemsize, align=1)
        else:
            i64 = ir.IntType(64)
            src_strides = cgutils.unpack_tuple(builder, src.strides)
            out_strides = cgutils.unpack_tuple(builder, out.strides)
            with cgutils.loop_nest(builder, shapes, i64) as idx:
                sp = cgutils.get_item_pointer2(context, builder, src.data, shapes,
                                               src_strides, aty.layout, idx)
                dp = cgutils.get_item_pointer2(context, builder, out.data, shapes,
                                               out_strides, "C", idx)
                builder.store(builder.load(sp), dp)
        return out._getvalue()

    def _array_type(shape, dtype):
        nb_dtype = arrayobj.ty_parse_dtype(dtype)
        ndim = arrayobj.ty_parse_shape(shape)
        if nb_dtype is None or ndim is None:
            return None
        return types.Array(nb_dtype, ndim, "C")

    def _advise_hugepages(builder, ary):
        """The huge-page advice on ``ary``'s memory (``llvm.advise_hugepages``)."""
        i64 = ir.IntType(64)
        advise_hugepages(builder, builder.ptrtoint(ary.data, i64),
                         builder.mul(ary.itemsize, ary.nitems), HUGEPAGE_MIN_BYTES)

    def _allocator(name, zero_fill, hugepages=False):
        """The intrinsic ``name(shape, dtype)``: a new C-ordered array, zero-filled or
        not (``np.zeros`` / ``np.empty``), advised onto huge pages or not."""

        def typer(typingctx, shape, dtype):
            retty = _array_type(shape, dtype)
            if retty is None:
                return None

            def codegen(context, builder, sig, args):
                ary = _new_array(context, builder, sig, args)
                if hugepages:
                    _advise_hugepages(builder, ary)
                if zero_fill:
                    cgutils.memset(builder, ary.data, builder.mul(ary.itemsize, ary.nitems),
                                   0)
                return ary._getvalue()

            return retty(shape, dtype), codegen

        typer.__name__ = typer.__qualname__ = name
        return intrinsic(typer)

    empty = _allocator("empty", zero_fill=False)
    zeros = _allocator("zeros", zero_fill=True)
    empty_hugepage = _allocator("empty_hugepage", zero_fill=False, hugepages=HUGEPAGE)

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
                return _copy(context, builder, sig, args)
            with builder.if_else(c_contiguous(context, builder, aty, args[0])) as (
                    view, copy):
                with view:
                    context.nrt.incref(builder, aty, args[0])
                    view_block = builder.block
                with copy:
                    copied = _copy(context, builder, sig, args)
                    copy_block = builder.block
            out = builder.phi(args[0].type)
            out.add_incoming(args[0], view_block)
            out.add_incoming(copied, copy_block)
            return out

        return retty(a), codegen

    return empty, zeros, ascontiguousarray, empty_hugepage


if numba_internals():
    empty, zeros, ascontiguousarray, empty_hugepage = _intrinsics()
else:
    # numpy's own (no advice: the link layer's public-path helper advises itself)
    empty, zeros, ascontiguousarray = np.empty, np.zeros, np.ascontiguousarray
    empty_hugepage = np.empty
