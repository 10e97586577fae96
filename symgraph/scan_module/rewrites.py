"""Scan rewrites (Theano's scan_opt), run by the outer optimizer.

- ``scan_merge_residuals`` (canonicalize): a forward scan and its copy with the residual
  outputs its gradient stores (``grad.py``) become one loop;
- ``scan_merge`` (canonicalize): two scans over the same number of steps and the same
  sequences, neither using the other's outputs, become one loop (one pass over the data);
- ``scan_remove_unused`` (canonicalize, and again in fuse): non-recurrent outputs nobody
  reads, states that nothing reads and that no other output depends on, and inputs the
  step no longer uses are dropped;
- ``scan_sequence_row_shapes`` (fuse, ``rowshapes.py``): a sequence the optimized step
  reads only for its shape becomes scalars computed outside the loop;
- ``scan_save_mem`` (specialize): a state read only as ``result[-1]`` keeps only its last
  ``L`` rows in a ring buffer instead of ``n_steps`` rows;
- ``scan_push_out_and_optimize`` (fuse): step work that depends only on non-sequences and
  constants is computed once before the loop (``push_out_non_seq``), and work on sequence
  rows for all steps at once before it (``push_out_seq``: ``pushout.py``); then the step
  graph is optimized like any graph (constant folding, fusion, stabilization, BLAS
  specializations) and array constants it holds become non-sequences;
- ``local_add_of_zero_inc_subtensors`` (specialize, any graph): the gradient of a value
  read by several slices is built in one buffer (chained increments) rather than as a
  sum of zero-filled copies (the gate gradients of an LSTM's backward step);
- ``local_inc_subtensor_inplace`` (inplace, any graph): an increment writes into a buffer
  nothing else reads instead of copying it.
"""
from __future__ import annotations

from symgraph.graph.basic import (
    Constant,
    ancestors,
    clone_replace,
    graph_inputs,
    typed_by_value,
)
from symgraph.graph.fg import OUTPUT, FunctionGraph
from symgraph.rewriting.engine import graph_rewriter, node_rewriter
from symgraph.scan_module.op import Scan
from symgraph.scan_module.pushout import push_out
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.subtensor import IncSubtensor


def _inner_split(op):
    s = op.n_seqs
    n_taps = sum(len(t) for t in op.state_taps)
    ins = op.inner_inputs
    return ins[:s], ins[s:s + n_taps], ins[s + n_taps:]


def _tap_groups(op):
    groups, pos = [], op.n_seqs
    for taps in op.state_taps:
        groups.append(op.inner_inputs[pos:pos + len(taps)])
        pos += len(taps)
    return groups


def _used_inputs(outputs, inputs):
    used = set(graph_inputs(outputs, blockers=inputs))
    return [v in used for v in inputs]


# ----------------------------------------------------------------- remove unused outputs
@node_rewriter("canonicalize", tracks=[Scan], tags=["fast_run", "scan"], name="scan_remove_unused")
def scan_remove_unused(fgraph, node):
    op = node.op
    clients = [fgraph.clients.get(o, []) for o in node.outputs]
    nst, nnit = op.n_states, op.n_nitsot
    keep_st = [bool(clients[i]) for i in range(nst)]
    keep_nit = [bool(clients[nst + j]) for j in range(nnit)]
    groups = _tap_groups(op)
    # a state nobody reads is still needed when a kept output depends on its taps
    while True:
        kept_outs = ([op.inner_outputs[i] for i in range(nst) if keep_st[i]]
                     + [op.inner_outputs[nst + j] for j in range(nnit) if keep_nit[j]]
                     + op.inner_outputs[nst + nnit:])
        deps = set(ancestors(kept_outs))
        changed = False
        for i in range(nst):
            if not keep_st[i] and any(v in deps for v in groups[i]):
                keep_st[i] = True
                changed = True
        if not changed:
            break
    seq_in, _, ns_in = _inner_split(op)
    used_seq = _used_inputs(kept_outs, seq_in)
    used_ns = _used_inputs(kept_outs, ns_in)
    if all(keep_st) and all(keep_nit) and all(used_seq) and all(used_ns):
        return None
    if not any(keep_st) and not any(keep_nit):
        return None  # the whole node is unused: the graph drops it by itself
    n, seqs, inits, nonseqs = op.outer_slices(node.inputs)
    new_ins = ([v for v, u in zip(seq_in, used_seq) if u]
               + [v for i in range(nst) if keep_st[i] for v in groups[i]]
               + [v for v, u in zip(ns_in, used_ns) if u])
    new_outs = kept_outs
    new_op = op.replace_fields(
        inner_inputs=new_ins, inner_outputs=new_outs, n_seqs=sum(used_seq),
        state_taps=[t for t, k in zip(op.state_taps, keep_st) if k], n_nitsot=sum(keep_nit),
        n_nonseqs=sum(used_ns), store_last=[s for s, k in zip(op.store_last, keep_st) if k])
    outer = ([n] + [v for v, u in zip(seqs, used_seq) if u]
             + [v for v, k in zip(inits, keep_st) if k]
             + [v for v, u in zip(nonseqs, used_ns) if u])
    new_node = new_op.make_node(*outer)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    it = iter(new_node.outputs)
    res = []
    for i in range(nst):
        res.append(next(it) if keep_st[i] else None)
    for j in range(nnit):
        res.append(next(it) if keep_nit[j] else None)
    return res


# again after the step graphs are optimized: ``scan_sequence_row_shapes`` (rowshapes.py)
# leaves sequences nobody reads, and outputs of the scans that produced them
node_rewriter("fuse", tracks=[Scan], tags=["fast_run", "scan"],
              name="scan_remove_unused_after_fuse")(scan_remove_unused)


# ----------------------------------------------------------------- keep only the last value
def _last_row_clients(fgraph, var, L):
    """The variables ``var[-1]`` (or ``var[L:][-1]``) that are the only readers of ``var``;
    None when something else reads it."""
    from symgraph.tensor.subtensor import Subtensor

    found = []
    for client, _ in fgraph.clients.get(var, []):
        if client == OUTPUT or not isinstance(client.op, Subtensor):
            return None
        idx = client.op.idx_list
        if idx == (("int", -1),):
            found.append(client.outputs[0])
        elif idx == (("slice", L, None, None),):
            sub = _last_row_clients(fgraph, client.outputs[0], None)
            if sub is None:
                return None
            found.extend(sub)
        else:
            return None
    return found


@node_rewriter("specialize", tracks=[Scan], tags=["fast_run", "scan"], name="scan_save_mem")
def scan_save_mem(fgraph, node):
    op = node.op
    if op.until:
        return None  # the last row of a while loop is found when it stops
    store = list(op.store_last)
    repl = {}
    for i in range(op.n_states):
        if store[i]:
            continue
        lasts = _last_row_clients(fgraph, node.outputs[i], op.buffer_len(i))
        if lasts:
            store[i] = True
            repl[i] = lasts
    if not repl:
        return None
    new_op = op.replace_fields(store_last=store)
    new_node = new_op.make_node(*node.inputs)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    out = {}
    for k, o in enumerate(node.outputs):
        if k in repl:
            for v in repl[k]:
                out[v] = new_node.outputs[k]
    # the other outputs move to the new node too
    for k, o in enumerate(node.outputs):
        if k not in repl:
            out[o] = new_node.outputs[k]
    return out


# ----------------------------------------------------------------- push out and optimize
@node_rewriter("fuse", tracks=[Scan], tags=["fast_run", "scan"],
               name="scan_push_out_and_optimize")
def scan_push_out_and_optimize(fgraph, node):
    from symgraph.compile.mode import Mode
    from symgraph.rewriting import optimize
    from symgraph.rewriting.merge import merge_graph

    op = node.op
    if op.optimized:
        return None
    n, seqs, inits, nonseqs = op.outer_slices(node.inputs)
    seq_in, tap_in, ns_in = _inner_split(op)
    inner_outs = op.inner_outputs
    seq_ph, seq_outer, extra_ph, extra_outer = [], [], [], []
    # identical step computations become one first (a gradient's step builds some twice),
    # so that what moves out moves out once
    merged = FunctionGraph(op.inner_inputs, op.inner_outputs, clone=True)
    merge_graph(merged)
    op = op.replace_fields(inner_inputs=merged.inputs, inner_outputs=merged.outputs)
    seq_in, tap_in, ns_in = _inner_split(op)
    inner_outs = op.inner_outputs
    pushed = push_out(op, n, seqs, nonseqs)
    if pushed is not None:
        seq_ph, seq_outer, extra_ph, extra_outer, inner_outs = pushed
    seq_in = seq_in + seq_ph
    seqs = list(seqs) + seq_outer
    ins = seq_in + tap_in + ns_in + extra_ph
    fg = FunctionGraph(ins, inner_outs, clone=True)
    optimize(fg, Mode("numba"))
    # array constants left in the step become non-sequences (outer constants), except
    # those a node reads to type its output (``typed_by_value``)
    # (in the order the step reads them: the order of a set of variables follows their
    # addresses, so the scan, its step's source and its cached module would vary from
    # process to process)
    consts = []
    for node in fg.toposort():
        for v in node.inputs:
            if (isinstance(v, Constant) and v.type.ndim > 0 and v not in consts
                    and not typed_by_value(v, [c for c, _ in fg.clients[v] if c != OUTPUT])):
                consts.append(v)
    const_ph = [c.type.make_variable() for c in consts]
    f_ins = list(fg.inputs)
    f_outs = list(fg.outputs)
    if consts:
        f_outs = clone_replace(f_outs, dict(zip(consts, const_ph)))
    new_ns_in = f_ins[len(seq_in) + len(tap_in):] + const_ph
    ns_outer = list(nonseqs) + list(extra_outer) + consts
    used = _used_inputs(f_outs, new_ns_in)  # pushed-out non-sequences may be unused now
    new_ns_in = [v for v, u in zip(new_ns_in, used) if u]
    ns_outer = [v for v, u in zip(ns_outer, used) if u]
    used = _used_inputs(f_outs, f_ins[:len(seq_in)])  # so may sequences moved out whole
    new_seq_in = [v for v, u in zip(f_ins[:len(seq_in)], used) if u]
    seqs = [v for v, u in zip(seqs, used) if u]
    # non-recurrent outputs the optimizer made one value are stored once
    nst, nit = op.n_states, op.n_nitsot
    first = {}
    keep = []
    for j in range(nit):
        v = f_outs[nst + j]
        first.setdefault(v, j)
        if first[v] == j:
            keep.append(j)
    new_op = op.replace_fields(
        inner_inputs=new_seq_in + f_ins[len(seq_in):len(seq_in) + len(tap_in)] + new_ns_in,
        inner_outputs=(f_outs[:nst] + [f_outs[nst + j] for j in keep]
                       + f_outs[nst + nit:]),
        n_seqs=len(new_seq_in), n_nitsot=len(keep), n_nonseqs=len(new_ns_in),
        optimized=True)
    new_node = new_op.make_node(n, *seqs, *inits, *ns_outer)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    outs = new_node.outputs
    return outs[:nst] + [outs[nst + keep.index(first[f_outs[nst + j]])] for j in range(nit)]


# ----------------------------------------------------------------- residuals
@graph_rewriter("canonicalize", tags=["fast_run", "scan"], name="scan_merge_residuals")
def scan_merge_residuals(fgraph):
    """A forward scan and the copy of it that its gradient built with residual outputs
    added (``Scan.residual_of``) run once: the copy's outputs replace the original's, so
    one loop serves the cost and the backward loop. Copies made for the same residuals
    by several gradients are merged the same way."""
    scans = [n for n in fgraph.toposort() if isinstance(n.op, Scan)]
    by_op: dict = {}
    for a in scans:
        by_op.setdefault(a.op, []).append(a)
    seen: dict = {}
    for b in scans:
        base = b.op.residual_of
        if base is None or b not in fgraph.apply_nodes:
            continue
        key = (base, tuple(b.inputs), tuple(b.op.inner_outputs))
        targets = list(by_op.get(base, []))
        if key in seen and seen[key] is not b:
            targets = [b]
            b = seen[key]
        else:
            seen[key] = b
        for a in targets:
            if a not in fgraph.apply_nodes or list(a.inputs) != list(b.inputs):
                continue
            k = len(a.outputs) if a.op is not base else a.op.n_states + a.op.n_nitsot
            for old, new in zip(a.outputs[:k], b.outputs[:k]):
                if fgraph.clients.get(old):
                    fgraph.replace(old, new, reason="scan_merge_residuals")


# ----------------------------------------------------------------- merge scans
def _mergeable(a, b):
    oa, ob = a.op, b.op
    if oa.until or ob.until or oa.optimized or ob.optimized:
        return False
    if ob.residual_of is oa or oa.residual_of is ob:
        return False  # scan_merge_residuals' work: one loop, not two copies in one
    if a.inputs[0] is not b.inputs[0]:
        return False
    sa = a.inputs[1:1 + oa.n_seqs]
    sb = b.inputs[1:1 + ob.n_seqs]
    if not sa or list(sa) != list(sb):
        return False
    if oa.truncate_gradient != ob.truncate_gradient or any(oa.store_last) or any(ob.store_last):
        return False
    # neither may depend on the other
    if any(o in ancestors(b.inputs) for o in a.outputs):
        return False
    if any(o in ancestors(a.inputs) for o in b.outputs):
        return False
    return True


def _merge(a, b):
    oa, ob = a.op, b.op
    sa, ta, na = _inner_split(oa)
    sb, tb, nb = _inner_split(ob)
    # b's sequence rows are a's (same outer sequences)
    outs_b = clone_replace(ob.inner_outputs, dict(zip(sb, sa)))
    ia, ib = oa.n_states + oa.n_nitsot, ob.n_states + ob.n_nitsot
    outs = (oa.inner_outputs[:oa.n_states] + outs_b[:ob.n_states]
            + oa.inner_outputs[oa.n_states:ia] + outs_b[ob.n_states:ib])
    op = Scan(sa + ta + tb + na + nb, outs, n_seqs=oa.n_seqs,
              state_taps=oa.state_taps + ob.state_taps, n_nitsot=oa.n_nitsot + ob.n_nitsot,
              n_nonseqs=oa.n_nonseqs + ob.n_nonseqs, name=f"{oa.name}&{ob.name}",
              truncate_gradient=oa.truncate_gradient, trace=oa.trace)
    n, seqs, inits_a, ns_a = oa.outer_slices(a.inputs)
    _, _, inits_b, ns_b = ob.outer_slices(b.inputs)
    node = op.make_node(n, *seqs, *inits_a, *inits_b, *ns_a, *ns_b)
    node.tag.trace = getattr(a.tag, "trace", ())
    o = node.outputs
    pa = oa.n_states
    pb = ob.n_states
    new_a = o[:pa] + o[pa + pb:pa + pb + oa.n_nitsot]
    new_b = o[pa:pa + pb] + o[pa + pb + oa.n_nitsot:]
    return new_a, new_b


@graph_rewriter("canonicalize", tags=["fast_run", "scan"], name="scan_merge")
def scan_merge(fgraph):
    scans = [n for n in fgraph.toposort() if isinstance(n.op, Scan)]
    for i, a in enumerate(scans):
        for b in scans[i + 1:]:
            if a in fgraph.apply_nodes and b in fgraph.apply_nodes and _mergeable(a, b):
                new_a, new_b = _merge(a, b)
                for old, new in zip(a.outputs + b.outputs, new_a + new_b):
                    if fgraph.clients.get(old):
                        fgraph.replace(old, new, reason="scan_merge")
                return


# ----------------------------------------------------------------- gradients of slices
def zeros_key(v):
    """A key for ``v`` when it is all zeros (a zero fill ``second(x, 0)``, a zero
    ``Alloc`` or a zero constant): zeros with the same key have the same shape."""
    from symgraph.tensor.array_ops import Alloc
    from symgraph.tensor.scalar_logic import Second
    from symgraph.tensor.stable_forms import constant_value

    if isinstance(v, Constant):
        return v if constant_value(v) == 0 else None
    node = v.owner
    if node is None:
        return None
    if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Second) \
            and constant_value(node.inputs[1]) == 0 \
            and node.inputs[0].type.broadcastable == v.type.broadcastable:
        return ("fill", node.inputs[0])
    if isinstance(node.op, Alloc) and constant_value(node.inputs[0]) == 0:
        return ("alloc",) + tuple(node.inputs[1:])
    return None


@node_rewriter("specialize", tracks=[Elemwise], tags=["fast_run", "scan"],
               name="local_add_of_zero_inc_subtensors")
def local_add_of_zero_inc_subtensors(fgraph, node):
    """``inc(zeros, a, i) + inc(zeros, b, j) + ...`` -> ``inc(inc(zeros, a, i), b, j) + ...``

    The gradient of a value read by several slices (an LSTM's gate pre-activations
    ``z[:, :h]``, ``z[:, h:2h]``, ...) is a sum of one zero-filled copy per slice; chained
    increments build it in one buffer (in place after the inplace phase) instead of one
    full-size array per slice and an addition over all of them. Exact for any slices,
    overlapping ones included, as the bases are zeros."""
    from symgraph.tensor import scalar_ops as ts

    if not isinstance(node.op.scalar_op, ts.Add):
        return None
    out_t = node.outputs[0].type
    groups: dict = {}
    for k, x in enumerate(node.inputs):
        o = x.owner
        if (o is None or type(o.op) is not IncSubtensor or o.op.inplace or x.type != out_t
                or len(fgraph.clients.get(x, [])) != 1):
            continue
        key = zeros_key(o.inputs[0])
        if key is not None:
            groups.setdefault(key, []).append(k)
    chains = [ks for ks in groups.values() if len(ks) > 1]
    if not chains:
        return None
    done = set()
    terms = []
    for ks in chains:
        acc = node.inputs[ks[0]]
        for k in ks[1:]:
            o = node.inputs[k].owner
            acc = IncSubtensor(o.op.idx_list)(acc, o.inputs[1], *o.inputs[2:])
        terms.append(acc)
        done.update(ks)
    terms += [x for k, x in enumerate(node.inputs) if k not in done]
    new = terms[0] if len(terms) == 1 else node.op(*terms)
    return [new] if new.type == out_t else None


def _root(v):
    """The buffer ``v`` was written into: through the in-place increments that produced
    it (each made in place only on a buffer nothing else reads)."""
    while v.owner is not None and type(v.owner.op) is IncSubtensor and v.owner.op.inplace:
        v = v.owner.inputs[0]
    return v


@node_rewriter("inplace", tracks=[IncSubtensor], tags=["inplace", "fast_run"],
               name="local_inc_subtensor_inplace")
def local_inc_subtensor_inplace(fgraph, node):
    """An ``IncSubtensor`` writes into its ``x`` when nothing else reads that buffer (the
    Elemwise in-place rule: a fresh intermediate with this node as its only client, not a
    graph output): the chained increments above then fill one buffer instead of copying
    it once per slice."""
    from symgraph.rewriting.engine import is_output
    from symgraph.rewriting.inplace import _fresh_buffer

    op = node.op
    x = node.inputs[0]
    if op.inplace or x.type != node.outputs[0].type or not _fresh_buffer(fgraph, _root(x)) \
            or is_output(fgraph, x) or len(fgraph.clients.get(x, [])) != 1 \
            or any(v is x for v in node.inputs[1:]):
        return None
    new = IncSubtensor(op.idx_list, inplace=True, set_instead_of_inc=op.set_instead_of_inc)
    new_node = new.make_node(*node.inputs)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    return new_node.outputs
