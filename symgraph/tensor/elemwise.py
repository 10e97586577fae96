"""Elementwise ops: ``Elemwise`` maps a ScalarOp over arrays, ``DimShuffle`` reorders or
adds/drops broadcastable axes, ``Composite`` is a fused program of scalar ops.

Broadcasting follows the static pattern of the input types (Theano's rule): a dimension
of length 1 broadcasts only if its type says so, and a mismatch is a run-time error that
names the op and the shapes.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x'); b = T.vector('b')
    >>> y = x + b.dimshuffle('x', 0)      # b broadcast along rows
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import Op
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.type import TensorType


class Elemwise(Op):
    """Apply ``scalar_op`` element by element, with broadcasting by type pattern.

    ``inplace_pattern`` maps output index -> input index whose buffer the output reuses
    (set only by the in-place rewrite, never by users).
    """

    __props__ = ("scalar_op", "inplace_pattern")

    def __init__(self, scalar_op, inplace_pattern=()):
        self.scalar_op = scalar_op
        self.inplace_pattern = tuple(sorted(dict(inplace_pattern).items()))
        self.destroy_map = {o: [i] for o, i in self.inplace_pattern}

    def __str__(self):
        s = str(self.scalar_op)
        if self.inplace_pattern:
            s += "{inplace:" + ",".join(f"{o}<-{i}" for o, i in self.inplace_pattern) + "}"
        return f"Elemwise{{{s}}}"

    def make_node(self, *inputs):
        from symgraph.tensor.basic import as_tensor_variable

        inputs = [as_tensor_variable(x) for x in inputs]
        sop = self.scalar_op
        if sop.nin is not None and len(inputs) != sop.nin:
            raise TypeError(f"{self}: expected {sop.nin} inputs, got {len(inputs)}")
        if not inputs:
            raise TypeError(f"{self}: needs at least one input")
        ndim = max(x.type.ndim for x in inputs)
        padded = []
        for x in inputs:
            if x.type.ndim < ndim and isinstance(x, Constant):
                # pad constants directly: no DimShuffle node for them
                from symgraph.tensor.basic import constant

                data = np.asarray(x.data).reshape((1,) * (ndim - x.type.ndim) + np.shape(x.data))
                x = constant(data, dtype=x.type.dtype)
            if x.type.ndim < ndim:
                k = ndim - x.type.ndim
                x = DimShuffle(x.type.broadcastable, ["x"] * k + list(range(x.type.ndim)))(x)
            padded.append(x)
        bcast = tuple(all(x.type.broadcastable[d] for x in padded) for d in range(ndim))
        out_dtypes = sop.output_dtypes(*[x.type.dtype for x in padded])
        outs = [TensorType(dt, bcast).make_variable() for dt in out_dtypes]
        return Apply(self, padded, outs)

    def perform(self, node, inputs):
        check_elemwise_shapes(self, node, inputs)
        sop = self.scalar_op
        # cast to the dtypes the op computes in (as generated code does): np.exp(int8) would
        # otherwise compute in float16, np.reciprocal(int) in integers
        cdts = sop.compute_dtypes([x.type.dtype for x in node.inputs],
                                  [o.type.dtype for o in node.outputs])
        args = [v if np.asarray(v).dtype == c else np.asarray(v).astype(c)
                for v, c in zip(inputs, cdts)]
        with np.errstate(all="ignore"):
            res = sop.np_impl(*args)
        if not isinstance(res, (list, tuple)):
            res = [res]
        outs = []
        shape = elemwise_out_shape(node, inputs)
        for r, o in zip(res, node.outputs):
            r = np.asarray(r, dtype=o.type.dtype)
            if r.shape != shape:
                r = np.broadcast_to(r, shape).copy()
            outs.append(r)
        return outs

    def infer_shape(self, fgraph, node, input_shapes):
        out = []
        for d in range(node.outputs[0].type.ndim):
            dim = None
            for x, shp in zip(node.inputs, input_shapes):
                if not x.type.broadcastable[d]:
                    dim = shp[d]
                    break
            out.append(1 if dim is None else dim)
        return [tuple(out)] * len(node.outputs)

    def L_op(self, inputs, outputs, output_grads):
        if len(outputs) != 1:
            raise NotImplementedError(f"gradient of multi-output {self}")
        gz = output_grads[0]
        grads = self.scalar_op.grad(inputs, outputs[0], gz)
        return [None if g is None else unbroadcast_grad(g, x) for x, g in zip(inputs, grads)]


def elemwise_out_shape(node, inputs):
    ndim = node.outputs[0].type.ndim
    shape = []
    for d in range(ndim):
        s = 1
        for x, v in zip(node.inputs, inputs):
            if not x.type.broadcastable[d]:
                s = np.shape(v)[d]
                break
        shape.append(s)
    return tuple(shape)


def check_elemwise_shapes(op, node, inputs):
    """Raise ValueError when non-broadcastable dimensions disagree (Theano's rule).

    The message names the op, every input shape and dtype, and for a fused ``Composite``
    the original operation (and the line that created it) where the shapes first meet.
    """
    ndim = node.outputs[0].type.ndim
    for d in range(ndim):
        sizes = {np.shape(v)[d] for x, v in zip(node.inputs, inputs)
                 if not x.type.broadcastable[d]}
        if len(sizes) > 1:
            raise ValueError(_mismatch_message(op, node, inputs, d))


def _mismatch_message(op, node, inputs, d):
    shapes = ", ".join(f"{np.shape(v)} {np.asarray(v).dtype}" for v in inputs)
    msg = (f"{op}: input dimension mismatch along axis {d}: input shapes are ({shapes}). "
           f"Only dimensions whose type is broadcastable stretch; use dimshuffle('x', ...) "
           f"or a row/col type to broadcast.")
    sop = op.scalar_op
    if isinstance(sop, Composite):
        k = sop.first_mismatch(
            [None if x.type.broadcastable[d] else np.shape(v)[d]
             for x, v in zip(node.inputs, inputs)])
        if k is not None:
            from symgraph.graph.utils import format_trace

            traces = getattr(node.tag, "fused_traces", None) or []
            where = format_trace(traces[k]) if k < len(traces) else "<unknown location>"
            msg += (f"\n  The mismatch is in the fused operation {sop.steps[k][0]} (step {k} "
                    f"of {sop}), created at:\n    " + where.replace("\n", "\n    "))
    return msg


def unbroadcast_grad(g, x):
    """Sum ``g`` over the axes where ``x`` broadcasts, and cast to ``x``'s dtype."""
    from symgraph.tensor import math as tm

    axes = [d for d, (bx, bg) in enumerate(zip(x.type.broadcastable, g.type.broadcastable))
            if bx and not bg]
    if g.type.ndim != x.type.ndim:
        raise ValueError(f"internal: gradient of ndim {g.type.ndim} for input of ndim "
                         f"{x.type.ndim}")
    if axes:
        g = tm.sum(g, axis=axes, keepdims=True)
    if g.type.dtype != x.type.dtype:
        g = tm.cast(g, x.type.dtype)
    if g.type.broadcastable != x.type.broadcastable:
        # g is known-broadcastable where x is not: stretch it to x's shape
        g = tm.add(g, tm.zeros_like(x))
    return g


class DimShuffle(Op):
    """Reorder axes, drop broadcastable axes and insert new ones ('x'). Returns a view.

    ``DimShuffle((False, False), (1, 0))`` transposes a matrix; ``(0, 'x')`` makes a column.
    """

    __props__ = ("input_broadcastable", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_broadcastable, new_order):
        self.input_broadcastable = tuple(bool(b) for b in input_broadcastable)
        self.new_order = tuple(new_order)
        nd = len(self.input_broadcastable)
        kept = [i for i in self.new_order if i != "x"]
        for i in kept:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < nd:
                raise ValueError(f"dimshuffle: invalid axis {i!r} for a {nd}-d input "
                                 f"(pattern {self.new_order})")
        if len(set(kept)) != len(kept):
            raise ValueError(f"dimshuffle: repeated axis in pattern {self.new_order}")
        self.drop = tuple(i for i in range(nd) if i not in kept)
        for i in self.drop:
            if not self.input_broadcastable[i]:
                raise ValueError(
                    f"dimshuffle: cannot drop axis {i} of an input with broadcastable pattern "
                    f"{self.input_broadcastable}; only broadcastable (length-1) axes can be "
                    f"dropped")
        self.shuffle = tuple(kept)
        self.augment = tuple(k for k, i in enumerate(self.new_order) if i == "x")

    def __str__(self):
        return "DimShuffle{" + ",".join(str(i) for i in self.new_order) + "}"

    def make_node(self, x):
        from symgraph.tensor.basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.type.broadcastable != self.input_broadcastable:
            if len(x.type.broadcastable) != len(self.input_broadcastable):
                raise TypeError(f"{self}: expected a {len(self.input_broadcastable)}-d input, "
                                f"got {x.type}")
            raise TypeError(f"{self}: input broadcastable pattern {x.type.broadcastable} "
                            f"differs from {self.input_broadcastable}")
        bcast = tuple(True if i == "x" else x.type.broadcastable[i] for i in self.new_order)
        return Apply(self, [x], [TensorType(x.type.dtype, bcast).make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        x = np.asarray(x)
        idx = tuple(0 if i in self.drop else slice(None) for i in range(x.ndim))
        kept_order = sorted(self.shuffle)
        v = x[idx] if self.drop else x
        perm = [kept_order.index(i) for i in self.shuffle]
        v = v.transpose(perm)
        if self.augment:
            v = np.expand_dims(v, self.augment)
        return [v]

    def infer_shape(self, fgraph, node, input_shapes):
        (s,) = input_shapes
        return [tuple(1 if i == "x" else s[i] for i in self.new_order)]

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.tensor import math as tm

        (x,) = inputs
        (gz,) = output_grads
        if x.type.dtype not in ("float32", "float64", "complex64", "complex128"):
            return [None]
        # sum over the augmented axes, then drop them
        if self.augment:
            gz = tm.sum(gz, axis=list(self.augment), keepdims=True)
            keep = [k for k in range(len(self.new_order)) if k not in self.augment]
            gz = DimShuffle(gz.type.broadcastable, keep)(gz)
        # gz's axis j now corresponds to input axis self.shuffle[j]
        order = []
        for i in range(x.type.ndim):
            order.append(self.shuffle.index(i) if i in self.shuffle else "x")
        g = DimShuffle(gz.type.broadcastable, order)(gz)
        return [unbroadcast_grad(g, x)]


class Composite(ts.ScalarOp):
    """A fused program of scalar ops over ``nin`` inputs with ``nout`` outputs.

    ``steps`` is a tuple of ``(scalar_op, args, dtype)`` where each arg is ``('i', k)`` (input
    k), ``('s', j)`` (result of step j) or ``('c', value, dtype)`` (a scalar constant);
    ``outputs`` lists the step indices returned. Emitted as one loop body by code
    generators (``symgraph.link.scalar_render``); evaluated step by step on arrays by
    ``np_impl``. It is ``expensive`` when one of its steps is.
    """

    __props__ = ("steps", "outputs", "in_dtypes")

    def __init__(self, steps, outputs, in_dtypes):
        self.steps = tuple((op, tuple(tuple(a) for a in args), dt) for op, args, dt in steps)
        self.outputs = tuple(outputs)
        self.in_dtypes = tuple(in_dtypes)
        self.nin = len(self.in_dtypes)
        self.nout = len(self.outputs)
        self.name = "Composite{" + ",".join(str(s[0]) for s in self.steps) + "}"

    def __str__(self):
        return self.name

    @property
    def expensive(self):
        return any(op.expensive for op, _, _ in self.steps)

    def cache_key(self):
        parts = [f"{op.cache_key()}{args}{dt}" for op, args, dt in self.steps]
        return f"Composite({';'.join(parts)}|{self.outputs}|{self.in_dtypes})"

    def output_dtypes(self, *dtypes):
        return [self.steps[j][2] for j in self.outputs]

    def output_dtype(self, *dtypes):
        return self.output_dtypes(*dtypes)[0]

    def compute_dtypes(self, in_dtypes, out_dtypes):
        return list(in_dtypes)

    def np_impl(self, *args):
        vals = []
        for op, refs, dt in self.steps:
            a = [self._val(r, args, vals) for r in refs]
            if op.compute_dtypes is not None:
                in_dts = [str(np.asarray(v).dtype) for v in a]
                cdts = op.compute_dtypes(in_dts, [dt])
                a = [np.asarray(v).astype(c, copy=False) for v, c in zip(a, cdts)]
            with np.errstate(all="ignore"):
                r = op.np_impl(*a)
            vals.append(np.asarray(r).astype(dt, copy=False))
        return [vals[j] for j in self.outputs]

    def first_mismatch(self, leaf_sizes):
        """Index of the first step whose operands disagree, given one size per input along
        a dimension (None where the input broadcasts); None if they all agree."""
        sizes = []  # per step: the size it runs over (None: broadcast)
        for k, (op, refs, dt) in enumerate(self.steps):
            seen = set()
            for r in refs:
                s = (leaf_sizes[r[1]] if r[0] == "i" else sizes[r[1]] if r[0] == "s"
                     else None)
                if s is not None:
                    seen.add(s)
            if len(seen) > 1:
                return k
            sizes.append(seen.pop() if seen else None)
        return None

    @staticmethod
    def _val(ref, args, vals):
        if ref[0] == "i":
            return np.asarray(args[ref[1]])
        if ref[0] == "s":
            return vals[ref[1]]
        return np.asarray(ref[1], dtype=ref[2])

    def grad(self, inputs, output, gz):
        raise NotImplementedError("Composite ops are made by the optimizer after gradients")

