"""Softmax, cross-entropy, convolution and pooling nodes the Python tier runs by calling
their kernel directly.

Why: these nodes' kernels (``impl/nnet.py``) are a few shape checks around one call of a
hand-written kernel of ``symgraph.kernels.cpu`` compiled once per installation and
reached by symbol. Yet each new graph compiled its wrappers before its first call:
0.10-0.16 s each, and in a process that compiled nothing else yet, Numba's first-compile
set-up on top (its lowering registries, scipy.linalg with them: 0.38 s measured). An
MLP's cold graph compiled just two such wrappers (the softmax cost and its gradient), and
they were most of its first call (docs/benchmarks.md). On the tier the node now makes the
wrapper's checks in Python and calls the kernel's compiled overload for the argument
types the wrapper passes it, as ``tier_extern.py`` does for products and sums.

The same bits by construction: the kernel's machine code is the one the wrapper calls by
symbol (loaded for the same signature), and the wrapper around it computes nothing: its
operands go to the kernel as they are (a pooling node only when its input is 4-d, where
the wrapper's reshapes are none), its other arguments are integers and booleans the wrapper
computes from shapes or writes as literals (``int64``, ``boolean`` once typed), and its
results are the kernel's. A failed check runs the compiled wrapper, for its own error; a
kernel not compiled for those types yet runs the wrapper too (which compiles it: see
``ExternNode._overload``).
"""
from __future__ import annotations

from symgraph.link.numba.plan_compile import Compiled

__all__ = ["nnet_program", "nnet_entry"]

_SM = "symgraph.kernels.cpu.softmax"
_CONV = "symgraph.kernels.cpu.conv"
_POOL = "symgraph.kernels.cpu.pool"

#: op class name -> (the kernel it calls, the wrapper's arguments the kernel gets first)
_PASS = {"Softmax": (f"{_SM}:softmax", 1), "LogSoftmax": (f"{_SM}:log_softmax", 1),
         "SoftmaxGrad": (f"{_SM}:softmax_grad", 2),
         "LogSoftmaxGrad": (f"{_SM}:log_softmax_grad", 2)}


def nnet_program(node):
    """A description of ``node`` (plain values) for :func:`nnet_entry`, or None: the
    softmax family, ``SoftmaxNLL`` and its gradient, ``Conv2d`` and its two gradients,
    4-d ``Pool``, ``MaxPoolGrad`` and ``AveragePoolGrad`` (the ops whose kernels in
    ``impl/nnet.py`` are checks around one call)."""
    from symgraph.tensor.nnet import basic
    from symgraph.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
    from symgraph.tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, Pool

    op = node.op
    name = type(op).__name__
    if name in _PASS and type(op) is getattr(basic, name):
        return {"kind": "nnet", "op": name, "callee": _PASS[name][0]}
    if type(op) in (basic.SoftmaxNLL, basic.SoftmaxNLLGrad):
        callee = "softmax_nll_forward" if name == "SoftmaxNLL" else "softmax_nll_backward"
        return {"kind": "nnet", "op": name, "callee": f"{_SM}:{callee}"}
    if type(op) in (Conv2d, Conv2dGradInputs, Conv2dGradWeights):
        bm = op.border_mode
        pads = bm if bm in ("full", "half") else (int(bm[0]), int(bm[1]))
        callee = {Conv2d: "conv2d_forward", Conv2dGradInputs: "conv2d_grad_input",
                  Conv2dGradWeights: "conv2d_grad_filters"}[type(op)]
        prog = {"kind": "nnet", "op": type(op).__name__, "callee": f"{_CONV}:{callee}",
                "pads": pads, "stride": [int(s) for s in op.subsample],
                "flip": bool(op.filter_flip)}
        if type(op) is Conv2d:
            prog["hints"] = [_hint_dims(op.imshp), _hint_dims(op.kshp)]
        return prog
    if type(op) in (Pool, MaxPoolGrad, AveragePoolGrad):
        if node.inputs[0].type.ndim != 4:   # the wrapper reshapes: its types are its own
            return None
        callee = "pool2d_forward" if type(op) is Pool else "pool2d_backward"
        return {"kind": "nnet", "op": type(op).__name__, "callee": f"{_POOL}:{callee}",
                "ws": [int(v) for v in op.ws], "stride": [int(v) for v in op.stride],
                "pad": [int(v) for v in op.pad], "ignore_border": bool(op.ignore_border),
                "mode": int(op.mode_code)}
    return None


def _hint_dims(hint):
    """The axes a shape hint fixes, as the wrapper checks them. Their sizes are the
    wrapper's arguments, not part of the program: the module of another batch size is
    then the same module (``impl/nnet._hint_src``)."""
    return [] if hint is None else [d for d, h in enumerate(hint) if h is not None]


def _labels_ok(x, y) -> bool:
    """The wrapper's label checks (``impl/nnet.py``'s ``_LABELS``)."""
    if y.shape[0] != x.shape[0]:
        return False
    return not y.shape[0] or (int(y.min()) >= 0 and int(y.max()) < x.shape[1])


def _pads(prog, w_shape):
    """``(ph, pw)`` as the conv wrappers compute them (``impl/nnet._pads_src``)."""
    if prog["pads"] == "full":
        return w_shape[2] - 1, w_shape[3] - 1
    if prog["pads"] == "half":
        return w_shape[2] // 2, w_shape[3] // 2
    return prog["pads"][0], prog["pads"][1]


def _grad_shapes_ok(prog, xs, ws, gs, ph, pw) -> bool:
    """The conv gradients' shape check (``impl/nnet._grad_check_src``)."""
    sh, sw = prog["stride"]
    return not (ws[1] != xs[1] or gs[0] != xs[0] or gs[1] != ws[0]
                or gs[2] != (xs[2] + 2 * ph - ws[2]) // sh + 1
                or gs[3] != (xs[3] + 2 * pw - ws[3]) // sw + 1)


def nnet_entry(node, argtys, kernel):
    """A :class:`~.plan_compile.Compiled` running ``node`` (an ``ExternNode`` whose
    program is of kind "nnet") for arguments of types ``argtys``: the wrapper's checks,
    then the kernel's overload; ``kernel(*args)`` (the compiled wrapper) for a failed
    check. None when the kernel is not compiled for those types (the caller runs the
    wrapper)."""
    from numba import types

    prog = node.prog
    op = prog["op"]
    arrays = 2 if op == "Conv2d" else len(argtys)   # a Conv2d's shape hints are integers
    if not all(isinstance(t, types.Array) for t in argtys[:arrays]):
        return None
    i64, boolean = types.int64, types.boolean
    if op in _PASS:
        n = _PASS[op][1]
        if len(argtys) != n:
            return None
        cres = node._overload(prog["callee"], argtys)
        return None if cres is None else Compiled(cres.entry_point, cres.signature.return_type)
    if op in ("SoftmaxNLL", "SoftmaxNLLGrad"):
        return _nll(node, argtys, kernel)
    if op.startswith("Conv2d"):
        return _conv(node, argtys, kernel, i64, boolean)
    return _pool(node, argtys, kernel, i64, boolean)


def _nll(node, argtys, kernel):
    prog = node.prog
    fwd = prog["op"] == "SoftmaxNLL"
    if len(argtys) != (2 if fwd else 3):
        return None
    cres = node._overload(prog["callee"], argtys)
    if cres is None:
        return None
    run = cres.entry_point
    if fwd:
        def entry(x, y):
            if not _labels_ok(x, y):
                return kernel(x, y)
            return run(x, y)
    else:
        def entry(g, sm, y):
            if not _labels_ok(sm, y) or g.shape[0] != sm.shape[0]:
                return kernel(g, sm, y)
            return run(g, sm, y)
    return Compiled(entry, cres.signature.return_type)


def _conv(node, argtys, kernel, i64, boolean):
    prog = node.prog
    op = prog["op"]
    sh, sw = prog["stride"]
    flip = prog["flip"]
    ints = (i64,) * 6 + (boolean,)
    if op == "Conv2d":
        hx, hw = prog["hints"]
        if len(argtys) != 2 + len(hx) + len(hw):
            return None
        cres = node._overload(prog["callee"], (argtys[0], argtys[1]) + ints[2:])
        if cres is None:
            return None
        run = cres.entry_point

        def entry(x, w, *hints):
            # the wrapper's checks, in its order (the hints' values are its arguments)
            hv = iter(hints)
            if any(x.shape[d] != next(hv) for d in hx) or \
                    any(w.shape[d] != next(hv) for d in hw):
                return kernel(x, w, *hints)
            ph, pw = _pads(prog, w.shape)
            if x.shape[1] != w.shape[1] or x.shape[2] + 2 * ph < w.shape[2] or \
                    x.shape[3] + 2 * pw < w.shape[3]:
                return kernel(x, w, *hints)
            return run(x, w, ph, pw, sh, sw, flip)
        return Compiled(entry, cres.signature.return_type)
    if len(argtys) != 3:
        return None
    # the gradients. Inputs: the wrapper's (w, g, x) -> the kernel's (g, w, H, W, ...);
    # weights: the wrapper's (x, g, w) -> the kernel's (x, g, KH, KW, ...)
    wrt_inputs = op == "Conv2dGradInputs"
    first = (argtys[1], argtys[0]) if wrt_inputs else (argtys[0], argtys[1])
    cres = node._overload(prog["callee"], first + ints)
    if cres is None:
        return None
    run = cres.entry_point

    def entry(a, g, b):
        w, x = (a, b) if wrt_inputs else (b, a)
        ph, pw = _pads(prog, w.shape)
        if not _grad_shapes_ok(prog, x.shape, w.shape, g.shape, ph, pw):
            return kernel(a, g, b)
        if wrt_inputs:
            return run(g, w, x.shape[2], x.shape[3], ph, pw, sh, sw, flip)
        return run(x, g, w.shape[2], w.shape[3], ph, pw, sh, sw, flip)
    return Compiled(entry, cres.signature.return_type)


def _pool(node, argtys, kernel, i64, boolean):
    prog = node.prog
    op = prog["op"]
    (wh, ww), (sh, sw), (ph, pw) = prog["ws"], prog["stride"], prog["pad"]
    ib, mode = prog["ignore_border"], prog["mode"]
    params = (wh, ww, sh, sw, ph, pw, ib, mode)
    ptys = (i64,) * 6 + (boolean, i64)
    if any(t.ndim != 4 for t in argtys):
        return None
    if op == "Pool":
        if len(argtys) != 1:
            return None
        cres = node._overload(prog["callee"], argtys + ptys)
        if cres is None:
            return None
        run = cres.entry_point

        def entry(x):
            return run(x, *params)
        return Compiled(entry, cres.signature.return_type)
    size = node._overload(f"{_POOL}:pool2d_out_size", (i64, i64, i64, i64, boolean))
    if size is None:
        return None
    out_size = size.entry_point
    if op == "MaxPoolGrad":
        if len(argtys) != 3:
            return None
        cres = node._overload(prog["callee"], argtys + ptys)
    else:
        if len(argtys) != 2:
            return None
        cres = node._overload(prog["callee"], (argtys[0], argtys[1], argtys[1]) + ptys)
    if cres is None:
        return None
    run = cres.entry_point

    def shapes_ok(x, g):
        oh = out_size(x.shape[2], wh, sh, ph, ib)
        ow = out_size(x.shape[3], ww, sw, pw, ib)
        return g.shape[0] == x.shape[0] and g.shape[1] == x.shape[1] and \
            g.shape[2] == oh and g.shape[3] == ow

    if op == "MaxPoolGrad":
        def entry(x, m, g):
            if not shapes_ok(x, g) or m.shape != g.shape:
                return kernel(x, m, g)
            return run(x, m, g, *params)
    else:
        def entry(x, g):
            if not shapes_ok(x, g):
                return kernel(x, g)
            return run(x, g, g, *params)
    return Compiled(entry, cres.signature.return_type)

