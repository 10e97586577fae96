"""CUDA implementation of ``Subtensor`` (basic indexing): a view of the device array.

``shared_dataset[i * bs:(i + 1) * bs]`` (a givens slice with symbolic bounds) is a view
of the dataset already on the device: no copy. Integer entries become length-1 slices
whose axis is then dropped, ``None`` entries new length-1 axes (both metadata only). The
index values are host scalars; bounds are checked as on the py backend. A slice with a
negative step (``x[::-1]``: ``go_backwards`` and the backward loop of a scan's gradient)
is the one case that copies: Numba's device arrays take no negative strides, so the result
is the ascending view of the same elements read backwards into a new buffer
(``runtime.copy_into`` with ``flips``). A symbolic step is read at run time like the
bounds.

``IncSubtensor`` (``set_subtensor``/``inc_subtensor``, and the gradient of a slice) copies
``x`` into a new buffer and writes/adds ``y`` into the view of it (never into ``x``); for
a negative step, ``y`` is written reversed into the ascending view.
"""
from __future__ import annotations

import numpy as np

from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import RUN_ON_HOST, CudaImpl, cuda_impl
from symgraph.tensor.subtensor import IncSubtensor, Subtensor

_SYM = "?"


def _supported(idx_list) -> bool:
    return all(e[0] in ("int", "none", "slice") for e in idx_list)


def _ascending(op, ax, n, s):
    """``(start, stop, step, flipped)``: the slice ``s`` of an axis of length ``n`` as an
    ascending slice over the same elements, and whether they are to be read backwards."""
    if s.step == 0:
        raise ValueError(f"{op}: slice step cannot be zero (axis {ax})")
    start, stop, step = s.indices(n)
    if step > 0:
        return start, max(start, stop), step, False
    count = len(range(start, stop, step))
    if count == 0:
        return 0, 0, 1, False
    return start + (count - 1) * step, start + 1, -step, True


def subtensor(op, x, vals):
    """``x[index]``: the device view, or for a negative step a reversed copy of it."""
    v, flips = subtensor_parts(op, x, vals)
    if not any(flips):
        return v
    return runtime.copy_into(v, runtime.device_empty(v.shape, v.dtype), flips)


def subtensor_parts(op, x, vals):
    """``(view, flips)``: the ascending device view of the elements ``x[index]`` selects
    and, per axis of it, whether ``x[index]`` reads that axis backwards."""
    it = iter(vals)

    def val(v):
        return int(next(it)) if v == _SYM else v

    shape = x.shape
    slices = []
    flipped = []  # per slice: read backwards
    post = []  # per output axis of the sliced array: 'keep', 'drop'; plus 'new' markers
    ax = 0
    trivial = True
    for e in op.idx_list:
        kind = e[0]
        if kind == "int":
            n = shape[ax]
            i = val(e[1])
            if not -n <= i < n:
                raise IndexError(f"{op}: index {i} is out of bounds for axis {ax} with size "
                                 f"{n} (input shape {tuple(shape)})")
            i = i + n if i < 0 else i
            slices.append(slice(i, i + 1, 1))
            flipped.append(False)
            post.append("drop")
            trivial = False
            ax += 1
        elif kind == "slice":
            n = shape[ax]
            start, stop, step, back = _ascending(op, ax, n, slice(val(e[1]), val(e[2]),
                                                                  val(e[3])))
            if (start, stop, step) != (0, n, 1):
                trivial = False
            slices.append(slice(start, stop, step))
            flipped.append(back)
            post.append("keep")
            ax += 1
        else:  # none
            post.append("new")
    for a in range(ax, len(shape)):
        slices.append(slice(0, shape[a], 1))
        flipped.append(False)
        post.append("keep")
    flips = []
    k = 0
    for p in post:
        if p != "drop":
            flips.append(p == "keep" and flipped[k])
        if p != "new":
            k += 1
    flips = tuple(flips)
    lengths = [len(range(s.start, s.stop, s.step)) for s in slices]
    out_shape = []
    k = 0
    for p in post:
        if p == "new":
            out_shape.append(1)
        else:
            if p == "keep":
                out_shape.append(lengths[k])
            k += 1
    if 0 in lengths:
        return runtime.device_empty(out_shape, x.dtype), (False,) * len(out_shape)
    v = x if trivial else x[tuple(slices)]
    if "drop" not in post and "new" not in post:
        return v, flips
    item = x.dtype.itemsize
    new_shape, new_strides = [], []
    k = 0
    for p in post:
        if p == "new":
            new_shape.append(1)
            new_strides.append(item)
        else:
            if p == "keep":
                new_shape.append(v.shape[k])
                new_strides.append(v.strides[k])
            k += 1
    return runtime.restride(v, new_shape, new_strides), flips


@cuda_impl.register(Subtensor)
def cuda_subtensor(op, node, ctx):
    if ctx.loc(node.inputs[0]) != "device":
        return RUN_ON_HOST
    if not _supported(op.idx_list):
        return None

    def build(module):
        def fn(x, *vals):
            return subtensor(op, x, vals)
        return fn

    return CudaImpl(["device"] + ["host"] * (len(node.inputs) - 1), build)


@cuda_impl.register(IncSubtensor)
def cuda_inc_subtensor(op, node, ctx):
    if not _supported(op.idx_list) or node.outputs[0].type.dtype.startswith("complex"):
        return None
    dt = np.dtype(node.outputs[0].type.dtype)
    slot = ctx.slot()
    ybc = node.inputs[1].type.broadcastable
    write = runtime.copy_into if op.set_instead_of_inc else runtime.add_into

    def build(module):
        def fn(x, y, *vals):
            out = slot.get(tuple(x.shape), dt)
            runtime.copy_into(x, out)
            sub, flips = subtensor_parts(op, out, vals)
            for d, b in enumerate(ybc):
                if (not b and y.shape[d] != sub.shape[d]) or (b and y.shape[d] != 1):
                    raise ValueError(f"{op}: the value has shape {tuple(y.shape)} but the "
                                     f"indexed subtensor has shape {tuple(sub.shape)}")
            if sub.size:
                write(y, sub, flips)
            return out
        return fn

    return CudaImpl(["device", "device"] + ["host"] * (len(node.inputs) - 2), build,
                    fresh_outputs=(0,), slots={0: slot})
