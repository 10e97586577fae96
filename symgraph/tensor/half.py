"""``HalfRound``: round float32 values to the nearest float16 value, staying float32.

Why: float16 tensors are stored as float16 and computed in float32, as Theano's CPU
backend did (``symgraph.compile.float16`` rewrites a float16 graph into float32 with a
``HalfRound`` after every op whose result was float16). Rounding once per op, to
nearest with ties to even, gives the values a float16 array would hold between ops;
neither Numba nor the CPU have float16 arithmetic, so the value stays a float32.

Its gradient passes straight through (the gradient of a cast to float16 is the output
gradient, as in Theano).
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable


class HalfRound(Op):
    """float32 -> float32: ``x.astype(float16).astype(float32)``."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.type.dtype != "float32":
            raise TypeError(f"HalfRound: expected a float32 tensor, got {x.type}")
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        with np.errstate(over="ignore"):
            return [np.asarray(inputs[0]).astype(np.float16).astype(np.float32)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


half_round = HalfRound()
