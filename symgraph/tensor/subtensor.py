"""Indexing: ``x[...]``, ``set_subtensor``, ``inc_subtensor`` and ``take`` (Theano's names).

Four ops share one index description, ``idx_list``: a tuple with one entry per index
position (after ``Ellipsis`` is expanded), each a small tuple:

- ``("int", k)``: an integer index; ``k`` is a Python int, or ``"?"`` for the next
  symbolic integer scalar input;
- ``("slice", start, stop, step)``: each bound is None, a Python int or ``"?"``;
- ``("none",)``: ``np.newaxis`` (inserts a length-1 broadcastable axis);
- ``("array",)``: an integer index array input (advanced indexing);
- ``("bool",)``: a boolean mask input (advanced indexing; consumes ``mask.ndim`` axes).

``Subtensor`` (basic indexing: ints, slices, newaxis) returns a *view* of its input;
``AdvancedSubtensor`` (any index array or mask, numpy's rules) returns a new array.
``IncSubtensor``/``AdvancedIncSubtensor`` return a copy of ``x`` with the indexed part
set or incremented (``inplace=True``, set by the optimizer, writes into ``x`` instead);
repeated advanced indices accumulate like ``np.add.at``.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x'); i = T.lscalar('i')
    >>> rows = x[i * 10:(i + 1) * 10]          # a view, symbolic bounds
    >>> y = T.set_subtensor(x[:, 0], 0.0)      # x with its first column zeroed
    >>> p = T.matrix('p'); t = T.lvector('t')
    >>> picked = p[T.arange(t.shape[0]), t]    # p[k, t[k]] for every k
"""
from __future__ import annotations

import numbers

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, unbroadcast_grad
from symgraph.tensor.subtensor_index import (  # noqa: F401  (adv_layout, slice_length: used by backends)
    _FULL,
    _SYM,
    _adv_out_bcast,
    _basic_out_bcast,
    _bcast_dims,
    _check_idx_inputs,
    _check_ints,
    _entry_bounds,
    _expanded,
    _idx_str,
    _is_int_scalar_type,
    _np_index,
    adv_layout,
    slice_length,
)
from symgraph.tensor.type import INT_DTYPES, TensorType

__all__ = ["set_subtensor", "inc_subtensor", "take", "nonzero", "flatnonzero",
           "nonzero_values", "advanced_subtensor1", "advanced_inc_subtensor1",
           "advanced_set_subtensor1"]

_GRAD_DTYPES = ("float32", "float64", "complex64", "complex128")


# ----------------------------------------------------------------- ops

class _IndexOp(Op):
    """Shared pieces of the four indexing ops."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = tuple(tuple(e) for e in idx_list)

    def __str__(self):
        return f"{type(self).__name__}{{{_idx_str(self.idx_list)}}}"


class _IncMixin:
    def _init_inc(self, inplace, set_instead_of_inc):
        self.inplace = bool(inplace)
        self.set_instead_of_inc = bool(set_instead_of_inc)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def __str__(self):
        what = ("Inplace" if self.inplace else "") + ("Set" if self.set_instead_of_inc else "Inc")
        return f"{type(self).__name__}{{{what}; {_idx_str(self.idx_list)}}}"

    def _prepare_y(self, x, y, sub_bcast):
        """y converted to x's dtype and padded on the left to the subtensor's ndim."""
        from symgraph.tensor import math as tm
        from symgraph.tensor.basic import as_tensor_args

        if isinstance(y, (bool, int, float, complex)) and not isinstance(y, np.generic):
            y = as_tensor_args(x, y)[1]       # a Python scalar takes x's dtype (weak typing)
        else:
            y = as_tensor_variable(y)
        if y.type.ndim > len(sub_bcast):
            raise TypeError(f"{self}: cannot {'set' if self.set_instead_of_inc else 'increment'} "
                            f"a {len(sub_bcast)}-d subtensor with a {y.type.ndim}-d value "
                            f"({y.type})")
        if y.type.dtype != x.type.dtype:
            if not np.can_cast(y.type.dtype, x.type.dtype, "same_kind"):
                raise TypeError(f"{self}: cannot write a value of dtype {y.type.dtype} into a "
                                f"tensor of dtype {x.type.dtype} (cast it first)")
            y = tm.cast(y, x.type.dtype)
        if x.type.dtype == "bool" and not self.set_instead_of_inc:
            raise TypeError(f"{self}: cannot increment a bool tensor; use set_subtensor")
        k = len(sub_bcast) - y.type.ndim
        if k:
            y = DimShuffle(y.type.broadcastable, ["x"] * k + list(range(y.type.ndim)))(y)
        return y

    @staticmethod
    def check_y_shape(op, node, sub_shape, y):
        ybc = node.inputs[1].type.broadcastable
        ys = np.shape(y)
        for d, b in enumerate(ybc):
            if not b and ys[d] != sub_shape[d]:
                raise ValueError(
                    f"{op}: the value has shape {ys} but the indexed subtensor has shape "
                    f"{tuple(sub_shape)} (mismatch along axis {d}; only broadcastable "
                    f"dimensions of the value stretch)")


class Subtensor(_IndexOp):
    """Basic indexing (ints, slices with constant or symbolic bounds, newaxis): a view.

    Inputs: ``x`` then the symbolic integer scalars named ``"?"`` in ``idx_list``.
    """

    view_map = {0: [0]}

    def make_node(self, x, *inputs):
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        if any(e[0] in ("array", "bool") for e in self.idx_list):
            raise TypeError(f"{self}: index arrays need AdvancedSubtensor")
        _check_idx_inputs(self, x, self.idx_list, inputs)
        bc = _basic_out_bcast(self.idx_list, x.type)
        return Apply(self, [x] + inputs, [TensorType(x.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        x = np.asarray(inputs[0])
        index = _np_index(self.idx_list, inputs[1:])
        _check_ints(self, self.idx_list, index, x.shape)
        # the trailing Ellipsis makes a full integer index return a 0-d view, not a scalar
        return [x[index + (Ellipsis,)]]

    def infer_shape(self, fgraph, node, input_shapes):
        xs = input_shapes[0]
        out = []
        ax = 0
        for e, ins in _expanded(self.idx_list, len(xs), node.inputs[1:]):
            if e[0] == "int":
                ax += 1
            elif e[0] == "none":
                out.append(1)
            else:
                if e == _FULL:
                    out.append(xs[ax])
                else:
                    out.append(slice_length(xs[ax], *_entry_bounds(e, ins)))
                ax += 1
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.tensor import math as tm

        x, idx = inputs[0], inputs[1:]
        (gz,) = output_grads
        rest = [None] * len(idx)
        if x.type.dtype not in _GRAD_DTYPES:
            return [None] + rest
        gx = IncSubtensor(self.idx_list)(tm.zeros_like(x), gz, *idx)
        return [gx] + rest


class IncSubtensor(_IncMixin, _IndexOp):
    """``x`` with ``x[idx]`` set to (``set_instead_of_inc``) or incremented by ``y``.

    Inputs: ``x``, ``y`` (left-padded to the subtensor's ndim, x's dtype), index scalars.
    """

    __props__ = ("idx_list", "inplace", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False):
        super().__init__(idx_list)
        self._init_inc(inplace, set_instead_of_inc)

    def make_node(self, x, y, *inputs):
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        if any(e[0] in ("array", "bool") for e in self.idx_list):
            raise TypeError(f"{self}: index arrays need AdvancedIncSubtensor")
        _check_idx_inputs(self, x, self.idx_list, inputs)
        y = self._prepare_y(x, y, _basic_out_bcast(self.idx_list, x.type))
        return Apply(self, [x, y] + inputs, [x.type.make_variable()])

    def perform(self, node, inputs):
        x, y = inputs[0], inputs[1]
        out = x if self.inplace else np.array(x, copy=True)
        index = _np_index(self.idx_list, inputs[2:])
        _check_ints(self, self.idx_list, index, out.shape)
        sub = out[index + (Ellipsis,)]
        self.check_y_shape(self, node, sub.shape, y)
        if self.set_instead_of_inc:
            sub[...] = y
        else:
            sub += y
        return [out]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        (gz,) = output_grads
        rest = [None] * len(idx)
        if x.type.dtype not in _GRAD_DTYPES:
            return [None, None] + rest
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, constant(0, dtype=gz.type.dtype), *idx)
        else:
            gx = gz
        gy = unbroadcast_grad(Subtensor(self.idx_list)(gz, *idx), y)
        return [gx, gy] + rest


class AdvancedSubtensor(_IndexOp):
    """Indexing with integer arrays and/or boolean masks (numpy's rules), mixed with ints,
    slices and newaxis. Returns a new array.

    Inputs: ``x``, then for each entry in order: its symbolic scalars (``"?"``), or the
    index array / mask.
    """

    def make_node(self, x, *inputs):
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        if not any(e[0] in ("array", "bool") for e in self.idx_list):
            raise TypeError(f"{self}: no index array; use Subtensor")
        _check_idx_inputs(self, x, self.idx_list, inputs)
        bc = _adv_out_bcast(self.idx_list, x.type, inputs)
        return Apply(self, [x] + inputs, [TensorType(x.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        x = np.asarray(inputs[0])
        index = _np_index(self.idx_list, inputs[1:])
        _check_ints(self, self.idx_list, index, x.shape)
        try:
            r = x[index]
        except IndexError as e:
            raise IndexError(f"{self}: {e} (input shape {x.shape}, index shapes "
                             f"{[np.shape(v) for v in inputs[1:]]})") from None
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor import math as tm

        xs = input_shapes[0]
        ex, adv_first = adv_layout(self.idx_list, len(xs), node.inputs[1:])
        shp_of = dict(zip(node.inputs[1:], input_shapes[1:]))
        adv_shapes, before, after = [], [], []
        seen = False
        ax = 0
        for e, ins in ex:
            kind = e[0]
            if kind == "int":
                adv_shapes.append(())
                ax += 1
                seen = True
                continue
            if kind == "array":
                adv_shapes.append(tuple(shp_of[ins[0]]))
                ax += 1
                seen = True
                continue
            if kind == "bool":
                adv_shapes.append((tm.sum(tm.cast(ins[0], "int64")),))
                ax += ins[0].type.ndim
                seen = True
                continue
            if kind == "none":
                d = 1
            else:
                d = xs[ax] if e == _FULL else slice_length(xs[ax], *_entry_bounds(e, ins))
                ax += 1
            (after if (seen and not adv_first) else before).append(d)
        adv = _bcast_dims(adv_shapes)
        if adv_first:
            return [tuple(adv + before)]
        return [tuple(before + adv + after)]

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.tensor import math as tm

        x, idx = inputs[0], inputs[1:]
        (gz,) = output_grads
        rest = [None] * len(idx)
        if x.type.dtype not in _GRAD_DTYPES:
            return [None] + rest
        gx = AdvancedIncSubtensor(self.idx_list)(tm.zeros_like(x), gz, *idx)
        return [gx] + rest


class AdvancedIncSubtensor(_IncMixin, _IndexOp):
    """``x`` with ``x[idx]`` (advanced) set to or incremented by ``y``; increments at
    repeated indices accumulate (``np.add.at``), sets at repeated indices keep the last."""

    __props__ = ("idx_list", "inplace", "set_instead_of_inc")

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False):
        super().__init__(idx_list)
        self._init_inc(inplace, set_instead_of_inc)

    def make_node(self, x, y, *inputs):
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        if not any(e[0] in ("array", "bool") for e in self.idx_list):
            raise TypeError(f"{self}: no index array; use IncSubtensor")
        _check_idx_inputs(self, x, self.idx_list, inputs)
        y = self._prepare_y(x, y, _adv_out_bcast(self.idx_list, x.type, inputs))
        return Apply(self, [x, y] + inputs, [x.type.make_variable()])

    def perform(self, node, inputs):
        x, y = inputs[0], inputs[1]
        out = x if self.inplace else np.array(x, copy=True)
        index = _np_index(self.idx_list, inputs[2:])
        _check_ints(self, self.idx_list, index, out.shape)
        try:
            sub_shape = np.empty(out.shape, dtype=np.bool_)[index].shape
        except IndexError as e:
            raise IndexError(f"{self}: {e} (input shape {out.shape}, index shapes "
                             f"{[np.shape(v) for v in inputs[2:]]})") from None
        self.check_y_shape(self, node, sub_shape, y)
        if self.set_instead_of_inc:
            out[index] = y
        else:
            np.add.at(out, index, y)
        return [out]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        x, y, idx = inputs[0], inputs[1], inputs[2:]
        (gz,) = output_grads
        rest = [None] * len(idx)
        if x.type.dtype not in _GRAD_DTYPES:
            return [None, None] + rest
        if self.set_instead_of_inc:
            gx = AdvancedIncSubtensor(self.idx_list, set_instead_of_inc=True)(
                gz, constant(0, dtype=gz.type.dtype), *idx)
        else:
            gx = gz
        gy = unbroadcast_grad(AdvancedSubtensor(self.idx_list)(gz, *idx), y)
        return [gx, gy] + rest


# ----------------------------------------------------------------- user entry points

def _scalar_part(v, what):
    """A slice bound or integer index: (entry value, [symbolic input])."""
    if v is None:
        return None, []
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"indexing: {what} must be an integer, got the bool {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v), []
    if not isinstance(v, Variable):
        v = as_tensor_variable(v)
    if not _is_int_scalar_type(v.type):
        raise TypeError(f"indexing: {what} must be an integer scalar, got {v} of type {v.type}")
    if isinstance(v, Constant):
        return int(v.data), []
    return _SYM, [v]


def _parse_index(x, idx):
    """Turn a Python index into (idx_list, inputs, is_advanced)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    norm = []
    for k in idx:
        if k is None or k is Ellipsis or isinstance(k, slice):
            norm.append(k)
        elif isinstance(k, (bool, np.bool_)):
            raise TypeError("indexing with a Python bool is not supported; use a boolean mask "
                            "tensor (x[x > 0]) or an integer")
        elif isinstance(k, numbers.Integral):
            norm.append(int(k))
        else:
            k = as_tensor_variable(k)
            if isinstance(k, Constant) and k.data.size == 0 and k.type.dtype not in INT_DTYPES:
                k = constant(np.zeros(k.data.shape, dtype="int64"))   # x[[]]: numpy's rule
            norm.append(k)
    if sum(1 for k in norm if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")

    def n_axes(k):
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, Variable) and k.type.dtype == "bool":
            return k.type.ndim
        return 1

    used = sum(n_axes(k) for k in norm)
    if used > x.type.ndim:
        raise IndexError(f"too many indices for a {x.type.ndim}-d tensor ({x.type}): the index "
                         f"{idx!r} uses {used} axes")
    if Ellipsis in [k for k in norm if not isinstance(k, Variable)]:
        pos = [i for i, k in enumerate(norm) if k is Ellipsis][0]
        norm = norm[:pos] + [slice(None)] * (x.type.ndim - used) + norm[pos + 1:]
    entries, inputs = [], []
    advanced = False
    for k in norm:
        if k is None:
            entries.append(("none",))
        elif isinstance(k, slice):
            parts = [_scalar_part(v, f"slice {n}") for v, n in
                     zip((k.start, k.stop, k.step), ("start", "stop", "step"))]
            if parts[2][0] == 0:
                raise ValueError("slice step cannot be zero")
            entries.append(("slice",) + tuple(p[0] for p in parts))
            for p in parts:
                inputs.extend(p[1])
        elif isinstance(k, int):
            entries.append(("int", k))
        else:
            t = k.type
            if not isinstance(t, TensorType):
                raise TypeError(f"indexing: cannot index with {k} of type {t}")
            if t.ndim == 0:
                if t.dtype == "bool":
                    raise TypeError("indexing with a 0-d boolean tensor is not supported")
                v, ins = _scalar_part(k, "an index")
                entries.append(("int", v))
                inputs.extend(ins)
            elif t.dtype == "bool":
                entries.append(("bool",))
                inputs.append(k)
                advanced = True
            elif t.dtype in INT_DTYPES:
                entries.append(("array",))
                inputs.append(k)
                advanced = True
            else:
                raise TypeError(f"indexing: index arrays must be integers or booleans, got {k} "
                                f"of dtype {t.dtype}")
    while entries and entries[-1] == _FULL:
        entries.pop()
    return tuple(entries), inputs, advanced


def getitem(x, idx):
    """``x[idx]`` with Theano/numpy semantics (called by ``TensorVariable.__getitem__``).

    Basic indices (ints, slices, newaxis, Ellipsis) give a ``Subtensor`` view; integer
    arrays or boolean masks give an ``AdvancedSubtensor`` copy.
    """
    x = as_tensor_variable(x)
    if isinstance(idx, list) and any(isinstance(i, slice) for i in idx):
        idx = tuple(idx)  # Theano and old numpy: a list holding a slice is a tuple index
    idx_list, inputs, advanced = _parse_index(x, idx)
    op = AdvancedSubtensor(idx_list) if advanced else Subtensor(idx_list)
    return op(x, *inputs)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False):
    """Return the whole tensor indexed by ``x`` with ``x`` incremented by ``y``.

    ``x`` must be an indexing expression (``a[idx]``); ``y`` broadcasts to it by its
    broadcastable pattern. Repeated advanced indices accumulate. Like numpy's
    ``a[idx] += y`` but functional: ``a`` is not modified.

    Example::

        >>> r = T.ivector('r')
        >>> new_r = T.inc_subtensor(r[10:], 5)       # r with 5 added from index 10 on
    """
    node = getattr(x, "owner", None)
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError(
            f"{'set' if set_instead_of_inc else 'inc'}_subtensor: the first argument must be "
            f"an indexing expression such as x[2:5] or x[idx], got {x!r}"
            + (f" (computed by {node.op})" if node is not None else ""))
    cls = AdvancedIncSubtensor if isinstance(node.op, AdvancedSubtensor) else IncSubtensor
    op = cls(node.op.idx_list, inplace=inplace, set_instead_of_inc=set_instead_of_inc)
    return op(node.inputs[0], y, *node.inputs[1:])


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """Return the whole tensor indexed by ``x`` with ``x`` replaced by ``y``.

    Example::

        >>> r = T.ivector('r')
        >>> new_r = T.set_subtensor(r[10:], 5)       # numpy: r[10:] = 5 on a copy
    """
    return inc_subtensor(x, y, inplace, set_instead_of_inc=True,
                         tolerate_inplace_aliasing=tolerate_inplace_aliasing)


def take(a, indices, axis=None, mode="raise"):
    """Elements of ``a`` at ``indices`` along ``axis`` (numpy's ``take``).

    ``axis=None`` indexes the flattened tensor. ``mode``: 'raise' (out-of-range indices
    are errors), 'wrap' (modulo the length) or 'clip' (clamped to the valid range).

    Example::

        >>> W = T.matrix('W'); words = T.lvector('words')
        >>> emb = T.take(W, words, axis=0)            # W[words]
    """
    from symgraph.tensor import math as tm

    a = as_tensor_variable(a)
    indices = as_tensor_variable(indices)
    if indices.type.dtype not in INT_DTYPES:
        raise TypeError(f"take: indices must be integers, got {indices} of dtype "
                        f"{indices.type.dtype}")
    if axis is None:
        if a.type.ndim != 1:
            a = a.flatten()
        axis = 0
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"take: axis must be an int or None, got {axis!r}")
    nd = a.type.ndim
    if not -nd <= axis < max(nd, 1) or nd == 0:
        raise ValueError(f"take: axis {axis} is out of range for a {nd}-d tensor ({a.type})")
    axis = int(axis) % nd
    if mode in ("wrap", "clip"):
        n = a.shape[axis]
        if mode == "wrap":
            indices = tm.mod(indices, n)
        else:
            indices = tm.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return a[(slice(None),) * axis + (indices,)]


def advanced_subtensor1(x, ilist):
    """``x[ilist]`` for an integer vector ``ilist`` (Theano's name)."""
    return getitem(x, as_tensor_variable(ilist))


def advanced_inc_subtensor1(x, y, ilist):
    """``inc_subtensor(x[ilist], y)`` (Theano's name); repeated indices accumulate."""
    return inc_subtensor(advanced_subtensor1(x, ilist), y)


def advanced_set_subtensor1(x, y, ilist):
    """``set_subtensor(x[ilist], y)`` (Theano's name)."""
    return set_subtensor(advanced_subtensor1(x, ilist), y)


# ----------------------------------------------------------------- nonzero

class Nonzero(Op):
    """Indices of the non-zero elements of ``a`` as an int64 matrix ``(a.ndim, count)``."""

    __props__ = ()

    def make_node(self, a):
        a = as_tensor_variable(a)
        if a.type.ndim == 0:
            raise TypeError(f"{self}: the input must have ndim >= 1, got {a.type}")
        return Apply(self, [a], [TensorType("int64", (a.type.ndim == 1, False)).make_variable()])

    def perform(self, node, inputs):
        (a,) = inputs
        return [np.array(np.nonzero(a), dtype="int64").reshape(np.ndim(a), -1)]

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor import math as tm

        a = node.inputs[0]
        return [(a.type.ndim, tm.sum(tm.neq(a, 0), dtype="int64"))]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class FlatNonzero(Op):
    """Indices (int64 vector) of the non-zero elements of the flattened input."""

    __props__ = ()

    def make_node(self, a):
        a = as_tensor_variable(a)
        return Apply(self, [a], [TensorType("int64", (False,)).make_variable()])

    def perform(self, node, inputs):
        return [np.asarray(np.flatnonzero(inputs[0]), dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor import math as tm

        return [(tm.sum(tm.neq(node.inputs[0], 0), dtype="int64"),)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def nonzero(a, return_matrix=False):
    """Indices of the non-zero elements: a tuple of ``a.ndim`` int64 vectors (numpy's
    ``nonzero``), or the ``(a.ndim, count)`` matrix with ``return_matrix=True``.

    Example::

        >>> rows, cols = T.nonzero(T.matrix('m'))
    """
    m = Nonzero()(a)
    if return_matrix:
        return m
    return tuple(m[k] for k in range(as_tensor_variable(a).type.ndim))


def flatnonzero(a):
    """Indices of the non-zero elements of the flattened ``a`` (int64 vector).

    Example::

        >>> idx = T.flatnonzero(T.vector('v'))
    """
    return FlatNonzero()(a)


def nonzero_values(a):
    """The non-zero elements of ``a`` in C order (a vector); same as ``a[a != 0]``.

    Example::

        >>> vals = T.nonzero_values(T.matrix('m'))
    """
    from symgraph.tensor import math as tm

    a = as_tensor_variable(a)
    if a.type.ndim == 0:
        raise TypeError(f"nonzero_values: the input must have ndim >= 1, got {a.type}")
    return a[tm.neq(a, 0)]

