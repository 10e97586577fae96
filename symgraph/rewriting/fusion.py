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
from symgraph.tensor.type import ARGUMENT_CONSTANT_DTYPES

#: above this many leaf inputs a group stops growing (argument lists and registers)
MAX_INPUTS = 32


def _fusable(node):
    return isinstance(node.op, Elemwise) and len(node.outputs) == 1 and not node.op.inplace_pattern


def fuse_elemwise(fgraph):
    order = fgraph.toposort()
    pos = {n: k for k, n in enumerate(order)}
    done = set()
    for root in reversed(order):
        if root in done or root not in fgraph.apply_nodes or not _fusable(root):
            continue
        group = _grow(fgraph, root, pos)
        done.update(group)
        if len(group) < 2:
            continue
        _replace_group(fgraph, root, group)


def _outside_clients(fgraph, var, group):
    return [c for c, _ in fgraph.clients.get(var, []) if c not in group]


def _reaches(fgraph, starts, targets, pos, lo):
    """Whether any node in ``starts`` (or a descendant) is in ``targets``.

    Only nodes after position ``lo`` in the topological order can lead to the group.
    """
    stack = list(starts)
    seen = set()
    while stack:
        n = stack.pop()
        if n == "output" or n in seen:
            continue
        if n in targets:
            return True
        seen.add(n)
        for o in n.outputs:
            for c, _ in fgraph.clients.get(o, []):
                if c != "output" and pos.get(c, 1 << 60) > lo:
                    stack.append(c)
    return False


def _grow(fgraph, root, pos):
    """Greedy group around ``root``: absorb same-loop Elemwise producers.

    A producer whose output is also used outside the group becomes an extra output of the
    fused node, unless that would create a cycle (an outside path back into the group).
    """
    bcast = root.outputs[0].type.broadcastable
    group = {root}
    frontier = [root]
    while frontier:
        node = frontier.pop()
        for x in node.inputs:
            p = x.owner
            if p is None or p in group or not _fusable(p) or p not in pos:
                continue
            if p.outputs[0].type.broadcastable != bcast:
                continue
            outside = _outside_clients(fgraph, x, group)
            lo = pos[p]
            if outside and _reaches(fgraph, outside, group, pos, lo):
                continue
            group.add(p)
            if _n_leaves(group) > MAX_INPUTS or _creates_cycle(fgraph, group, pos):
                group.discard(p)
                continue
            frontier.append(p)
    return group


def _creates_cycle(fgraph, group, pos):
    """True if some path leaves ``group`` and comes back into it."""
    lo = min(pos[n] for n in group)
    exits = []
    for n in group:
        for o in n.outputs:
            exits.extend(c for c, _ in fgraph.clients.get(o, [])
                         if c != "output" and c not in group)
    return _reaches(fgraph, exits, group, pos, lo)


def _n_leaves(group):
    outs = {n.outputs[0] for n in group}
    leaves = set()
    for n in group:
        for x in n.inputs:
            if x not in outs and not _inline_const(x):
                leaves.add(x)
    return len(leaves)


def _inline_const(x):
    return (isinstance(x, Constant) and np.asarray(x.data).size == 1
            and x.type.dtype not in ARGUMENT_CONSTANT_DTYPES)


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
    # outputs: the root, plus every absorbed result still used outside the group
    exposed = [root.outputs[0]] + [
        n.outputs[0] for n in order if n is not root and (
            _outside_clients(fgraph, n.outputs[0], group) or is_output(fgraph, n.outputs[0]))]
    if not leaves:
        return  # constants only: constant folding's business, nothing to loop over
    comp = Composite(steps, [step_of[v] for v in exposed], [v.type.dtype for v in leaves])
    new_node = Elemwise(comp).make_node(*leaves)
    new_node.tag.trace = getattr(root.tag, "trace", ())
    new_node.tag.fused_traces = [getattr(n.tag, "trace", ()) for n in order]
    if any(o.type != v.type for o, v in zip(new_node.outputs, exposed)):
        return
    for old_v, new_v in zip(exposed, new_node.outputs):
        fgraph.replace(old_v, new_v, reason="fusion")


graph_rewriter("fuse", tags=["fusion", "fast_run"], name="fusion")(fuse_elemwise)
