"""Numba generators for reductions (Reduce), Argmax, AxesSize and Shape."""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.link.scalar_render import cast_expr, reduce_identity, reduce_step, result_cast
from symgraph.numba_compat.llvm import declare_function
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.math import Argmax, AxesSize, Reduce
from symgraph.tensor.shape_ops import Shape


def _ieee_minmax(name):
    """``llvm.maximum``/``llvm.minimum``: NaN-propagating max/min of two floats (numpy's
    semantics) that LLVM vectorizes in reductions, unlike a compare-and-branch."""

    @intrinsic
    def impl(typingctx, a, b):
        if not (isinstance(a, types.Float) and a == b):
            return None
        sig = a(a, a)

        def codegen(context, builder, signature, args):
            lty = args[0].type
            fnty = ir.FunctionType(lty, [lty, lty])
            suffix = "f32" if signature.args[0] == types.float32 else "f64"
            fn = declare_function(builder.module, fnty, f"llvm.{name}.{suffix}")
            return builder.call(fn, list(args))

        return sig, codegen

    return impl


fmaximum = _ieee_minmax("maximum")
fminimum = _ieee_minmax("minimum")
_MINMAX_IMPORTS = ("from symgraph.link.numba.impl.reduce import fmaximum as _sg_fmaximum",
                   "from symgraph.link.numba.impl.reduce import fminimum as _sg_fminimum")


def _combine(sop, acc, v, dtype):
    """Expression folding ``v`` into ``acc``: the op's own step (``reduce_step``), except
    float max/min, which call the LLVM intrinsics above (NaN-propagating like the step)."""
    if sop.name in ("maximum", "minimum") and dtype in ("float32", "float64"):
        return f"_sg_f{sop.name}({acc}, {v})"
    return reduce_step(sop, acc, v)


def _acc_dtype(opname, out_dt):
    # float32 sums accumulate in float64 (numpy's pairwise sum is that accurate too)
    return "float64" if (out_dt == "float32" and opname == "add") else out_dt


_SUM_LMR = ("_sg_sum_lmr", "symgraph.link.numba.helpers:sum_lmr")


def float_sum_plan(op, node):
    """``(kept axes, leading block end, trailing block start, accumulator dtype)`` when
    ``node`` is a float sum whose reduced axes are a leading and/or a trailing block of a
    rank >= 1 input (:func:`_float_sum_blocks`), else None. Also what the Python tier
    calls ``helpers.sum_lmr`` with directly (``tier_extern.py``)."""
    x = node.inputs[0]
    nd = x.type.ndim
    out_dt = node.outputs[0].type.dtype
    if nd == 0 or op.scalar_op.name != "add" or x.type.dtype not in ("float32", "float64") \
            or out_dt not in ("float32", "float64"):
        return None
    kept = [d for d in range(nd) if d not in op.axis]
    if kept and kept != list(range(kept[0], kept[-1] + 1)):
        return None  # kept axes not one contiguous block
    a, b = (kept[0], kept[-1] + 1) if kept else (0, 0)
    acc_dt = _acc_dtype("add", out_dt) if x.type.dtype == out_dt else "float64"
    return kept, a, b, acc_dt


def _float_sum_blocks(op, node, ctx):
    """A float sum whose reduced axes are a leading and/or a trailing block (``sum()``,
    ``sum(axis=0)``, a conv bias gradient's ``sum(axis=(0, 2, 3))``...) as a call of the
    cached ``helpers.sum_lmr`` on the input viewed as (leading, kept, trailing): the node
    then needs no fastmath flags of its own and is inlined into ``graph_fn`` instead of
    being compiled separately for every graph. None when the pattern does not apply."""
    plan = float_sum_plan(op, node)
    if plan is None:
        return None
    kept, a, b, acc_dt = plan
    nd = node.inputs[0].type.ndim
    out_dt = node.outputs[0].type.dtype

    def prod(dims):
        return " * ".join(f"x.shape[{d}]" for d in dims) or "1"

    lines = [f"x3 = _sg_helpers.reshape_c(np.ascontiguousarray(x), ({prod(range(a))}, "
             f"{prod(kept)}, {prod(range(b, nd))}))",
             f"s = _sg_sum_lmr(x3, {ts.literal(0, acc_dt)})"]
    if not kept:
        lines.append(f"return {result_cast('s[0]', acc_dt, out_dt)}")
    else:
        shape = "(" + "".join(f"x.shape[{d}], " for d in kept) + ")"
        res = "s" if acc_dt == out_dt else f"_sg_helpers.astype(s, {np_dtype(out_dt)})"
        lines.append(f"return _sg_helpers.reshape_c({res}, {shape})")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)), externs=(_SUM_LMR,))


@numba_impl.register(Reduce)
def numba_reduce(op, node, ctx):
    """Loops in the input's C order.

    - all axes: one accumulator;
    - trailing axes (``sum(axis=-1)``): one accumulator per output element;
    - otherwise: an accumulator array updated in place while walking the input once.
    Accumulators are re-cast to their dtype at every step (Numba widens int8 + int8),
    which gives numpy's wrap-around for dtype= narrower than the default.
    """
    x = node.inputs[0]
    nd = x.type.ndim
    sop = op.scalar_op
    opname = sop.name
    out_dt = node.outputs[0].type.dtype
    in_dt = x.type.dtype
    acc_dt = _acc_dtype(opname, out_dt)
    # float sums and products may be reassociated (and so vectorized, several times faster
    # for a float32 sum: docs/benchmarks.md): the result is as accurate as numpy's pairwise
    # sum; NaN and inf still propagate
    opts = {"fastmath": {"reassoc"}} if (opname in ("add", "mul")
                                         and acc_dt.startswith("float")) else {}
    if nd == 0:
        ret = result_cast(cast_expr("x", in_dt, out_dt), out_dt, out_dt)
        return NumbaCode(f"def {ctx.name}(x):\n    return {ret}\n")
    cached = _float_sum_blocks(op, node, ctx)
    if cached is not None:
        return cached
    lines = [f"n{d} = x.shape[{d}]" for d in range(nd)]
    if not sop.reduces_empty and op.axis:
        cond = " or ".join(f"n{d} == 0" for d in op.axis)
        lines.append(f"if {cond}: raise ValueError({str(op) + ': zero-size reduction axis'!r})")
    idx = ", ".join(f"j{d}" for d in range(nd))
    v = cast_expr(f"x[{idx}]", in_dt, acc_dt)
    kept = [d for d in range(nd) if d not in op.axis]
    red = [d for d in range(nd) if d in op.axis]
    step = result_cast(_combine(sop, "acc", "v", acc_dt), acc_dt, acc_dt)
    imports = _MINMAX_IMPORTS if "_sg_f" in step else ()
    if not kept or (red and red == list(range(nd - len(red), nd))):
        # one accumulator per output element (a single one when every axis is reduced)
        outer = ["    " * i + f"for j{d} in range(n{d}):" for i, d in enumerate(kept)]
        pad = "    " * len(kept)
        inner = [f"acc = {reduce_identity(sop, acc_dt)}"]
        inner += ["    " * i + f"for j{d} in range(n{d}):" for i, d in enumerate(red)]
        inner += ["    " * len(red) + f"v = {v}", "    " * len(red) + f"acc = {step}"]
        if not kept:
            lines += inner
            lines.append(f"return {result_cast('acc', acc_dt, out_dt)}")
        else:
            shape = "(" + "".join(f"n{d}, " for d in kept) + ")"
            lines.append(f"out = np.empty({shape}, dtype={np_dtype(out_dt)})")
            oidx = ", ".join(f"j{d}" for d in kept)
            inner.append(f"out[{oidx}] = acc")
            lines += outer + [pad + s for s in inner]
            lines.append("return out")
        return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)), jit_options=opts,
                         imports=imports)
    shape = "(" + "".join(f"n{d}, " for d in kept) + ")"
    lines.append(f"out = np.full({shape}, {reduce_identity(sop, acc_dt)}, "
                 f"dtype={np_dtype(acc_dt)})")
    oidx = ", ".join(f"j{d}" for d in kept)
    loop = [("    " * d) + f"for j{d} in range(n{d}):" for d in range(nd)]
    loop.append("    " * nd + f"v = {v}")
    loop.append("    " * nd + f"acc = out[{oidx}]")
    loop.append("    " * nd + f"out[{oidx}] = {step}")
    lines.extend(loop)
    lines.append("return out" if acc_dt == out_dt
                 else f"return _sg_helpers.astype(out, {np_dtype(out_dt)})")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)), jit_options=opts,
                     imports=imports)


@numba_impl.register(Argmax)
def numba_argmax(op, node, ctx):
    """First index of the max/min (NaN counts as the extreme, like numpy)."""
    x = node.inputs[0]
    nd = x.type.ndim
    cmp = ">" if op.kind == "max" else "<"
    err = repr(f"{op}: attempt to get arg{op.kind} of an empty sequence")
    better = f"(v {cmp} best) or (v != v and best == best)"
    if nd == 0:
        return NumbaCode(f"def {ctx.name}(x):\n    return np.int64(0)\n")
    if op.axis is None or nd == 1:
        src = f"""def {ctx.name}(x):
    f = _sg_helpers.reshape_c(np.ascontiguousarray(x), x.size)
    if f.size == 0:
        raise ValueError({err})
    best = f[0]
    k = 0
    for i in range(1, f.size):
        v = f[i]
        if {better}:
            best = v
            k = i
    return np.int64(k)
"""
        return NumbaCode(src)
    ax = op.axis
    kept = [d for d in range(nd) if d != ax]
    lines = [f"n{d} = x.shape[{d}]" for d in range(nd)]
    lines.append(f"if n{ax} == 0: raise ValueError({err})")
    shape = "(" + "".join(f"n{d}, " for d in kept) + ")"
    lines.append(f"out = np.empty({shape}, dtype=np.int64)")
    oidx = ", ".join(f"j{d}" for d in kept)
    loops = [("    " * i) + f"for j{d} in range(n{d}):" for i, d in enumerate(kept)]
    pad = "    " * len(kept)
    first = ", ".join("0" if d == ax else f"j{d}" for d in range(nd))
    cur = ", ".join("i" if d == ax else f"j{d}" for d in range(nd))
    inner = [f"best = x[{first}]", "k = 0", f"for i in range(1, n{ax}):",
             f"    v = x[{cur}]", f"    if {better}:",
             "        best = v", "        k = i", f"out[{oidx}] = k"]
    lines.extend(loops)
    lines.extend(pad + s for s in inner)
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))


@numba_impl.register(AxesSize)
def numba_axes_size(op, node, ctx):
    nd = node.inputs[0].type.ndim
    if nd == 0 or not op.axes:
        return NumbaCode(f"def {ctx.name}(x):\n    return np.int64(1)\n")
    prod = " * ".join(f"np.int64(x.shape[{a}])" for a in op.axes)
    return NumbaCode(f"def {ctx.name}(x):\n    return {prod}\n")


@numba_impl.register(Shape)
def numba_shape(op, node, ctx):
    nd = node.inputs[0].type.ndim
    lines = [f"out = np.empty({nd}, dtype=np.int64)"]
    for d in range(nd):
        lines.append(f"out[{d}] = x.shape[{d}]")
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(x):\n" + indent("\n".join(lines)))
