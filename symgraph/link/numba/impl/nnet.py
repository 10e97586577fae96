"""Numba generators for the neural-network ops (softmax family, cross-entropies, conv,
pooling). The heavy lifting is done by the hand-written kernels of
``symgraph.kernels.cpu`` (imported by the generated module); these generators check
shapes and parameters and call them.

| op | kernel |
|---|---|
| Softmax / LogSoftmax | ``softmax.softmax`` / ``softmax.log_softmax`` |
| SoftmaxGrad / LogSoftmaxGrad | ``softmax.softmax_grad`` / ``softmax.log_softmax_grad`` |
| SoftmaxNLL / SoftmaxNLLGrad | ``softmax.softmax_nll_forward`` / ``softmax_nll_backward`` |
| Conv2d | ``conv.conv2d_forward`` |
| Conv2dGradInputs / Conv2dGradWeights | ``conv.conv2d_grad_input`` / ``conv2d_grad_filters`` |
| Pool / MaxPoolGrad / AveragePoolGrad | ``pool.pool2d_forward`` / ``pool.pool2d_backward`` |

CrossentropyCategorical1Hot(+Grad) and MaxPoolGradGrad are small loops written here.
"""
from __future__ import annotations

import numba
import numpy as np

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor.nnet.basic import (
    CrossentropyCategorical1Hot,
    CrossentropyCategorical1HotGrad,
    LogSoftmax,
    LogSoftmaxGrad,
    Softmax,
    SoftmaxGrad,
    SoftmaxNLL,
    SoftmaxNLLGrad,
)
from symgraph.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from symgraph.tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool

_SM = "symgraph.kernels.cpu.softmax"
_CONV = "symgraph.kernels.cpu.conv"
_POOL = "symgraph.kernels.cpu.pool"


def _n(op):
    """The op's class name, for error messages inside generated source (no quotes)."""
    return type(op).__name__


#: Reach the kernels through their registered native symbols (``link/numba/extern.py``)
#: instead of linking their code into every graph: a new graph then compiles only its own
#: code (network3's cold compile: the kernels were about two thirds of the final module).
KERNELS_EXTERN = True


#: kernel aliases used in generated source -> "module:function"
_ALIASES = {
    "_k_softmax": f"{_SM}:softmax", "_k_log_softmax": f"{_SM}:log_softmax",
    "_k_softmax_grad": f"{_SM}:softmax_grad", "_k_log_softmax_grad": f"{_SM}:log_softmax_grad",
    "_k_nll_fwd": f"{_SM}:softmax_nll_forward", "_k_nll_bwd": f"{_SM}:softmax_nll_backward",
    "_k_conv_fwd": f"{_CONV}:conv2d_forward", "_k_conv_gi": f"{_CONV}:conv2d_grad_input",
    "_k_conv_gw": f"{_CONV}:conv2d_grad_filters", "_k_pool_fwd": f"{_POOL}:pool2d_forward",
    "_k_pool_bwd": f"{_POOL}:pool2d_backward", "_k_pool_size": f"{_POOL}:pool2d_out_size",
}


class _Kernels:
    """Emits the kernel calls of one node: a direct call of the kernel, reached by its
    registered symbol (``KERNELS_EXTERN``) or linked into the graph."""

    def __init__(self, ctx):
        self.ctx = ctx

    def call(self, args, outs, call):
        """Source assigning ``call`` (``alias(arg, ...)``) to ``outs`` [(name, dtype, ndim)]."""
        return f"{', '.join(n for n, _, _ in outs)} = {call}\n"

    def code(self, src, imports):
        if not KERNELS_EXTERN:
            lines = [f"from {m} import {n} as {a}" for a, m, n in imports]
            return NumbaCode(src, imports=tuple(lines))
        return NumbaCode(src, externs=tuple((a, f"{m}:{n}") for a, m, n in imports))


def _out(node, k=0, name="out"):
    t = node.outputs[k].type
    return (name, t.dtype, t.ndim)


def _imp(module, name, alias):
    assert _ALIASES[alias] == f"{module}:{name}"
    return [(alias, module, name)]


def _fn(name, args, body):
    return f"def {name}({', '.join(args)}):\n" + indent(body) + "\n"


# ----------------------------------------------------------------------- softmax

def _unary_kernel(ctx, node, args, call, module, name, alias):
    k = _Kernels(ctx)
    body = k.call(args, [_out(node)], call) + "return out"
    return k.code(_fn(ctx.name, args, body), _imp(module, name, alias))


@numba_impl.register(Softmax)
def numba_softmax(op, node, ctx):
    return _unary_kernel(ctx, node, ["x"], "_k_softmax(x)", _SM, "softmax", "_k_softmax")


@numba_impl.register(LogSoftmax)
def numba_log_softmax(op, node, ctx):
    return _unary_kernel(ctx, node, ["x"], "_k_log_softmax(x)", _SM, "log_softmax",
                         "_k_log_softmax")


@numba_impl.register(SoftmaxGrad)
def numba_softmax_grad(op, node, ctx):
    return _unary_kernel(ctx, node, ["gy", "y"], "_k_softmax_grad(gy, y)", _SM, "softmax_grad",
                         "_k_softmax_grad")


@numba_impl.register(LogSoftmaxGrad)
def numba_log_softmax_grad(op, node, ctx):
    return _unary_kernel(ctx, node, ["gy", "y"], "_k_log_softmax_grad(gy, y)", _SM,
                         "log_softmax_grad", "_k_log_softmax_grad")


_LABELS = """if y.shape[0] != x.shape[0]:
    raise ValueError('{op}: the number of labels must equal the number of rows')
for i in range(y.shape[0]):
    if y[i] < 0 or y[i] >= x.shape[1]:
        raise ValueError('{op}: label out of range [0, n_classes)')
"""


@numba_impl.register(SoftmaxNLL)
def numba_softmax_nll(op, node, ctx):
    k = _Kernels(ctx)
    body = (_LABELS.format(op=_n(op))
            + k.call(["x", "y"], [_out(node, 0, "nll"), _out(node, 1, "sm")],
                     "_k_nll_fwd(x, y)")
            + "return nll, sm")
    return k.code(_fn(ctx.name, ["x", "y"], body),
                  _imp(_SM, "softmax_nll_forward", "_k_nll_fwd"))


@numba_impl.register(SoftmaxNLLGrad)
def numba_softmax_nll_grad(op, node, ctx):
    k = _Kernels(ctx)
    body = ("x = sm\n" + _LABELS.format(op=_n(op))
            + f"if g.shape[0] != sm.shape[0]:\n    raise ValueError('{_n(op)}: gnll must have one "
              f"entry per row')\n"
            + k.call(["g", "sm", "y"], [_out(node)], "_k_nll_bwd(g, sm, y)") + "return out")
    return k.code(_fn(ctx.name, ["g", "sm", "y"], body),
                  _imp(_SM, "softmax_nll_backward", "_k_nll_bwd"))


@numba_impl.register(CrossentropyCategorical1Hot)
def numba_crossentropy_1hot(op, node, ctx):
    dt = node.outputs[0].type.dtype
    body = (_LABELS.format(op=_n(op)) +
            f"out = np.empty(x.shape[0], dtype={np_dtype(dt)})\n"
            f"for i in range(x.shape[0]):\n"
            f"    out[i] = -np.log(x[i, y[i]])\n"
            f"return out")
    return NumbaCode(_fn(ctx.name, ["x", "y"], body))


@numba_impl.register(CrossentropyCategorical1HotGrad)
def numba_crossentropy_1hot_grad(op, node, ctx):
    dt = node.outputs[0].type.dtype
    body = (_LABELS.format(op=_n(op)) +
            f"if g.shape[0] != x.shape[0]:\n    raise ValueError('{_n(op)}: gy must have one entry "
            f"per row')\n"
            f"out = np.zeros(x.shape, dtype={np_dtype(dt)})\n"
            f"for i in range(x.shape[0]):\n"
            f"    out[i, y[i]] = -g[i] / x[i, y[i]]\n"
            f"return out")
    return NumbaCode(_fn(ctx.name, ["g", "x", "y"], body))


# -------------------------------------------------------------------------- conv

def _pads_src(op, kh, kw):
    bm = op.border_mode
    if bm == "full":
        return f"ph = {kh} - 1\npw = {kw} - 1\n"
    if bm == "half":
        return f"ph = {kh} // 2\npw = {kw} // 2\n"
    return f"ph = {bm[0]}\npw = {bm[1]}\n"


def _hint_src(op, hint, var, what, params):
    """The check of a shape hint. Its values are parameters (appended to ``params`` as
    ``(name, value)``, passed as ``NumbaCode.const_args``), not literals: the code for
    one batch size serves every other."""
    if hint is None:
        return ""
    conds = []
    for d, h in enumerate(hint):
        if h is not None:
            name = f"hint{len(params)}"
            params.append((name, int(h)))
            conds.append(f"{var}.shape[{d}] != {name}")
    if not conds:
        return ""
    return (f"if {' or '.join(conds)}:\n    raise ValueError('{_n(op)}: the {what} hint "
            f"does not match the actual shape')\n")


@numba_impl.register(Conv2d)
def numba_conv2d(op, node, ctx):
    sh, sw = op.subsample
    k = _Kernels(ctx)
    hints: list = []
    body = (_hint_src(op, op.imshp, "x", "input_shape", hints)
            + _hint_src(op, op.kshp, "w", "filter_shape", hints)
            + "if x.shape[1] != w.shape[1]:\n"
              f"    raise ValueError('{_n(op)}: input channels do not match the filters')\n"
            + _pads_src(op, "w.shape[2]", "w.shape[3]")
            + "if x.shape[2] + 2 * ph < w.shape[2] or x.shape[3] + 2 * pw < w.shape[3]:\n"
              f"    raise ValueError('{_n(op)}: the filters are larger than the padded input')\n"
            + k.call(["x", "w", "ph", "pw"], [_out(node)],
                     f"_k_conv_fwd(x, w, ph, pw, {sh}, {sw}, {op.filter_flip})")
            + "return out")
    code = k.code(_fn(ctx.name, ["x", "w"] + [n for n, _ in hints], body),
                  _imp(_CONV, "conv2d_forward", "_k_conv_fwd"))
    code.const_args = tuple(v for _, v in hints)
    return code


def _grad_check_src(op, xs, ws, gs):
    sh, sw = op.subsample
    return (f"if {ws}[1] != {xs}[1] or {gs}[0] != {xs}[0] or {gs}[1] != {ws}[0] or "
            f"{gs}[2] != ({xs}[2] + 2 * ph - {ws}[2]) // {sh} + 1 or "
            f"{gs}[3] != ({xs}[3] + 2 * pw - {ws}[3]) // {sw} + 1:\n"
            f"    raise ValueError('{_n(op)}: the output gradient, input and filter shapes do not "
            f"match')\n")


@numba_impl.register(Conv2dGradInputs)
def numba_conv2d_grad_inputs(op, node, ctx):
    sh, sw = op.subsample
    k = _Kernels(ctx)
    body = (_pads_src(op, "w.shape[2]", "w.shape[3]")
            + _grad_check_src(op, "x.shape", "w.shape", "g.shape")
            + "H = x.shape[2]\nW = x.shape[3]\n"
            + k.call(["g", "w", "H", "W", "ph", "pw"], [_out(node)],
                     f"_k_conv_gi(g, w, H, W, ph, pw, {sh}, {sw}, {op.filter_flip})")
            + "return out")
    return k.code(_fn(ctx.name, ["w", "g", "x"], body),
                  _imp(_CONV, "conv2d_grad_input", "_k_conv_gi"))


@numba_impl.register(Conv2dGradWeights)
def numba_conv2d_grad_weights(op, node, ctx):
    sh, sw = op.subsample
    k = _Kernels(ctx)
    body = (_pads_src(op, "w.shape[2]", "w.shape[3]")
            + _grad_check_src(op, "x.shape", "w.shape", "g.shape")
            + "KH = w.shape[2]\nKW = w.shape[3]\n"
            + k.call(["x", "g", "KH", "KW", "ph", "pw"], [_out(node)],
                     f"_k_conv_gw(x, g, KH, KW, ph, pw, {sh}, {sw}, {op.filter_flip})")
            + "return out")
    return k.code(_fn(ctx.name, ["x", "g", "w"], body),
                  _imp(_CONV, "conv2d_grad_filters", "_k_conv_gw"))


# ----------------------------------------------------------------------- pooling

def _to4d_src(nd, var, out):
    """Source making ``out`` a 4-D (N, C, H, W) view/copy of ``var`` (ndim ``nd``)."""
    if nd == 4:
        return f"{out} = {var}\n"
    if nd == 2:
        return (f"{out} = _sg_helpers.reshape_c(np.ascontiguousarray({var}), (1, 1, "
                f"{var}.shape[0], {var}.shape[1]))\n")
    if nd == 3:
        return (f"{out} = _sg_helpers.reshape_c(np.ascontiguousarray({var}), (1, {var}.shape[0], "
                f"{var}.shape[1], {var}.shape[2]))\n")
    lead = " * ".join(f"{var}.shape[{d}]" for d in range(nd - 3))
    return (f"{out} = _sg_helpers.reshape_c(np.ascontiguousarray({var}), ({lead}, "
            f"{var}.shape[{nd - 3}], {var}.shape[{nd - 2}], {var}.shape[{nd - 1}]))\n")


def _from4d_src(nd, like, var):
    """Expression reshaping 4-D ``var`` back to the leading dims of ``like``."""
    if nd == 4:
        return var
    lead = "".join(f"{like}.shape[{d}], " for d in range(nd - 2))
    return f"_sg_helpers.reshape_c({var}, ({lead}{var}.shape[2], {var}.shape[3]))"


def _pool_args(op):
    (wh, ww), (sh, sw), (ph, pw) = op.ws, op.stride, op.pad
    return f"{wh}, {ww}, {sh}, {sw}, {ph}, {pw}, {op.ignore_border}, {op.mode_code}"


@numba_impl.register(Pool)
def numba_pool(op, node, ctx):
    nd = node.inputs[0].type.ndim
    k = _Kernels(ctx)
    body = (_to4d_src(nd, "x", "x4")
            + k.call(["x4"], [("out", node.outputs[0].type.dtype, 4)],
                     f"_k_pool_fwd(x4, {_pool_args(op)})")
            + f"return {_from4d_src(nd, 'x', 'out')}")
    return k.code(_fn(ctx.name, ["x"], body), _imp(_POOL, "pool2d_forward", "_k_pool_fwd"))


def _pool_shape_check(op, nd):
    (wh, ww), (sh, sw), (ph, pw) = op.ws, op.stride, op.pad
    return (f"oh = _k_pool_size(x.shape[{nd - 2}], {wh}, {sh}, {ph}, {op.ignore_border})\n"
            f"ow = _k_pool_size(x.shape[{nd - 1}], {ww}, {sw}, {pw}, {op.ignore_border})\n"
            + "".join(f"if g.shape[{d}] != x.shape[{d}]:\n    raise ValueError('{_n(op)}: "
                      f"the output gradient does not match the input shape')\n"
                      for d in range(nd - 2))
            + f"if g.shape[{nd - 2}] != oh or g.shape[{nd - 1}] != ow:\n    raise ValueError("
              f"'{_n(op)}: the output gradient does not match the pooled shape')\n")


@numba_impl.register(MaxPoolGrad)
def numba_max_pool_grad(op, node, ctx):
    nd = node.inputs[0].type.ndim
    k = _Kernels(ctx)
    body = (_pool_shape_check(op, nd)
            + "".join(f"if m.shape[{d}] != g.shape[{d}]:\n    raise ValueError('{_n(op)}: the max "
                      f"output does not match the output gradient')\n" for d in range(nd))
            + _to4d_src(nd, "x", "x4") + _to4d_src(nd, "m", "m4") + _to4d_src(nd, "g", "g4")
            + k.call(["x4", "m4", "g4"], [("gx", node.outputs[0].type.dtype, 4)],
                     f"_k_pool_bwd(x4, m4, g4, {_pool_args(op)})")
            + f"return {_from4d_src(nd, 'x', 'gx')}")
    return k.code(_fn(ctx.name, ["x", "m", "g"], body),
                  _imp(_POOL, "pool2d_backward", "_k_pool_bwd")
                  + _imp(_POOL, "pool2d_out_size", "_k_pool_size"))


@numba_impl.register(AveragePoolGrad)
def numba_average_pool_grad(op, node, ctx):
    nd = node.inputs[0].type.ndim
    k = _Kernels(ctx)
    body = (_pool_shape_check(op, nd)
            + _to4d_src(nd, "x", "x4") + _to4d_src(nd, "g", "g4")
            + k.call(["x4", "g4"], [("gx", node.outputs[0].type.dtype, 4)],
                     f"_k_pool_bwd(x4, g4, g4, {_pool_args(op)})")
            + f"return {_from4d_src(nd, 'x', 'gx')}")
    return k.code(_fn(ctx.name, ["x", "g"], body),
                  _imp(_POOL, "pool2d_backward", "_k_pool_bwd")
                  + _imp(_POOL, "pool2d_out_size", "_k_pool_size"))


@numba_impl.register(MaxPoolGradGrad)
def numba_max_pool_grad_grad(op, node, ctx):
    nd = node.inputs[0].type.ndim
    (wh, ww), (sh, sw), (ph, pw) = op.ws, op.stride, op.pad
    body = (_to4d_src(nd, "x", "x4") + _to4d_src(nd, "m", "m4") + _to4d_src(nd, "gg", "gg4")
            + "if gg4.shape[0] != x4.shape[0] or gg4.shape[1] != x4.shape[1] or "
              "gg4.shape[2] != x4.shape[2] or gg4.shape[3] != x4.shape[3]:\n"
              f"    raise ValueError('{_n(op)}: the input and its gradient differ in shape')\n"
            + f"out = _sg_maxpool_gradgrad(x4, m4, gg4, {wh}, {ww}, {sh}, {sw}, {ph}, {pw})\n"
            + f"return {_from4d_src(nd, 'x', 'out')}")
    return NumbaCode(_fn(ctx.name, ["x", "m", "gg"], body),
                     imports=("from symgraph.link.numba.impl.nnet import "
                              "maxpool_gradgrad as _sg_maxpool_gradgrad",))


@numba.njit(cache=True, nogil=True)
def maxpool_gradgrad(x, m, gg, wh, ww, sh, sw, ph, pw):
    """out[n, c, i, j] = sum of gg over the cells of window (i, j) equal to its max m."""
    N, C, H, W = x.shape
    OH = m.shape[2]
    OW = m.shape[3]
    out = np.zeros((N, C, OH, OW), gg.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                r0 = max(i * sh - ph, 0)
                r1 = min(i * sh - ph + wh, H)
                for j in range(OW):
                    c0 = max(j * sw - pw, 0)
                    c1 = min(j * sw - pw + ww, W)
                    mv = m[n, c, i, j]
                    s = gg.dtype.type(0)
                    for r in range(r0, r1):
                        for q in range(c0, c1):
                            if x[n, c, r, q] == mv:
                                s += gg[n, c, r, q]
                    out[n, c, i, j] = s
    return out
