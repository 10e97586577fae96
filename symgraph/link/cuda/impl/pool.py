"""CUDA implementations of 2-D pooling (``symgraph.tensor.signal.pool``).

``Pool`` and ``AveragePoolGrad`` use ``symgraph.kernels.cuda.pool``. ``MaxPoolGrad`` and
``MaxPoolGradGrad`` have their own gather kernels here because their rule differs from
that module's (cuDNN's, which gives a window's gradient to its *first* maximum): as in
Theano and the py backend, every cell equal to its window's maximum gets the gradient.
Inputs with more than 4 (or 2-3) dimensions are viewed as (N, C, H, W).
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.tensor.signal.pool import AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad, Pool

_FLOATS = ("float32", "float64")


def as4d(x):
    """A contiguous (N, C, H, W) view of device array ``x`` (ndim >= 2)."""
    x = runtime.contiguous(x)
    if x.ndim == 4:
        return x
    h, w = x.shape[-2:]
    lead = x.shape[:-2]
    if x.ndim == 2:
        return runtime.reshape(x, (1, 1, h, w))
    n = 1
    for s in lead[:-1]:
        n *= s
    return runtime.reshape(x, (n, lead[-1], h, w))


def _shape4(shape):
    h, w = shape[-2:]
    lead = tuple(shape[:-2])
    if len(shape) == 4:
        return tuple(shape)
    if len(shape) == 2:
        return (1, 1, h, w)
    n = 1
    for s in lead[:-1]:
        n *= s
    return (n, lead[-1], h, w)


def _args(op):
    return (op.ws[0], op.ws[1], op.stride[0], op.stride[1], op.pad[0], op.pad[1])


@cuda_impl.register(Pool)
def cuda_pool(op, node, ctx):
    if node.inputs[0].type.dtype not in _FLOATS:
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    ws_h, ws_w, st_h, st_w, p_h, p_w = _args(op)

    def build(module):
        from symgraph.kernels.cuda import pool

        def fn(x):
            x4 = as4d(x)
            oh, ow = pool.pool2d_output_shape(x4.shape[2], x4.shape[3], ws_h, ws_w, st_h, st_w,
                                              p_h, p_w, op.ignore_border)
            out = slot.get(tuple(x.shape[:-2]) + (oh, ow), dt)
            o4 = runtime.reshape(out, x4.shape[:2] + (oh, ow))
            pool.pool2d_forward(x4, ws_h, ws_w, st_h, st_w, p_h, p_w, op.ignore_border,
                                op.mode_code, out=o4)
            return out
        return fn

    return CudaImpl(["device"], build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(AveragePoolGrad)
def cuda_average_pool_grad(op, node, ctx):
    if node.inputs[0].type.dtype not in _FLOATS:
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    ws_h, ws_w, st_h, st_w, p_h, p_w = _args(op)

    def build(module):
        from symgraph.kernels.cuda import pool

        def fn(x, gz):
            exp = tuple(op.out_shape(tuple(x.shape)))
            if tuple(gz.shape) != exp:
                raise ValueError(f"{op}: the output gradient has shape {tuple(gz.shape)}, "
                                 f"expected {exp} for an input of shape {tuple(x.shape)}")
            out = slot.get(tuple(x.shape), dt)
            x4 = as4d(x)
            pool.pool2d_backward(x4, None, as4d(gz), ws_h, ws_w, st_h, st_w, p_h, p_w,
                                 op.ignore_border, op.mode_code,
                                 out=runtime.reshape(out, x4.shape))
            return out
        return fn

    return CudaImpl(["device", "device"], build, fresh_outputs=(0,), slots={0: slot})


@functools.lru_cache(maxsize=None)
def _maxpool_grad_kernel(dtype):
    zero = np.dtype(dtype).type(0)

    @cuda.jit
    def maxpool_grad(x, mx, gz, gx, ws_h, ws_w, st_h, st_w, p_h, p_w):
        """gx[n,c,h,w] = sum of gz over the windows covering (h, w) whose max equals x."""
        C = x.shape[1]
        H = x.shape[2]
        W = x.shape[3]
        OH = gz.shape[2]
        OW = gz.shape[3]
        for idx in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
            w = idx % W
            r = idx // W
            h = r % H
            r = r // H
            c = r % C
            n = r // C
            v = x[n, c, h, w]
            acc = zero
            hp = h + p_h
            wp = w + p_w
            i_lo = (hp - ws_h) // st_h + 1
            if i_lo < 0:
                i_lo = 0
            i_hi = hp // st_h
            if i_hi > OH - 1:
                i_hi = OH - 1
            j_lo = (wp - ws_w) // st_w + 1
            if j_lo < 0:
                j_lo = 0
            j_hi = wp // st_w
            if j_hi > OW - 1:
                j_hi = OW - 1
            for i in range(i_lo, i_hi + 1):
                for j in range(j_lo, j_hi + 1):
                    if v == mx[n, c, i, j]:
                        acc += gz[n, c, i, j]
            gx[n, c, h, w] = acc

    return maxpool_grad


@functools.lru_cache(maxsize=None)
def _maxpool_gradgrad_kernel(dtype):
    zero = np.dtype(dtype).type(0)

    @cuda.jit
    def maxpool_gradgrad(x, mx, ggx, out, ws_h, ws_w, st_h, st_w, p_h, p_w):
        """out[n,c,i,j] = sum of ggx over the cells of window (i, j) equal to its max."""
        C = out.shape[1]
        OH = out.shape[2]
        OW = out.shape[3]
        H = x.shape[2]
        W = x.shape[3]
        for idx in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            j = idx % OW
            r = idx // OW
            i = r % OH
            r = r // OH
            c = r % C
            n = r // C
            m = mx[n, c, i, j]
            acc = zero
            s = i * st_h
            r0 = s - p_h if s > p_h else 0
            e = s + ws_h
            r1 = e - p_h if e - p_h < H else H
            s2 = j * st_w
            c0 = s2 - p_w if s2 > p_w else 0
            e2 = s2 + ws_w
            c1 = e2 - p_w if e2 - p_w < W else W
            for a in range(r0, r1):
                for b in range(c0, c1):
                    if x[n, c, a, b] == m:
                        acc += ggx[n, c, a, b]
            out[n, c, i, j] = acc

    return maxpool_gradgrad


def _check_max(op, x, mx, g, g_is_output_grad):
    exp = tuple(op.out_shape(tuple(x.shape)))
    if g_is_output_grad and tuple(g.shape) != exp:
        raise ValueError(f"{op}: the output gradient has shape {tuple(g.shape)}, expected "
                         f"{exp} for an input of shape {tuple(x.shape)}")
    if not g_is_output_grad and tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"{op}: the input gradient has shape {tuple(g.shape)}, the input "
                         f"{tuple(x.shape)}")
    if tuple(mx.shape) != exp:
        raise ValueError(f"{op}: maxout shape {tuple(mx.shape)} differs from the pooled "
                         f"shape {exp}")


@cuda_impl.register(MaxPoolGrad)
def cuda_max_pool_grad(op, node, ctx):
    if not {v.type.dtype for v in node.inputs} <= set(_FLOATS):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    args = _args(op)

    def build(module):
        kern = _maxpool_grad_kernel(dt)

        def fn(x, mx, gz):
            _check_max(op, x, mx, gz, True)
            out = slot.get(tuple(x.shape), dt)
            if out.size:
                x4 = as4d(x)
                blocks, t = runtime.grid(out.size)
                kern[blocks, t](x4, as4d(mx), as4d(gz), runtime.reshape(out, x4.shape), *args)
            return out
        return fn

    return CudaImpl(["device"] * 3, build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(MaxPoolGradGrad)
def cuda_max_pool_grad_grad(op, node, ctx):
    if not {v.type.dtype for v in node.inputs} <= set(_FLOATS):
        return None
    slot = ctx.slot()
    dt = np.dtype(node.outputs[0].type.dtype)
    args = _args(op)

    def build(module):
        kern = _maxpool_gradgrad_kernel(dt)

        def fn(x, mx, ggx):
            _check_max(op, x, mx, ggx, False)
            out = slot.get(tuple(mx.shape), dt)
            if out.size:
                x4 = as4d(x)
                o4 = runtime.reshape(out, _shape4(tuple(mx.shape)))
                blocks, t = runtime.grid(out.size)
                kern[blocks, t](x4, as4d(mx), as4d(ggx), o4, *args)
            return out
        return fn

    return CudaImpl(["device"] * 3, build, fresh_outputs=(0,), slots={0: slot})
