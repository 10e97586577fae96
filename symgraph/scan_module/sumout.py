"""Sums over steps moved out of a scan's loop (Theano's ``scan_opt`` push-out of additions).

A state that only accumulates, ``acc[t] = acc[t-1] + e_1[t] + ... + e_k[t]``, and whose
last value alone is read (``store_last``, after ``scan_save_mem``), equals
``acc[-1] + sum_t e_1[t] + ...``. When a term is a *reduction over rows of a per-step
value whose every step is stored anyway*, the sum over steps is one reduction of the
stored (steps, ...) array after the loop instead of one small reduction inside each step:

- ``Sum(m_t, axes)`` -> ``Sum(M, (0,) + axes + 1)``: a bias gradient ``sum_t dz_t.sum(0)``
  becomes one reduction of the stored ``dz`` over steps and rows;
- ``dot(a_t.T, g_t)`` -> ``dot(flat(A).T, flat(G))``: a weight gradient
  ``sum_t x_t^T d_t`` becomes one large product over the stacked steps (BLAS at its best
  shape) instead of ``steps`` small ones accumulated in the loop.

``m_t``, ``a_t``, ``g_t`` count as stored when they are sequence rows, tap rows or new
values of a state keeping its whole history, or non-recurrent outputs of the scan. A dot
term may also store its operands as new non-recurrent outputs (the product outside is
worth the memory, as in Theano); a plain reduction is not moved at that price (storing
``m_t`` costs a pass over it, as much as reducing it in the loop). Terms of other forms
stay in the loop; when none stays, the state goes and its value is the initial row plus
the totals.

Why the totals reshape the stored arrays to sizes taken from the state's initial value: a
scan of zero steps returns its non-recurrent outputs with all-zero shapes (no step ran to
give them their row shape), and the totals must still be zeros of the state's shape.
"""
from __future__ import annotations

import weakref

from symgraph.graph.basic import graph_inputs, toposort
from symgraph.graph.fg import FunctionGraph
from symgraph.rewriting.engine import node_rewriter
from symgraph.scan_module.op import Scan

#: ops already found to have no sum to move out (the check canonicalizes the step graph:
#: not repeated on every pass of the phase)
_nothing: weakref.WeakSet = weakref.WeakSet()


def _is_add(node):
    from symgraph.tensor import scalar_ops as ts
    from symgraph.tensor.elemwise import Elemwise

    return (node is not None and isinstance(node.op, Elemwise)
            and isinstance(node.op.scalar_op, ts.Add) and not node.op.inplace_pattern)


def _is_transpose(v):
    from symgraph.tensor.elemwise import DimShuffle

    return (v.owner is not None and isinstance(v.owner.op, DimShuffle)
            and v.owner.op.new_order == (1, 0))


def _form(t):
    """``("sum", m, axes)``, ``("dot", p, g)`` or None for a term ``t`` of an accumulation."""
    from symgraph.tensor import scalar_ops as ts
    from symgraph.tensor.dot import Dot
    from symgraph.tensor.math import Reduce

    node = t.owner
    if node is None:
        return None
    if isinstance(node.op, Reduce) and node.op.scalar_op == ts.add \
            and node.outputs[0].type.dtype == node.inputs[0].type.dtype:
        return ("sum", node.inputs[0], node.op.axis)
    if type(node.op) is Dot and all(v.type.ndim == 2 for v in node.inputs):
        return ("dot",) + tuple(node.inputs)
    return None


def _strip(v):
    """``v`` through DimShuffles (the raw gradient wraps its reductions in them)."""
    from symgraph.tensor.elemwise import DimShuffle

    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    return v


class _Step:
    """The inner graph of ``op`` with its clients, and which states accumulate."""

    def __init__(self, op):
        self.op = op
        ins = op.inner_inputs
        self.seq_in = ins[:op.n_seqs]
        self.taps, pos = [], op.n_seqs
        for taps in op.state_taps:
            self.taps.append(ins[pos:pos + len(taps)])
            pos += len(taps)
        self.ns_in = ins[pos:]
        self.nodes = toposort(op.inner_outputs, blockers=ins)
        self.clients: dict = {}
        for nd in self.nodes:
            for v in nd.inputs:
                self.clients.setdefault(v, []).append(nd)

    def varies(self, v):
        """Whether ``v`` depends on a sequence row or a state tap."""
        rows = set(self.seq_in) | {t for taps in self.taps for t in taps}
        return any(r in rows for r in graph_inputs([v], blockers=self.op.inner_inputs))

    def terms(self, i):
        """The terms added to state ``i``'s previous value, or None when state ``i`` is not
        such an accumulation (single tap -1, last value only, the previous value read only
        by the addition, the new value read by nothing else in the step)."""
        op = self.op
        if not op.store_last[i] or op.state_taps[i] != (-1,):
            return None
        y = op.inner_outputs[i]
        (tap,) = self.taps[i]
        if not _is_add(y.owner) or self.clients.get(tap, []) != [y.owner] \
                or self.clients.get(y) or op.inner_outputs.count(y) != 1 \
                or y.owner.inputs.count(tap) != 1:
            return None
        found = []
        todo = [v for v in y.owner.inputs if v is not tap]
        while todo:
            v = todo.pop(0)
            if _is_add(v.owner) and len(self.clients.get(v, [])) == 1 \
                    and v not in op.inner_outputs and v.type == y.type:
                todo.extend(v.owner.inputs)
            else:
                found.append(v)
        return found

    def candidates(self, raw=False):
        """{state: terms} for the accumulating states with a term of a movable form
        (``raw``: looking through DimShuffles, before canonicalization)."""
        out = {}
        for i in range(self.op.n_states):
            terms = self.terms(i)
            if terms and any(_form(_strip(t) if raw else t) for t in terms):
                out[i] = terms
        return out


def _canonical(op):
    """``op`` with its step graph merged and canonicalized (the raw gradient's reductions
    are wrapped in DimShuffles and nested sums)."""
    from symgraph.compile.mode import Mode
    from symgraph.rewriting import optimize

    fg = FunctionGraph(op.inner_inputs, op.inner_outputs, clone=True)
    optimize(fg, Mode("numba", excluding=("specialize", "fuse", "inplace")))
    return op.replace_fields(inner_inputs=fg.inputs, inner_outputs=fg.outputs)


@node_rewriter("specialize", tracks=[Scan], tags=["fast_run", "scan"], name="scan_push_out_sum")
def scan_push_out_sum(fgraph, node):
    op = node.op
    if op.until or op.optimized or op in _nothing:
        return None
    if not _Step(op).candidates(raw=True):
        _nothing.add(op)
        return None
    op = _canonical(op)
    step = _Step(op)
    plan = _plan(step, step.candidates())
    if plan is None:
        _nothing.add(node.op)
        return None
    return _apply(node, op, step, *plan)


def _row_source(step, v):
    """How the value of inner ``v`` at every step is found outside: ``("seq", k)``,
    ``("tap", state, tap)``, ``("state", i)``, ``("nit", j)`` or None."""
    op = step.op
    if v in step.seq_in:
        return ("seq", step.seq_in.index(v))
    for i, taps in enumerate(step.taps):
        if v in taps and not op.store_last[i]:
            return ("tap", i, op.state_taps[i][taps.index(v)])
    outs = op.inner_outputs
    for i in range(op.n_states):
        if outs[i] is v and not op.store_last[i]:
            return ("state", i)
    for j in range(op.n_nitsot):
        if outs[op.n_states + j] is v:
            return ("nit", j)
    return None


def _plan(step, cands):
    """For each candidate state, the terms that move out and those that stay; the inner
    values to store as new non-recurrent outputs. None when nothing moves."""
    moves, stays, store = {}, {}, []
    for i, terms in cands.items():
        mv, st = [], []
        y_type = step.op.inner_outputs[i].type
        for t in terms:
            f = _form(t)
            if f is None or t.type != y_type:  # broadcast terms stay too
                st.append(t)
                continue
            if f[0] == "sum":
                if _row_source(step, f[1]) is None:
                    st.append(t)
                    continue
            else:
                p, g = f[1], f[2]
                a = p.owner.inputs[0] if _is_transpose(p) else p
                if not (step.varies(a) and step.varies(g)):
                    st.append(t)  # a loop-invariant operand: push_out's work, not storage
                    continue
                for v in (a, g):
                    if _row_source(step, v) is None and v not in store:
                        store.append(v)
            mv.append((t, f))
        if mv:
            moves[i], stays[i] = mv, st
    if not moves:
        return None
    return moves, stays, store


def _apply(node, op, step, moves, stays, store):
    import symgraph.tensor as T

    n, seqs, inits, nonseqs = op.outer_slices(node.inputs)
    nst, nit = op.n_states, op.n_nitsot
    gone = [i for i in moves if not stays[i]]
    kept = [i for i in range(nst) if i not in gone]
    # the step: accumulations keep only their other terms; stored values become outputs
    new_y = {}
    for i in moves:
        if stays[i]:
            (tap,) = step.taps[i]
            new_y[i] = tap + stays[i][0] if len(stays[i]) == 1 else T.add(tap, *stays[i])
    outs = op.inner_outputs
    ins = (step.seq_in + [v for i in kept for v in step.taps[i]] + step.ns_in)
    new_outs = ([new_y.get(i, outs[i]) for i in kept] + outs[nst:nst + nit] + store
                + outs[nst + nit:])
    new_op = op.replace_fields(
        inner_inputs=ins, inner_outputs=new_outs,
        state_taps=[op.state_taps[i] for i in kept], n_nitsot=nit + len(store),
        store_last=[op.store_last[i] for i in kept])
    new_op.residual_of = None
    new_node = new_op.make_node(n, *seqs, *[inits[i] for i in kept], *nonseqs)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    res = new_node.outputs
    pos = {i: k for k, i in enumerate(kept)}

    def all_steps(v):
        """The (steps, ...) outer value of inner ``v``."""
        src = _row_source(step, v)
        if src is None:
            return res[len(kept) + nit + store.index(v)]
        if src[0] == "seq":
            return seqs[src[1]][:n]
        if src[0] == "nit":
            return res[len(kept) + src[1]]
        i = src[1]
        L = op.buffer_len(i)
        off = L + (src[2] if src[0] == "tap" else 0)
        return res[pos[i]][off:off + n]

    def total(f, like):
        """The sum over steps of term ``f``, shaped as ``like`` (the state's value). The
        sizes come from ``like``, never from the stored arrays: after zero steps those
        have all-zero shapes."""
        shape = [like.shape[d] for d in range(like.type.ndim)]
        if f[0] == "sum":
            m, axes = all_steps(f[1]), f[2]
            nd = f[1].type.ndim
            order = list(axes) + [d for d in range(nd) if d not in axes]
            if order != list(range(nd)):  # the reduced axes first (a copy)
                m = m.dimshuffle([0] + [d + 1 for d in order])
            return T.sum(m.reshape([-1] + shape, ndim=len(shape) + 1), axis=0)
        p, g = f[1], f[2]
        G = all_steps(g).reshape((-1, shape[1]), ndim=2)
        if _is_transpose(p):
            A = all_steps(p.owner.inputs[0]).reshape((-1, shape[0]), ndim=2)
            return T.dot(A.T, G)
        # sum_t p_t g_t = [p_0 ... p_n-1] (side by side) @ [g_0; ...; g_n-1] (stacked)
        P = all_steps(p).dimshuffle(1, 0, 2).reshape((shape[0], -1), ndim=2)
        return T.dot(P, G)

    repl = {}
    for i in range(nst):
        old = node.outputs[i]
        if i in moves:
            base = res[pos[i]] if i in pos else inits[i][op.buffer_len(i) - 1]
            like = inits[i][0]
            for _, f in moves[i]:
                base = base + total(f, like)
            new = base
        else:
            new = res[pos[i]]
        if new.type != old.type:
            from symgraph.tensor.shape_ops import patternbroadcast

            new = patternbroadcast(new, old.type.broadcastable)
            if new.type != old.type:
                return None
        repl[old] = new
    for j in range(nit):
        repl[node.outputs[nst + j]] = res[len(kept) + j]
    return repl
