"""``theano.compile.ops``: ``as_op``, a Python function made into an op.

Theano's decorator: ``@as_op(itypes=[...], otypes=[...], infer_shape=None)`` turns a
numpy function into an op whose inputs must have the types ``itypes`` and whose outputs
have the types ``otypes``. It has no gradient (as in Theano) and runs as Python on every
backend (the Numba backend runs a function containing it on the py backend, with a
warning: ``link/numba/executable.py``).

Example::

    >>> import numpy as np, symgraph.tensor as T
    >>> @as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix])
    ... def numpy_dot(a, b):
    ...     return np.dot(a, b)
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op

__all__ = ["as_op", "FromFunctionOp"]


def _type_of(t):
    """A type from what ``itypes``/``otypes`` list: a type, or a constructor such as
    ``T.dmatrix`` (its variables' type)."""
    if callable(t) and not hasattr(t, "make_variable"):
        return t().type
    return t


class FromFunctionOp(Op):
    """The op :func:`as_op` makes; equal when the function and types are."""

    __props__ = ("fn", "itypes", "otypes", "infer_shape_fn")

    def __init__(self, fn, itypes, otypes, infer_shape_fn=None):
        self.fn = fn
        self.itypes = tuple(_type_of(t) for t in itypes)
        self.otypes = tuple(_type_of(t) for t in otypes)
        self.infer_shape_fn = infer_shape_fn
        self.__name__ = getattr(fn, "__name__", "as_op")

    def __str__(self):
        return f"FromFunctionOp{{{self.__name__}}}"

    def make_node(self, *inputs):
        from symgraph.tensor.basic import as_tensor_variable

        if len(inputs) != len(self.itypes):
            raise TypeError(f"{self}: expected {len(self.itypes)} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        for k, (x, t) in enumerate(zip(inputs, self.itypes)):
            if x.type != t:
                raise TypeError(f"{self}: input {k} has type {x.type}, expected {t}")
        return Apply(self, inputs, [t.make_variable() for t in self.otypes])

    def perform(self, node, inputs):
        outs = self.fn(*inputs)
        if len(self.otypes) == 1:
            outs = [outs]
        if len(outs) != len(self.otypes):
            raise ValueError(f"{self}: the function returned {len(outs)} values, expected "
                             f"{len(self.otypes)}")
        return [np.asarray(v, dtype=t.dtype) for v, t in zip(outs, self.otypes)]

    def infer_shape(self, fgraph, node, input_shapes):
        if self.infer_shape_fn is None:
            return super().infer_shape(fgraph, node, input_shapes)
        return self.infer_shape_fn(node, input_shapes)


def as_op(itypes, otypes, infer_shape=None):
    """Decorator: the function as a :class:`FromFunctionOp` (Theano's ``as_op``)."""
    def wrap(fn):
        return FromFunctionOp(fn, itypes, otypes, infer_shape)
    return wrap
