"""Theano's ``theano.tensor.extra_ops``: ``cumsum``, ``cumprod``, ``diff``, ``bincount``,
``to_one_hot``, ``fill_diagonal``, ``fill_diagonal_offset``, ``Unique``, ``searchsorted``,
``repeat``, ``squeeze``, ``compress``.

Three are ops of their own (``CumOp``, ``Unique``, ``SearchsortedOp``: their results are
not cheap compositions of other ops). The rest are built from indexing and arithmetic
exactly as Theano builds them, so they get gradients and every backend for free.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.dvector('x')
    >>> T.extra_ops.cumsum(x)     # also T.cumsum
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op, ShapeNotImplemented
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.shape_ops import flatten, repeat, squeeze  # noqa: F401 (re-exported)
from symgraph.tensor.type import DISCRETE_DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = ["CumOp", "cumsum", "cumprod", "diff", "bincount", "to_one_hot", "fill_diagonal",
           "fill_diagonal_offset", "Unique", "unique", "SearchsortedOp", "searchsorted",
           "repeat", "squeeze", "compress"]


def _T():
    import symgraph.tensor as T

    return T


def _int_axis(axis, nd, what):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int or None, got {type(axis).__name__} "
                        f"{axis!r}")
    a = int(axis)
    if not -nd <= a < nd:
        raise ValueError(f"{what}: axis {a} is out of range for a tensor with {nd} dimensions")
    return a % nd


# --------------------------------------------------------------------------- CumOp

class CumOp(Op):
    """Cumulative sum (``mode='add'``) or product (``mode='mul'``) along ``axis``; the
    output dtype follows numpy (small integers and bool accumulate in int64)."""

    __props__ = ("axis", "mode")

    def __init__(self, axis, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis = int(axis)
        self.mode = mode

    def __str__(self):
        return f"Cum{'sum' if self.mode == 'add' else 'prod'}{{axis={self.axis}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.type.ndim:
            raise ValueError(f"{self}: axis {self.axis} out of range for {x.type}")
        dt = str(np.cumsum(np.zeros(1, dtype=x.type.dtype)).dtype)
        return Apply(self, [x], [TensorType(dt, x.type.broadcastable).make_variable()])

    def perform(self, node, inputs):
        f = np.cumsum if self.mode == "add" else np.cumprod
        return [f(inputs[0], axis=self.axis).astype(node.outputs[0].type.dtype, copy=False)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        T = _T()
        (gz,) = output_grads
        ax = self.axis

        def rev_cumsum(v):
            return T.flip(CumOp(ax, "add")(T.flip(v, ax)), ax)

        if self.mode == "add":
            return [rev_cumsum(gz)]
        # Theano's formula: d/dx_i sum_j gz_j prod_{k<=j} x_k = sum_{j>=i} gz_j out_j / x_i
        # (undefined where x_i == 0, as in Theano)
        return [rev_cumsum(gz * outputs[0]) / x]


def _cum(x, axis, mode, what):
    x = as_tensor_variable(x)
    if axis is None:
        x = flatten(x, 1)
        axis = 0
    return CumOp(_int_axis(axis, x.type.ndim, what), mode)(x)


def cumsum(x, axis=None):
    """Cumulative sum along ``axis`` (None: of the flattened tensor), as numpy."""
    return _cum(x, axis, "add", "cumsum")


def cumprod(x, axis=None):
    """Cumulative product along ``axis`` (None: of the flattened tensor), as numpy."""
    return _cum(x, axis, "mul", "cumprod")


# ---------------------------------------------------------------- graph-built helpers

def diff(x, n=1, axis=-1):
    """``n``-th discrete difference along ``axis`` (``numpy.diff``)."""
    x = as_tensor_variable(x)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be an int >= 0, got {n!r}")
    ax = _int_axis(axis, x.type.ndim, "diff")
    for _ in range(int(n)):
        hi = tuple(slice(1, None) if d == ax else slice(None) for d in range(x.type.ndim))
        lo = tuple(slice(None, -1) if d == ax else slice(None) for d in range(x.type.ndim))
        x = x[hi] - x[lo]
    return x


def _check_int_vector(x, what, name="x"):
    x = as_tensor_variable(x)
    if x.type.ndim != 1:
        raise TypeError(f"{what}: {name} must be a vector (1-d), got {x.type}")
    if x.type.dtype not in INT_DTYPES:
        raise TypeError(f"{what}: {name} must hold integers, got dtype {x.type.dtype}")
    return x


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """Count (or sum ``weights`` of) each value of the int vector ``x``: the result has
    length ``max(x) + 1`` (at least ``minlength``); its dtype is ``x``'s (``weights``'
    with weights), as in Theano.

    Negative values raise ValueError at run time (Theano wrapped them around unless
    ``assert_nonneg``; numpy raises).
    """
    from symgraph.tensor.subtensor import advanced_inc_subtensor1

    T = _T()
    x = _check_int_vector(x, "bincount")
    checked = CheckNonneg()(x)
    length = T.cast(T.max(T.concatenate([checked, T.constant(np.array([-1], x.type.dtype))]))
                    + 1, "int64")
    if minlength is not None:
        length = T.maximum(length, T.cast(minlength, "int64"))
    if weights is None:
        out = T.zeros([length], dtype=x.type.dtype)
        return advanced_inc_subtensor1(out, T.ones_like(x), checked)
    weights = as_tensor_variable(weights)
    if weights.type.ndim != 1:
        raise TypeError(f"bincount: weights must be a vector, got {weights.type}")
    out = T.zeros([length], dtype=weights.type.dtype)
    return advanced_inc_subtensor1(out, weights, checked)


class CheckNonneg(Op):
    """Returns its integer input after checking that no element is negative."""

    view_map = {0: [0]}

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        if np.size(x) and np.min(x) < 0:
            raise ValueError(f"bincount: the input has negative values (minimum "
                             f"{np.min(x)}); bincount counts values >= 0")
        return [x]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def to_one_hot(y, nb_class, dtype=None):
    """One-hot matrix ``(len(y), nb_class)`` of the int vector ``y`` (dtype: floatX)."""
    from symgraph.config import config
    from symgraph.tensor.subtensor import set_subtensor

    T = _T()
    y = _check_int_vector(y, "to_one_hot", "y")
    if dtype is None:
        dtype = config.floatX
    ret = T.zeros((y.shape[0], nb_class), dtype=dtype)
    return set_subtensor(ret[T.arange(y.shape[0]), y], 1)


def _diag_index(a, what):
    if a.type.ndim < 2:
        raise TypeError(f"{what}: a must have at least 2 dimensions, got {a.type}")


def fill_diagonal(a, val):
    """A copy of ``a`` with its main diagonal set to the scalar ``val`` (``a``: a matrix,
    or an n-d tensor with equal dimensions, as ``numpy.fill_diagonal``)."""
    from symgraph.tensor.subtensor import set_subtensor

    T = _T()
    a = as_tensor_variable(a)
    _diag_index(a, "fill_diagonal")
    val = as_tensor_variable(val)
    if val.type.ndim != 0:
        raise TypeError(f"fill_diagonal: val must be a scalar, got {val.type}")
    k = a.shape[0]
    for d in range(1, a.type.ndim):
        k = T.minimum(k, a.shape[d])
    i = T.arange(k)
    return set_subtensor(a[(i,) * a.type.ndim], T.cast(val, a.type.dtype))


def fill_diagonal_offset(a, val, offset):
    """A copy of matrix ``a`` with the diagonal ``offset`` (> 0 above the main one, < 0
    below) set to the scalar ``val``."""
    from symgraph.tensor.subtensor import set_subtensor

    T = _T()
    a = as_tensor_variable(a)
    if a.type.ndim != 2:
        raise TypeError(f"fill_diagonal_offset: a must be a matrix, got {a.type}")
    val = as_tensor_variable(val)
    if val.type.ndim != 0:
        raise TypeError(f"fill_diagonal_offset: val must be a scalar, got {val.type}")
    offset = T.cast(offset, "int64")
    r0 = T.maximum(-offset, 0)
    c0 = T.maximum(offset, 0)
    k = T.maximum(T.minimum(a.shape[0] - r0, a.shape[1] - c0), 0)
    i = T.arange(k)
    return set_subtensor(a[i + r0, i + c0], T.cast(val, a.type.dtype))


def compress(condition, x, axis=None):
    """Elements (or slices along ``axis``) of ``x`` where ``condition`` is nonzero."""
    T = _T()
    x = as_tensor_variable(x)
    idx = T.flatnonzero(condition)
    if axis is None:
        return flatten(x, 1)[idx]
    ax = _int_axis(axis, x.type.ndim, "compress")
    return x[(slice(None),) * ax + (idx,)]


# -------------------------------------------------------------------------- Unique

class Unique(Op):
    """Sorted unique values of the flattened input, and optionally (in this order) the
    index of each one's first occurrence, the inverse map and the counts -- numpy's
    ``unique`` (all index outputs int64)."""

    __props__ = ("return_index", "return_inverse", "return_counts")

    def __init__(self, return_index=False, return_inverse=False, return_counts=False):
        self.return_index = bool(return_index)
        self.return_inverse = bool(return_inverse)
        self.return_counts = bool(return_counts)

    def make_node(self, x):
        x = as_tensor_variable(x)
        outs = [TensorType(x.type.dtype, (False,)).make_variable()]
        n_int = self.return_index + self.return_inverse + self.return_counts
        outs += [TensorType("int64", (False,)).make_variable() for _ in range(n_int)]
        return Apply(self, [x], outs)

    def perform(self, node, inputs):
        res = np.unique(np.asarray(inputs[0]).reshape(-1), return_index=self.return_index,
                        return_inverse=self.return_inverse, return_counts=self.return_counts)
        if not isinstance(res, tuple):
            res = (res,)
        return [np.asarray(r, dtype=o.type.dtype).reshape(-1)
                for r, o in zip(res, node.outputs)]

    def infer_shape(self, fgraph, node, input_shapes):
        raise ShapeNotImplemented("Unique: the number of unique values is known at run time")

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("the gradient of Unique is not defined (as in Theano)")


def unique(ar, return_index=False, return_inverse=False, return_counts=False):
    """``numpy.unique`` of the flattened ``ar``: one output, or a list of them."""
    return Unique(return_index, return_inverse, return_counts)(ar)


# -------------------------------------------------------------------- searchsorted

class SearchsortedOp(Op):
    """Indices where the elements of ``v`` would be inserted into the sorted vector ``x``
    (``numpy.searchsorted``); ``sorter`` (optional) sorts ``x``."""

    __props__ = ("side",)

    def __init__(self, side="left"):
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        self.side = side

    def make_node(self, x, v, sorter=None):
        x = as_tensor_variable(x)
        v = as_tensor_variable(v)
        if x.type.ndim != 1:
            raise TypeError(f"searchsorted: x must be a vector (1-d), got {x.type}")
        ins = [x, v]
        if sorter is not None:
            sorter = _check_int_vector(sorter, "searchsorted", "sorter")
            ins.append(sorter)
        out = TensorType("int64", v.type.broadcastable).make_variable()
        return Apply(self, ins, [out])

    def perform(self, node, inputs):
        x, v = inputs[:2]
        sorter = inputs[2] if len(inputs) > 2 else None
        if sorter is not None and np.shape(sorter) != np.shape(x):
            raise ValueError(f"searchsorted: sorter has shape {np.shape(sorter)}, x has "
                             f"shape {np.shape(x)}")
        r = np.searchsorted(x, v, side=self.side, sorter=sorter)
        return [np.asarray(r, dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        # piecewise constant in x and v: zero where defined (Theano's answer)
        T = _T()
        return [T.zeros_like(i) if i.type.dtype not in DISCRETE_DTYPES else None
                for i in inputs]


def searchsorted(x, v, side="left", sorter=None):
    """``numpy.searchsorted(x, v, side, sorter)`` for a sorted vector ``x``."""
    return SearchsortedOp(side)(x, v, sorter)
