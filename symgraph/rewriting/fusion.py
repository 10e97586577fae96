"""Elementwise fusion: a connected group of Elemwise nodes becomes one Composite node.

The Numba backend emits a Composite as one loop (the CUDA backend as one kernel), so an
expression like ``exp(-x**2)*sin(x) + 1/(1+exp(-x))`` reads ``x`` once and writes the
result once, with no temporaries.

Grouping rule: starting from a root, absorb an input's producer when it is an Elemwise
with the same output broadcast pattern (same loop) whose every output is used only
inside the group (so nothing else needs the intermediate). Scalar constants are inlined
into the loop body. Creation traces of the fused nodes are kept on the Composite node
(the root's trace) and in ``tag.fused_traces``.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import graph_rewriter, is_output
from symgraph.tensor.elemwise import Composite, Elemwise

#: above this many leaf inputs a group stops growing (argument lists and registers)
MAX_INPUTS = 32


def _fusable(node):
    return isinstance(node.op, Elemwise) and len(node.outputs) == 1 and not node.op.inplace_pattern


def fuse_elemwise(fgraph):
    order = fgraph.toposort()
    done = set()
    for root in reversed(order):
        if root in done or root not in fgraph.apply_nodes or not _fusable(root):
            continue
        group = _grow(fgraph, root)
        done.update(group)
        if len(group) < 2:
            continue
        _replace_group(fgraph, root, group)


def _grow(fgraph, root):
    bcast = root.outputs[0].type.broadcastable
    group = {root}
    frontier = [root]
    while frontier:
        node = frontier.pop()
        for x in node.inputs:
            p = x.owner
            if p is None or p in group or not _fusable(p):
                continue
            if p.outputs[0].type.broadcastable != bcast:
                continue
            if is_output(fgraph, x):
                continue
            if any(c not in group for c, _ in fgraph.clients.get(x, [])):
                continue
            group.add(p)
            if _n_leaves(group) > MAX_INPUTS:
                group.discard(p)
                continue
            frontier.append(p)
    # a node absorbed early may have clients that were absorbed later; re-check closure
    changed = True
    while changed:
        changed = False
        for n in list(group):
            if n is root:
                continue
            if any(c not in group for c, _ in fgraph.clients.get(n.outputs[0], [])):
                group.discard(n)
                changed = True
    return group


def _n_leaves(group):
    outs = {n.outputs[0] for n in group}
    leaves = set()
    for n in group:
        for x in n.inputs:
            if x not in outs and not _inline_const(x):
                leaves.add(x)
    return len(leaves)


def _inline_const(x):
    return isinstance(x, Constant) and np.asarray(x.data).size == 1


def _replace_group(fgraph, root, group):
    order = [n for n in fgraph.toposort() if n in group]
    step_of = {}
    leaves = []
    leaf_index = {}
    steps = []
    for n in order:
        refs = []
        for x in n.inputs:
            if x in step_of:
                refs.append(("s", step_of[x]))
            elif _inline_const(x):
                refs.append(("c", np.asarray(x.data).reshape(-1)[0].item(), x.type.dtype))
            else:
                if x not in leaf_index:
                    leaf_index[x] = len(leaves)
                    leaves.append(x)
                refs.append(("i", leaf_index[x]))
        steps.append((n.op.scalar_op, tuple(refs), n.outputs[0].type.dtype))
        step_of[n.outputs[0]] = len(steps) - 1
    comp = Composite(steps, [step_of[root.outputs[0]]], [v.type.dtype for v in leaves])
    new = Elemwise(comp)(*leaves)
    new.owner.tag.trace = getattr(root.tag, "trace", ())
    new.owner.tag.fused_traces = [getattr(n.tag, "trace", ()) for n in order]
    if new.type != root.outputs[0].type:
        return
    fgraph.replace(root.outputs[0], new, reason="fusion")


graph_rewriter("fuse", tags=["fusion", "fast_run"], name="fusion")(fuse_elemwise)
