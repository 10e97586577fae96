"""Numba generator for ``DynamicPool`` (pooling with run-time ws/stride/pad).

The same kernels as the static ``Pool`` ops (``symgraph.kernels.cpu.pool``), with the
sizes read from the int64 size vectors and checked in the generated code (the checks of
``pool_dynamic.check_sizes``).
"""
from __future__ import annotations

from symgraph.link.numba.dispatch import NumbaCode, numba_impl
from symgraph.link.numba.impl.nnet import _POOL, _fn, _from4d_src, _imp, _Kernels, _to4d_src
from symgraph.tensor.signal.pool_dynamic import DynamicPool

_TENSORS = {"pool": ["x"], "max_grad": ["x", "m", "g"], "avg_grad": ["x", "g"],
            "max_gradgrad": ["x", "m", "gg"]}


def _sizes_src(op):
    ib = op.ignore_border
    return ("if ws.shape[0] != 2 or st.shape[0] != 2 or pd.shape[0] != 2:\n"
            "    raise ValueError('pool_2d: ws, stride and pad must have 2 entries')\n"
            "wh = ws[0]\nww = ws[1]\nsh = st[0]\nsw = st[1]\nph = pd[0]\npw = pd[1]\n"
            "if wh < 1 or ww < 1:\n    raise ValueError('pool_2d: ws entries must be >= 1')\n"
            "if sh < 1 or sw < 1:\n    raise ValueError('pool_2d: stride entries must be >= 1')\n"
            "if ph < 0 or pw < 0:\n    raise ValueError('pool_2d: pad entries must be >= 0')\n"
            + ("" if ib else "if ph != 0 or pw != 0:\n    raise ValueError('pool_2d: padding "
                             "works only with ignore_border=True')\n")
            + "if ph >= wh or pw >= ww:\n    raise ValueError('pool_2d: padding must be "
              "smaller than the window')\n")


def _grad_shape_src(op, nd):
    ib = op.ignore_border
    return (f"oh = _k_pool_size(x.shape[{nd - 2}], wh, sh, ph, {ib})\n"
            f"ow = _k_pool_size(x.shape[{nd - 1}], ww, sw, pw, {ib})\n"
            + "".join(f"if g.shape[{d}] != x.shape[{d}]:\n    raise ValueError('DynamicPool: "
                      f"the output gradient does not match the input shape')\n"
                      for d in range(nd - 2))
            + f"if g.shape[{nd - 2}] != oh or g.shape[{nd - 1}] != ow:\n    raise ValueError("
              f"'DynamicPool: the output gradient does not match the pooled shape')\n")


@numba_impl.register(DynamicPool)
def numba_dynamic_pool(op, node, ctx):
    nd = node.inputs[0].type.ndim
    dt = node.outputs[0].type.dtype
    k = _Kernels(ctx)
    args = f"wh, ww, sh, sw, ph, pw, {op.ignore_border}, {op.mode_code}"
    size_fn = _imp(_POOL, "pool2d_out_size", "_k_pool_size")
    body = _sizes_src(op)
    if op.kind == "pool":
        body += (_to4d_src(nd, "x", "x4")
                 + k.call(["x4"], [("out", dt, 4)], f"_k_pool_fwd(x4, {args})")
                 + f"return {_from4d_src(nd, 'x', 'out')}")
        imports = _imp(_POOL, "pool2d_forward", "_k_pool_fwd")
    elif op.kind == "max_grad":
        body += (_grad_shape_src(op, nd)
                 + "".join(f"if m.shape[{d}] != g.shape[{d}]:\n    raise ValueError('"
                           f"DynamicPool: the max output does not match the output "
                           f"gradient')\n" for d in range(nd))
                 + _to4d_src(nd, "x", "x4") + _to4d_src(nd, "m", "m4")
                 + _to4d_src(nd, "g", "g4")
                 + k.call(["x4", "m4", "g4"], [("gx", dt, 4)],
                          f"_k_pool_bwd(x4, m4, g4, {args})")
                 + f"return {_from4d_src(nd, 'x', 'gx')}")
        imports = _imp(_POOL, "pool2d_backward", "_k_pool_bwd") + size_fn
    elif op.kind == "avg_grad":
        body += (_grad_shape_src(op, nd)
                 + _to4d_src(nd, "x", "x4") + _to4d_src(nd, "g", "g4")
                 + k.call(["x4", "g4"], [("gx", dt, 4)], f"_k_pool_bwd(x4, g4, g4, {args})")
                 + f"return {_from4d_src(nd, 'x', 'gx')}")
        imports = _imp(_POOL, "pool2d_backward", "_k_pool_bwd") + size_fn
    else:
        body += (_to4d_src(nd, "x", "x4") + _to4d_src(nd, "m", "m4")
                 + _to4d_src(nd, "gg", "gg4")
                 + "if gg4.shape[0] != x4.shape[0] or gg4.shape[1] != x4.shape[1] or "
                   "gg4.shape[2] != x4.shape[2] or gg4.shape[3] != x4.shape[3]:\n"
                   "    raise ValueError('DynamicPool: the input and its gradient differ in "
                   "shape')\n"
                 + "out = _sg_maxpool_gradgrad(x4, m4, gg4, wh, ww, sh, sw, ph, pw)\n"
                 + f"return {_from4d_src(nd, 'x', 'out')}")
        return NumbaCode(_fn(ctx.name, _TENSORS[op.kind] + ["ws", "st", "pd"], body),
                         imports=("from symgraph.link.numba.impl.nnet import "
                                  "maxpool_gradgrad as _sg_maxpool_gradgrad",))
    return k.code(_fn(ctx.name, _TENSORS[op.kind] + ["ws", "st", "pd"], body), imports)
