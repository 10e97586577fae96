"""Small Numba helpers imported by generated modules (resolved at typing time)."""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from symgraph.numba_compat import alloc, jit_options, numba_internals
from symgraph.numba_compat.llvm import advise_hugepages
from symgraph.numba_compat.llvm import c_contiguous as c_contiguous_ir

#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@intrinsic
def row(typingctx, a, index, n):
    """``a[index]``, ``index`` giving every dimension but the last, as a 1-d array of
    ``n`` elements typed C-contiguous (the caller checked that ``a`` has a unit last
    stride). A flat loop passes zero indices and the element count: the row is then the
    whole C-contiguous array, seen as 1-d.

    Why typed 'C': a row of a sliced matrix (an LSTM's gate ``z[:, :H]``) is typed 'A'; its
    loop then vectorizes only with gathers, several times slower than on a 'C' view of the
    same memory (docs/benchmarks.md). Elementwise loops take these rows when every
    operand's last stride is one element.

    Why an intrinsic: elementwise kernels take one row per operand. As an indexing
    expression, an overload call and, where the kernel also has a flat loop, a conditional
    between two views, each was typed and lowered by Numba at every operand, a large share
    of a fused kernel's compile (docs/benchmarks.md); here it is a few instructions of
    address arithmetic."""
    if not (isinstance(a, types.Array) and isinstance(index, types.BaseTuple)
            and len(index) == a.ndim - 1 and isinstance(n, types.Integer)):
        return None
    nidx = len(index)
    rt = types.Array(a.dtype, 1, "C")
    sig = rt(a, types.UniTuple(types.intp, nidx) if nidx else index, types.intp)

    def codegen(context, builder, signature, args):
        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        offset = ir.Constant(ir.IntType(64), 0)
        for d in range(nidx):
            stride = builder.extract_value(ary.strides, d)
            offset = builder.add(offset, builder.mul(builder.extract_value(args[1], d), stride))
        bytes_ptr = builder.bitcast(ary.data, ir.IntType(8).as_pointer())
        data = builder.bitcast(builder.gep(bytes_ptr, [offset]), ary.data.type)
        out = context.make_array(rt)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(aty.dtype)))
        context.populate_array(out, data=data, shape=[args[2]], strides=[itemsize],
                               itemsize=itemsize, meminfo=None)
        return out._getvalue()

    return sig, codegen


@intrinsic
def c_contiguous(typingctx, a):
    """``a.flags.c_contiguous``, by Numba's own rule, as a few IR instructions
    (``numba_compat.llvm.c_contiguous``).

    Why: for an array not typed 'C', Numba lowers the flag by compiling its
    ``is_contiguous`` helper (``compile_internal``) once per process and rank: about
    0.25 s inside the first elementwise kernel of each rank with operands typed 'A' or
    'F' (an LSTM's gate slices), in every process that compiles one
    (docs/benchmarks.md)."""
    if not isinstance(a, types.Array):
        return None
    sig = types.boolean(a)

    def codegen(context, builder, signature, args):
        return c_contiguous_ir(context, builder, signature.args[0], args[0])

    return sig, codegen


@intrinsic
def reshape_c(typingctx, a, shape):
    """``a.reshape(shape)`` for ``a`` typed C-contiguous and a ``shape`` (an integer or a
    tuple of them) with as many elements as ``a``: a C-ordered view of the same memory.
    The size is not checked: generated code builds ``shape`` from ``a``'s own dimensions
    (a product's operands merged to two dimensions and its result split back, a
    reduction's axes grouped).

    Why: Numba lowers ``reshape`` through its ``normalize_reshape_value`` helper, which it
    compiles once per process (``compile_internal``): 0.18-0.22 s measured in the first
    call of an MLP's, network3's and an LSTM's new graph, in each process that compiles
    such a kernel (docs/benchmarks.md)."""
    if not (isinstance(a, types.Array) and a.layout == "C"):
        return None
    if isinstance(shape, types.Integer):
        dims_t = (shape,)
    elif isinstance(shape, types.BaseTuple) and all(isinstance(t, types.Integer)
                                                    for t in shape):
        dims_t = tuple(shape)
    else:
        return None
    rt = types.Array(a.dtype, len(dims_t), "C", readonly=not a.mutable, aligned=a.aligned)
    sig = rt(a, shape)

    def codegen(context, builder, signature, args):
        from numba.core.imputils import impl_ret_borrowed

        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        if isinstance(signature.args[1], types.Integer):
            vals = [args[1]]
        else:
            vals = [builder.extract_value(args[1], d) for d in range(len(dims_t))]
        dims = [context.cast(builder, v, t, types.intp) for v, t in zip(vals, dims_t)]
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(aty.dtype)))
        strides = [itemsize] * len(dims)
        for d in range(len(dims) - 2, -1, -1):
            strides[d] = builder.mul(strides[d + 1], dims[d + 1])
        out = context.make_array(rt)(context, builder)
        context.populate_array(out, data=ary.data, shape=dims, strides=strides,
                               itemsize=ary.itemsize, meminfo=ary.meminfo,
                               parent=ary.parent)
        return impl_ret_borrowed(context, builder, rt, out._getvalue())

    return sig, codegen


@numba.njit(**_JIT, cache=True)
def transpose(a, axes):
    """``a.transpose(axes)``, compiled once per installation instead of once per process:
    Numba's own lowering compiles a shape-error formatter (str/repr/hash overloads, a long
    compile: docs/benchmarks.md) that its in-memory cache forgets at exit."""
    return a.transpose(axes)


# -- allocation without a compile per argument types --------------------------------
# Numba compiles its ``np.empty``/``np.zeros``/``np.full``/``np.ascontiguousarray``
# implementations anew in every process, for every (shape arity, dtype) they meet: together
# a large share of the network3 training function's cold compile (docs/benchmarks.md).
# Generated modules call these names instead (``linker.ALLOCATORS`` rewrites the calls).
# On the private path they are ``numba_compat.alloc``'s intrinsics: the allocation's code
# is emitted into the calling kernel, nothing is compiled on its own (the disk-cached
# wrappers they replace were compiled once per installation for each new rank and dtype:
# 14 compiles, about 1.0 s, in a first run; docs/benchmarks.md). On the public path they
# are those wrappers around numpy's functions.
#
# ``empty_hugepage`` allocates the outputs of elementwise kernels, which write every
# element at once: from 4 MiB on its memory is advised onto transparent huge pages, as
# numpy does (a fresh 40 MB output cost ~10k page faults on 4 KiB pages, as much time as
# the loop that fills it). Not for every allocation: the outputs of the other kernels
# (conv, pool) measured slower on huge pages (docs/benchmarks.md).
if numba_internals():
    empty, zeros, ascontiguousarray = alloc.empty, alloc.zeros, alloc.ascontiguousarray
    empty_hugepage = alloc.empty_hugepage
else:
    @intrinsic
    def _advise_hugepages(typingctx, a):
        """The huge-page advice on array ``a``'s memory (``llvm.advise_hugepages``, public
        API only)."""
        if not isinstance(a, types.Array):
            return None

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            i64 = ir.IntType(64)
            if alloc.HUGEPAGE:
                advise_hugepages(builder, builder.ptrtoint(ary.data, i64),
                                 builder.mul(ary.itemsize, ary.nitems),
                                 alloc.HUGEPAGE_MIN_BYTES)
            return context.get_dummy_value()

        return types.none(a), codegen

    @numba.njit(**_JIT, cache=True, nogil=True)
    def empty(shape, dtype):
        return np.empty(shape, dtype)

    @numba.njit(**_JIT, cache=True, nogil=True)
    def empty_hugepage(shape, dtype):
        a = np.empty(shape, dtype)
        _advise_hugepages(a)
        return a

    @numba.njit(**_JIT, cache=True, nogil=True)
    def zeros(shape, dtype):
        return np.zeros(shape, dtype)

    @numba.njit(**_JIT, cache=True, nogil=True)
    def ascontiguousarray(a):
        return np.ascontiguousarray(a)


@numba.njit(**_JIT, cache=True, nogil=True)
def full(shape, fill_value, dtype):
    return np.full(shape, fill_value, dtype)


@numba.njit(**_JIT, cache=True, nogil=True)
def unit_last_stride(a):
    """``a`` itself when its last stride is one element, else a C-contiguous copy: the
    operand an elementwise kernel reads by rows. Called by symbol, one call per operand,
    instead of a test, a call and a join of the two types in every kernel: for a
    C-contiguous type both are C, so the kernel's code after it is the same."""
    if a.strides[a.ndim - 1] == a.itemsize:
        return a
    return alloc.ascontiguousarray(a)


@numba.njit(**_JIT, cache=True, nogil=True)
def join_block(out, x, axis, p):
    """Copy ``x`` into the C-contiguous ``out`` at offset ``p`` along ``axis`` (the
    caller checked the other dimensions): one flat copy per index of the axes before
    ``axis``, each block a contiguous run of ``out``; an ``x`` that is not C-contiguous is
    copied to one first.

    Why a helper: ``Join`` kernels called it per input (a flat copy and an element loop
    each, typed and lowered in every Join kernel, 0.9 s for an LSTM's four-gate Join:
    docs/benchmarks.md); here it is compiled once per installation and pair of types,
    and reached by symbol. The flat copy indexes 1-d slices from 0, which LLVM
    vectorizes (an offset index does not)."""
    xc = alloc.ascontiguousarray(x)
    outer = 1
    for d in range(axis):
        outer *= xc.shape[d]
    inner = 1
    for d in range(axis + 1, xc.ndim):
        inner *= xc.shape[d]
    w = xc.shape[axis] * inner
    run = out.shape[axis] * inner   # elements of out per index of the axes before axis
    fo = out.reshape(out.size)
    fx = xc.reshape(xc.size)
    for i in range(outer):
        dst = fo[i * run + p * inner:i * run + p * inner + w]
        src = fx[i * w:i * w + w]
        for j in range(w):
            dst[j] = src[j]


@numba.njit(**_JIT, cache=True, nogil=True)
def reshape_target(size, shp, nd):
    """The target shape ``shp`` of a reshape of ``size`` elements, its -1 (at most one)
    resolved, as an int64 array of ``nd`` entries; raises ValueError for a shape that
    does not fit. Called by symbol from ``Reshape`` kernels: this checking, a branch and
    a raise per dimension, was most of each such kernel's compile."""
    if shp.shape[0] != nd:
        raise ValueError("Reshape: the new shape does not have one entry per output "
                         "dimension")
    out = alloc.empty(nd, np.int64)
    neg = -1
    known = 1
    for d in range(nd):
        s = np.int64(shp[d])
        if s == -1:
            if neg >= 0:
                raise ValueError("Reshape: at most one -1 allowed")
            neg = d
        elif s < 0:
            raise ValueError("Reshape: negative dimension")
        else:
            known *= s
        out[d] = s
    if neg >= 0:
        if known == 0 or size % known != 0:
            raise ValueError("Reshape: cannot reshape: the input size does not match the "
                             "new shape")
        out[neg] = size // known
    elif known != size:
        raise ValueError("Reshape: cannot reshape: the input size does not match the new "
                         "shape")
    return out


@numba.njit(**_JIT, cache=True, nogil=True)
def reshape_contiguous(a, shape):
    """``a`` (copied when not C-contiguous) viewed with ``shape``. Called by symbol from
    ``Reshape`` kernels: compiled once per installation and type, not in every kernel."""
    return alloc.ascontiguousarray(a).reshape(shape)


@numba.njit(**_JIT, cache=True, nogil=True)
def astype(a, dtype):
    """``a.astype(dtype)`` (a copy), compiled once per installation like the allocators."""
    return a.astype(dtype)


# -- float sums, compiled once per installation ---------------------------------------
# A float sum needs ``fastmath={'reassoc'}`` to vectorize, and a node function with its
# own fastmath flags cannot be inlined into ``graph_fn``: each such node was a Numba
# compilation of its own in every new graph (7 of them in network3's training function;
# docs/benchmarks.md). Reductions whose reduced axes are a leading and/or a trailing block
# call this cached function instead, through ``link/numba/extern.py`` (by symbol, not
# re-compiled).
@numba.njit(**_JIT, cache=True, nogil=True, fastmath={"reassoc"})
def sum_lmr(x, acc_zero):
    """``out[m] = sum over l, r of x[l, m, r]`` for a 3-d ``x``, accumulated in the dtype
    of ``acc_zero`` (float64 for float32 input, as numpy's pairwise sum is that accurate)."""
    L, M, R = x.shape
    out = alloc.zeros(M, type(acc_zero))
    if R == 1 and M >= 16:
        # rows of a matrix added up: the kept axis is the contiguous one
        for l_ in range(L):
            for m in range(M):
                out[m] += x[l_, m, 0]
    elif R == 1:
        for m in range(M):
            acc = acc_zero
            for l_ in range(L):
                acc += x[l_, m, 0]
            out[m] = acc
    else:
        for l_ in range(L):
            for m in range(M):
                acc = acc_zero
                for r in range(R):
                    acc += x[l_, m, r]
                out[m] += acc
    return out


@numba.njit(**_JIT, cache=True, nogil=True)
def copy_into(dst, src):
    """``dst[...] = src`` for arrays of one shape: one flat loop when both are C-contiguous
    at run time, else an element loop over the index space.

    Called by symbol (compiled once per installation and type) from scan's loop, which
    copies each step's values into its output buffers, and from elementwise kernels, which
    write back an in-place result computed in a contiguous copy. Why not Numba's array
    assignment: between 2-D slices it runs a general strided loop, about three times
    slower than the flat one (which LLVM vectorizes); and its broadcasting error path
    formats the shapes into a message, whose compile took 2.6 s of the first LSTM's
    compile (per process, for every new array rank). A value typed with layout 'A' but
    contiguous at run time takes the flat loop too (``ascontiguousarray`` is then a view).
    """
    if src.shape != dst.shape:
        raise ValueError("copy_into: the value does not have the destination's shape")
    if c_contiguous(src) and c_contiguous(dst):
        d = alloc.ascontiguousarray(dst).reshape(dst.size)
        s = alloc.ascontiguousarray(src).reshape(src.size)
        for k in range(d.size):
            d[k] = s[k]
    else:
        for idx in np.ndindex(dst.shape):
            dst[idx] = src[idx]
