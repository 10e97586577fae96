"""CUDA implementations of the nnet ops on the hand-written kernels of
``symgraph.kernels.cuda`` (conv, softmax).

- ``Conv2d``, ``Conv2dGradInputs``, ``Conv2dGradWeights``: direct-loop kernels; the
  shape checks and paddings are the ops' own (``check_shapes``/``_check``);
- ``Softmax``, ``LogSoftmax`` and their gradients, ``SoftmaxNLL`` (fused softmax +
  negative log-likelihood) and ``SoftmaxNLLGrad``: one block per row.

Labels out of range cannot raise inside a kernel: a small check kernel sets the
function's error flag, and the call raises ValueError (naming the op) before any update
is committed, as the py backend would.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.tensor.nnet.basic import (
    LogSoftmax,
    LogSoftmaxGrad,
    Softmax,
    SoftmaxGrad,
    SoftmaxNLL,
    SoftmaxNLLGrad,
)
from symgraph.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights

_FLOATS = ("float32", "float64")


def _floats(node, positions):
    dts = {node.inputs[i].type.dtype for i in positions}
    return len(dts) == 1 and dts <= set(_FLOATS)


def _k(name):
    import importlib

    return importlib.import_module(f"symgraph.kernels.cuda.{name}")


C = runtime.contiguous

# ------------------------------------------------------------------------- convolution


@cuda_impl.register(Conv2d)
def cuda_conv2d(op, node, ctx):
    if not _floats(node, (0, 1)):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    (sh, sw), flip = op.subsample, op.filter_flip

    def build(module):
        conv = _k("conv")

        def fn(x, w):
            ph, pw = op.check_shapes(tuple(x.shape), tuple(w.shape))
            oh, ow = conv.conv2d_output_shape(x.shape[2], x.shape[3], w.shape[2], w.shape[3],
                                              ph, pw, sh, sw)
            out = slot.get((x.shape[0], w.shape[0], oh, ow), dt)
            return conv.conv2d_forward(C(x), C(w), ph, pw, sh, sw, flip, out=out)
        return fn

    return CudaImpl(["device", "device"], build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Conv2dGradInputs)
def cuda_conv2d_grad_inputs(op, node, ctx):
    if not _floats(node, (0, 1)):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    (sh, sw), flip = op.subsample, op.filter_flip

    def build(module):
        conv = _k("conv")

        def fn(w, g, x_like):
            ph, pw = op._check(tuple(w.shape), tuple(g.shape), tuple(x_like.shape))
            h, wd = x_like.shape[2], x_like.shape[3]
            out = slot.get((g.shape[0], w.shape[1], h, wd), dt)
            return conv.conv2d_grad_input(C(g), C(w), h, wd, ph, pw, sh, sw, flip, out=out)
        return fn

    # the third input is only used for its shape: a device array needs no copy either way
    loc2 = "device" if ctx.loc(node.inputs[2]) == "device" else "host"
    return CudaImpl(["device", "device", loc2], build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Conv2dGradWeights)
def cuda_conv2d_grad_weights(op, node, ctx):
    if not _floats(node, (0, 1)):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    (sh, sw), flip = op.subsample, op.filter_flip

    def build(module):
        conv = _k("conv")

        def fn(x, g, w_like):
            ph, pw = op._check(tuple(x.shape), tuple(g.shape), tuple(w_like.shape))
            kh, kw = w_like.shape[2], w_like.shape[3]
            out = slot.get((g.shape[1], x.shape[1], kh, kw), dt)
            return conv.conv2d_grad_filters(C(x), C(g), kh, kw, ph, pw, sh, sw, flip,
                                            out=out)
        return fn

    loc2 = "device" if ctx.loc(node.inputs[2]) == "device" else "host"
    return CudaImpl(["device", "device", loc2], build, fresh_outputs=(0,), slots={0: slot})


# ------------------------------------------------------------------------------ softmax

def _row_op(op, node, ctx, kernel_name, n_in):
    if not _floats(node, range(n_in)):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)

    def build(module):
        sm = _k("softmax")
        kern = getattr(sm, kernel_name)
        if n_in == 1:
            def fn(x):
                out = slot.get(tuple(x.shape), dt)
                if x.shape[1] == 0:
                    return out
                return kern(C(x), out=out)
        else:
            def fn(gy, y):
                if tuple(gy.shape) != tuple(y.shape):
                    raise ValueError(f"{op}: gy shape {tuple(gy.shape)} differs from y shape "
                                     f"{tuple(y.shape)}")
                out = slot.get(tuple(y.shape), dt)
                if y.shape[1] == 0:
                    return out
                return kern(C(gy), C(y), out=out)
        return fn

    return CudaImpl(["device"] * n_in, build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Softmax)
def cuda_softmax(op, node, ctx):
    return _row_op(op, node, ctx, "softmax", 1)


@cuda_impl.register(LogSoftmax)
def cuda_log_softmax(op, node, ctx):
    return _row_op(op, node, ctx, "log_softmax", 1)


@cuda_impl.register(SoftmaxGrad)
def cuda_softmax_grad(op, node, ctx):
    return _row_op(op, node, ctx, "softmax_grad", 2)


@cuda_impl.register(LogSoftmaxGrad)
def cuda_log_softmax_grad(op, node, ctx):
    return _row_op(op, node, ctx, "log_softmax_grad", 2)


@functools.lru_cache(maxsize=1)
def _label_check_kernel():

    @cuda.jit
    def label_check(y, cols, flag, code):
        for i in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
            t = y[i]
            if t < 0 or t >= cols:
                flag[0] = code

    return label_check


def _labels(op, ctx):
    flag, code = ctx.error_flag(f"{op}: a label is out of range [0, number of classes)")
    code = np.int32(code)

    def check(y, rows, cols):
        if y.shape[0] != rows:
            raise ValueError(f"{op}: the number of labels ({y.shape[0]}) must equal the "
                             f"number of rows of the input ({rows})")
        if rows:
            blocks, t = runtime.grid(rows)
            _label_check_kernel()[blocks, t](y, np.int64(cols), flag, code)
        return C(y)

    return check


@cuda_impl.register(SoftmaxNLL)
def cuda_softmax_nll(op, node, ctx):
    if not _floats(node, (0,)):
        return None
    dt = np.dtype(node.outputs[0].type.dtype)
    check = _labels(op, ctx)

    def build(module):
        sm = _k("softmax")

        def fn(x, y):
            rows, cols = x.shape
            y = check(y, rows, cols)
            if cols == 0:
                nll = runtime.fill(runtime.device_empty((rows,), dt), 0)
                return nll, runtime.device_empty((rows, 0), dt)
            return sm.softmax_nll_forward(C(x), y)
        return fn

    return CudaImpl(["device", "device"], build, fresh_outputs=(0, 1))


@cuda_impl.register(SoftmaxNLLGrad)
def cuda_softmax_nll_grad(op, node, ctx):
    if not _floats(node, (0, 1)):
        return None
    dt = np.dtype(node.outputs[0].type.dtype)
    slot = ctx.slot()
    check = _labels(op, ctx)

    def build(module):
        sm = _k("softmax")

        def fn(gnll, s, y):
            rows, cols = s.shape
            y = check(y, rows, cols)
            if gnll.shape[0] != rows:
                raise ValueError(f"{op}: gnll shape {tuple(gnll.shape)} does not match sm "
                                 f"shape {tuple(s.shape)}")
            out = slot.get((rows, cols), dt)
            return sm.softmax_nll_backward(C(gnll), C(s), y, out=out)
        return fn

    return CudaImpl(["device", "device", "device"], build, fresh_outputs=(0,),
                    slots={0: slot})
