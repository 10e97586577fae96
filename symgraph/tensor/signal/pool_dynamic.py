"""Pooling whose window, stride and padding are symbolic (Theano's ``Pool`` op takes them
as inputs): ``pool_2d(x, ws=ws_var, stride=st_var, pad=pad_var)``.

Why a second op: ``Pool`` keeps ``ws``/``stride``/``pad`` as parameters so each backend
generates code for known sizes; when they are only known at run time (an ``ivector``
input, a value computed in the graph) ``DynamicPool`` receives them as int64 vectors and
checks them on every call (``ws >= 1``, ``stride >= 1``, ``0 <= pad < ws``, padding only
with ``ignore_border=True``), raising ValueError with the texts of ``Pool``'s checks.
One class covers the forward pass and the three gradient ops (``kind``), so every
gradient of a dynamic pool is again a dynamic pool op. Values equal ``Pool``'s for the
same sizes: ``perform`` builds the static op from the run-time values and runs its numpy
reference; the Numba backend calls the same kernels as ``Pool`` with the sizes as
arguments (``symgraph/link/numba/impl/pool_dynamic.py``).

Example::

    >>> ws = T.ivector('ws')
    >>> y = pool.pool_2d(x, ws=ws, ignore_border=True)      # f(x, [2, 2])
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op, ShapeNotImplemented
from symgraph.tensor import math as tm
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.signal.pool import (MODES, AveragePoolGrad, MaxPoolGrad, MaxPoolGradGrad,
                                         Pool)
from symgraph.tensor.type import DISCRETE_DTYPES

#: number of tensor inputs before (ws, stride, pad), per kind
N_TENSORS = {"pool": 1, "max_grad": 3, "avg_grad": 2, "max_gradgrad": 3}


def is_symbolic(v) -> bool:
    """True when a pool size argument needs ``DynamicPool`` (a non-constant variable, or a
    sequence holding one)."""
    if isinstance(v, Variable):
        return not isinstance(v, Constant)
    if isinstance(v, (list, tuple)):
        return any(is_symbolic(e) for e in v)
    return False


def static_value(v):
    """A constant pool size argument (a TensorConstant, or a sequence of them and ints)
    as Python ints; other values are returned unchanged."""
    if isinstance(v, Constant):
        a = np.asarray(v.data)
        return int(a) if a.ndim == 0 else tuple(int(e) for e in a)
    if isinstance(v, (list, tuple)) and any(isinstance(e, Constant) for e in v):
        return tuple(static_value(e) for e in v)
    return v


def as_size_vector(v, what):
    """``v`` (an int vector variable, or a pair/scalar mixing ints and int scalars) as an
    int64 vector variable."""
    import symgraph.tensor as T

    if isinstance(v, (list, tuple)):
        v = T.stack([as_tensor_variable(e) for e in v])
    else:
        v = as_tensor_variable(v)
        if v.type.ndim == 0:
            v = T.stack([v, v])
    if v.type.ndim != 1 or v.type.dtype not in DISCRETE_DTYPES or v.type.dtype == "bool":
        raise TypeError(f"pool_2d: {what} must be a pair of ints or an integer vector, got "
                        f"{v} ({v.type})")
    return tm.cast(v, "int64") if v.type.dtype != "int64" else v


def check_sizes(ws, stride, pad, ignore_border):
    """Run-time checks of ``Pool``'s constructor, on the values of the size vectors
    (ValueError: the values are bad input of this call)."""
    for name, v, lo in (("ws", ws, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if v.shape != (2,):
            raise ValueError(f"pool_2d: {name} must have 2 entries, got {v.tolist()}")
        if min(v) < lo:
            raise ValueError(f"pool_2d: {name} entries must be >= {lo}, got {v.tolist()}")
    if (pad != 0).any() and not ignore_border:
        raise ValueError("pool_2d: padding works only with ignore_border=True")
    if pad[0] >= ws[0] or pad[1] >= ws[1]:
        raise ValueError(f"pool_2d: padding {pad.tolist()} must be smaller than the window "
                         f"{ws.tolist()}")


class DynamicPool(Op):
    """``kind``: 'pool' ``(x, ws, stride, pad)``, 'max_grad' ``(x, maxout, gz, ...)``,
    'avg_grad' ``(x, gz, ...)``, 'max_gradgrad' ``(x, maxout, ggx, ...)``."""

    __props__ = ("kind", "ignore_border", "mode")

    def __init__(self, kind, ignore_border, mode="max"):
        if kind not in N_TENSORS:
            raise ValueError(f"DynamicPool: unknown kind {kind!r}")
        if mode not in MODES:
            raise ValueError(f"pool_2d: mode must be one of {sorted(MODES)}, got {mode!r}")
        self.kind = kind
        self.ignore_border = bool(ignore_border)
        self.mode = mode

    @property
    def mode_code(self) -> int:
        return MODES[self.mode]

    def static_op(self, ws=(2, 2), stride=None, pad=(0, 0)):
        """The static op with these sizes (``Pool``, ``MaxPoolGrad``...)."""
        ib = self.ignore_border
        if self.kind == "pool":
            return Pool(ws, ib, stride, pad, self.mode)
        if self.kind == "max_grad":
            return MaxPoolGrad(ws, ib, stride, pad)
        if self.kind == "avg_grad":
            return AveragePoolGrad(ws, ib, stride, pad, self.mode)
        return MaxPoolGradGrad(ws, ib, stride, pad)

    def make_node(self, *inputs):
        n = N_TENSORS[self.kind]
        if len(inputs) != n + 3:
            raise TypeError(f"{self}: expected {n} tensors then ws, stride, pad; got "
                            f"{len(inputs)} inputs")
        # the static op checks the tensors and gives the output type (sizes do not
        # change types); a padded prototype needs ignore_border=True
        proto = self.static_op((2, 2), None, (0, 0)).make_node(*inputs[:n])
        sizes = [as_size_vector(v, w) for v, w in zip(inputs[n:], ("ws", "stride", "pad"))]
        return Apply(self, list(proto.inputs) + sizes, [proto.outputs[0].type()])

    def perform(self, node, inputs):
        n = N_TENSORS[self.kind]
        ws, st, pd = (np.asarray(v, dtype=np.int64) for v in inputs[n:])
        check_sizes(ws, st, pd, self.ignore_border)
        op = self.static_op(tuple(ws), tuple(st), tuple(pd))
        return op.perform(node, inputs[:n])

    def infer_shape(self, fgraph, node, input_shapes):
        if self.kind == "pool":
            raise ShapeNotImplemented("DynamicPool's output shape depends on run-time sizes")
        return [input_shapes[1] if self.kind == "max_gradgrad" else input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        n = N_TENSORS[self.kind]
        t, sizes = inputs[:n], inputs[n:]
        (g,) = output_grads
        ib = self.ignore_border
        none = [None, None, None]
        if self.kind == "pool":
            if self.mode == "max":
                return [DynamicPool("max_grad", ib)(t[0], outputs[0], g, *sizes)] + none
            return [DynamicPool("avg_grad", ib, self.mode)(t[0], g, *sizes)] + none
        if self.kind == "max_grad":
            x, maxout, _ = t
            return [tm.zeros_like(x), tm.zeros_like(maxout),
                    DynamicPool("max_gradgrad", ib)(x, maxout, g, *sizes)] + none
        if self.kind == "avg_grad":
            return [tm.zeros_like(t[0]), DynamicPool("pool", ib, self.mode)(g, *sizes)] + none
        x, maxout, _ = t
        return [tm.zeros_like(x), tm.zeros_like(maxout),
                DynamicPool("max_grad", ib)(x, maxout, g, *sizes)] + none


def dynamic_pool_2d(input, ws, ignore_border, stride, pad, mode):
    """``pool_2d`` with symbolic sizes (``stride=None`` means ``ws``)."""
    return DynamicPool("pool", ignore_border, mode)(input, ws, ws if stride is None else stride,
                                                    pad)
