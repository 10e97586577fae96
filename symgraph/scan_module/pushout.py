"""Moving work out of a scan's step (Theano's ``scan_opt`` push-outs).

Two kinds of step nodes need not run once per step inside the loop:

- *invariant* nodes, whose inputs are non-sequences and constants only
  (``push_out_non_seq``): computed once before the loop, their values enter the step as
  new non-sequences;
- *sequence* nodes, whose inputs are sequence rows, invariant values and constants
  (``push_out_seq``): computed for every step at once before the loop, their per-step
  values enter the step as new sequences. ``dot(x_t, W)`` over all steps is one large
  product ``reshape(x, (steps * rows, k)) @ W`` instead of ``steps`` small ones, and the
  elementwise work on sequence rows that feeds it runs over whole arrays (elementwise
  work feeding only the step's own elementwise work stays, to fuse with it). In a
  gradient's backward loop this moves out the products the step would recompute from the
  forward's stored states, leaving the loop only the work that depends on the carried
  gradients and the elementwise work fused with it.

Only ops whose all-steps form is the same op on a leading step axis are moved out as
sequence work: ``Elemwise`` (other than a fill by an invariant value, which would
allocate a steps-long array only to hold zeros), ``DimShuffle``, ``Subtensor`` with
invariant bounds and ``Dot`` of a sequence row by an invariant matrix or vector.
"""
from __future__ import annotations

from symgraph.graph.basic import Constant, clone_replace, toposort
from symgraph.scan_module.op import Scan


def _split(op):
    s = op.n_seqs
    n_taps = sum(len(t) for t in op.state_taps)
    ins = op.inner_inputs
    return ins[:s], ins[s:s + n_taps], ins[s + n_taps:]


def _is_fill(node, invariant):
    """``second(x, v)`` with ``v`` invariant: a value known without the rows of ``x``."""
    from symgraph.tensor.elemwise import Elemwise
    from symgraph.tensor.scalar_logic import Second

    return (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Second)
            and (node.inputs[1] in invariant or isinstance(node.inputs[1], Constant)))


def _all_steps(node, outer, seq_vars):
    """The outer variables computing ``node`` for every step at once (a leading step axis
    on each output), or None when the op has no such form. ``outer`` maps inner variables
    to their outer values; those in ``seq_vars`` carry the step axis."""
    import symgraph.tensor as T
    from symgraph.tensor.dot import Dot
    from symgraph.tensor.elemwise import DimShuffle, Elemwise
    from symgraph.tensor.subtensor import Subtensor

    op = node.op
    ins = node.inputs

    def o(v):
        return outer[v] if v in outer else v  # constants stay as they are

    if isinstance(op, Elemwise) and not op.inplace_pattern:
        args = []
        for v in ins:
            a = o(v)
            if v not in seq_vars and a.type.ndim:
                # an invariant operand: a broadcastable step axis in front
                a = a.dimshuffle(["x"] + list(range(a.type.ndim)))
            args.append(a)
        outs = op(*args)
        return outs if isinstance(outs, list) else [outs]
    if isinstance(op, DimShuffle) and ins[0] in seq_vars:
        x = o(ins[0])
        order = [0] + [("x" if i == "x" else i + 1) for i in op.new_order]
        return [DimShuffle(x.type.broadcastable, order)(x)]
    if isinstance(op, Subtensor) and ins[0] in seq_vars and \
            not any(v in seq_vars for v in ins[1:]):
        full = (("slice", None, None, None),)
        return [Subtensor(full + tuple(op.idx_list))(o(ins[0]), *[o(v) for v in ins[1:]])]
    if type(op) is Dot and ins[0] in seq_vars and ins[1] not in seq_vars \
            and ins[0].type.ndim in (1, 2) and ins[1].type.ndim in (1, 2):
        a, w = o(ins[0]), o(ins[1])
        if ins[0].type.ndim == 1:  # (steps, k) @ w: already one product
            return [T.dot(a, w)]
        flat = a.reshape((a.shape[0] * a.shape[1], a.shape[2]))
        r = T.dot(flat, w)
        shape = (a.shape[0], a.shape[1]) + ((w.shape[1],) if w.type.ndim == 2 else ())
        return [r.reshape(shape)]
    return None


def push_out(op, n, seqs, nonseqs):
    """Move invariant and sequence work out of ``op``'s step.

    Returns ``(seq_ph, seq_outer, ns_ph, ns_outer, inner_outputs)``: new inner sequence
    rows with their outer (steps, ...) values, new inner non-sequences with their outer
    values, and the step's outputs reading them; None when nothing moves. ``n`` is the
    number of steps (sequence values are computed for the first ``n`` rows only).
    """
    seq_in, _, ns_in = _split(op)
    outer = dict(zip(ns_in, nonseqs))
    outer.update((v, s[:n]) for v, s in zip(seq_in, seqs))
    invariant = set(ns_in)
    seq_vars = set(seq_in)
    order = toposort(op.inner_outputs, blockers=op.inner_inputs)
    moved = []
    for node in order:
        ins = node.inputs
        if not ins or getattr(node.op, "destroy_map", None) or isinstance(node.op, Scan):
            continue
        if not all(v in invariant or v in seq_vars or isinstance(v, Constant) for v in ins):
            continue
        if not any(v in invariant or v in seq_vars for v in ins):
            continue  # constants only: constant folding's work
        if any(v in seq_vars for v in ins):
            if _is_fill(node, invariant):
                continue
            res = _all_steps(node, outer, seq_vars)
            if res is None:
                continue
            seq_vars.update(node.outputs)
        else:
            res = clone_replace(node.outputs, {v: outer[v] for v in ins if v in outer})
            invariant.update(node.outputs)
        outer.update(zip(node.outputs, res))
        moved.append(node)
    moved = _keep_elementwise_chains(op, order, moved, seq_vars)
    if not moved:
        return None
    moved_outs = {o for node in moved for o in node.outputs}
    needed = []  # the moved values the rest of the step reads (or that are step outputs)
    for node in order:
        if node not in moved:
            needed.extend(v for v in node.inputs if v in moved_outs)
    needed.extend(v for v in op.inner_outputs if v in moved_outs)
    needed = list(dict.fromkeys(needed))
    if not needed:
        return None
    seq_need = [v for v in needed if v in seq_vars]
    ns_need = [v for v in needed if v not in seq_vars]
    seq_ph = [v.type.make_variable(v.name) for v in seq_need]
    ns_ph = [v.type.make_variable(v.name) for v in ns_need]
    rep = dict(zip(seq_need, seq_ph))
    rep.update(zip(ns_need, ns_ph))
    inner_outs = clone_replace(op.inner_outputs, rep)
    return (seq_ph, [outer[v] for v in seq_need], ns_ph, [outer[v] for v in ns_need],
            inner_outs)


def _keep_elementwise_chains(op, order, moved, seq_vars):
    """``moved`` less the elementwise sequence nodes whose values only feed elementwise
    nodes that stay in the step.

    Why: computed in the step, such a node fuses into the step's own elementwise kernel
    (``1 - s`` of a stored gate ``s`` inside the backward step's gate-gradient kernel),
    at the cost of the arithmetic only; moved out, it writes a (steps, ...) array before
    the loop and the step reads it back, two extra passes over memory for no saving.
    Nodes feeding a moved product (``dot(exp(x_t), W)``) still move with it, as do
    loop-invariant nodes (computed once instead of once per step)."""
    from symgraph.tensor.elemwise import Elemwise

    clients: dict = {}
    for node in order:
        for v in node.inputs:
            clients.setdefault(v, []).append(node)
    outs = set(op.inner_outputs)
    keep = set(moved)
    for node in reversed(moved):
        if not isinstance(node.op, Elemwise) or not any(o in seq_vars for o in node.outputs):
            continue
        users = [c for o in node.outputs for c in clients.get(o, [])]
        if users and not any(o in outs for o in node.outputs) and all(
                c not in keep and isinstance(c.op, Elemwise) for c in users):
            keep.discard(node)
    return [node for node in moved if node in keep]
