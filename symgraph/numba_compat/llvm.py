"""LLVM IR helpers for symgraph's ``@intrinsic`` code generators.

Why: the intrinsics (the gemm micro-kernel, BLAS argument slots, ``madvise``, LLVM's
NaN-propagating min/max, the parallel-kernel callback, contiguity tests) used
``numba.core.cgutils``, Numba's internal IR toolbox. The helpers they need are a few
lines each on llvmlite's public IR API, so they are written here and no longer depend
on Numba's internals at all (no version gate: they emit the same IR ``cgutils`` did, so the
machine code is unchanged).

:func:`call_native` is the exception: calling a compiled Numba function through its
native symbol needs Numba's calling convention (``context.call_conv``), an internal.
It is used only on the private path (``link/numba/extern.py``); the public path calls
the dispatcher from Numba code, and Numba links the callee in.
"""
from __future__ import annotations

from contextlib import contextmanager

from llvmlite import ir

__all__ = ["declare_function", "declare_global", "stack_slot", "counted_loop", "call_native",
           "c_contiguous", "advise_hugepages"]


def declare_function(module: ir.Module, fnty: ir.FunctionType, name: str) -> ir.Function:
    """The function ``name`` of ``module``, declared with type ``fnty`` if it is not there
    yet (an LLVM intrinsic such as ``llvm.fma.v16f32``, a libc function, a symbol
    registered with ``llvmlite.binding.add_symbol``).

    Replaces ``cgutils.get_or_insert_function`` (same behaviour)."""
    fn = module.globals.get(name, None)
    if fn is None:
        fn = ir.Function(module, fnty, name)
    return fn


def declare_global(module: ir.Module, ty: ir.Type, name: str) -> ir.GlobalVariable:
    """The global ``name`` of ``module``, declared external with type ``ty`` if it is not
    there yet (a C variable registered with ``llvmlite.binding.add_symbol``)."""
    gv = module.globals.get(name, None)
    if gv is None:
        gv = ir.GlobalVariable(module, ty, name)
        gv.linkage = "external"
    return gv


def stack_slot(builder: ir.IRBuilder, value) -> ir.Instruction:
    """A pointer to a stack slot holding ``value``. The ``alloca`` goes in the function's
    entry block (zero-filled there), so a slot made inside a loop is one slot that LLVM
    can promote to a register, not a stack that grows per iteration; ``value`` is stored
    where the builder is. Debug locations are not attached to the entry-block
    instructions (they would make line information jump about).

    Replaces ``cgutils.alloca_once_value`` (same IR)."""
    ty = value.type
    saved = getattr(builder, "debug_metadata", None)
    builder.debug_metadata = None
    try:
        with builder.goto_entry_block():
            ptr = builder.alloca(ty, size=None, name="")
            builder.store(ty(None), ptr)
    finally:
        builder.debug_metadata = saved
    builder.store(value, ptr)
    return ptr


class Loop:
    """The running loop of :func:`counted_loop`: ``index`` (an IR value)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


@contextmanager
def counted_loop(builder: ir.IRBuilder, count):
    """``with counted_loop(builder, n) as loop:`` emits the body for
    ``loop.index = 0 .. n-1`` (signed comparison, ``nsw`` increment, the index a phi
    node: the shape LLVM's loop passes expect). The builder continues after the loop.

    Replaces ``cgutils.for_range`` (same IR)."""
    intp = count.type
    start = intp(0)
    bbcond = builder.append_basic_block("for.cond")
    bbbody = builder.append_basic_block("for.body")
    bbend = builder.append_basic_block("for.end")
    bbstart = builder.basic_block
    builder.branch(bbcond)
    with builder.goto_block(bbcond):
        index = builder.phi(intp, name="loop.index")
        pred = builder.icmp_signed("<", index, count)
        builder.cbranch(pred, bbbody, bbend)
    with builder.goto_block(bbbody):
        yield Loop(index)
        bbbody = builder.basic_block   # the body may have started new blocks
        incr = builder.add(index, intp(1), flags=["nsw"])
        if builder.basic_block.terminator is None:
            builder.branch(bbcond)
    index.add_incoming(start, bbstart)
    index.add_incoming(incr, bbbody)
    builder.position_at_end(bbend)


def call_native(context, builder, symbol: str, return_type, argtys, args):
    """Call the compiled Numba function registered under ``symbol`` (its native entry
    point, see ``dispatch.native_entry``) from generated code, as Numba calls a linked
    callee: with Numba's calling convention, so the status, an exception raised by the
    callee and reference counts behave exactly as in a linked call (the exception is
    propagated to the caller). Returns the result value.

    Private (``context.call_conv``): used only while ``numba_internals()``. Why symgraph
    needs it: a callee reached by symbol is compiled once and cached, instead of being
    linked into, optimized and code-generated again in every graph that calls it.
    Public path: the graph calls the dispatcher itself (``link/numba/linker.py`` emits a
    plain import), and Numba links the callee's code into each caller."""
    call_conv = context.call_conv
    fnty = call_conv.get_function_type(return_type, argtys)
    fn = declare_function(builder.module, fnty, symbol)
    status, res = call_conv.call_function(builder, fn, return_type, argtys, args)
    with builder.if_then(status.is_error, likely=False):
        call_conv.return_status_propagate(builder, status)
    return res


def c_contiguous(context, builder, aty, value):
    """IR for ``a.flags.c_contiguous`` of array ``value`` of type ``aty``, by Numba's own
    rule (``numpy_support.is_contiguous``: axes of size 0 or 1 at either end are skipped,
    then each stride is the next one times its size, the innermost the item size).

    Why here: for an array not typed 'C', Numba lowers the flag by compiling its
    ``is_contiguous`` helper once per process and rank; these few instructions replace
    it in generated kernels (``link/numba/helpers.c_contiguous``) and in
    ``alloc.ascontiguousarray``. Public API only (llvmlite IR, ``context.make_array``)."""
    from numba import types

    if aty.layout == "C" or aty.ndim == 0:
        return context.get_constant(types.boolean, True)
    ary = context.make_array(aty)(context, builder, value)
    nd = aty.ndim
    dims = [builder.extract_value(ary.shape, d) for d in range(nd)]
    strides = [builder.extract_value(ary.strides, d) for d in range(nd)]
    itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
        context.get_value_type(aty.dtype)))
    one = context.get_constant(types.intp, 1)
    false = ir.Constant(ir.IntType(1), 0)
    big = [builder.icmp_signed(">", d, one) for d in dims]
    # big_from[i]: an axis >= i has more than one element; big_before[i]: one < i has
    big_from = [false] * (nd + 1)
    for i in range(nd - 1, -1, -1):
        big_from[i] = builder.or_(big[i], big_from[i + 1])
    big_before = [false] * (nd + 1)
    for i in range(nd):
        big_before[i + 1] = builder.or_(big_before[i], big[i])
    # the innermost axis with more than one element has the item size as its stride
    inner_ok = false
    for i in range(nd):
        inner = builder.and_(big[i], builder.not_(big_from[i + 1]))
        unit = builder.icmp_signed("==", strides[i], itemsize)
        inner_ok = builder.or_(inner_ok, builder.and_(inner, unit))
    # between the outermost and the innermost such axes, each stride is the next one
    # times its size
    ok = inner_ok
    for ax in range(1, nd):
        inside = builder.and_(big_from[ax], big_before[ax])
        step = builder.icmp_signed("==", builder.mul(strides[ax], dims[ax]),
                                   strides[ax - 1])
        ok = builder.and_(ok, builder.or_(builder.not_(inside), step))
    return builder.or_(builder.not_(big_from[0]), ok)


def advise_hugepages(builder, addr, nbytes, min_bytes: int) -> None:
    """IR for ``madvise(MADV_HUGEPAGE)`` on the whole 4 KiB pages inside the ``nbytes``
    (i64) bytes at ``addr`` (i64) when they are ``min_bytes`` or more, as numpy advises
    its large allocations (Linux's advice number; the caller decides the platform).
    Shared by ``alloc.empty_hugepage`` and the link helpers' public-path allocator."""
    i64 = ir.IntType(64)
    with builder.if_then(builder.icmp_signed(">=", nbytes, i64(min_bytes))):
        start = builder.and_(builder.add(addr, i64(4095)), i64(~4095))
        end = builder.add(addr, nbytes)
        with builder.if_then(builder.icmp_unsigned(">", end, start)):
            voidptr = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.IntType(32), [voidptr, i64, ir.IntType(32)])
            fn = declare_function(builder.module, fnty, "madvise")
            builder.call(fn, [builder.inttoptr(start, voidptr), builder.sub(end, start),
                              ir.IntType(32)(14)])   # MADV_HUGEPAGE
