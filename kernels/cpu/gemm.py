"""Matrix products for the shapes of a training step: one small dimension (the batch).

``small_gemm(alpha, x, y, beta, z, out)`` computes ``out = alpha * x @ y + beta * z`` for
2-D float32/float64 arrays when one of the three shapes a dense layer's step produces
applies, and returns False otherwise (the caller then uses BLAS):

* ``nn``  forward ``x (b, k) @ w (k, n)``, ``b`` small: the reduction over ``k`` is split
  between the threads; each sums its rows of ``w`` into a ``b x n`` partial;
* ``nt``  input gradient ``d (b, n) @ w.T``: each thread takes a range of rows of ``w``
  (columns of the result); above 32 rows (16 in float64) each thread makes one
  single-threaded BLAS call for its range instead (BLAS is on one thread in compiled
  code, see ``link/numba/blas_threads.py``; this gives the product both cores);
* ``tn``  weight gradient / SGD update ``x.T @ d`` (``(k, b) @ (b, n)``), ``b`` small, often
  with ``beta * w`` added: each thread takes a range of rows of the result.

The kernels take batches up to ``SMALL_DIM`` (128) rows and weights whose per-thread
share stays cache-sized (``PANEL_BYTES``). A larger product of at least ``SPLIT_WORK``
multiply-adds whose operands BLAS reads in place is split by columns (or, when taller than
wide, rows) of the result, one single-threaded BLAS call per thread (``COLS_BLAS``,
``ROWS_BLAS``): the BLAS compiled code calls runs on
one thread (``link/numba/blas_threads.py``), and the products a scan's gradient leaves
after its loop (``h.T @ dz`` over every step) ran on one core. Smaller or other products
are left to the caller's BLAS call.

Why not BLAS: at batch 10 OpenBLAS repacks the whole weight matrix on every call and
runs one product well below the machine's peak (docs/benchmarks.md); these kernels read
the weights in place, and all three split ``w`` by rows the same way, so each core keeps
reading (and, for the update, writing) the same half of the weights from its own L2 cache
during a training step.

The inner loop is a register-blocked micro-kernel emitted as LLVM IR
(``_block_mac``): up to 6 rows by 2 vectors of accumulators stay in registers while it
walks the reduction dimension, one broadcast and one fused multiply-add per element.
Numba's loop vectorizer cannot produce this from Python loops (it keeps the
accumulators in memory, several times slower). Results differ from BLAS's only by
rounding order.

All functions are ``@njit(**_JIT, cache=True)`` and callable from Python and from generated
code; ``gemm_ref`` in ``reference.py`` is the specification.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import by_symbol, caller_cache
from symgraph.numba_compat.launch import task_launcher
from symgraph.numba_compat.llvm import counted_loop, declare_function, stack_slot

from .blas import gemm_into, overlaps
from .intops import imax, imin
from .tasks import task_count

#: functions that call by symbol: disk-cached on the private path only (``caller_cache``)
_CALLER_CACHE = caller_cache()

__all__ = ["small_gemm", "overlaps", "SMALL_DIM", "MIN_WORK", "PANEL_BYTES", "SPLIT_WORK"]

#: the batch dimension at or below which the kernels are used instead of BLAS (at batch
#: 100 with network3's 2880 x 100 weights they still beat one-thread BLAS, forward and
#: weight gradient: docs/benchmarks.md)
SMALL_DIM = 128
#: most bytes of the weights one product walks per row block: the kernels do not block
#: for the cache, so beyond this BLAS's packing wins
PANEL_BYTES = 4 << 20
#: multiply-adds below which a product is left to BLAS (faster on tiny matrices such as
#: 10x100 @ 100x10: docs/benchmarks.md)
MIN_WORK = 1 << 15
#: multiply-adds from which a product no kernel here takes is still split over the
#: threads, as column (or row) blocks each computed by one single-threaded BLAS call: a
#: product that keeps one core busy far longer than a fork and join of Numba's pool
SPLIT_WORK = 1 << 21
#: NN with at least this many times more columns than reduction rows (an LSTM's
#: ``h @ U``, 128 x 512), or NT with this many times more reduction rows than columns
#: (its ``dz @ U.T``), goes to BLAS split by columns instead: BLAS packs the small panel
#: cheaply and measured faster there, while the kernels stay faster on a dense layer's
#: tall, narrow weights such as network3's 2880 x 100 (figures: docs/benchmarks.md)
LOPSIDED = 4
#: rows of the micro-kernel (accumulators: MAX_ROWS x 2 vectors of 64 bytes)
MAX_ROWS = 6
#: fewest rows of the weights worth a thread of their own
ROWS_PER_TASK = 64


# ----------------------------------------------------------------- micro-kernel (LLVM IR)

#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


@intrinsic
def _block_mac(typingctx, a, a_off, sar, sak, b, b_off, ldb, kc, alpha, beta, z, z_off,
               ldz, c, c_off, ldc, mr, nv, vw):
    """For ``r < MR`` and ``j < NV * W``::

        c[c_off + r*ldc + j] = alpha * sum_{k < kc} a[a_off + r*sar + k*sak] * b[b_off + k*ldb + j]
                               + beta * z[z_off + r*ldz + j]      (z is not read when beta == 0)

    Offsets and strides are in elements from each array's first element (any layout).
    ``MR``, ``NV`` and ``W`` are literal ints; ``W == 0`` means one 64-byte register."""
    if not all(isinstance(t, types.IntegerLiteral) for t in (mr, nv, vw)):
        return None
    dt = c.dtype
    MR, NV = mr.literal_value, nv.literal_value
    VW = vw.literal_value or 64 // np.dtype(str(dt)).itemsize
    sig = types.void(a, a_off, sar, sak, b, b_off, ldb, kc, alpha, beta, z, z_off, ldz, c,
                     c_off, ldc, mr, nv, vw)

    def codegen(context, builder, signature, args):
        tys = signature.args
        i64 = ir.IntType(64)

        def idx(n):
            return context.cast(builder, args[n], tys[n], types.int64)

        a_off, sar, sak, b_off, ldb, kc = idx(1), idx(2), idx(3), idx(5), idx(6), idx(7)
        z_off, ldz, c_off, ldc = idx(11), idx(12), idx(14), idx(15)
        alpha = context.cast(builder, args[8], tys[8], dt)
        beta = context.cast(builder, args[9], tys[9], dt)
        fty = context.get_value_type(dt)
        vty = ir.VectorType(fty, VW)
        vptr = vty.as_pointer()

        def data(n):
            return context.make_array(tys[n])(context, builder, args[n]).data

        ap, bp, zp, cp = data(0), data(4), data(10), data(13)
        bits = 32 if dt == types.float32 else 64
        fma = declare_function(
            builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{VW}f{bits}")
        zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * VW)
        lanes0 = ir.Constant(ir.VectorType(ir.IntType(32), VW), [0] * VW)

        def splat(x):
            v = builder.insert_element(ir.Constant(vty, ir.Undefined), x,
                                       ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), lanes0)

        def vec_at(base, offset):
            return builder.bitcast(builder.gep(base, [offset]), vptr)

        def const(n):
            return ir.Constant(i64, n)

        # accumulators live in allocas that LLVM promotes to registers. A fused
        # multiply-add takes 4 cycles and two issue per cycle, so fewer than 8 independent
        # chains leave the units idle: small blocks keep two sets (even and odd k) instead
        sets = 2 if MR * NV < 8 else 1
        accs = [[[stack_slot(builder, zero) for _ in range(NV)]
                 for _ in range(MR)] for _ in range(sets)]

        def step(k, acc):
            brow = builder.add(b_off, builder.mul(k, ldb))
            bvals = [builder.load(vec_at(bp, builder.add(brow, const(v * VW))), align=1)
                     for v in range(NV)]
            acol = builder.add(a_off, builder.mul(k, sak))
            for r in range(MR):
                x = builder.load(builder.gep(ap, [builder.add(acol, builder.mul(const(r), sar))]))
                xs = splat(x)
                for v in range(NV):
                    builder.store(builder.call(fma, [xs, bvals[v], builder.load(acc[r][v])]),
                                  acc[r][v])

        with counted_loop(builder, builder.udiv(kc, const(sets))) as loop:
            for s_ in range(sets):
                step(builder.add(builder.mul(loop.index, const(sets)), const(s_)), accs[s_])
        if sets == 2:
            with builder.if_then(builder.trunc(kc, ir.IntType(1))):
                step(builder.sub(kc, const(1)), accs[0])
            for r in range(MR):
                for v in range(NV):
                    builder.store(builder.fadd(builder.load(accs[0][r][v]),
                                               builder.load(accs[1][r][v])), accs[0][r][v])
        accs = accs[0]
        al, be = splat(alpha), splat(beta)
        beta_zero = builder.fcmp_ordered("==", beta, ir.Constant(fty, 0.0))
        for r in range(MR):
            crow = builder.add(c_off, builder.mul(const(r), ldc))
            zrow = builder.add(z_off, builder.mul(const(r), ldz))
            for v in range(NV):
                cptr = vec_at(cp, builder.add(crow, const(v * VW)))
                res = builder.fmul(al, builder.load(accs[r][v]))
                with builder.if_else(beta_zero) as (then, otherwise):
                    with then:
                        builder.store(res, cptr, align=1)
                    with otherwise:
                        old = builder.load(vec_at(zp, builder.add(zrow, const(v * VW))), align=1)
                        builder.store(builder.call(fma, [be, old, res]), cptr, align=1)
        return context.get_dummy_value()

    return sig, codegen


def _make_row_block():
    """``_row_block(mr, ...)``: one block of ``mr <= MAX_ROWS`` rows, all ``ncols``
    columns, in 2-register, 1-register, 4-lane and 1-lane column steps. Generated source:
    the micro-kernel's shape must be a literal at each call site."""
    steps = [(2, 0), (1, 0), (1, 4), (1, 1)]
    lines = ["def _row_block(mr, a, a_off, sar, sak, b, b_off, ldb, kc, alpha, beta, z, z_off,"
             " ldz, c, c_off, ldc, ncols):",
             "    full = 64 // c.itemsize"]
    for mr in range(MAX_ROWS, 0, -1):
        lines.append(f"    {'if' if mr == MAX_ROWS else 'elif'} mr == {mr}:")
        lines.append("        j = 0")
        for nv, vw in steps:
            width = f"{nv} * full" if vw == 0 else f"{nv * vw}"
            lines += [f"        while j + {width} <= ncols:",
                      f"            _block_mac(a, a_off, sar, sak, b, b_off + j, ldb, kc, alpha,"
                      f" beta, z, z_off + j, ldz, c, c_off + j, ldc, {mr}, {nv}, {vw})",
                      f"            j += {width}"]
    # compiled under this file's name so that Numba's disk cache can locate it, and in
    # this module's name: a function whose globals lack __name__ is "dynamic" to Numba,
    # whose cache then pickles those whole globals, __builtins__ included (in a Jupyter
    # kernel builtins.input is ipykernel's, and saving failed with a PicklingError)
    scope = {"_block_mac": _block_mac, "__name__": __name__}
    exec(compile("\n".join(lines), __file__, "exec"), scope)
    return njit(**_JIT, nogil=True, cache=True)(scope["_row_block"])


_row_block = _make_row_block()


@njit(**_JIT, nogil=True, cache=_CALLER_CACHE)
def _tiles(a, a_off, sar, sak, b, b_off, ldb, kc, alpha, beta, z, z_off, ldz, c, c_off, ldc,
           nrows, ncols):
    """``_block_mac`` over ``nrows`` x ``ncols`` (rows in blocks of at most MAX_ROWS,
    split evenly: 10 rows are 5 + 5, not 6 + 4)."""
    nblocks = (nrows + MAX_ROWS - 1) // MAX_ROWS
    i = 0
    for blk in range(nblocks):
        mr = (nrows - i + (nblocks - blk) - 1) // (nblocks - blk)
        _row_block_by_symbol(mr, a, a_off + i * sar, sar, sak, b, b_off, ldb, kc, alpha, beta,
                   z, z_off + i * ldz, ldz, c, c_off + i * ldc, ldc, ncols)
        i += mr


# ----------------------------------------------------------------- the three products

@njit(**_JIT, nogil=True, cache=True, inline="always")
def _elem(a, axis):
    return a.strides[axis] // a.itemsize


@njit(**_JIT, nogil=True, cache=True, inline="always")
def _tasks(rows):
    """One task per thread of Numba's pool (Numba runs task t on thread t, so each core
    keeps touching the same rows of the weights from one call to the next), fewer when
    there are less than ``ROWS_PER_TASK`` rows each; never depends on the calling thread's
    current count (see ``tasks.task_count``)."""
    return imax(1, imin(task_count(), rows // ROWS_PER_TASK))


NN, NT, TN, COLS_BLAS, ROWS_BLAS = 0, 1, 2, 3, 4


@njit(**_JIT, nogil=True, cache=_CALLER_CACHE)
def _product(mode, alpha, x, y, beta, z, out):
    """``out = alpha x @ y + beta z`` in one of the three layouts, one task per thread
    (``_product_task``; one task function for all modes: each would be a compilation of
    its own).

    NN: x and y rows contiguous, x has few rows. Each task sums one range of the
        reduction (its rows of y) into a partial product; the partials are added last,
        in task order (the same sums whatever thread ran which task).
    NT: x rows contiguous, y a transposed row-major matrix, x has at most two registers'
        worth of rows. Computed as ``y.T @ x.T`` (rows of ``y.T`` by the lanes of a
        zero-padded ``x.T``) into ``ct``, which each task transposes into its columns.
    COLS_BLAS: NT with more rows in x, or a large product in any layout BLAS reads in
        place: each task makes one single-threaded BLAS call for its columns.
    ROWS_BLAS: a large product with more rows than columns: the same for its rows (each
        task writes whole rows of out: no two threads share a cache line of it)
    TN: x a transposed row-major matrix, k small. Each task writes a range of rows."""
    m, k = x.shape
    n = y.shape[1]
    full = 64 // out.itemsize
    width = full * ((m + full - 1) // full)
    # NN's partial sums / NT's padded x.T and transposed result (tiny otherwise)
    xt = _any(alloc.zeros((k if mode == NT else 1, width), out.dtype))
    if mode == NT:
        for i in range(m):
            for r in range(k):
                xt[r, i] = x[i, r]
    split = k if mode == NN else (n if mode in (NT, COLS_BLAS) else m)   # TN, ROWS_BLAS: m
    tasks = _tasks(split)
    rows_ct = n if mode == NT else (tasks * m if mode == NN else 1)
    buf = _any(alloc.empty((rows_ct, n if mode == NN else width), out.dtype))
    step = (split + tasks - 1) // tasks
    _product_tasks(tasks, mode, alpha, x, y, beta, z, out, xt, buf, split, step)
    if mode == NN:
        for i in range(m):
            for j in range(n):
                acc = buf[i, j]
                for p in range(1, tasks):
                    acc += buf[p * m + i, j]
                if beta != 0:
                    out[i, j] = alpha * acc + beta * z[i, j]
                else:
                    out[i, j] = alpha * acc


@njit(**_JIT, nogil=True, cache=_CALLER_CACHE)
def _product_task(t, mode, alpha, x, y, beta, z, out, xt, buf, split, step):
    """Task ``t`` of ``_product``: its ``step`` rows (NN: reduction rows; TN, ROWS_BLAS:
    rows of out; NT, COLS_BLAS: columns of out) of the ``split``."""
    m, k = x.shape
    n = y.shape[1]
    o, u = np.int64(0), np.int64(1)
    dt = out.dtype.type
    one, zero = dt(1), dt(0)
    width = xt.shape[1]
    s0 = imin(split, t * step)
    s1 = imin(split, s0 + step)
    if mode == NN:
        _tiles_by_symbol(x, s0, _elem(x, 0), u, y, s0 * _elem(y, 0), _elem(y, 0), s1 - s0,
                         one, zero, buf, o, n, buf, t * m * n, n, m, n)
    elif mode == NT:
        _tiles_by_symbol(y, s0 * _elem(y, 1), _elem(y, 1), _elem(y, 0), xt, o, width, k, one,
                         zero, buf, o, width, buf, s0 * width, width, s1 - s0, width)
        for i in range(m):
            if beta != 0:
                for j in range(s0, s1):
                    out[i, j] = alpha * buf[j, i] + beta * z[i, j]
            else:
                for j in range(s0, s1):
                    out[i, j] = alpha * buf[j, i]
    elif mode == COLS_BLAS:
        # BLAS reads the strided column block of y and writes out's in place
        # (a loop, not ``part[...] = z[...]``: that one's shape-error path
        # compiles Numba's string formatting, seconds of a first run)
        if beta != 0 and z.ctypes.data != out.ctypes.data:
            for i in range(m):
                for j in range(s0, s1):
                    out[i, j] = z[i, j]
        gemm_into(alpha, x, y[:, s0:s1], beta, out[:, s0:s1])
    elif mode == ROWS_BLAS:
        if beta != 0 and z.ctypes.data != out.ctypes.data:
            for i in range(s0, s1):
                for j in range(n):
                    out[i, j] = z[i, j]
        gemm_into(alpha, x[s0:s1], y, beta, out[s0:s1])
    else:
        _tiles_by_symbol(x, s0 * _elem(x, 0), _elem(x, 0), _elem(x, 1), y, o, _elem(y, 0), k,
                         alpha, beta, z, s0 * _elem(z, 0), _elem(z, 0), out,
                         s0 * _elem(out, 0), _elem(out, 0), s1 - s0, n)


@njit(**_JIT, nogil=True, cache=True, inline="always")
def _unit(a, axis):
    """Axis ``axis`` of ``a`` has unit stride (or length 1) and the other a positive
    whole-element stride."""
    other = 1 - axis
    if a.shape[axis] > 1 and a.strides[axis] != a.itemsize:
        return False
    return a.strides[other] > 0 and a.strides[other] % a.itemsize == 0 or a.shape[other] <= 1


@njit(**_JIT, nogil=True, cache=True, inline="always")
def _any(a):
    """A view of 2-d ``a`` typed with layout 'A': one compilation per dtype for all layouts."""
    return a[:, :]


@njit(**_JIT, nogil=True, cache=_CALLER_CACHE)
def small_gemm(alpha, x, y, beta, z, out):
    """``out[...] = alpha * x @ y + beta * z`` (``z`` not read when ``beta == 0``; ``z`` may
    be ``out``) when one of the batch-shaped products applies, or a large product that
    BLAS computes column block by column block on every thread; returns whether it did.

    All four arrays 2-D of one float dtype, ``x (m, k)``, ``y (k, n)``, ``z`` and ``out``
    ``(m, n)``, positive strides. Nothing is written when it returns False."""
    m, k = x.shape
    n = y.shape[1]
    if m * n * k < MIN_WORK:
        return False
    if out.shape[1] > 1 and out.strides[1] != out.itemsize:
        return False
    if not (out.strides[0] > 0 or m == 1):
        return False
    if beta != 0 and not (_unit(z, 1) or n == 1):
        return False
    if overlaps(out, x) or overlaps(out, y):
        return False
    if beta != 0 and z.ctypes.data != out.ctypes.data and overlaps(out, z):
        return False
    return _dispatch_by_symbol(alpha, _any(x), _any(y), beta, _any(z), _any(out))


@njit(**_JIT, nogil=True, cache=_CALLER_CACHE)
def _dispatch(alpha, x, y, beta, z, out):
    m, k = x.shape
    n = y.shape[1]
    x_rows, y_rows = _unit(x, 1), _unit(y, 1)
    panel = k * n * out.itemsize
    lopsided = _tasks(n) > 1 and (n >= LOPSIDED * k if y_rows else k >= LOPSIDED * n)
    if m <= SMALL_DIM and x_rows and y_rows and panel <= PANEL_BYTES:
        mode = COLS_BLAS if lopsided else NN
    elif x_rows and _unit(y, 0):
        mode = NT if m <= 2 * (64 // out.itemsize) and not lopsided else COLS_BLAS
    elif k <= SMALL_DIM and _unit(x, 0) and y_rows and panel <= PANEL_BYTES // 4:
        mode = TN
    elif (m * n * k >= SPLIT_WORK and _tasks(imax(m, n)) > 1 and (x_rows or _unit(x, 0))
          and (y_rows or _unit(y, 0))):
        mode = COLS_BLAS if n >= m else ROWS_BLAS
    else:
        return False
    _product_by_symbol(mode, alpha, x, y, beta, z, out)
    return True


#: ``_row_block`` (24 micro-kernel shapes) called by symbol from ``_tiles``: compiled once
#: per dtype instead of once more inside each caller
_row_block_by_symbol = by_symbol(_row_block)
#: ``_tiles`` called by symbol from ``_product``'s tasks: compiled once per dtype, not again
#: inside each caller with its register-blocked micro-kernels
_tiles_by_symbol = by_symbol(_tiles)
#: ``_dispatch`` called by symbol (``numba_compat.bysymbol``): each layout signature of
#: ``small_gemm`` would otherwise link, optimize and compile the whole parallel product
#: again (about 1.8 s each on a first run); ``_product`` too, as it calls by symbol
#: itself (a function that does must only be reached by symbol: see ``bysymbol``)
_dispatch_by_symbol = by_symbol(_dispatch)
_product_by_symbol = by_symbol(_product)
#: ``_product``'s tasks on Numba's threads (``numba_compat.launch``: compiled serially,
#: called by symbol, without Numba's parfor compiler)
_product_tasks = task_launcher(_product_task)
