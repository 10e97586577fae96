"""Indexing rewrites: a tensor assembled slice by slice into zeros becomes one ``Join``.

The gradient of ``z[:, 0:n]``, ``z[:, n:2n]``, ... (the gates of an LSTM or GRU sliced out
of one pre-activation matrix) is a chain of ``inc_subtensor`` calls into zeros::

    g = zeros_like(z)
    g = inc_subtensor(g[:, 0:n], g_i)
    g = inc_subtensor(g[:, n:2n], g_f)
    ...

Run as written, that fills the whole matrix with zeros and then reads, adds and writes
each block again: in a recurrent network's backward loop, at every step. When the slices
tile the axis (constant, consecutive, from 0 to the end) the result is simply the blocks
side by side, ``join(axis, g_i, g_f, ...)``: one write of every element.

Same results and same errors: ``IncSubtensor`` accepts a value only of the block's exact
shape (only broadcastable dimensions stretch), so every value is wrapped in a
``SpecifyShape`` with the block's shape, computed from the zeros' shape at run time (a
block past the end of a short axis is clipped, as numpy's slicing does). A value that
would have stretched (a broadcastable dimension where the zeros have none) leaves the
chain as it is.
"""
from __future__ import annotations

import symgraph.tensor as T
from symgraph.rewriting.engine import clients_of, is_output, node_rewriter
from symgraph.rewriting.utils import is_const, is_elemwise
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.array_ops import Alloc, Join
from symgraph.tensor.shape_ops import SpecifyShape, shape_i
from symgraph.tensor.stable_forms import fit
from symgraph.tensor.subtensor import IncSubtensor

_FULL = ("slice", None, None, None)


def _block(idx_list, ndim):
    """``(axis, start, stop)`` when ``idx_list`` slices one axis with constant bounds
    (``start`` >= 0, ``stop`` >= 0 or None, step 1) and takes every other axis whole."""
    entries = list(idx_list) + [_FULL] * (ndim - len(idx_list))
    if len(entries) != ndim:
        return None
    found = None
    for d, e in enumerate(entries):
        if tuple(e) == _FULL:
            continue
        if e[0] != "slice" or found is not None:
            return None
        _, start, stop, step = e
        if step not in (None, 1) or "?" in (start, stop):
            return None
        start = 0 if start is None else start
        if start < 0 or (stop is not None and stop < 0):
            return None
        found = (d, start, stop)
    return found


def _zeros_shape(x):
    """The shape entries of ``x`` when it is all zeros (``zeros_like(a)`` or
    ``alloc(0, *shape)``), read from what ``x`` was made from; else None."""
    owner = x.owner
    if owner is None:
        return None
    if is_elemwise(x, ts.Second) and is_const(owner.inputs[1], 0):
        a = owner.inputs[0]
        if a.type.ndim != x.type.ndim:
            return None
        return [shape_i(a, d) for d in range(a.type.ndim)]
    if isinstance(owner.op, Alloc) and is_const(owner.inputs[0], 0):
        return list(owner.inputs[1:])
    return None


@node_rewriter("specialize", tracks=[IncSubtensor], tags=["fast_run", "shape"])
def local_inc_slices_of_zeros_to_join(fgraph, node):
    """``inc_subtensor`` (or ``set_subtensor``) of blocks tiling one axis of zeros ->
    ``join`` of the blocks (see the module docstring)."""
    x = node.outputs[0]
    ndim = x.type.ndim
    blocks = []
    cur = node
    while True:
        if not isinstance(cur.op, IncSubtensor) or len(cur.inputs) != 2:
            return None
        block = _block(cur.op.idx_list, ndim)
        if block is None:
            return None
        y = cur.inputs[1]
        if any(b and not xb for b, xb in zip(y.type.broadcastable, x.type.broadcastable)):
            return None  # a value that stretches
        blocks.append((block, y))
        below = cur.inputs[0]
        if below.owner is not None and isinstance(below.owner.op, IncSubtensor):
            if len(clients_of(fgraph, below)) != 1 or is_output(fgraph, below):
                return None
            cur = below.owner
            continue
        dims = _zeros_shape(below)
        if dims is None:
            return None
        break
    if len(blocks) < 2:
        return None
    axis = blocks[0][0][0]
    if any(b[0] != axis for b, _ in blocks):
        return None
    blocks.sort(key=lambda b: b[0][1])
    edge = 0
    for k, ((_, start, stop), _) in enumerate(blocks):
        last = k == len(blocks) - 1
        if start != edge or (stop is None) != last or (not last and stop <= start):
            return None
        edge = stop
    n = dims[axis]
    pieces = []
    for (_, start, stop), y in blocks:
        end = n if stop is None else T.minimum(stop, n)
        width = end if start == 0 else end - T.minimum(start, n)
        shape = [width if d == axis else dims[d] for d in range(ndim)]
        pieces.append(SpecifyShape()(y, *shape))
    new = fit(x, Join(axis)(*pieces))
    return None if new is None else [new]
