"""CUDA generators for ``Reduce`` (sum, prod, max, min, all, any over any axes) and
``Argmax``/argmin (one axis or all).

One kernel per node, specialised to the input's ndim and reduced axes, reading the input
through its strides (views need no copy). Two strategies, picked per call:

* block: one block per output element (grid-stride over outputs), its threads stride
  over the reduced elements and meet in a shared-memory tree -- few outputs, long rows;
* thread: one thread per output element looping over the reduced elements -- many
  outputs, short rows.

Semantics are numpy's: sums accumulate in the output dtype, max/min propagate NaN,
arg-reductions return the first index of the extreme (or of the first NaN), reducing an
empty axis with max/min/argmax is an error.
"""
from __future__ import annotations

import numpy as np

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.link.cuda.impl._common import JIT, make_host
from symgraph.link.scalar_render import reduce_identity, reduce_step
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.math import Argmax, Reduce

_NO_INDEX = 2 ** 62
#: thread strategy when the reduced rows are shorter than a block, or on the GPU when
#: there are at least this many outputs
THREAD_MIN_OUTPUTS = 2048
#: full reductions of at least this many blocks' worth of elements use the two-pass kernel
ALL_TWO_PASS_MIN_BLOCKS = 8


def _unravel(var, dims, prefix, pad):
    """Lines turning flat ``var`` into indices ``{prefix}{d}`` over ``dims`` (C order)."""
    if not dims:
        return []
    if len(dims) == 1:
        return [f"{pad}{prefix}{dims[0]} = {var}"]
    lines = [f"{pad}r = {var}"]
    for d in reversed(dims[1:]):
        lines.append(f"{pad}{prefix}{d} = r % n{d}")
        lines.append(f"{pad}r = r // n{d}")
    lines.append(f"{pad}{prefix}{dims[0]} = r")
    return lines


def _kernels(name, nd, axes, in_dt, acc_dt, sop, arg):
    """Source of the block and thread kernels ``{name}_b``/``{name}_t``; ``sop`` is the
    scalar op folding the values (maximum or minimum for an arg-reduction)."""
    kept = [d for d in range(nd) if d not in axes]
    red = list(axes)
    tpb = runtime.tpb()
    xidx = ", ".join(f"i{d}" for d in range(nd)) if nd else "()"
    oidx = ", ".join(f"i{d}" for d in kept) if kept else "()"
    read = f"x[{xidx}]"
    if not arg and acc_dt != in_dt:
        read = (f"({read} != 0)" if acc_dt == "bool" else f"_sg_dt_{acc_dt}({read})")
    # a module-level constant: Numba freezes it with its numpy type (no float64 math)
    ident = f"{name}_ident"
    pre_const = [f"{ident} = {reduce_identity(sop, acc_dt)}", "", ""]
    head = [f"    n{d} = x.shape[{d}]" for d in range(nd)]
    n_red = " * ".join(f"n{d}" for d in red) if red else "1"
    head.append(f"    n_red = {n_red}")
    pre = []
    if arg:
        cmp = ">" if sop == ts.maximum else "<"
        pre = [
            "@cuda.jit(device=True, inline=True)",
            f"def {name}_comb(av, ai, bv, bi):",
            "    if av != av:",
            "        if bv != bv and bi < ai:",
            "            return bv, bi",
            "        return av, ai",
            f"    if bv != bv or bv {cmp} av or (bv == av and bi < ai):",
            "        return bv, bi",
            "    return av, ai",
            "",
            ""]
    # block strategy
    b = [JIT, f"def {name}_b(x, o):",
         f"    sv = cuda.shared.array({tpb}, _sg_nb_{acc_dt})"]
    if arg:
        b.append(f"    si = cuda.shared.array({tpb}, _sg_nb_int64)")
    b.append("    tid = cuda.threadIdx.x")
    b += head
    b.append("    for q in range(cuda.blockIdx.x, o.size, cuda.gridDim.x):")
    b += _unravel("q", kept, "i", "        ")
    b.append(f"        acc = {ident}")
    if arg:
        b.append(f"        ai = {_NO_INDEX}")
    b.append(f"        for t in range(tid, n_red, {tpb}):")
    b += _unravel("t", red, "i", "            ")
    if arg:
        b.append(f"            acc, ai = {name}_comb(acc, ai, {read}, t)")
    else:
        b.append(f"            v = {read}")
        b.append(f"            acc = {reduce_step(sop, 'acc', 'v')}")
    b.append("        sv[tid] = acc")
    if arg:
        b.append("        si[tid] = ai")
    b.append("        cuda.syncthreads()")
    b.append(f"        s = {tpb // 2}")
    b.append("        while s > 0:")
    b.append("            if tid < s:")
    if arg:
        b.append(f"                v, j = {name}_comb(sv[tid], si[tid], sv[tid + s], si[tid + s])")
        b.append("                sv[tid] = v")
        b.append("                si[tid] = j")
    else:
        b.append("                a = sv[tid]")
        b.append("                c = sv[tid + s]")
        b.append(f"                sv[tid] = {reduce_step(sop, 'a', 'c')}")
    b.append("            cuda.syncthreads()")
    b.append("            s //= 2")
    b.append("        if tid == 0:")
    b.append(f"            o[{oidx}] = {'si[0]' if arg else 'sv[0]'}")
    b.append("        cuda.syncthreads()")
    # thread strategy
    t = [JIT, f"def {name}_t(x, o):"] + head
    t.append("    for q in range(cuda.grid(1), o.size, cuda.gridsize(1)):")
    t += _unravel("q", kept, "i", "        ")
    t.append(f"        acc = {ident}")
    if arg:
        t.append(f"        ai = {_NO_INDEX}")
    t.append("        for t in range(n_red):")
    t += _unravel("t", red, "i", "            ")
    if arg:
        t.append(f"            acc, ai = {name}_comb(acc, ai, {read}, t)")
    else:
        t.append(f"            v = {read}")
        t.append(f"            acc = {reduce_step(sop, 'acc', 'v')}")
    t.append(f"        o[{oidx}] = {'ai' if arg else 'acc'}")
    return "\n".join(pre_const + pre + b) + "\n\n\n" + "\n".join(t) + "\n"


def _impl(op, node, ctx, axes, sop, arg, empty_error):
    name = ctx.name
    x = node.inputs[0]
    nd = x.type.ndim
    out = node.outputs[0]
    in_dt, out_dt = x.type.dtype, out.type.dtype
    acc_dt = in_dt if arg else out_dt
    src = _kernels(name, nd, axes, in_dt, acc_dt, sop, arg)
    kept = [d for d in range(nd) if d not in axes]
    slot = ctx.slot()
    odt = np.dtype(out_dt)
    ident_host = sop.identity(out_dt) if not arg and sop.reduces_empty else None
    gpu = not runtime.using_simulator()
    tpb = runtime.tpb()
    # a reduction of everything: the two-pass, many-block kernel of kernels.cuda.reduce
    # (one block alone would leave the GPU idle) when its semantics are ours
    all_op = None
    if not kept and (arg or acc_dt == in_dt) and np.dtype(in_dt).kind in "fiu":
        all_op = {"add": "sum", "maximum": "max", "minimum": "min"}.get(sop.name)
        if arg:
            all_op = "argmax" if sop == ts.maximum else "argmin"
    hsrc = f"""
def fn(x):
    shp = x.shape
    out = _slot.get(({''.join(f'shp[{d}], ' for d in kept)}), _odt)
    n_out = out.size
    n_red = {' * '.join(f'shp[{d}]' for d in axes) if axes else '1'}
    if n_out == 0:
        return out
    if n_red == 0:
        if _ident is None:
            raise ValueError(_empty_msg + f" (input shape {{tuple(shp)}})")
        runtime.fill(out, _ident)
        return out
    if _all_op is not None and n_red >= {ALL_TWO_PASS_MIN_BLOCKS * tpb}:
        _reduce_all(runtime.contiguous(x), _all_op, out)
    elif n_red < {tpb} or ({gpu} and n_out >= {THREAD_MIN_OUTPUTS}):
        _thread(n_out, x, out)
    else:
        _block(n_out, x, out)
    return out
"""

    def build(module):
        from symgraph.kernels.cuda.reduce import reduce_all
        from symgraph.link.cuda.impl._common import Launch

        env = {"_slot": slot, "_odt": odt, "_ident": ident_host, "_empty_msg": empty_error,
               "_all_op": all_op, "_reduce_all": reduce_all,
               "_thread": Launch(getattr(module, f"{name}_t")),
               "_block": Launch(getattr(module, f"{name}_b"), per_block=1)}
        return make_host(hsrc, env)

    return CudaImpl(["device"], build, kernels=src, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Reduce)
def cuda_reduce(op, node, ctx):
    sop = op.scalar_op
    if (node.inputs[0].type.dtype.startswith("complex")
            or sop.identity(node.outputs[0].type.dtype) is None):
        return None
    msg = f"{op}: cannot take the {sop.name} of an empty axis"
    return _impl(op, node, ctx, tuple(op.axis), sop, False, msg)


@cuda_impl.register(Argmax)
def cuda_argmax(op, node, ctx):
    x = node.inputs[0]
    if x.type.dtype.startswith("complex"):
        return None
    axes = tuple(range(x.type.ndim)) if op.axis is None else (op.axis,)
    msg = f"{op}: attempt to get the arg{op.kind} of an empty sequence"
    sop = ts.maximum if op.kind == "max" else ts.minimum
    return _impl(op, node, ctx, axes, sop, True, msg)
