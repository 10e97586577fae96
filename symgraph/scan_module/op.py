"""The ``Scan`` op: a loop whose body is an inner graph, run by every backend natively.

Why one op with an inner graph (as Theano's): the loop stays one node of the outer graph,
so its length can be symbolic, the outer optimizer can reason about it (``rewrites.py``)
and each backend runs the loop its own way: the py backend calls the inner graph compiled
with the py linker once per step, the Numba backend generates the loop inside the
compiled graph function (``link/numba/impl/scan.py``).

The op is deliberately simpler than Theano's: ``scan()`` (``basic.py``) normalizes every
user form to it.

- sequences arrive already sliced for their taps (one outer sequence per tap, read at row
  ``t``; ``go_backwards`` reverses them outside);
- a *state* output (Theano's sit-sot and mit-sot) has an initial buffer of ``L`` rows
  (``L = -min(taps)``) and is returned as the full buffer ``(L + n_steps, ...)`` (``scan()``
  slices off the initial rows), or, after the ``scan_save_mem`` rewrite, only its final
  value (``store_last``);
- a *nit-sot* output has no recurrence and is returned as ``(n_steps, ...)``;
- non-sequences (including shared variables and free variables found in ``fn``) are
  passed unchanged to every step;
- with ``until``, the inner graph's last output is a boolean: the loop stops after the
  step where it is true and every output holds only the steps that ran.

Inner inputs: ``[sequence rows..., state taps (per state, in tap order)..., non-sequences...]``.
Inner outputs: ``[new state values..., nit-sot values..., (until condition)]``.
Outer inputs: ``[n_steps, sequences..., initial buffers..., non-sequences...]``.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import Op, ShapeNotImplemented
from symgraph.tensor.type import TensorType


class ScanError(ValueError):
    """A scan was built or called with inconsistent inputs; the message names the scan and
    the user's line that called ``scan``."""


class Scan(Op):
    """See the module docstring for the input/output layout."""

    __props__ = ()

    def __init__(self, inner_inputs, inner_outputs, n_seqs, state_taps, n_nitsot,
                 n_nonseqs, until=False, name=None, truncate_gradient=-1,
                 store_last=None, trace=(), optimized=False):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.n_seqs = int(n_seqs)
        self.state_taps = tuple(tuple(int(k) for k in taps) for taps in state_taps)
        self.n_states = len(self.state_taps)
        self.n_nitsot = int(n_nitsot)
        self.n_nonseqs = int(n_nonseqs)
        self.until = bool(until)
        self.name = name or "scan"
        self.truncate_gradient = int(truncate_gradient)
        self.store_last = tuple(store_last) if store_last else (False,) * self.n_states
        self.trace = tuple(trace)
        #: whether the inner graph has been through the optimizer already
        self.optimized = optimized
        self._py_fn = None
        #: the op this one extends with the residual outputs its gradient reads
        #: (``grad.py``); None for ops built otherwise (rewrites drop the link)
        self.residual_of = None
        n_taps = sum(len(t) for t in self.state_taps)
        if len(self.inner_inputs) != self.n_seqs + n_taps + self.n_nonseqs:
            raise ValueError(f"{self}: {len(self.inner_inputs)} inner inputs, expected "
                             f"{self.n_seqs + n_taps + self.n_nonseqs}")
        if len(self.inner_outputs) != self.n_states + self.n_nitsot + int(self.until):
            raise ValueError(f"{self}: {len(self.inner_outputs)} inner outputs, expected "
                             f"{self.n_states + self.n_nitsot + int(self.until)}")

    # identity semantics: an inner graph is not compared structurally (merge keeps both)
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"Scan{{{self.name}}}"

    __repr__ = __str__

    def cache_key(self):
        return f"Scan@{id(self)}"

    # -- layout helpers ------------------------------------------------------------
    def buffer_len(self, i) -> int:
        """Rows of the initial buffer of state ``i`` (``-min(taps)``)."""
        return -min(self.state_taps[i])

    def where(self, who: str) -> str:
        """``scan 'name'`` plus the user's line that called scan (for error messages)."""
        return f"scan {self.name!r} (created at {short_trace(self.trace)})"

    def replace_fields(self, **kw):
        """A new Scan with some constructor fields changed (used by rewrites)."""
        args = dict(inner_inputs=self.inner_inputs, inner_outputs=self.inner_outputs,
                    n_seqs=self.n_seqs, state_taps=self.state_taps, n_nitsot=self.n_nitsot,
                    n_nonseqs=self.n_nonseqs, until=self.until, name=self.name,
                    truncate_gradient=self.truncate_gradient, store_last=self.store_last,
                    trace=self.trace, optimized=self.optimized)
        args.update(kw)
        return Scan(**args)

    def outer_slices(self, inputs):
        """Split outer inputs into (n_steps, sequences, initial buffers, non-sequences)."""
        s, m = self.n_seqs, self.n_states
        return inputs[0], inputs[1:1 + s], inputs[1 + s:1 + s + m], inputs[1 + s + m:]

    # -- the node ---------------------------------------------------------------------
    def make_node(self, n_steps, *inputs):
        from symgraph.tensor.basic import as_tensor_variable

        n_steps = as_tensor_variable(n_steps)
        if n_steps.type.ndim != 0 or not n_steps.type.dtype.startswith(("int", "uint")):
            raise TypeError(f"{self.where('')}: n_steps must be an integer scalar, got "
                            f"{n_steps.type}")
        inputs = [as_tensor_variable(x) for x in inputs]
        if len(inputs) != self.n_seqs + self.n_states + self.n_nonseqs:
            raise TypeError(f"{self}: expected {self.n_seqs + self.n_states + self.n_nonseqs} "
                            f"inputs after n_steps, got {len(inputs)}")
        seqs = inputs[:self.n_seqs]
        inits = inputs[self.n_seqs:self.n_seqs + self.n_states]
        nonseqs = inputs[self.n_seqs + self.n_states:]
        ii = iter(self.inner_inputs)
        for k, s in enumerate(seqs):
            inner = next(ii)
            if s.type.ndim != inner.type.ndim + 1 or s.type.dtype != inner.type.dtype:
                raise TypeError(f"{self.where('')}: sequence {k} has type {s.type}; the step "
                                f"expects rows of type {inner.type}")
        for i, (x0, taps) in enumerate(zip(inits, self.state_taps)):
            for _ in taps:
                inner = next(ii)
            if x0.type.ndim != inner.type.ndim + 1 or x0.type.dtype != inner.type.dtype:
                raise TypeError(f"{self.where('')}: initial buffer of output {i} has type "
                                f"{x0.type}; the step expects rows of type {inner.type}")
        for k, v in enumerate(nonseqs):
            inner = next(ii)
            if v.type.ndim != inner.type.ndim or v.type.dtype != inner.type.dtype:
                raise TypeError(f"{self.where('')}: non-sequence {k} has type {v.type}, the "
                                f"inner graph expects {inner.type}")
        # an output's rows keep the step value's broadcastable pattern (Theano's rule):
        # a step returning a column (``m[:, None]``) gives a (steps, n, 1) output whose
        # last axis broadcasts, so graphs built on its rows (a gradient's backward step
        # reading the forward's stored values) see the type the step had
        outs = []
        for i, x0 in enumerate(inits):
            t = self.inner_outputs[i].type
            if self.store_last[i]:
                outs.append(TensorType(t.dtype, t.broadcastable).make_variable())
            else:
                outs.append(TensorType(t.dtype, (False,) + t.broadcastable).make_variable())
        for j in range(self.n_nitsot):
            t = self.inner_outputs[self.n_states + j].type
            outs.append(TensorType(t.dtype, (False,) + t.broadcastable).make_variable())
        return Apply(self, [n_steps] + inputs, outs)

    def infer_shape(self, fgraph, node, input_shapes):
        raise ShapeNotImplemented(f"{self}: output shapes are known when the loop runs")

    # -- the numpy reference -------------------------------------------------------
    def inner_function(self):
        """The inner graph compiled with the py backend (made once per op)."""
        if self._py_fn is None:
            from symgraph.compile.function import function
            from symgraph.compile.mode import Mode

            self._py_fn = function(self.inner_inputs, self.inner_outputs,
                                   mode=Mode("py", optimizer=None), on_unused_input="ignore",
                                   accept_inplace=True)  # the step graph may be optimized
            self._py_fn.trust_input = True
        return self._py_fn

    def check_lengths(self, n, seqs, inits):
        """Raise a ``ScanError`` for a negative ``n_steps``, a sequence shorter than
        ``n_steps`` or an initial buffer with too few rows."""
        if n < 0:
            raise ScanError(f"{self.where('')}: n_steps must be >= 0, got {n}")
        for k, s in enumerate(seqs):
            if s.shape[0] < n:
                raise ScanError(f"{self.where('')}: sequence {k} has {s.shape[0]} rows (after "
                                f"its taps), fewer than the {n} steps to run")
        for i, x0 in enumerate(inits):
            if x0.shape[0] < self.buffer_len(i):
                raise ScanError(f"{self.where('')}: the initial value of output {i} has "
                                f"{x0.shape[0]} rows; taps {list(self.state_taps[i])} need "
                                f"{self.buffer_len(i)}")

    def check_step(self, t, k, value, expected_shape):
        kind = "output" if k < self.n_states else "output"
        raise ScanError(
            f"{self.where('')}: at step {t}, {kind} {k} of the step function has shape "
            f"{tuple(np.shape(value))}; it must keep the shape {tuple(expected_shape)} "
            f"(the shape of its initial value / of its first step)")

    def perform(self, node, inputs):
        n = int(inputs[0])
        n_steps_in, seqs, inits, nonseqs = self.outer_slices(inputs)
        seqs = [np.asarray(s) for s in seqs]
        inits = [np.asarray(x) for x in inits]
        self.check_lengths(n, seqs, inits)
        f = self.inner_function()
        out_types = [o.type for o in node.outputs]
        bufs = []
        for i, x0 in enumerate(inits):
            L = self.buffer_len(i)
            b = np.empty((L + n,) + x0.shape[1:], dtype=x0.dtype)
            b[:L] = x0[:L]
            bufs.append(b)
        nit = [None] * self.n_nitsot
        ran = n
        for t in range(n):
            args = [s[t] for s in seqs]
            for i, taps in enumerate(self.state_taps):
                L = self.buffer_len(i)
                args.extend(bufs[i][L + t + k] for k in taps)
            args.extend(nonseqs)
            res = f(*args)
            for i in range(self.n_states):
                r = np.asarray(res[i])
                if r.shape != bufs[i].shape[1:]:
                    self.check_step(t, i, r, bufs[i].shape[1:])
                bufs[i][self.buffer_len(i) + t] = r
            for j in range(self.n_nitsot):
                r = np.asarray(res[self.n_states + j])
                if nit[j] is None:
                    nit[j] = np.empty((n,) + r.shape, dtype=out_types[self.n_states + j].dtype)
                elif r.shape != nit[j].shape[1:]:
                    self.check_step(t, self.n_states + j, r, nit[j].shape[1:])
                nit[j][t] = r
            if self.until and bool(res[-1]):
                ran = t + 1
                break
        outs = []
        for i, b in enumerate(bufs):
            L = self.buffer_len(i)
            b = b[:L + ran]
            outs.append(np.array(b[-1], copy=True) if self.store_last[i] else b)
        for j in range(self.n_nitsot):
            t = out_types[self.n_states + j]
            if nit[j] is None:
                nit[j] = np.zeros((0,) * t.ndim, dtype=t.dtype)
            outs.append(nit[j][:ran])
        return outs

    # -- gradient -----------------------------------------------------------------
    def L_op(self, inputs, outputs, output_grads):
        from symgraph.scan_module.grad import scan_grad

        return scan_grad(self, inputs, outputs, output_grads)


def short_trace(trace) -> str:
    """``file:line`` of the user's call (one line, for error messages)."""
    if not trace:
        return "<unknown location>"
    fn, lineno = trace[0][:2]
    return f"{fn}:{lineno}"


def is_scan(node) -> bool:
    return node is not None and isinstance(node.op, Scan)


def scalar_constant_value(v):
    """The Python value of a 0-d constant, else None."""
    if isinstance(v, Constant) and np.ndim(v.data) == 0:
        return v.data.item()
    return None
