"""``Map``: stack ``inner(i, *free)`` for ``i in range(n)`` — the engine of ``jacobian``.

Why an op with an inner graph: the Jacobian of a vector expression is one gradient per
element. Building them as one ``Map`` node keeps the graph small (no unrolling over an
unknown length) and lets each backend run the loop natively: the py backend calls the
compiled inner function, the Numba backend compiles the inner graph as its own cached
module and loops inside the jitted code.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.dvector('x')
    >>> J = T.jacobian(x ** 2, x)     # a Map node over x.shape[0]

``symgraph.gradient.jacobian`` builds it (``_vector_jacobian``).
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, eval_compiler
from symgraph.graph.op import Op, ShapeNotImplemented
from symgraph.tensor.type import TensorType


class Map(Op):
    """``out[i] = inner_output(i, *free)``; ``inner_inputs[0]`` is the int64 index."""

    __props__ = ()

    def __init__(self, inner_inputs, inner_output):
        self.inner_inputs = list(inner_inputs)
        self.inner_output = inner_output
        self._py_fn = None

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"Map{{{self.inner_output.type}}}"

    def cache_key(self):
        return f"Map@{id(self)}"

    def make_node(self, n, *free):
        from symgraph.tensor.basic import as_tensor_variable

        n = as_tensor_variable(n)
        if n.type.ndim != 0 or not n.type.dtype.startswith(("int", "uint")):
            raise TypeError(f"{self}: the length must be an integer scalar, got {n.type}")
        if len(free) != len(self.inner_inputs) - 1:
            raise TypeError(f"{self}: expected {len(self.inner_inputs) - 1} free inputs, got "
                            f"{len(free)}")
        t = self.inner_output.type
        out = TensorType(t.dtype, (False,) + t.broadcastable).make_variable()
        return Apply(self, [n, *free], [out])

    def _inner_fn(self):
        if self._py_fn is None:
            function = eval_compiler()
            self._py_fn = function(self.inner_inputs, self.inner_output, mode="py",
                                   on_unused_input="ignore", accept_inplace=True)
        return self._py_fn

    def perform(self, node, inputs):
        n = int(inputs[0])
        f = self._inner_fn()
        rows = [np.asarray(f(np.int64(i), *inputs[1:])) for i in range(n)]
        t = self.inner_output.type
        if not rows:
            return [np.zeros((0,) + (0,) * t.ndim, dtype=t.dtype)]
        return [np.stack(rows).astype(t.dtype, copy=False)]

    def infer_shape(self, fgraph, node, input_shapes):
        raise ShapeNotImplemented("Map computes its row shape at run time")

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError(f"the gradient of {self} (a jacobian) is not implemented")
