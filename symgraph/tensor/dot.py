"""Products: ``dot``, ``tensordot``, ``batched_dot``, ``batched_tensordot``, ``outer``, and
the BLAS-shaped ``Gemm`` / ``Gemv`` ops the optimizer rewrites scaled dots into.

Ops:

- ``Dot``: vector/matrix products (v.v -> 0-d, M.v, v.M, M.M), numpy promotion of dtypes
  (integers included; the inputs are cast to the common dtype when the node is built);
- ``TensorDot``: numpy's ``tensordot`` for any rank; ``dot`` of higher-rank inputs uses it
  with numpy's ``np.dot`` axes;
- ``BatchedDot``: Theano's batched product of 2-d/3-d tensors (batch axis 0);
- ``Gemm`` / ``Gemv``: ``beta * Z + alpha * dot(X, Y)`` (``inplace`` overwrites Z).

Lengths that are known when the graph is built (constants, broadcastable dimensions) are
checked then; everything else at run time, with a ValueError naming the op and both shapes.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x'); w = T.matrix('w'); v = T.vector('v')
    >>> T.dot(x, w).ndim, T.dot(x, v).ndim, T.dot(v, v).ndim
    (2, 1, 0)
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import Op
from symgraph.tensor import math as tm
from symgraph.tensor.basic import as_tensor_args, as_tensor_variable
from symgraph.tensor.elemwise import DimShuffle, unbroadcast_grad
from symgraph.tensor.type import FLOAT_DTYPES, INT_DTYPES, TensorType, upcast
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Dot", "TensorDot", "BatchedDot", "BatchedTensorDot", "Gemm", "Gemv",
    "dot", "tensordot", "batched_dot", "batched_tensordot", "outer",
    "gemm_no_inplace", "gemm_inplace", "gemv_no_inplace", "gemv_inplace",
]

_NUMERIC = INT_DTYPES + FLOAT_DTYPES + ("complex64", "complex128")
_BLAS_DTYPES = FLOAT_DTYPES + ("complex64", "complex128")
_DIFFERENTIABLE = FLOAT_DTYPES + ("complex64", "complex128")


# ------------------------------------------------------------------ helpers

def _known_len(x, axis):
    """Length of ``x`` along ``axis`` when known at graph-build time, else None."""
    if isinstance(x, Constant):
        return int(np.shape(x.data)[axis])
    if x.type.broadcastable[axis]:
        return 1
    return None


def _static_str(x) -> str:
    """The shape as far as it is known when building the graph: ``(?, 3)``."""
    dims = ["?" if d is None else str(d) for d in (_known_len(x, k) for k in range(x.type.ndim))]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _check_static(op, a, b, pairs):
    """Raise ValueError at build time when a pair of contracted lengths is known to differ."""
    for i, j in pairs:
        la, lb = _known_len(a, i), _known_len(b, j)
        if la is not None and lb is not None and la != lb:
            raise ValueError(
                f"{op}: shapes {_static_str(a)} and {_static_str(b)} are not aligned: axis {i} "
                f"of input 0 has length {la} but axis {j} of input 1 has length {lb} "
                f"(lengths known when building the graph; ? = known only at run time)")


def _check_numeric(op, xs):
    for k, x in enumerate(xs):
        if x.type.dtype not in _NUMERIC:
            raise TypeError(
                f"{op}: input {k} must be a numeric tensor, got {x} of type {x.type}; "
                f"cast booleans first, e.g. T.cast(x, 'int8')")


def _common(op, a, b):
    """Cast ``a`` and ``b`` to their numpy-promoted dtype; returns (a, b, dtype)."""
    _check_numeric(op, (a, b))
    dt = upcast(a.type.dtype, b.type.dtype)
    return tm.cast(a, dt), tm.cast(b, dt), dt


def _transpose(x):
    return DimShuffle(x.type.broadcastable, (1, 0))(x)


def _shuffle(x, order):
    order = tuple(order)
    if order == tuple(range(x.type.ndim)):
        return x
    return DimShuffle(x.type.broadcastable, order)(x)


def _runtime_mismatch(op, a, b, i, j):
    return ValueError(
        f"{op}: shapes {np.shape(a)} and {np.shape(b)} are not aligned: axis {i} of input 0 "
        f"has length {np.shape(a)[i]} but axis {j} of input 1 has length {np.shape(b)[j]}")


# ------------------------------------------------------------------ Dot

class Dot(Op):
    """Product of vectors and matrices, numpy's ``np.dot`` for 1-d/2-d inputs.

    vector . vector -> 0-d, matrix . vector -> vector, vector . matrix -> vector,
    matrix . matrix -> matrix. The output dtype is numpy's promotion of the two dtypes.
    """

    __props__ = ()

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for k, x in enumerate((a, b)):
            if x.type.ndim not in (1, 2):
                raise TypeError(
                    f"{self}: input {k} must be a vector or a matrix, got {x} of type {x.type} "
                    f"({x.type.ndim}-d); T.dot handles scalars and higher ranks (numpy "
                    f"semantics), T.tensordot any axes")
        _check_static(self, a, b, [(a.type.ndim - 1, 0)])
        a, b, dt = _common(self, a, b)
        bcast = a.type.broadcastable[:-1] + b.type.broadcastable[1:]
        return Apply(self, [a, b], [TensorType(dt, bcast).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise _runtime_mismatch(self, a, b, a.ndim - 1, 0)
        return [np.asarray(np.dot(a, b), dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        if a.type.dtype not in _DIFFERENTIABLE:
            return [None, None]
        na, nb = a.type.ndim, b.type.ndim
        if na == 1 and nb == 1:            # gz is 0-d
            ga, gb = tm.mul(gz, b), tm.mul(gz, a)
        elif na == 2 and nb == 1:          # gz: (m,)
            ga = _outer1(gz, b)
            gb = _dot(_transpose(a), gz)
        elif na == 1 and nb == 2:          # gz: (n,)
            ga = _dot(b, gz)
            gb = _outer1(a, gz)
        else:                              # gz: (m, n)
            ga = _dot(gz, _transpose(b))
            gb = _dot(_transpose(a), gz)
        return [unbroadcast_grad(ga, a), unbroadcast_grad(gb, b)]


_dot = Dot()


def _outer1(x, y):
    """x[:, None] * y[None, :] for vectors."""
    return tm.mul(DimShuffle(x.type.broadcastable, (0, "x"))(x),
                  DimShuffle(y.type.broadcastable, ("x", 0))(y))


def dot(a, b) -> TensorVariable:
    """Product of ``a`` and ``b`` with numpy's ``np.dot`` semantics.

    Vectors and matrices give a ``Dot`` node (v.v is a 0-d scalar); a 0-d operand
    multiplies elementwise; higher ranks contract the last axis of ``a`` with the
    second-to-last of ``b`` (its only axis if ``b`` is a vector), via ``tensordot``.
    Python and numpy data are accepted.

    Example::

        >>> import symgraph.tensor as T
        >>> x = T.matrix('x'); w = T.matrix('w')
        >>> y = T.dot(x, w)          # also x.dot(w) or x @ w
    """
    a, b = as_tensor_args(a, b)
    if a.type.ndim == 0 or b.type.ndim == 0:
        return tm.mul(a, b)
    if a.type.ndim <= 2 and b.type.ndim <= 2:
        return _dot(a, b)
    return tensordot(a, b, [[a.type.ndim - 1], [max(0, b.type.ndim - 2)]])


# ------------------------------------------------------------------ TensorDot

def _norm_axes(axes, na, nb):
    """numpy's ``axes`` argument -> (tuple of a's axes, tuple of b's axes), non-negative."""
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > na or n > nb:
            raise ValueError(f"tensordot: axes={n} needs 0 <= axes <= min(a.ndim, b.ndim) "
                             f"= {min(na, nb)}")
        return tuple(range(na - n, na)), tuple(range(n))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise TypeError(f"tensordot: axes must be an int or a pair of axis lists, "
                        f"got {axes!r}") from None
    if isinstance(ax_a, (int, np.integer)):
        ax_a = [ax_a]
    if isinstance(ax_b, (int, np.integer)):
        ax_b = [ax_b]
    ax_a, ax_b = list(ax_a), list(ax_b)
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: axes {axes!r} give {len(ax_a)} axes of a but "
                         f"{len(ax_b)} of b; they must pair up")
    out = []
    for which, ax, nd in (("a", ax_a, na), ("b", ax_b, nb)):
        norm = []
        for i in ax:
            if hasattr(i, "type"):
                raise TypeError(f"tensordot: axes must be constant ints, got the symbolic {i}")
            i = int(i)
            if not -nd <= i < nd:
                raise ValueError(f"tensordot: axis {i} is out of range for {which} "
                                 f"({nd}-d) in axes {axes!r}")
            norm.append(i % nd)
        if len(set(norm)) != len(norm):
            raise ValueError(f"tensordot: repeated axis of {which} in axes {axes!r}")
        out.append(tuple(norm))
    return out[0], out[1]


class TensorDot(Op):
    """numpy's ``tensordot(a, b, axes)`` with ``axes`` a pair of non-negative axis tuples.

    Output axes: the free axes of ``a`` then the free axes of ``b``, each in order.
    """

    __props__ = ("axes",)

    def __init__(self, axes):
        ax_a, ax_b = axes
        self.axes = (tuple(int(i) for i in ax_a), tuple(int(i) for i in ax_b))
        if len(self.axes[0]) != len(self.axes[1]) or not self.axes[0]:
            raise ValueError(f"TensorDot: axes {axes!r} must pair up and contract at least one "
                             f"axis (T.tensordot handles the outer product)")

    def __str__(self):
        return f"TensorDot{{axes=({list(self.axes[0])}, {list(self.axes[1])})}}"

    def free(self, na, nb):
        ax_a, ax_b = self.axes
        return ([i for i in range(na) if i not in ax_a], [j for j in range(nb) if j not in ax_b])

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        ax_a, ax_b = self.axes
        for k, (x, ax) in enumerate(((a, ax_a), (b, ax_b))):
            if x.type.ndim == 0:
                raise TypeError(f"{self}: input {k} is 0-d ({x.type}); use T.tensordot or "
                                f"multiply")
            if any(i >= x.type.ndim for i in ax) or len(set(ax)) != len(ax):
                raise ValueError(f"{self}: invalid axes {list(ax)} for input {k} of type "
                                 f"{x.type} ({x.type.ndim}-d)")
        _check_static(self, a, b, list(zip(ax_a, ax_b)))
        a, b, dt = _common(self, a, b)
        fa, fb = self.free(a.type.ndim, b.type.ndim)
        bcast = tuple(a.type.broadcastable[i] for i in fa) \
            + tuple(b.type.broadcastable[j] for j in fb)
        return Apply(self, [a, b], [TensorType(dt, bcast).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        for i, j in zip(*self.axes):
            if a.shape[i] != b.shape[j]:
                raise _runtime_mismatch(self, a, b, i, j)
        r = np.tensordot(a, b, axes=(list(self.axes[0]), list(self.axes[1])))
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        fa, fb = self.free(len(sa), len(sb))
        return [tuple(sa[i] for i in fa) + tuple(sb[j] for j in fb)]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        if a.type.dtype not in _DIFFERENTIABLE:
            return [None, None]
        ax_a, ax_b = self.axes
        fa, fb = self.free(a.type.ndim, b.type.ndim)
        na, nb = len(fa), len(fb)
        # d/da: contract gz's b-part with b's free axes -> (a free..., b contracted sorted)
        ga = tensordot(gz, b, [list(range(na, na + nb)), fb])
        scb = sorted(ax_b)
        order = [fa.index(p) if p in fa else na + scb.index(ax_b[ax_a.index(p)])
                 for p in range(a.type.ndim)]
        ga = _shuffle(ga, order)
        # d/db: contract a's free axes with gz's a-part -> (a contracted sorted..., b free)
        gb = tensordot(a, gz, [fa, list(range(na))])
        sca = sorted(ax_a)
        nc = len(ax_a)
        order = [nc + fb.index(q) if q in fb else sca.index(ax_a[ax_b.index(q)])
                 for q in range(b.type.ndim)]
        gb = _shuffle(gb, order)
        return [unbroadcast_grad(ga, a), unbroadcast_grad(gb, b)]


def tensordot(a, b, axes=2) -> TensorVariable:
    """Sum products over the given axes, as ``numpy.tensordot``.

    ``axes`` is an int ``n`` (the last ``n`` axes of ``a`` with the first ``n`` of ``b``) or a
    pair of axis lists. Products of vectors/matrices over one axis become a ``Dot`` (with
    transposes as views); other cases a ``TensorDot``. Differentiable.

    Example::

        >>> import symgraph.tensor as T
        >>> x = T.tensor3('x'); w = T.matrix('w')
        >>> T.tensordot(x, w, axes=[[2], [0]]).ndim
        3
    """
    a, b = as_tensor_args(a, b)
    na, nb = a.type.ndim, b.type.ndim
    ax_a, ax_b = _norm_axes(axes, na, nb)
    if not ax_a:
        # outer product: a[..., None...] * b[None..., ...]
        a_ = _shuffle(a, list(range(na)) + ["x"] * nb) if nb else a
        b_ = _shuffle(b, ["x"] * na + list(range(nb))) if na else b
        _check_numeric("tensordot", (a, b))
        return tm.mul(a_, b_)
    if na <= 2 and nb <= 2 and len(ax_a) == 1:
        (i,), (j,) = ax_a, ax_b
        if na == 2 and i == 0:
            a = _transpose(a)
        if nb == 2 and j == 1:
            b = _transpose(b)
        return _dot(a, b)
    return TensorDot((ax_a, ax_b))(a, b)


# ------------------------------------------------------------------ BatchedDot

class BatchedDot(Op):
    """Theano's batched product: ``out[i] = np.dot(a[i], b[i])`` for 2-d/3-d inputs.

    (B, m, k) x (B, k, n) -> (B, m, n); (B, k) x (B, k, n) -> (B, n);
    (B, m, k) x (B, k) -> (B, m); (B, k) x (B, k) -> (B,).
    """

    __props__ = ()

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for k, x in enumerate((a, b)):
            if x.type.ndim not in (2, 3):
                raise TypeError(f"{self}: input {k} must be 2-d or 3-d (batch axis first), "
                                f"got {x} of type {x.type}; use T.batched_dot")
        _check_static(self, a, b, [(0, 0), (a.type.ndim - 1, 1)])
        a, b, dt = _common(self, a, b)
        bcast = ((a.type.broadcastable[0] or b.type.broadcastable[0]),) \
            + a.type.broadcastable[1:-1] + b.type.broadcastable[2:]
        return Apply(self, [a, b], [TensorType(dt, bcast).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"{self}: the batch sizes differ: shapes {a.shape} and {b.shape} "
                             f"(axis 0 has length {a.shape[0]} in input 0, {b.shape[0]} in "
                             f"input 1)")
        if a.shape[-1] != b.shape[1]:
            raise _runtime_mismatch(self, a, b, a.ndim - 1, 1)
        a3 = a if a.ndim == 3 else a[:, None, :]
        b3 = b if b.ndim == 3 else b[:, :, None]
        r = np.matmul(a3, b3)
        if a.ndim == 2:
            r = r[:, 0]
        if b.ndim == 2:
            r = r[..., 0]
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        a, b = node.inputs
        batch = sa[0] if not a.type.broadcastable[0] else sb[0]
        return [(batch,) + tuple(sa[1:-1]) + tuple(sb[2:])]

    def L_op(self, inputs, outputs, output_grads):
        x, y = inputs
        (gz,) = output_grads
        if x.type.dtype not in _DIFFERENTIABLE:
            return [None, None]
        xd, yd = x.type.ndim, y.type.ndim
        if xd == 2 and yd == 2:          # gz: (B,)
            gzc = _shuffle(gz, (0, "x"))
            gx, gy = tm.mul(gzc, y), tm.mul(gzc, x)
        elif xd == 2 and yd == 3:        # gz: (B, n)
            gx = batched_dot(y, gz)
            gy = tm.mul(_shuffle(x, (0, 1, "x")), _shuffle(gz, (0, "x", 1)))
        elif xd == 3 and yd == 2:        # gz: (B, m)
            gx = tm.mul(_shuffle(gz, (0, 1, "x")), _shuffle(y, (0, "x", 1)))
            gy = batched_dot(_shuffle(x, (0, 2, 1)), gz)
        else:                            # gz: (B, m, n)
            gx = batched_dot(gz, _shuffle(y, (0, 2, 1)))
            gy = batched_dot(_shuffle(x, (0, 2, 1)), gz)
        return [unbroadcast_grad(gx, x), unbroadcast_grad(gy, y)]


_batched_dot = BatchedDot()


def batched_dot(a, b) -> TensorVariable:
    """Batched product along axis 0 (Theano semantics): ``out[i] = dot(a[i], b[i])``.

    3-d x 3-d is a batch of matrix products; 2-d/3-d mixes are batches of matrix-vector
    products and 2-d x 2-d is a row-wise inner product. A 1-d operand scales the other one
    per batch row. Higher ranks go through ``batched_tensordot`` (a's last axis with b's
    second-to-last, as ``np.dot``).

    Example::

        >>> import symgraph.tensor as T
        >>> a = T.tensor3('a'); b = T.tensor3('b')
        >>> T.batched_dot(a, b).ndim
        3
    """
    a, b = as_tensor_args(a, b)
    if a.type.ndim == 0 or b.type.ndim == 0:
        raise TypeError(f"batched_dot: both inputs need a batch axis (ndim >= 1), got types "
                        f"{a.type} and {b.type}")
    if a.type.ndim == 1:
        return tm.mul(_shuffle(a, [0] + ["x"] * (b.type.ndim - 1)), b)
    if b.type.ndim == 1:
        return tm.mul(a, _shuffle(b, [0] + ["x"] * (a.type.ndim - 1)))
    if a.type.ndim > 3 or b.type.ndim > 3:
        return batched_tensordot(a, b, [[a.type.ndim - 1], [max(1, b.type.ndim - 2)]])
    return _batched_dot(a, b)


def batched_tensordot(a, b, axes=2) -> TensorVariable:
    """``tensordot`` for each index of the batch axis 0 of ``a`` and ``b`` (Theano).

    ``axes`` is an int ``n`` (the last ``n`` axes of ``a`` with axes 1..n of ``b``) or a pair of
    axis lists that do not include the batch axis. The result has the batch axis, then the
    free axes of ``a``, then those of ``b``.

    Example::

        >>> import symgraph.tensor as T
        >>> a = T.tensor4('a'); b = T.tensor3('b')
        >>> T.batched_tensordot(a, b, [[3], [1]]).ndim
        4
    """
    a, b = as_tensor_args(a, b)
    na, nb = a.type.ndim, b.type.ndim
    if na < 2 or nb < 2:
        raise TypeError(f"batched_tensordot: inputs need a batch axis and at least one more, "
                        f"got types {a.type} and {b.type}")
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 1 or n > na - 1 or n > nb - 1:
            raise ValueError(f"batched_tensordot: axes={n} must be in 1..{min(na, nb) - 1}")
        ax_a, ax_b = tuple(range(na - n, na)), tuple(range(1, n + 1))
    else:
        ax_a, ax_b = _norm_axes(axes, na, nb)
        if 0 in ax_a or 0 in ax_b:
            raise ValueError(f"batched_tensordot: axes {axes!r} include the batch axis 0")
    return BatchedTensorDot((ax_a, ax_b))(a, b)


class BatchedTensorDot(Op):
    """``out[i] = tensordot(a[i], b[i], axes)`` for each index of axis 0; ``axes`` are
    axes of the full inputs (never 0). Output: batch axis, free axes of a, free axes of b.
    """

    __props__ = ("axes",)

    def __init__(self, axes):
        ax_a, ax_b = axes
        self.axes = (tuple(int(i) for i in ax_a), tuple(int(i) for i in ax_b))
        if len(self.axes[0]) != len(self.axes[1]) or 0 in self.axes[0] or 0 in self.axes[1]:
            raise ValueError(f"BatchedTensorDot: invalid axes {axes!r}")

    def __str__(self):
        return f"BatchedTensorDot{{axes=({list(self.axes[0])}, {list(self.axes[1])})}}"

    def free(self, na, nb):
        ax_a, ax_b = self.axes
        return ([i for i in range(1, na) if i not in ax_a],
                [j for j in range(1, nb) if j not in ax_b])

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for k, (x, ax) in enumerate(zip((a, b), self.axes)):
            if x.type.ndim < 2 or any(i >= x.type.ndim for i in ax):
                raise ValueError(f"{self}: invalid axes {list(ax)} for input {k} of type "
                                 f"{x.type}")
        _check_static(self, a, b, [(0, 0)] + list(zip(*self.axes)))
        a, b, dt = _common(self, a, b)
        fa, fb = self.free(a.type.ndim, b.type.ndim)
        bcast = ((a.type.broadcastable[0] or b.type.broadcastable[0]),) \
            + tuple(a.type.broadcastable[i] for i in fa) \
            + tuple(b.type.broadcastable[j] for j in fb)
        return Apply(self, [a, b], [TensorType(dt, bcast).make_variable()])

    def perform(self, node, inputs):
        a, b = inputs
        for i, j in [(0, 0)] + list(zip(*self.axes)):
            if a.shape[i] != b.shape[j]:
                raise _runtime_mismatch(self, a, b, i, j)
        fa, fb = self.free(a.ndim, b.ndim)
        letters = "abcdefghijklmnopqrstuvwxyz"
        la = ["Z"] + [None] * (a.ndim - 1)
        lb = ["Z"] + [None] * (b.ndim - 1)
        it = iter(letters)
        for i, j in zip(*self.axes):
            la[i] = lb[j] = next(it)
        for i in fa:
            la[i] = next(it)
        for j in fb:
            lb[j] = next(it)
        out = "Z" + "".join(la[i] for i in fa) + "".join(lb[j] for j in fb)
        r = np.einsum(f"{''.join(la)},{''.join(lb)}->{out}", a, b)
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        fa, fb = self.free(len(sa), len(sb))
        batch = sa[0] if not node.inputs[0].type.broadcastable[0] else sb[0]
        return [(batch,) + tuple(sa[i] for i in fa) + tuple(sb[j] for j in fb)]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        if a.type.dtype not in _DIFFERENTIABLE:
            return [None, None]
        ax_a, ax_b = self.axes
        fa, fb = self.free(a.type.ndim, b.type.ndim)
        na, nb = len(fa), len(fb)
        # gz axes: 0 batch, 1..na a-free, na+1.. b-free
        ga = BatchedTensorDot((list(range(na + 1, na + nb + 1)), fb))(gz, b) if nb else None
        scb = sorted(ax_b)
        if ga is None:   # nothing free in b: ga = gz[..., None...] * b
            ga = tm.mul(_shuffle(gz, list(range(na + 1)) + ["x"] * len(ax_b)),
                        _shuffle(b, [0] + ["x"] * na + list(range(1, b.type.ndim))))
        order = [0] + [1 + fa.index(p) if p in fa else 1 + na + scb.index(ax_b[ax_a.index(p)])
                       for p in range(1, a.type.ndim)]
        ga = _shuffle(ga, order)
        sca = sorted(ax_a)
        nc = len(ax_a)
        if na:
            gb = BatchedTensorDot((fa, list(range(1, na + 1))))(a, gz)
        else:
            gb = tm.mul(_shuffle(a, list(range(a.type.ndim)) + ["x"] * nb),
                        _shuffle(gz, [0] + ["x"] * nc + list(range(1, nb + 1))))
        order = [0] + [1 + nc + fb.index(q) if q in fb else 1 + sca.index(ax_a[ax_b.index(q)])
                       for q in range(1, b.type.ndim)]
        gb = _shuffle(gb, order)
        return [unbroadcast_grad(ga, a), unbroadcast_grad(gb, b)]


# ------------------------------------------------------------------ outer

def outer(x, y) -> TensorVariable:
    """Outer product ``x[:, None] * y[None, :]`` (inputs of more than one dimension are
    flattened first, as Theano and numpy do).

    Example::

        >>> import symgraph.tensor as T
        >>> u = T.vector('u'); v = T.vector('v')
        >>> T.outer(u, v).ndim
        2
    """
    x, y = as_tensor_args(x, y)
    _check_numeric("outer", (x, y))
    if x.type.ndim != 1:
        x = x.flatten()
    if y.type.ndim != 1:
        y = y.flatten()
    return _outer1(x, y)


# ------------------------------------------------------------------ Gemm / Gemv

def _blas_inputs(op, names, z, alpha, xs, beta, ndims):
    """Check the operands of Gemm/Gemv; cast alpha/beta to Z's dtype."""
    z = as_tensor_variable(z)
    xs = [as_tensor_variable(x) for x in xs]
    alpha, beta = as_tensor_variable(alpha), as_tensor_variable(beta)
    for nm, v, nd in zip(names, [z, alpha] + xs + [beta], ndims):
        if v.type.ndim != nd:
            raise TypeError(f"{op}: {nm} must be {nd}-d, got {v} of type {v.type}")
    if z.type.dtype not in _BLAS_DTYPES:
        raise TypeError(f"{op}: {names[0]} must be float32, float64, complex64 or complex128, "
                        f"got dtype {z.type.dtype}")
    for nm, x in zip(names[2:4], xs):
        if x.type.dtype != z.type.dtype:
            raise TypeError(f"{op}: {nm} must have dtype {z.type.dtype} (that of "
                            f"{names[0]}), got {x.type.dtype}")
    for nm, s in ((names[1], alpha), (names[4], beta)):
        if s.type.dtype not in _NUMERIC:
            raise TypeError(f"{op}: {nm} must be a numeric scalar, got dtype {s.type.dtype}")
    return z, tm.cast(alpha, z.type.dtype), xs, tm.cast(beta, z.type.dtype)


class Gemm(Op):
    """``beta * Z + alpha * dot(X, Y)`` for matrices (Theano's ``gemm``).

    Inputs ``(Z, alpha, X, Y, beta)``: Z, X, Y matrices of one float/complex dtype, alpha and
    beta 0-d (cast to that dtype). With ``inplace=True`` the result is written into Z's
    buffer (``destroy_map``). When beta == 0, Z's values are ignored (BLAS semantics: NaNs
    in Z do not propagate); ``alpha * dot(X, Y)`` is always evaluated, so NaNs in X or Y
    propagate even when alpha == 0 (as numpy's expression). Made by the optimizer from
    ``dot`` + ``add``/``mul``.
    """

    __props__ = ("inplace",)

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def __str__(self):
        return "Gemm{inplace}" if self.inplace else "Gemm{no_inplace}"

    def make_node(self, z, alpha, x, y, beta):
        z, alpha, (x, y), beta = _blas_inputs(self, ("Z", "alpha", "X", "Y", "beta"), z,
                                              alpha, (x, y), beta, (2, 0, 2, 2, 0))
        _check_static(self, x, y, [(1, 0)])
        for d, (v, ax) in enumerate(((x, 0), (y, 1))):
            lz, lv = _known_len(z, d), _known_len(v, ax)
            if lz is not None and lv is not None and lz != lv:
                raise ValueError(f"{self}: Z of shape {_static_str(z)} cannot hold dot(X, Y) "
                                 f"for X {_static_str(x)}, Y {_static_str(y)}")
        return Apply(self, [z, alpha, x, y, beta], [z.type.make_variable()])

    def perform(self, node, inputs):
        z, a, x, y, b = inputs
        if x.shape[1] != y.shape[0]:
            raise _runtime_mismatch(self, x, y, 1, 0)
        if z.shape != (x.shape[0], y.shape[1]):
            raise ValueError(f"{self}: Z has shape {z.shape} but dot(X, Y) has shape "
                             f"{(x.shape[0], y.shape[1])} (X {x.shape}, Y {y.shape})")
        return [_blas_perform(self, node, z, a, np.dot(x, y), b)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        z, a, x, y, b = inputs
        (gz,) = output_grads
        g_z = tm.mul(b, gz)
        g_a = tm.sum(tm.mul(gz, _dot(x, y)))
        g_x = tm.mul(a, _dot(gz, _transpose(y)))
        g_y = tm.mul(a, _dot(_transpose(x), gz))
        g_b = tm.sum(tm.mul(gz, z))
        return [unbroadcast_grad(g_z, z), tm.cast(g_a, a.type.dtype), unbroadcast_grad(g_x, x),
                unbroadcast_grad(g_y, y), tm.cast(g_b, b.type.dtype)]


def _blas_perform(op, node, z, a, prod, b):
    dt = node.outputs[0].type.dtype
    out = z if op.inplace else np.empty(z.shape, dtype=dt)
    if b == 0:
        out[...] = a * prod
    else:
        out[...] = b * z + a * prod
    return np.asarray(out, dtype=dt)


class Gemv(Op):
    """``beta * y + alpha * dot(A, x)`` for a matrix A and vectors x, y (Theano's ``gemv``).

    Inputs ``(y, alpha, A, x, beta)``; dtypes and ``inplace`` as in ``Gemm``.
    """

    __props__ = ("inplace",)

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def __str__(self):
        return "Gemv{inplace}" if self.inplace else "Gemv{no_inplace}"

    def make_node(self, y, alpha, A, x, beta):
        y, alpha, (A, x), beta = _blas_inputs(self, ("y", "alpha", "A", "x", "beta"), y,
                                              alpha, (A, x), beta, (1, 0, 2, 1, 0))
        _check_static(self, A, x, [(1, 0)])
        ly, la = _known_len(y, 0), _known_len(A, 0)
        if ly is not None and la is not None and ly != la:
            raise ValueError(f"{self}: y of shape {_static_str(y)} cannot hold dot(A, x) for "
                             f"A {_static_str(A)}")
        return Apply(self, [y, alpha, A, x, beta], [y.type.make_variable()])

    def perform(self, node, inputs):
        y, a, A, x, b = inputs
        if A.shape[1] != x.shape[0]:
            raise _runtime_mismatch(self, A, x, 1, 0)
        if y.shape != (A.shape[0],):
            raise ValueError(f"{self}: y has shape {y.shape} but dot(A, x) has shape "
                             f"{(A.shape[0],)} (A {A.shape}, x {x.shape})")
        return [_blas_perform(self, node, y, a, np.dot(A, x), b)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        y, a, A, x, b = inputs
        (gz,) = output_grads
        g_y = tm.mul(b, gz)
        g_a = tm.sum(tm.mul(gz, _dot(A, x)))
        g_A = tm.mul(a, _outer1(gz, x))
        g_x = tm.mul(a, _dot(_transpose(A), gz))
        g_b = tm.sum(tm.mul(gz, y))
        return [unbroadcast_grad(g_y, y), tm.cast(g_a, a.type.dtype), unbroadcast_grad(g_A, A),
                unbroadcast_grad(g_x, x), tm.cast(g_b, b.type.dtype)]


gemm_no_inplace = Gemm(False)
gemm_inplace = Gemm(True)
gemv_no_inplace = Gemv(False)
gemv_inplace = Gemv(True)
