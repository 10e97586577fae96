"""CUDA generators for Elemwise (incl. fused Composite) and DimShuffle.

One kernel per Elemwise node, generated from the scalar op templates: a grid-stride loop
over the output's flat index, unravelled into one index per dimension, so inputs of any
strides (views, transposes) are read in place; a broadcastable input dimension is read at
index 0 (Theano's static broadcasting, checked on the host at run time). Inputs that
broadcast everywhere are read once per thread: a 0-d value on the host is passed by
value (no copy to the device), a single-element constant is inlined as a typed literal.
Outputs are C-contiguous buffers reused from call to call.

DimShuffle is a view: new shape and strides over the same device memory.
"""
from __future__ import annotations

import numpy as np

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import RUN_ON_HOST, CudaImpl, cuda_impl, indent
from symgraph.link.cuda.impl._common import JIT, Launch, host_scalar_converter, make_host
from symgraph.link.scalar_render import inline_literal, scalar_body, src_line
from symgraph.tensor.elemwise import DimShuffle, Elemwise


def _unravel(nd, size_names, var="j", prefix="j", pad="        "):
    """Lines turning flat index ``var`` into ``prefix0..`` (C order)."""
    if nd == 1:
        return [f"{pad}{prefix}0 = {var}"]
    lines = [f"{pad}r = {var}"]
    for d in range(nd - 1, 0, -1):
        lines.append(f"{pad}{prefix}{d} = r % {size_names[d]}")
        lines.append(f"{pad}r = r // {size_names[d]}")
    lines.append(f"{pad}{prefix}0 = r")
    return lines


@cuda_impl.register(Elemwise)
def cuda_elemwise(op, node, ctx):
    if any(v.type.dtype.startswith("complex") for v in node.inputs + node.outputs):
        return None  # complex math is not in the CUDA scalar vocabulary
    name = ctx.name
    nd = node.outputs[0].type.ndim
    in_dts = [v.type.dtype for v in node.inputs]
    out_dts = [o.type.dtype for o in node.outputs]
    kinds, locs, names = [], [], []
    params = []
    for k, v in enumerate(node.inputs):
        lit = inline_literal(v)
        if lit is not None:
            kinds.append("lit")
            locs.append("const")
            names.append(lit)
            continue
        params.append(f"x{k}")
        names.append(f"a{k}")
        if all(v.type.broadcastable):
            if ctx.loc(v) == "device":
                kinds.append("once")
                locs.append("device")
            else:
                kinds.append("scalar")
                locs.append("host")
        else:
            kinds.append("elem")
            locs.append("device")
    counter = [0]

    def fresh():
        counter[0] += 1
        return f"t{counter[0]}"

    stmts, exprs = scalar_body(op.scalar_op, names, in_dts, out_dts, fresh)
    outs = [f"o{j}" for j in range(len(out_dts))]
    sizes = [f"n{d}" for d in range(nd)]
    # -- kernel ------------------------------------------------------------------------
    lines = [JIT, f"def {name}({', '.join(params + outs)}):"]
    for k, kind in enumerate(kinds):
        if kind == "once":
            idx = ", ".join("0" for _ in range(nd)) if nd else "()"
            lines.append(f"    a{k} = x{k}[{idx}]")
        elif kind == "scalar":
            lines.append(f"    a{k} = x{k}")
    if nd == 0:
        lines.append("    if cuda.grid(1) == 0:")
        body = stmts + [f"o{j}[()] = {e}" for j, e in enumerate(exprs)]
        lines.append(indent("\n".join(body), 8))
    else:
        for d in range(1, nd):
            lines.append(f"    n{d} = o0.shape[{d}]")
        lines.append("    for j in range(cuda.grid(1), o0.size, cuda.gridsize(1)):")
        lines.extend(_unravel(nd, sizes))
        for k, kind in enumerate(kinds):
            if kind == "elem":
                bc = node.inputs[k].type.broadcastable
                idx = ", ".join("0" if b else f"j{d}" for d, b in enumerate(bc))
                lines.append(f"        a{k} = x{k}[{idx}]")
        idx_all = ", ".join(f"j{d}" for d in range(nd))
        body = stmts + [f"o{j}[{idx_all}] = {e}" for j, e in enumerate(exprs)]
        lines.append(indent("\n".join(body), 8))
    kernel_src = "\n".join(lines) + "\n"
    # -- host launcher -------------------------------------------------------------------
    slots = {j: ctx.slot() for j in range(len(out_dts))}
    env = {f"_slot{j}": s for j, s in slots.items()}
    env.update({f"_dt{j}": np.dtype(dt) for j, dt in enumerate(out_dts)})
    hl = [f"def fn({', '.join(f'x{k}' for k in range(len(node.inputs)))}):"]
    msg = (f"{op}: input dimension mismatch (node created at {src_line(node)}); only "
           f"broadcastable dimensions stretch")
    env["_msg"] = msg
    shape = []
    for d in range(nd):
        owners = [k for k, v in enumerate(node.inputs)
                  if kinds[k] == "elem" and not v.type.broadcastable[d]]
        if not owners:
            shape.append("1")
            continue
        hl.append(f"    n{d} = x{owners[0]}.shape[{d}]")
        for k in owners[1:]:
            hl.append(f"    if x{k}.shape[{d}] != n{d}: raise ValueError(_msg)")
        shape.append(f"n{d}")
    shape_src = "(" + "".join(s + ", " for s in shape) + ")"
    for j in range(len(out_dts)):
        hl.append(f"    o{j} = _slot{j}.get({shape_src}, _dt{j})")
    args = []
    for k, kind in enumerate(kinds):
        if kind == "lit":
            continue
        if kind == "scalar":
            env[f"_hs{k}"] = host_scalar_converter(in_dts[k])
            args.append(f"_hs{k}(x{k})")
        else:
            args.append(f"x{k}")
    args += outs
    size = " * ".join(shape) if shape else "1"
    hl.append(f"    size = {size}")
    hl.append("    if size:")
    hl.append(f"        _launch(size, {', '.join(args)})")
    hl.append("    return " + (outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)"))
    host_src = "\n".join(hl) + "\n"

    def build(module):
        e = dict(env)
        e["_launch"] = Launch(getattr(module, name))
        return make_host(host_src, e)

    return CudaImpl(locs, build, kernels=kernel_src, fresh_outputs=tuple(slots), slots=slots)


# ------------------------------------------------------------------------ DimShuffle

def dimshuffle_view(op, x):
    """The view of device array ``x`` that ``DimShuffle`` ``op`` makes (no copy)."""
    shape, strides = x.shape, x.strides
    item = x.dtype.itemsize
    new_shape, new_strides = [], []
    for i in op.new_order:
        if i == "x":
            new_shape.append(1)
            new_strides.append(item)
        else:
            new_shape.append(shape[i])
            new_strides.append(strides[i])
    return runtime.restride(x, new_shape, new_strides)


@cuda_impl.register(DimShuffle)
def cuda_dimshuffle(op, node, ctx):
    x = node.inputs[0]
    if ctx.loc(x) != "device" and (x.type.ndim == 0 or all(node.outputs[0].type.broadcastable)):
        # a host scalar made (1, 1, ...): a numpy view; kernels take it by value
        return RUN_ON_HOST

    def build(module):
        def fn(x):
            return dimshuffle_view(op, x)
        return fn

    return CudaImpl(["device"], build)
