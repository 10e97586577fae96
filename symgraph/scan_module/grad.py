"""Backpropagation through time: the gradient of a ``Scan`` is another ``Scan``.

The backward loop runs the steps in reverse. At forward step ``t`` the step computes
``y_i[t] = f(seq rows, y_i[t + k] for k in taps_i, non-sequences)``. Reading ``y_i[t - k]``
happens at steps ``t - k + 1 ... ``, all later than ``t``, so by the time the backward loop
reaches ``t`` every contribution to ``dC/dy_i[t]`` is known. The backward loop carries,
per state ``i`` with ``L_i = -min(taps_i)``, the pending gradients of the ``L_i`` most recent
buffer rows (``c_q`` for row ``t - q``) and, per differentiable non-sequence, the
accumulated gradient. One backward step:

- ``gy = dC/dy_i[t] (from outside the loop) + c_0``;
- the step's vector-Jacobian product (``symgraph.gradient.grad`` with ``known_grads`` on
  the inner graph) gives ``d_k`` for each tap, the sequence rows' gradients (a
  non-recurrent output of the backward loop) and the non-sequences' (added to the
  accumulators);
- ``c'_q = c_{q+1} + d_{-(q+1)}``.

After the last backward step the carries hold the gradient of the initial buffer. Because
the backward loop is built with ``scan`` itself, it is optimized and compiled like any
scan and can be differentiated again. ``truncate_gradient=k`` runs only the last ``k``
backward steps (earlier rows and the initial values then get zero gradient). A scan
with ``until`` is differentiated over the steps it ran (read from its outputs' lengths),
as Theano does: sequence rows after the stop get zero gradient.
"""
from __future__ import annotations

from symgraph.graph.basic import Constant, clone_replace
from symgraph.tensor.type import FLOAT_DTYPES, TensorType


def _float(v) -> bool:
    return v.type.dtype in FLOAT_DTYPES


def scan_grad(op, inputs, outputs, output_grads):
    import symgraph.tensor as T
    from symgraph.gradient import grad
    from symgraph.scan_module.basic import scan

    if any(op.store_last):
        raise NotImplementedError(f"{op}: gradient of a scan that keeps only its last state")
    n, seqs, inits, nonseqs = op.outer_slices(list(inputs))
    ins = op.inner_inputs
    ns_, nst = op.n_seqs, op.n_states
    s_in = ins[:ns_]
    tap_in = []
    pos = ns_
    for taps in op.state_taps:
        tap_in.append(ins[pos:pos + len(taps)])
        pos += len(taps)
    p_in = ins[pos:]
    y_out = op.inner_outputs[:nst]
    z_out = op.inner_outputs[nst:nst + op.n_nitsot]
    g_bufs = output_grads[:nst]
    g_nits = output_grads[nst:nst + op.n_nitsot]

    fl_states = [i for i in range(nst) if _float(y_out[i])]
    # a state's output gradient that is zero, or non-zero only in its last row (a cost on
    # ``result[-1]``), is not read back step by step as a sequence: the last row starts
    # the backward's carry instead (``_gradient_rows``)
    g_rows = {i: _gradient_rows(g_bufs[i], _row(inits[i])) for i in fl_states}
    gy_seq = [i for i in fl_states if g_rows[i] is None]
    fl_nits = [j for j in range(op.n_nitsot) if _float(z_out[j])]
    fl_seqs = [k for k in range(ns_) if _float(s_in[k])]
    fl_ps = [k for k in range(len(p_in)) if _float(p_in[k])]
    # weight matrices used only as ``dot(row, W)`` with a sequence row or a state tap: their
    # gradient is one product over all steps after the loop, sum_t row_t^T g_t, instead of
    # an accumulation inside it (Theano's scan_pushout_dot)
    outer_dots = _outer_dot_params(op, fl_ps, s_in, tap_in, p_in)
    fl_ps = [k for k in fl_ps if k not in outer_dots]

    # -- one backward step, on placeholders -----------------------------------------
    gy_ph = {i: y_out[i].type.make_variable(f"g_out{i}[t]") for i in gy_seq}
    gz_ph = {j: z_out[j].type.make_variable(f"g_nit{j}[t]") for j in fl_nits}
    carry_ph = {i: [_row(inits[i]).make_variable(f"carry{i}_{q}")
                    for q in range(op.buffer_len(i))] for i in fl_states}
    acc_ph = {k: p_in[k].type.make_variable(f"acc_{p_in[k].name}") for k in fl_ps}
    known: dict = {}

    def seed(v, g):
        if isinstance(v, Constant):
            return
        if g.type.broadcastable != v.type.broadcastable:
            from symgraph.tensor.elemwise import unbroadcast_grad

            g = unbroadcast_grad(g, v) if v.type.ndim == g.type.ndim else g
        known[v] = known[v] + g if v in known else g

    for i in fl_states:
        seed(y_out[i], gy_ph[i] + carry_ph[i][0] if i in gy_ph else carry_ph[i][0])
    for j in fl_nits:
        seed(z_out[j], gz_ph[j])
    wrt = ([s_in[k] for k in fl_seqs] + [v for i in fl_states for v in tap_in[i]]
           + [p_in[k] for k in fl_ps])
    if known and wrt:
        gw = grad(None, wrt, known_grads=known, disconnected_inputs="ignore")
    else:
        gw = [T.zeros_like(w) for w in wrt]
    gw = dict(zip(wrt, gw))
    dot_outs = [d.outputs[0] for k in sorted(outer_dots) for d, _ in outer_dots[k]]
    if dot_outs and known:
        g_dots = grad(None, dot_outs, known_grads=known, disconnected_inputs="ignore")
    else:
        g_dots = [T.zeros_like(d) for d in dot_outs]
    new_carry = []
    for i in fl_states:
        L = op.buffer_len(i)
        d = {k: gw[v] for k, v in zip(op.state_taps[i], tap_in[i])}
        for q in range(L):
            terms = []
            if q + 1 < L:
                terms.append(carry_ph[i][q + 1])
            if -(q + 1) in d:
                terms.append(d[-(q + 1)])
            c = terms[0] if len(terms) == 1 else (terms[0] + terms[1] if terms
                                                  else T.zeros_like(carry_ph[i][0]))
            new_carry.append(c)
    new_acc = [acc_ph[k] + gw[p_in[k]] for k in fl_ps]
    seq_g = [gw[s_in[k]] for k in fl_seqs]
    step_outs = new_carry + new_acc + seq_g + list(g_dots)

    # -- the forward's residuals ------------------------------------------------------
    # values of the forward step that the backward step reads (gates, pre-activations)
    # are stored by the forward loop as extra non-recurrent outputs rather than computed
    # again: the forward node is replaced by one with these outputs added (the
    # ``scan_merge_residuals`` rewrite gives its other readers the new node's outputs)
    residuals = _residuals(op, step_outs)
    res_outer = []
    if residuals:
        k = nst + op.n_nitsot
        ext = op.replace_fields(
            inner_outputs=op.inner_outputs[:k] + residuals + op.inner_outputs[k:],
            n_nitsot=op.n_nitsot + len(residuals))
        ext.residual_of = op
        ext_outs = ext.make_node(*inputs).outputs
        outputs, res_outer = ext_outs[:k], ext_outs[k:]
    if op.until:
        # a while loop: differentiate the steps that ran (Theano's rule); the condition
        # itself is piecewise constant and gets no gradient
        n = _steps_taken(op, outputs, n)

    # -- the backward scan ----------------------------------------------------------------
    n_b = n
    if op.truncate_gradient > 0:
        n_b = T.minimum(n, T.constant(op.truncate_gradient, dtype="int64"))
    start = n - n_b
    b_seqs, b_seq_ph = [], []
    for k in range(ns_):
        b_seqs.append(seqs[k][start:n])
        b_seq_ph.append(s_in[k])
    for i in range(nst):
        L = op.buffer_len(i)
        buf = outputs[i]
        for k, v in zip(op.state_taps[i], tap_in[i]):
            b_seqs.append(buf[L + k + start:L + k + n])
            b_seq_ph.append(v)
    for i in gy_seq:
        L = op.buffer_len(i)
        b_seqs.append(g_bufs[i][L + start:L + n])
        b_seq_ph.append(gy_ph[i])
    for j in fl_nits:
        b_seqs.append(g_nits[j][start:n])
        b_seq_ph.append(gz_ph[j])
    for r, v in zip(res_outer, residuals):
        b_seqs.append(r[start:n])
        b_seq_ph.append(v)
    state_ph = [c for i in fl_states for c in carry_ph[i]] + [acc_ph[k] for k in fl_ps]
    init_vals = []
    for i in fl_states:
        for q in range(len(carry_ph[i])):
            zero = T.zeros_like(inits[i][0])
            if q == 0 and g_rows[i] is not None and g_rows[i][0] == "last":
                # after zero steps the buffer's last row is an initial row, whose
                # gradient comes from ``g_bufs[i][:L]`` below: the carry stays zero
                init_vals.append(T.switch(T.gt(n_b, 0), g_rows[i][1], zero))
            else:
                init_vals.append(zero)
    init_vals += [T.zeros_like(nonseqs[k]) for k in fl_ps]
    outputs_info = list(init_vals) + [None] * (len(seq_g) + len(g_dots))

    def step(*args):
        a = list(args)
        rep = dict(zip(b_seq_ph, a[:len(b_seq_ph)]))
        a = a[len(b_seq_ph):]
        rep.update(zip(state_ph, a[:len(state_ph)]))
        a = a[len(state_ph):]
        rep.update(zip(p_in, a))
        return clone_replace(step_outs, rep)

    if step_outs:
        res, _ = scan(step, sequences=b_seqs, outputs_info=outputs_info,
                      non_sequences=list(nonseqs), n_steps=n_b, go_backwards=True,
                      name=f"grad_of_{op.name}", return_list=True)
    else:
        res = []
    # -- gradients of the forward inputs ----------------------------------------------------
    finals = [_final(r) for r in res[:len(state_ph)]]
    out = [None] * len(inputs)
    truncated = T.lt(n_b, n) if op.truncate_gradient > 0 else None
    pos = 0
    for i in fl_states:
        L = op.buffer_len(i)
        rows = finals[pos:pos + L]
        pos += L
        g0 = T.stack(rows[::-1]) if L > 1 else T.shape_padleft(rows[0])
        if truncated is not None:
            g0 = T.switch(truncated, T.zeros_like(g0), g0)
        g0 = g0 + g_bufs[i][:L]
        full = T.set_subtensor(T.zeros_like(inits[i])[:L], g0)
        out[1 + ns_ + i] = full
    for k in fl_ps:
        out[1 + ns_ + nst + k] = finals[pos]
        pos += 1
    for r, k in zip(res[len(state_ph):len(state_ph) + len(seq_g)], fl_seqs):
        g = T.zeros_like(seqs[k])
        # after zero steps r has an all-zero shape (no step ran to give it its row shape)
        nd = seqs[k].type.ndim
        r = r.reshape([r.shape[0]] + [seqs[k].shape[d] for d in range(1, nd)], ndim=nd)
        out[1 + k] = T.set_subtensor(g[start:n], r[::-1])
    # the dot-only weights: sum over steps (and rows) of row_t^T g_t, one product. The
    # backward loop stores g in reverse step order; the rows are reversed to match rather
    # than g (the sum does not depend on the order, and flattening a reversed array copies
    # it: the rows are usually the narrower operand). Both are flattened to the widths of
    # the weight: after zero steps the stored arrays have all-zero shapes (no step ran to
    # give them their row shapes)
    g_iter = iter(res[len(state_ph) + len(seq_g):])
    for k in sorted(outer_dots):
        total = None
        for d, rows in outer_dots[k]:
            g = next(g_iter)
            a = _rows_outer(op, rows, seqs, outputs, start, n)[::-1]
            a = a.reshape((-1, nonseqs[k].shape[0]), ndim=2)
            g = g.reshape((-1, nonseqs[k].shape[1]), ndim=2)
            term = T.dot(a.T, g)
            total = term if total is None else total + term
        out[1 + ns_ + nst + k] = total
    for k in range(len(inputs)):
        if out[k] is None and k > 0 and _float(inputs[k]):
            out[k] = T.zeros_like(inputs[k])
    return out


def _residuals(op, step_outs):
    """The variables computed by ``op``'s step that the backward step ``step_outs`` reads
    directly (its frontier with the forward graph), in a fixed order."""
    from symgraph.graph.basic import toposort

    fwd_nodes = set(toposort(op.inner_outputs, blockers=op.inner_inputs))
    fwd_vars = {o for nd in fwd_nodes for o in nd.outputs}
    found = []
    for nd in toposort(step_outs, blockers=op.inner_inputs):
        if nd not in fwd_nodes:
            found.extend(v for v in nd.inputs if v in fwd_vars)
    found.extend(v for v in step_outs if v in fwd_vars)
    return list(dict.fromkeys(found))


def _steps_taken(op, outputs, n_max):
    """The number of steps a scan with ``until`` ran, read from its outputs' lengths (each
    holds only the steps that ran: ``L + ran`` buffer rows for a state, ``ran`` rows for a
    non-recurrent output); ``n_max`` when it has no outputs besides the condition."""
    import symgraph.tensor as T

    if op.n_states:
        ran = outputs[0].shape[0] - op.buffer_len(0)
    elif op.n_nitsot:
        ran = outputs[0].shape[0]
    else:
        return n_max
    return T.cast(ran, "int64")


def _outer_dot_params(op, fl_ps, s_in, tap_in, p_in):
    """{non-sequence index: [(dot node, row variable)]} for float matrices whose only uses in
    the step are ``dot(row, W)`` with ``row`` a 2-d sequence row or state tap."""
    from symgraph.graph.basic import toposort
    from symgraph.tensor.dot import Dot

    rows = set(s_in) | {v for g in tap_in for v in g}
    nodes = toposort(op.inner_outputs, blockers=op.inner_inputs)
    found = {}
    for k in fl_ps:
        p = p_in[k]
        if p.type.ndim != 2 or p in op.inner_outputs:
            continue
        uses = [n for n in nodes if any(v is p for v in n.inputs)]
        if uses and all(type(n.op) is Dot and n.inputs[1] is p and n.inputs[0] is not p
                        and n.inputs[0] in rows and n.inputs[0].type.ndim == 2 for n in uses):
            found[k] = [(n, n.inputs[0]) for n in uses]
    return found


def _rows_outer(op, row, seqs, outputs, start, n):
    """The outer (steps, ...) stack of inner variable ``row`` over steps ``start:n``."""
    ins = op.inner_inputs
    k = ins.index(row)
    if k < op.n_seqs:
        return seqs[k][start:n]
    pos = op.n_seqs
    for i, taps in enumerate(op.state_taps):
        if k < pos + len(taps):
            L = op.buffer_len(i)
            tap = taps[k - pos]
            return outputs[i][L + tap + start:L + tap + n]
        pos += len(taps)
    raise AssertionError(row)


def _gradient_rows(g, row_type):
    """Which rows of ``g``, the gradient of a state's full output buffer, can be non-zero:
    ``("zero",)`` none, ``("last", v)`` only the last one (``v``, of ``row_type``), None
    unknown (any). Read from how the gradient was built: a zero fill, and increments or
    sets of a zero buffer at index -1, through slices ``k:`` of the first axis (the
    gradient of ``result[-1]`` where ``result`` is the buffer without its initial rows)."""
    from symgraph.scan_module.rewrites import zeros_key
    from symgraph.tensor.subtensor import IncSubtensor

    if zeros_key(g) is not None:
        return ("zero",)
    node = g.owner
    if node is None or not isinstance(node.op, IncSubtensor) or len(node.op.idx_list) != 1 \
            or zeros_key(node.inputs[0]) is None:
        return None
    idx, val = node.op.idx_list[0], node.inputs[1]
    if tuple(idx) == ("int", -1):
        ok = val.type.dtype == row_type.dtype and \
            val.type.broadcastable == row_type.broadcastable
        return ("last", val) if ok else None
    if idx[0] == "slice" and idx[2] is None and idx[3] is None:
        return _gradient_rows(val, row_type)   # the slice ends where the buffer ends
    return None


def _row(x) -> TensorType:
    return TensorType(x.type.dtype, x.type.broadcastable[1:])


def _final(r):
    """The last row of a scan state's full buffer (its initial value after zero steps):
    ``r`` is ``buffer[L:]`` as ``scan`` returns it."""
    return r.owner.inputs[0][-1]
