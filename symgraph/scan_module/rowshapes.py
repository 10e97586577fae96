"""``scan_sequence_row_shapes``: a sequence the step reads only for its shape is not stored.

Why: the gradient of a slice ``z[:, a:b]`` needs ``z.shape``. In an LSTM's backward step
``z`` is the forward step's pre-activation (batch x 4 hidden), so the forward loop stored
every step's ``z`` as a residual output (``grad.py``) and the backward loop read it back
as a sequence, only to take ``Shape_i`` of its rows once the step graph was optimized:
28 copies of a 100 x 512 matrix per training step at batch 100, and a 5.7 MB buffer,
for two integers.

What: after a scan's step graph is optimized (phase ``fuse``), a sequence whose every
reader in the step is ``Shape_i`` is replaced by non-sequence scalars holding its row
shape, computed in the outer graph *without reading the sequence*: through the slices
of axis 0 the backward takes of the forward's outputs, and through the producing scan's
step graph (``shape_tuple`` on its inner output, its inner inputs' shapes taken from its
outer inputs). Other sequences stay (a graph input's values exist anyway), and so does
one whose row shape cannot be had without its values. A replaced sequence has no reader
left; ``scan_remove_unused`` (registered for this phase too) drops it, and the output of
the producing scan that nothing reads any more.

Row shapes are what every step sees: a state's rows keep its initial rows' shape (the
loop checks it at each step) and a sequence's rows are its rows; a loop of zero steps
never runs its step, so nothing reads the scalars then.
"""
from __future__ import annotations

from symgraph.graph.basic import ancestors, clone_replace, toposort
from symgraph.rewriting.engine import node_rewriter
from symgraph.scan_module.op import Scan


def _as_var(s):
    import symgraph.tensor as T

    return T.constant(s, dtype="int64") if isinstance(s, int) else s


def _free_of(exprs, banned) -> bool:
    """Whether no expression in ``exprs`` reads a variable of ``banned``."""
    roots = [e for e in exprs if not isinstance(e, int)]
    return not roots or not any(v in banned for v in ancestors(roots))


def _scan_output_row_shape(node, k):
    """Row shape of output ``k`` of the scan ``node``, from its outer inputs' shapes
    (None when the step's shapes depend on more than its inputs' shapes)."""
    from symgraph.tensor.shape_inference import shape_tuple

    op = node.op
    n, seqs, inits, nonseqs = op.outer_slices(node.inputs)
    if k < op.n_states:
        return list(shape_tuple(inits[k])[1:]) if not op.store_last[k] else None
    memo = {}
    ins = iter(op.inner_inputs)
    for s in seqs:
        memo[next(ins)] = shape_tuple(s)[1:]
    for x0, taps in zip(inits, op.state_taps):
        for _ in taps:
            memo[next(ins)] = shape_tuple(x0)[1:]
    for v in nonseqs:
        memo[next(ins)] = shape_tuple(v)
    inner = op.inner_outputs[k]
    row = shape_tuple(inner, memo)
    inner_vars = {v for nd in toposort(op.inner_outputs, blockers=op.inner_inputs)
                  for v in nd.inputs + nd.outputs} | set(op.inner_inputs)
    return list(row) if _free_of(row, inner_vars) else None


def _row_shape(var):
    """Expressions for the shape of one row (axis 0 removed) of ``var`` that do not read
    ``var``'s values; None when there are none."""
    from symgraph.tensor.subtensor import Subtensor

    owner = var.owner
    if owner is not None and isinstance(owner.op, Subtensor) and len(owner.op.idx_list) == 1 \
            and owner.op.idx_list[0][0] == "slice":
        return _row_shape(owner.inputs[0])   # rows of a slice of axis 0 are its rows
    if owner is not None and isinstance(owner.op, Scan):
        return _scan_output_row_shape(owner, var.index)
    return None


@node_rewriter("fuse", tracks=[Scan], tags=["fast_run", "scan"],
               name="scan_sequence_row_shapes")
def scan_sequence_row_shapes(fgraph, node):
    import symgraph.tensor as T
    from symgraph.tensor.shape_ops import Shape_i

    op = node.op
    if not op.optimized:
        return None  # the step's own rewrites first (they leave the Shape_i nodes)
    seq_in = op.inner_inputs[:op.n_seqs]
    readers = {v: [] for v in seq_in}
    for nd in toposort(op.inner_outputs, blockers=op.inner_inputs):
        for v in nd.inputs:
            if v in readers:
                readers[v].append(nd)
    n, seqs, inits, nonseqs = op.outer_slices(node.inputs)
    drop, repl, new_ph, new_outer = set(), {}, [], []
    for k, v in enumerate(seq_in):
        users = readers[v]
        if not users or v in op.inner_outputs or \
                not all(isinstance(nd.op, Shape_i) for nd in users):
            continue
        row = _row_shape(seqs[k])
        if row is None or not _free_of(row, {seqs[k]}):
            continue
        made = {}
        for nd in users:
            d = nd.op.i
            if d not in made:
                made[d] = T.lscalar(f"{v.name or 'seq'}_row_dim{d}")
                new_ph.append(made[d])
                new_outer.append(T.cast(_as_var(row[d]), "int64"))
            repl[nd.outputs[0]] = made[d]
        drop.add(k)
    if not drop:
        return None
    outs = clone_replace(op.inner_outputs, repl)
    keep = [k for k in range(op.n_seqs) if k not in drop]
    rest = op.inner_inputs[op.n_seqs:]
    new_op = op.replace_fields(
        inner_inputs=[seq_in[k] for k in keep] + rest + new_ph, inner_outputs=outs,
        n_seqs=len(keep), n_nonseqs=op.n_nonseqs + len(new_ph))
    new_node = new_op.make_node(n, *[seqs[k] for k in keep], *inits, *nonseqs, *new_outer)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    return new_node.outputs
