"""Numba generators for products: Dot, TensorDot, BatchedDot, BatchedTensorDot, Gemm, Gemv.

Float and complex products call BLAS through ``kernels/cpu/blas.py`` (scipy's OpenBLAS,
bound without importing scipy.linalg). ``Dot`` and ``TensorDot`` call the ``dot`` extern
(compiled once per installation, reached by symbol), which sends the batch-shaped real
products of a training step to ``kernels/cpu/gemm.py`` and the rest to ``gemm_into`` /
``gemv_into``; arrays whose layout is unknown at typing time go through ``blas_ready``,
which copies only when the data is not contiguous at run time. ``Gemm``, ``Gemv`` and the
batched products call ``gemm_into``/``gemv_into`` directly, passing strides as leading
dimensions, so transposed and sliced operands need no copy and Gemm writes straight into
its output (or into Z when in place). Integer products are emitted as explicit loops (they
wrap around on overflow, as numpy's do).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from symgraph.kernels.cpu.blas import gemm_into, gemv_into
from symgraph.kernels.cpu.gemm import small_gemm
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.numba_compat import alloc, jit_options
from symgraph.numba_compat.bysymbol import by_symbol, caller_cache
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.dot import BatchedDot, BatchedTensorDot, Dot, Gemm, Gemv, TensorDot
from symgraph.tensor.elemwise import DimShuffle

_BLAS = ("float32", "float64", "complex64", "complex128")
#: the dtypes ``kernels.cpu.gemm`` handles
_REAL = (types.float32, types.float64)

#: functions that call by symbol: disk-cached on the private path only (``caller_cache``)
_CALLER_CACHE = caller_cache()
#: compiled once and reached by symbol from every graph (``link/numba/extern.py``)
_EXTERNS = {"dot": ("_sg_dot", "symgraph.link.numba.impl.dot:dot"),
            "gemm_to": ("_sg_gemm_to", "symgraph.link.numba.impl.dot:gemm_to"),
            "gemm_inplace": ("_sg_gemm_inplace", "symgraph.link.numba.impl.dot:gemm_inplace")}
_IMPORTS = {
    "c": "from symgraph.link.numba.impl.dot import blas_ready as _sg_blas_ready",
    "f": "from symgraph.link.numba.impl.dot import blas_ready_f as _sg_blas_ready_f",
    "gemm": "from symgraph.kernels.cpu.blas import gemm_into as _sg_gemm_into",
    "gemv": "from symgraph.kernels.cpu.blas import gemv_into as _sg_gemv_into",
}
#: below this many multiply-adds per batch item, batched products loop instead of
#: calling BLAS (whose per-call overhead dominates tiny matrices)
SMALL = 2048
_CACHE = {"cache": True}


# ----------------------------------------------------------------- jitted helpers

def blas_ready(a):
    """``a`` itself when typed C or F layout; otherwise ``np.ascontiguousarray(a)``, which
    copies only when the data is not C-contiguous at run time. BLAS would take any
    strides; this keeps the ``dot`` extern to C/F signatures, each of which compiles the
    gemm kernels once per installation (a long compile: docs/benchmarks.md)."""
    return np.ascontiguousarray(a)


def blas_ready_f(a):
    """As ``blas_ready`` but preferring Fortran order (for transposed operands, which are
    F-contiguous views typed with an unknown layout): no copy when F-contiguous."""
    return np.asfortranarray(a) if np.ndim(a) == 2 else np.ascontiguousarray(a)


def try_small_gemm(alpha, x, y, beta, z, out):
    """``kernels.cpu.gemm.small_gemm`` for real float arrays (the batch-shaped products
    of a training step, faster than BLAS there); False, doing nothing, for other dtypes
    and shapes. Callable from jitted code only."""
    raise NotImplementedError("try_small_gemm is only callable from jitted code")


#: extra @njit options (numba_compat.jit_options: no C-ABI wrapper on checked versions)
_JIT = jit_options()


# not disk-cached on their own (they would keep a stale copy of the kernels): they live
# inside the cached externs below, whose caches ``extern.py`` drops when kernels change
@overload(try_small_gemm)
def _try_small_gemm_ov(alpha, x, y, beta, z, out):
    if out.dtype in _REAL and x.dtype == y.dtype == z.dtype == out.dtype:
        npt = np.dtype(str(out.dtype)).type
        # the arrays typed with layout 'A' (``a[:, :]``): one compile of ``small_gemm``
        # per dtype, whatever the layouts (it only checks strides, then hands 'A' views
        # on); three layout signatures were compiled in a first run (docs/benchmarks.md)
        return lambda alpha, x, y, beta, z, out: _small_gemm_by_symbol(
            npt(alpha), x[:, :], y[:, :], npt(beta), z[:, :], out[:, :])
    return lambda alpha, x, y, beta, z, out: False


#: compiled once per signature and called by symbol (``numba_compat.bysymbol``), not
#: linked into each of the functions below and compiled again there
_small_gemm_by_symbol = by_symbol(small_gemm)


def _dot_any(a, b):
    raise NotImplementedError


@overload(_dot_any)
def _dot_any_ov(a, b):
    blas = (isinstance(a, types.Array) and isinstance(b, types.Array) and a.dtype == b.dtype
            and str(a.dtype) in _BLAS)
    if not blas or not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
        return lambda a, b: np.dot(a, b)
    dt = a.dtype
    if a.ndim == b.ndim == 2:
        def impl(a, b):
            # one output either way: BLAS writes into it when the kernels decline
            out = alloc.empty((a.shape[0], b.shape[1]), dt)
            if not try_small_gemm(1, a, b, 0, out, out):
                gemm_into(1, a, b, 0, out)
            return out
    elif a.ndim == 2:
        def impl(a, b):
            out = alloc.empty(a.shape[0], dt)
            gemv_into(1, a, b, 0, out)
            return out
    elif b.ndim == 2:
        def impl(a, b):
            out = alloc.empty(b.shape[1], dt)
            gemv_into(1, b.T, a, 0, out)
            return out
    else:
        zero = np.dtype(str(dt)).type(0)

        def impl(a, b):
            acc = zero
            for i in range(a.shape[0]):
                acc += a[i] * b[i]
            return acc
    return impl


@numba.njit(**_JIT, cache=_CALLER_CACHE)
def dot(a, b):
    """``np.dot`` for BLAS dtypes (1-d and 2-d operands), compiled once per installation
    (disk cache) rather than inside every new graph. Float matrix products of a training
    step's shapes go to ``small_gemm``, the others to BLAS (``kernels/cpu/blas.py``)."""
    return _dot_any(a, b)


@overload(blas_ready, jit_options=_CACHE)
def _blas_ready_ov(a):
    if isinstance(a, types.Array) and a.layout in "CF":
        return lambda a: a
    return lambda a: alloc.ascontiguousarray(a)


@overload(blas_ready_f, jit_options=_CACHE)
def _blas_ready_f_ov(a):
    if isinstance(a, types.Array) and a.layout in "CF":
        return lambda a: a
    if isinstance(a, types.Array) and a.ndim == 2:
        return lambda a: np.asfortranarray(a)
    return lambda a: alloc.ascontiguousarray(a)


@numba.njit(**_JIT, cache=_CALLER_CACHE, nogil=True)
def gemm_to(alpha, x, y, beta, z, out):
    """``out[...] = alpha * x @ y + beta * z`` (z not read when beta == 0): in one pass over
    z and out for the batch-shaped products, else z copied into out and ``gemm_into``.
    Reached by symbol from graphs (``_EXTERNS``): the kernels behind ``try_small_gemm``
    are large, and linking them into every graph would compile them again each time."""
    if try_small_gemm(alpha, x, y, beta, z, out):
        return
    if beta != 0:
        # (a loop, not ``out[...] = z``: that one's shape-error path compiles Numba's
        # string formatting, seconds of a first run)
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = z[i, j]
    gemm_into(alpha, x, y, beta, out)


@numba.njit(**_JIT, cache=_CALLER_CACHE, nogil=True)
def gemm_inplace(alpha, x, y, beta, z):
    """``z[...] = alpha * x @ y + beta * z``; as ``gemm_to``."""
    if not try_small_gemm(alpha, x, y, beta, z, z):
        gemm_into(alpha, x, y, beta, z)


# ----------------------------------------------------------------- code generation

def _int_product(na, nb, dt, a, b, out):
    """Source lines computing ``out = np.dot(a, b)`` with explicit loops (integer dtypes:
    numba's np.dot is BLAS-only). Products wrap around like numpy's."""
    z = ts.literal(0, dt)
    d = np_dtype(dt)
    if na == 1 and nb == 1:
        return [f"acc = {z}",
                f"for r in range({a}.shape[0]):",
                f"    acc += {a}[r] * {b}[r]",
                f"{out} = _sg_dt_{dt}(acc)"]
    if na == 2 and nb == 1:
        return [f"{out} = np.empty({a}.shape[0], dtype={d})",
                f"for i in range({a}.shape[0]):",
                f"    acc = {z}",
                f"    for r in range({a}.shape[1]):",
                f"        acc += {a}[i, r] * {b}[r]",
                f"    {out}[i] = acc"]
    if na == 1 and nb == 2:
        return [f"{out} = np.zeros({b}.shape[1], dtype={d})",
                f"for r in range({a}.shape[0]):",
                f"    av = {a}[r]",
                f"    for j in range({b}.shape[1]):",
                f"        {out}[j] += av * {b}[r, j]"]
    return [f"{out} = np.zeros(({a}.shape[0], {b}.shape[1]), dtype={d})",
            f"for i in range({a}.shape[0]):",
            f"    for r in range({a}.shape[1]):",
            f"        av = {a}[i, r]",
            f"        for j in range({b}.shape[1]):",
            f"            {out}[i, j] += av * {b}[r, j]"]


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


def _shape_check(op, pairs, what="not aligned"):
    """Lines raising ValueError (constant message naming the op) when lengths differ."""
    lines = []
    for i, j in pairs:
        lines.append(f"if a.shape[{i}] != b.shape[{j}]: raise ValueError("
                     f"'{_esc(str(op))}: shapes {what}: axis {i} of input 0 and axis {j} of "
                     f"input 1 differ in length')")
    return lines


def _is_transpose(var) -> bool:
    """``var`` is a transposed matrix view (F-contiguous when its input is C-contiguous)."""
    owner = var.owner
    return (owner is not None and isinstance(owner.op, DimShuffle)
            and var.type.ndim == 2 and tuple(owner.op.new_order) == (1, 0))


@numba_impl.register(Dot)
def numba_dot(op, node, ctx):
    a, b = node.inputs
    na, nb = a.type.ndim, b.type.ndim
    dt = node.outputs[0].type.dtype
    lines = _shape_check(op, [(na - 1, 0)])
    if dt in _BLAS:
        # np.dot returns float32 for float32 operands and a scalar for vector . vector.
        # Operands of unknown layout are copied only when not contiguous at run time;
        # a transposed matrix (DimShuffle{1,0}) is checked for Fortran order instead.
        kinds = ["f" if _is_transpose(v) else "c" for v in node.inputs]
        args = [f"_sg_blas_ready{'_f' if k == 'f' else ''}({nm})"
                for k, nm in zip(kinds, "ab")]
        lines.append(f"return _sg_dot({args[0]}, {args[1]})")
        return NumbaCode(f"def {ctx.name}(a, b):\n" + indent("\n".join(lines)),
                         imports=tuple(sorted({_IMPORTS[k] for k in kinds})),
                         externs=(_EXTERNS["dot"],))
    lines += _int_product(na, nb, dt, "a", "b", "out")
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(a, b):\n" + indent("\n".join(lines)))


def _prod(terms):
    return " * ".join(terms) if terms else "1"


def _permuted(var, perm):
    """Source of a view of ``var`` with axes in order ``perm`` (no copy)."""
    if list(perm) == sorted(perm):
        return var
    shape = "".join(f"{var}.shape[{p}], " for p in perm)
    strides = "".join(f"{var}.strides[{p}], " for p in perm)
    return f"np.lib.stride_tricks.as_strided({var}, ({shape}), ({strides}))"


def _as_2d(var, nd, front, back, lines):
    """Lines making ``<var>2``: ``var`` with axes ``front`` then ``back`` merged into (at
    most) two dimensions; a dimension with no axes is left out (so 1-d when one is empty).
    Returns (ndim, order): order 'f' when ``<var>2`` is a transposed (F-ordered) view.

    No copy when the merged axes are adjacent in memory: in order (a reshape of the
    C-contiguous data) or in swapped order (the transpose of such a reshape, which BLAS
    reads in place); otherwise one copy into the needed order."""
    dims = []
    if front:
        dims.append(_prod([f"{var}.shape[{p}]" for p in front]))
    if back:
        dims.append(_prod([f"{var}.shape[{p}]" for p in back]))
    ident = list(range(nd))
    if list(front) + list(back) == ident:
        if len(dims) == nd:
            lines.append(f"{var}2 = {var}")
        else:
            lines.append(f"{var}2 = _sg_helpers.reshape_c(np.ascontiguousarray({var}), "
                         f"({', '.join(dims)}, ))")
        return len(dims), "c"
    if list(back) + list(front) == ident and front and back:
        if nd == 2:
            lines.append(f"{var}2 = {var}.T")
        else:
            lines.append(f"{var}2 = _sg_helpers.reshape_c(np.ascontiguousarray({var}), "
                         f"({dims[1]}, {dims[0]})).T")
        return 2, "f"
    src = _permuted(var, list(front) + list(back))
    lines.append(f"{var}2 = _sg_helpers.reshape_c(np.ascontiguousarray({src}), "
                 f"({', '.join(dims)}, ))")
    return len(dims), "c"


@numba_impl.register(TensorDot)
def numba_tensordot(op, node, ctx):
    a, b = node.inputs
    na, nb = a.type.ndim, b.type.ndim
    dt = node.outputs[0].type.dtype
    ax_a, ax_b = op.axes
    fa, fb = op.free(na, nb)
    lines = _shape_check(op, list(zip(ax_a, ax_b)))
    ka, oa = _as_2d("a", na, fa, ax_a, lines)
    kb, ob = _as_2d("b", nb, ax_b, fb, lines)
    if dt in _BLAS:
        ready = ["_sg_blas_ready_f" if o == "f" else "_sg_blas_ready" for o in (oa, ob)]
        lines.append(f"o = _sg_dot({ready[0]}(a2), {ready[1]}(b2))")
        imports = tuple(sorted({_IMPORTS["f" if o == "f" else "c"] for o in (oa, ob)}))
        externs = (_EXTERNS["dot"],)
    else:
        lines += _int_product(ka, kb, dt, "a2", "b2", "o")
        imports = externs = ()
    out_dims = [f"a.shape[{i}]" for i in fa] + [f"b.shape[{j}]" for j in fb]
    if len(fa) <= 1 and len(fb) <= 1:
        lines.append("return o")
    else:
        lines.append(f"return _sg_helpers.reshape_c(o, ({''.join(d + ', ' for d in out_dims)}))")
    return NumbaCode(f"def {ctx.name}(a, b):\n" + indent("\n".join(lines)), imports=imports,
                     externs=externs)


def _batched_body(kind_a, kind_b, dt):
    """Lines filling ``out`` from ``a3`` (B, m, k) / ``a2`` (B, k) and ``b3`` (B, k, n) /
    ``b2`` (B, k); ``kind_*`` is 2 or 3. Small items loop, large ones call BLAS."""
    blas = dt in _BLAS
    z = ts.literal(0, dt)
    one = ts.literal(1, dt)
    A = "a3" if kind_a == 3 else "a2"
    B = "b3" if kind_b == 3 else "b2"
    lines = [f"nbatch = {A}.shape[0]", f"k = {A}.shape[{kind_a - 1}]"]
    lines.append(f"m = {A}.shape[1]" if kind_a == 3 else "m = 1")
    lines.append(f"n = {B}.shape[2]" if kind_b == 3 else "n = 1")
    if kind_a == 3 and kind_b == 3:
        lines.append(f"out = np.empty((nbatch, m, n), dtype={np_dtype(dt)})")
        loop = ["for i in range(nbatch):",
                "    for p in range(m):",
                "        for q in range(n):",
                f"            out[i, p, q] = {z}",
                "        for r in range(k):",
                f"            av = {A}[i, p, r]",
                "            for q in range(n):",
                f"                out[i, p, q] += av * {B}[i, r, q]"]
        call = ["for i in range(nbatch):",
                f"    _sg_gemm_into({one}, {A}[i], {B}[i], {z}, out[i])"]
    elif kind_a == 2 and kind_b == 3:
        lines.append(f"out = np.empty((nbatch, n), dtype={np_dtype(dt)})")
        loop = ["for i in range(nbatch):",
                "    for q in range(n):",
                f"        out[i, q] = {z}",
                "    for r in range(k):",
                f"        av = {A}[i, r]",
                "        for q in range(n):",
                f"            out[i, q] += av * {B}[i, r, q]"]
        call = ["for i in range(nbatch):",
                f"    _sg_gemv_into({one}, {B}[i].T, {A}[i], {z}, out[i])"]
    elif kind_a == 3 and kind_b == 2:
        lines.append(f"out = np.empty((nbatch, m), dtype={np_dtype(dt)})")
        loop = ["for i in range(nbatch):",
                "    for p in range(m):",
                f"        acc = {z}",
                "        for r in range(k):",
                f"            acc += {A}[i, p, r] * {B}[i, r]",
                "        out[i, p] = acc"]
        call = ["for i in range(nbatch):",
                f"    _sg_gemv_into({one}, {A}[i], {B}[i], {z}, out[i])"]
    else:
        lines.append(f"out = np.empty(nbatch, dtype={np_dtype(dt)})")
        loop = ["for i in range(nbatch):",
                f"    acc = {z}",
                "    for r in range(k):",
                f"        acc += {A}[i, r] * {B}[i, r]",
                "    out[i] = acc"]
        call = None
    if blas and call is not None:
        lines.append(f"if m * n * k <= {SMALL}:")
        lines += ["    " + s for s in loop]
        lines.append("else:")
        lines += ["    " + s for s in call]
    else:
        lines += loop
    return lines


@numba_impl.register(BatchedDot)
def numba_batched_dot(op, node, ctx):
    a, b = node.inputs
    na, nb = a.type.ndim, b.type.ndim
    dt = node.outputs[0].type.dtype
    lines = [f"if a.shape[0] != b.shape[0]: raise ValueError('{op}: the batch sizes "
             f"(axis 0 of both inputs) differ')"]
    lines += _shape_check(op, [(na - 1, 1)])
    lines.append(f"a{na} = a")
    lines.append(f"b{nb} = b")
    lines += _batched_body(na, nb, dt)
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(a, b):\n" + indent("\n".join(lines)),
                     imports=(_IMPORTS['gemm'], _IMPORTS['gemv']) if dt in _BLAS else ())


def _as_3d(var, nd, front, back, name, lines):
    """``name`` = var as (batch, front axes merged, back axes merged). A view when the
    merged axes are adjacent in memory, in order or swapped (BLAS takes any strides);
    otherwise one copy."""
    d1 = _prod([f"{var}.shape[{p}]" for p in front])
    d2 = _prod([f"{var}.shape[{p}]" for p in back])
    ident = list(range(nd))
    if [0] + list(front) + list(back) == ident:
        if nd == 3 and len(front) == 1 and len(back) == 1:
            lines.append(f"{name} = {var}")
        else:
            lines.append(f"{name} = _sg_helpers.reshape_c(np.ascontiguousarray({var}), "
                         f"({var}.shape[0], {d1}, {d2}))")
    elif [0] + list(back) + list(front) == ident and front and back:
        t = f"{name}t"
        lines.append(f"{t} = _sg_helpers.reshape_c(np.ascontiguousarray({var}), "
                     f"({var}.shape[0], {d2}, {d1}))")
        lines.append(f"{name} = {_permuted(t, [0, 2, 1])}")
    else:
        src = _permuted(var, [0] + list(front) + list(back))
        lines.append(f"{name} = _sg_helpers.reshape_c(np.ascontiguousarray({src}), "
                     f"({var}.shape[0], {d1}, {d2}))")


@numba_impl.register(BatchedTensorDot)
def numba_batched_tensordot(op, node, ctx):
    a, b = node.inputs
    na, nb = a.type.ndim, b.type.ndim
    dt = node.outputs[0].type.dtype
    ax_a, ax_b = op.axes
    fa, fb = op.free(na, nb)
    lines = [f"if a.shape[0] != b.shape[0]: raise ValueError('{_esc(str(op))}: the batch "
             f"sizes (axis 0 of both inputs) differ')"]
    lines += _shape_check(op, list(zip(ax_a, ax_b)))
    _as_3d("a", na, fa, ax_a, "a3", lines)
    _as_3d("b", nb, ax_b, fb, "b3", lines)
    lines += _batched_body(3, 3, dt)
    out_dims = ["a.shape[0]"] + [f"a.shape[{i}]" for i in fa] + [f"b.shape[{j}]" for j in fb]
    lines.append(f"return _sg_helpers.reshape_c(out, ({''.join(d + ', ' for d in out_dims)}))")
    return NumbaCode(f"def {ctx.name}(a, b):\n" + indent("\n".join(lines)),
                     imports=(_IMPORTS['gemm'], _IMPORTS['gemv']) if dt in _BLAS else ())


@numba_impl.register(Gemm)
def numba_gemm(op, node, ctx):
    dt = node.outputs[0].type.dtype
    lines = [f"if x.shape[1] != y.shape[0]: raise ValueError('{op}: shapes of X and Y are not "
             f"aligned')",
             f"if z.shape[0] != x.shape[0] or z.shape[1] != y.shape[1]: raise ValueError('{op}: "
             f"Z does not have the shape of dot(X, Y)')"]
    if op.inplace:
        lines += ["_sg_gemm_inplace(alpha, x, y, beta, z)", "return z"]
        extern = _EXTERNS["gemm_inplace"]
    else:
        lines += [f"out = np.empty((z.shape[0], z.shape[1]), dtype={np_dtype(dt)})",
                  "_sg_gemm_to(alpha, x, y, beta, z, out)",
                  "return out"]
        extern = _EXTERNS["gemm_to"]
    return NumbaCode(f"def {ctx.name}(z, alpha, x, y, beta):\n" + indent("\n".join(lines)),
                     externs=(extern,))


@numba_impl.register(Gemv)
def numba_gemv(op, node, ctx):
    dt = node.outputs[0].type.dtype
    lines = [f"if a.shape[1] != x.shape[0]: raise ValueError('{op}: shapes of A and x are not "
             f"aligned')",
             f"if y.shape[0] != a.shape[0]: raise ValueError('{op}: y does not have the shape "
             f"of dot(A, x)')"]
    if op.inplace:
        lines += ["_sg_gemv_into(alpha, a, x, beta, y)", "return y"]
    else:
        lines += [f"out = np.empty(y.shape[0], dtype={np_dtype(dt)})",
                  "if beta != 0:",
                  "    for i in range(y.shape[0]):",
                  "        out[i] = y[i]",
                  "_sg_gemv_into(alpha, a, x, beta, out)",
                  "return out"]
    return NumbaCode(f"def {ctx.name}(y, alpha, a, x, beta):\n" + indent("\n".join(lines)),
                     imports=(_IMPORTS['gemv'],))
