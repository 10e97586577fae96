"""Sorting: Theano's ``T.sort``, ``T.argsort`` and the permutation op their gradients use.

``TakeAlongAxis(axis)(x, idx)`` is numpy's ``take_along_axis`` for an index array of the
same shape as ``x`` holding a permutation along ``axis``. Why it exists: the gradient of
``sort`` routes each output gradient back to where its element came from, which is
``take_along_axis(gz, argsort(argsort(x)))``, and the gradient of a permutation is the
inverse permutation -- so sort's gradient is built from these ops and can itself be
differentiated.

Ties: ``argsort`` orders equal keys by position (a stable sort) on every backend, whatever
``kind`` says, so the backends agree index for index. NaN sorts last, as in numpy.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.dmatrix('x')
    >>> s = T.sort(x, axis=1); i = T.argsort(x, axis=None)
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, TensorType

__all__ = ["Sort", "Argsort", "TakeAlongAxis", "sort", "argsort", "take_along_axis"]

KINDS = ("quicksort", "mergesort", "heapsort", "stable")


def _check_kind(kind, what):
    if kind not in KINDS:
        raise ValueError(f"{what}: kind must be one of {KINDS}, got {kind!r}")


def _static_axis(axis, nd, what):
    if isinstance(axis, (np.integer, int)) and not isinstance(axis, bool):
        a = int(axis)
    else:
        raise TypeError(f"{what}: axis must be an int or None, got {type(axis).__name__} "
                        f"{axis!r} (a symbolic axis is not supported)")
    if not -nd <= a < nd:
        raise ValueError(f"{what}: axis {a} is out of range for a tensor with {nd} "
                         f"dimensions")
    return a % nd


def _prepare(a, axis, what, order=None):
    if order is not None:
        raise ValueError(f"{what}: order (structured arrays) is not supported")
    a = as_tensor_variable(a)
    if axis is None:
        from symgraph.tensor.shape_ops import flatten

        return flatten(a, 1), 0
    if a.type.ndim == 0:
        raise ValueError(f"{what}: cannot sort a 0-d tensor along axis {axis}; use "
                         f"axis=None")
    return a, _static_axis(axis, a.type.ndim, what)


class _AxisOp(Op):
    __props__ = ("axis",)

    def _check_x(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < max(x.type.ndim, 1) or x.type.ndim == 0:
            raise ValueError(f"{self}: axis {self.axis} is out of range for {x.type}")
        return x

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]


class Sort(_AxisOp):
    """Sorted copy of ``x`` along ``axis`` (ascending, NaN last)."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        _check_kind(kind, "sort")
        self.axis = int(axis)
        self.kind = kind

    def make_node(self, x):
        x = self._check_x(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        return [np.sort(x, axis=self.axis, kind="stable")]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        # out = take(x, p) with p = argsort(x); the gradient takes gz at p's inverse
        p = Argsort(self.axis)(x)
        inv = Argsort(self.axis)(p)
        return [TakeAlongAxis(self.axis)(output_grads[0], inv)]


class Argsort(_AxisOp):
    """int64 indices that sort ``x`` along ``axis`` (stable: ties keep input order)."""

    __props__ = ("axis",)

    def __init__(self, axis, kind="quicksort"):
        _check_kind(kind, "argsort")
        self.axis = int(axis)

    def make_node(self, x):
        x = self._check_x(x)
        return Apply(self, [x], [TensorType("int64", x.type.broadcastable).make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        return [np.argsort(x, axis=self.axis, kind="stable").astype("int64")]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class TakeAlongAxis(_AxisOp):
    """``np.take_along_axis(x, idx, axis)`` for ``idx`` of the same shape as ``x`` whose
    lines along ``axis`` are permutations (what ``argsort`` gives)."""

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, idx):
        x = self._check_x(x)
        idx = as_tensor_variable(idx)
        if idx.type.dtype not in ("int64", "int32", "int16", "int8", "uint8", "uint16",
                                  "uint32"):
            raise TypeError(f"{self}: the indices must be integers, got {idx.type}")
        if idx.type.ndim != x.type.ndim:
            raise TypeError(f"{self}: the indices must have the same ndim as x "
                            f"({x.type.ndim}), got {idx.type}")
        bc = tuple(a and b for a, b in zip(x.type.broadcastable, idx.type.broadcastable))
        return Apply(self, [x, idx], [TensorType(x.type.dtype, bc).make_variable()])

    def perform(self, node, inputs):
        x, idx = inputs
        if np.shape(x) != np.shape(idx):
            raise ValueError(f"{self}: x has shape {np.shape(x)} but the indices have shape "
                             f"{np.shape(idx)}")
        n = np.shape(x)[self.axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"{self}: an index is out of bounds for axis {self.axis} of "
                             f"length {n}")
        return [np.take_along_axis(np.asarray(x), idx, axis=self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        x, idx = inputs
        if x.type.dtype not in FLOAT_DTYPES:
            return [None, None]
        return [TakeAlongAxis(self.axis)(output_grads[0], Argsort(self.axis)(idx)), None]


def sort(a, axis=-1, kind="quicksort", order=None):
    """Sorted copy of ``a`` along ``axis`` (None: of the flattened tensor), as
    ``numpy.sort``; differentiable."""
    _check_kind(kind, "sort")
    a, ax = _prepare(a, axis, "sort", order)
    return Sort(ax, kind)(a)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """int64 indices that sort ``a`` along ``axis`` (None: flattened), as
    ``numpy.argsort`` with a stable order for ties."""
    _check_kind(kind, "argsort")
    a, ax = _prepare(a, axis, "argsort", order)
    return Argsort(ax, kind)(a)


def take_along_axis(arr, indices, axis):
    """``numpy.take_along_axis`` for permutation indices of ``arr``'s shape."""
    arr = as_tensor_variable(arr)
    return TakeAlongAxis(_static_axis(axis, arr.type.ndim, "take_along_axis"))(arr, indices)
