"""CUDA implementation of ``Scan``: the loop runs on the host, each step on the device.

A CUDA kernel cannot call a graph of kernels, so the loop itself is host code (as in
Theano's GPU scan): the step graph is linked by this backend like any function graph
(``linker._State``: placement, transfers, one kernel module), with every state tap and
sequence row arriving as a *device* array, and the node's host function calls the step's
``graph_fn`` once per step. Per call it

1. allocates one device buffer per state (``L + n_steps`` rows; for a state kept only for
   its last value, ``store_last``, a ring of ``L + 1`` rows) and copies the initial rows
   in with a device copy;
2. per step hands the step graph views of the buffers (the tap rows), of the sequences
   (row ``t``) and the non-sequences -- metadata only, no copy -- and copies each new
   value into its row of the buffer with a device copy kernel (a non-recurrent output's
   buffer is allocated at the first step, once its shape is known);
3. returns views of the buffers (or a copy of the last row) as device arrays.

So the states never visit the host between steps. What does cross, per step, is only
what the step graph itself asks for: the ``until`` condition (one boolean, read to
decide whether to go on), and values an inner op needs on the host (an index computed
from a state, or an inner node whose kernels report errors through the error flag).

A ring of ``L + 1`` rows (not ``L``) keeps the row written at a step distinct from every
row read at that step: the step's output may be a view of one of its inputs (a strided
transpose of the previous state), and copying a view onto itself would corrupt it.

When an inner op has no device implementation the whole scan runs on the host instead,
with the backend's one-time ``CudaFallbackWarning`` naming the op: a loop that copied
its states to the host and back at every step would be slower than the CPU loop.
"""
from __future__ import annotations

import functools

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.graph.fg import FunctionGraph
from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl
from symgraph.scan_module.op import Scan


@functools.lru_cache(maxsize=1)
def _inner_state_class():
    """``_State`` subclass for a step graph (the linker imports ``impl`` lazily, so this
    module imports the linker lazily too)."""
    from symgraph.link.cuda.linker import _State

    class _StepState(_State):
        """The linker's state for a step graph: an op without a device implementation is
        recorded (the outer linker then warns once, about the scan) instead of warned
        about: it will not run inside this loop on the CPU."""

        def _warn(self, node, registered, why=None):
            pass

    return _StepState


def link_step(op, seq_locs, nonseq_locs):
    """Link ``op``'s step graph for the device; returns the linker state (with
    ``graph_fn``, ``fallbacks``, ``loc``), or the state unlinked when an inner node has no
    device implementation (``fallbacks`` not empty).

    Sequence rows and state taps arrive as device arrays; a non-sequence where the outer
    graph produces it (``nonseq_locs``: a 0-d host value stays a host scalar, passed by
    value to the kernels). Every step output is consumed by the loop, none by a user, so
    the step graph downloads and copies none of them (``n_user_outputs = 0``)."""
    from symgraph.link.mode import Mode
    from symgraph.rewriting import optimize

    fg = FunctionGraph(op.inner_inputs, op.inner_outputs, clone=True)
    if not op.optimized:
        optimize(fg, Mode("cuda"))
    n_taps = sum(len(t) for t in op.state_taps)
    locs = {}
    for k, v in enumerate(fg.inputs):
        if k < op.n_seqs:
            locs[v] = seq_locs[k]
        elif k < op.n_seqs + n_taps:
            locs[v] = "device"
        else:
            locs[v] = nonseq_locs[k - op.n_seqs - n_taps]
    fg.n_user_outputs = 0
    state = _inner_state_class()(fg, fg.inputs, [], input_locs=locs)
    state._upd_vars = []
    order = state.place()
    if state.fallbacks:
        return state
    order = state.insert_transfers()
    state.generate(order)
    return state


def _row(a, t):
    """Row ``t`` of device array ``a`` as a view (0-d for a vector): no copy, no host
    read (indexing a device vector with an integer would copy the element to the host)."""
    if a.size == 0:  # nothing to view (and no memory to point into)
        return runtime.device_empty(a.shape[1:], a.dtype)
    return runtime.restride(a[t:t + 1], a.shape[1:], a.strides[1:])


def _rows(a, start, stop):
    return a if (start, stop) == (0, a.shape[0]) else a[start:stop]


def _scan_fallback_reason(op, nodes) -> str:
    names = sorted({f"{n.op} ({type(n.op).__module__}.{type(n.op).__qualname__})"
                    for n in nodes})
    return (f"has a step graph using {', '.join(names)}, which ha"
            f"{'s' if len(names) == 1 else 've'} no CUDA implementation (a device loop "
            f"would copy its states to the host and back at every step)")


@cuda_impl.register(Scan)
def cuda_scan(op, node, ctx):
    n_seqs, n_st, n_nit = op.n_seqs, op.n_states, op.n_nitsot
    nonseqs_v = op.outer_slices(node.inputs)[3]
    seq_locs = ["device"] * n_seqs
    nonseq_locs = ["host" if v.type.ndim == 0 and ctx.loc(v) != "device" else "device"
                   for v in nonseqs_v]
    step = link_step(op, seq_locs, nonseq_locs)
    if step.fallbacks:
        ctx.why = _scan_fallback_reason(op, step.fallbacks)
        return None
    fg = step.fgraph
    # how each step output reaches its buffer: a device array, a host value (uploaded), or
    # a constant (uploaded once, here)
    out_kind = []
    for o in fg.outputs:
        if isinstance(o, Constant):
            out_kind.append(("const", ctx.device_constant(o)))
        else:
            out_kind.append((step.loc[o], np.dtype(o.type.dtype)))
    L = [op.buffer_len(i) for i in range(n_st)]
    ring = list(op.store_last)
    rows_of = [L[i] + 1 if ring[i] else None for i in range(n_st)]
    st_dt = [np.dtype(op.inner_outputs[i].type.dtype) for i in range(n_st)]
    nit_dt = [np.dtype(op.inner_outputs[n_st + j].type.dtype) for j in range(n_nit)]
    nit_nd = [op.inner_outputs[n_st + j].type.ndim for j in range(n_nit)]
    taps = op.state_taps
    until = op.until
    input_locs = (["host"] + seq_locs + ["device"] * n_st + nonseq_locs)

    def step_value(k, r):
        kind, extra = out_kind[k]
        if kind == "const":
            return extra
        if kind == "host":
            return runtime.upload(np.asarray(r, dtype=extra))
        return r

    def build(module):
        copy_into = runtime.copy_into
        device_empty = runtime.device_empty

        def fn(n, *ins):
            n = int(n)
            seqs = ins[:n_seqs]
            inits = ins[n_seqs:n_seqs + n_st]
            nonseqs = ins[n_seqs + n_st:]
            op.check_lengths(n, seqs, inits)
            bufs, where = [], []
            for i, x0 in enumerate(inits):
                rows = rows_of[i] or L[i] + n
                b = device_empty((rows,) + tuple(x0.shape[1:]), st_dt[i])
                copy_into(_rows(x0, 0, L[i]), b[:L[i]])
                bufs.append(b)
                # buffer row of the logical row r (initial rows first, then one per step)
                where.append((lambda r, m=rows_of[i]: r % m) if ring[i] else (lambda r: r))
            nit = [None] * n_nit
            ran = n
            for t in range(n):
                args = [_row(s, t) for s in seqs]
                for i, tp in enumerate(taps):
                    args.extend(_row(bufs[i], where[i](L[i] + t + k)) for k in tp)
                args.extend(nonseqs)
                res = step.graph_fn(*args)
                for i in range(n_st):
                    r = step_value(i, res[i])
                    dst = _row(bufs[i], where[i](L[i] + t))
                    if tuple(r.shape) != tuple(dst.shape):
                        op.check_step(t, i, r, dst.shape)
                    copy_into(r, dst)
                for j in range(n_nit):
                    r = step_value(n_st + j, res[n_st + j])
                    if nit[j] is None:
                        nit[j] = device_empty((n,) + tuple(r.shape), nit_dt[j])
                    elif tuple(r.shape) != tuple(nit[j].shape[1:]):
                        op.check_step(t, n_st + j, r, nit[j].shape[1:])
                    copy_into(r, _row(nit[j], t))
                if until:
                    c = res[-1]
                    stop = c if out_kind[-1][0] != "device" else c.copy_to_host()
                    if bool(np.asarray(stop)):
                        ran = t + 1
                        break
            outs = []
            for i, b in enumerate(bufs):
                if ring[i]:
                    last = _row(b, where[i](L[i] + ran - 1))
                    outs.append(copy_into(last, device_empty(last.shape, st_dt[i])))
                else:
                    outs.append(_rows(b, 0, L[i] + ran))
            for j in range(n_nit):
                z = nit[j]
                if z is None:
                    z = device_empty((0,) * (nit_nd[j] + 1), nit_dt[j])
                outs.append(_rows(z, 0, ran))
            return outs[0] if len(outs) == 1 else tuple(outs)

        fn.step = step  # the linked step graph (its source, kernels, placement)
        return fn

    return CudaImpl(input_locs, build, fresh_outputs=tuple(range(len(node.outputs))))
