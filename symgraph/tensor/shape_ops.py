"""Shape ops: ``shape``, reshape, flatten, transpose, concatenate, stack, alloc, arange, eye...

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x')
    >>> T.flatten(x).ndim
    1
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import TensorType


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (False,)).make_variable()])

    def perform(self, node, inputs):
        return [np.asarray(np.shape(inputs[0]), dtype="int64")]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[0].type.ndim,)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


_shape = Shape()


def shape(x):
    """Symbolic shape of x (an int64 vector); ``x.shape[0]`` is a symbolic int64 scalar."""
    return _shape(as_tensor_variable(x))
