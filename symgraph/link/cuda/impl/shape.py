"""CUDA implementations of the shape family: views and metadata, no data moved.

- ``Shape``/``Shape_i``/``AxesSize`` of a device array are computed on the host from its
  shape (their outputs are host values: no transfer);
- ``Reshape`` is a view of a contiguous array (a gather copy otherwise);
- ``Rebroadcast``/``SpecifyShape`` check the shape and return the input;
- ``Alloc`` fills a new buffer (broadcasting the value);
- ``MakeVector`` builds its small int vector on the host;
- ``Join`` copies each input into its slice of a new buffer; ``Split`` makes views.

On host inputs (e.g. the shape of a graph input) they run their numpy ``perform``.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import RUN_ON_HOST, CudaImpl, cuda_impl
from symgraph.link.cuda.impl._common import host_scalar_converter
from symgraph.tensor.math import AxesSize
from symgraph.tensor.shape_ops import (
    Alloc,
    Join,
    MakeVector,
    Rebroadcast,
    Reshape,
    Shape,
    Shape_i,
    SpecifyShape,
    Split,
    resolve_reshape,
)


def _on_host(ctx, node):
    return ctx.loc(node.inputs[0]) != "device"


@cuda_impl.register(Shape)
def cuda_shape(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST

    def build(module):
        def fn(x):
            return np.array(x.shape, dtype=np.int64)
        return fn

    return CudaImpl(["device"], build, output_locs=["host"])


@cuda_impl.register(Shape_i)
def cuda_shape_i(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST
    i = op.i

    def build(module):
        def fn(x):
            return np.int64(x.shape[i])
        return fn

    return CudaImpl(["device"], build, output_locs=["host"])


@cuda_impl.register(AxesSize)
def cuda_axes_size(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST
    axes = op.axes

    def build(module):
        def fn(x):
            n = 1
            for a in axes:
                n *= x.shape[a]
            return np.int64(n)
        return fn

    return CudaImpl(["device"], build, output_locs=["host"])


@cuda_impl.register(MakeVector)
def cuda_make_vector(op, node, ctx):
    return RUN_ON_HOST


@cuda_impl.register(Reshape)
def cuda_reshape(op, node, ctx):
    if _on_host(ctx, node) and node.inputs[0].type.ndim == 0:
        return RUN_ON_HOST
    x_var, shp_var = node.inputs
    static = None
    if isinstance(shp_var, Constant):
        static = tuple(int(s) for s in np.asarray(shp_var.data).reshape(-1))

    def build(module):
        reshape = runtime.reshape
        if static is not None and -1 not in static:
            def fn(x, shp):
                if x.shape != static:
                    if x.size != _size(static):
                        resolve_reshape(op, x.size, x.shape, static)
                    return reshape(x, static)
                return x
        else:
            def fn(x, shp):
                return reshape(x, resolve_reshape(op, x.size, x.shape, shp))
        return fn

    return CudaImpl(["device", "host"], build)


def _size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


@cuda_impl.register(Rebroadcast)
def cuda_rebroadcast(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST
    axes = [a for a, b in op.axis if b]

    def build(module):
        def fn(x):
            for a in axes:
                if x.shape[a] != 1:
                    raise ValueError(f"{op}: dimension {a} is marked broadcastable and must "
                                     f"have length 1, but the input has shape {x.shape}")
            return x
        return fn

    return CudaImpl(["device"], build)


@cuda_impl.register(SpecifyShape)
def cuda_specify_shape(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST

    def build(module):
        def fn(x, *shape):
            want = tuple(int(s) for s in shape)
            if tuple(x.shape) != want:
                raise ValueError(f"{op}: expected input shape {want}, got {tuple(x.shape)}")
            return x
        return fn

    return CudaImpl(["device"] + ["host"] * (len(node.inputs) - 1), build)


@cuda_impl.register(Alloc)
def cuda_alloc(op, node, ctx):
    value = node.inputs[0]
    out_dt = np.dtype(node.outputs[0].type.dtype)
    nd = node.outputs[0].type.ndim
    vb = value.type.broadcastable
    vnd = value.type.ndim
    slot = ctx.slot()
    single = (isinstance(value, Constant) and np.asarray(value.data).size == 1) or (
        all(vb) and ctx.loc(value) != "device")
    n_shape = len(node.inputs) - 1

    def check(v_shape, shp):
        if any(s < 0 for s in shp):
            raise ValueError(f"{op}: negative dimension in the requested shape {shp}")
        off = len(shp) - vnd
        for j in range(vnd):
            if not vb[j] and v_shape[j] != shp[off + j]:
                raise ValueError(f"{op}: value of shape {tuple(v_shape)} cannot be broadcast "
                                 f"to the shape {shp}")

    if single:
        conv = host_scalar_converter(out_dt)
        const = conv(np.asarray(value.data)) if isinstance(value, Constant) else None

        def build(module):
            def fn(v, *shape):
                shp = tuple(int(s) for s in shape)
                check((1,) * vnd, shp)
                out = slot.get(shp, out_dt)
                runtime.fill(out, const if const is not None else conv(v))
                return out
            return fn

        loc0 = "const" if isinstance(value, Constant) else "host"
        return CudaImpl([loc0] + ["host"] * n_shape, build, fresh_outputs=(0,),
                        slots={0: slot})

    def build(module):
        def fn(v, *shape):
            shp = tuple(int(s) for s in shape)
            check(v.shape, shp)
            vv = runtime.restride(v, (1,) * (nd - vnd) + tuple(v.shape),
                                  (out_dt.itemsize,) * (nd - vnd) + tuple(v.strides))
            out = slot.get(shp, out_dt)
            runtime.copy_into(vv, out)
            return out
        return fn

    return CudaImpl(["device"] + ["host"] * n_shape, build, fresh_outputs=(0,),
                    slots={0: slot})


@cuda_impl.register(Join)
def cuda_join(op, node, ctx):
    if node.outputs[0].type.dtype.startswith("complex"):
        return None
    ax = op.axis
    dt = np.dtype(node.outputs[0].type.dtype)
    slot = ctx.slot()

    def build(module):
        def fn(*xs):
            ref = tuple(xs[0].shape)
            for x in xs[1:]:
                s = tuple(x.shape)
                if len(s) != len(ref) or any(a != b for d, (a, b) in enumerate(zip(s, ref))
                                             if d != ax):
                    raise ValueError(f"{op}: all input dimensions except axis {ax} must "
                                     f"match; input shapes are "
                                     f"{', '.join(str(tuple(v.shape)) for v in xs)}")
            total = sum(x.shape[ax] for x in xs)
            out = slot.get(ref[:ax] + (total,) + ref[ax + 1:], dt)
            start = 0
            for x in xs:
                n = x.shape[ax]
                if n and x.size:
                    idx = (slice(None),) * ax + (slice(start, start + n, 1),)
                    runtime.copy_into(x, out[idx])
                start += n
            return out
        return fn

    return CudaImpl(["device"] * len(node.inputs), build, fresh_outputs=(0,), slots={0: slot})


@cuda_impl.register(Split)
def cuda_split(op, node, ctx):
    if _on_host(ctx, node):
        return RUN_ON_HOST
    ax, n = op.axis, op.n_splits

    def build(module):
        def fn(x, splits):
            sizes = [int(v) for v in np.asarray(splits).reshape(-1)]
            if len(sizes) != n or any(v < 0 for v in sizes) or sum(sizes) != x.shape[ax]:
                raise ValueError(f"{op}: split sizes {tuple(sizes)} must be {n} values >= 0 "
                                 f"summing to {x.shape[ax]} (input shape {tuple(x.shape)})")
            outs = []
            start = 0
            for v in sizes:
                shape = tuple(x.shape[:ax]) + (v,) + tuple(x.shape[ax + 1:])
                if v == 0 or 0 in shape:
                    outs.append(runtime.device_empty(shape, x.dtype))
                else:
                    outs.append(x[(slice(None),) * ax + (slice(start, start + v, 1),)])
                start += v
            return outs[0] if n == 1 else tuple(outs)
        return fn

    return CudaImpl(["device", "host"], build)
