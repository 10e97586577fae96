"""Merge: identical constants and identical computations become one (CSE)."""
from __future__ import annotations

from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import graph_rewriter


def merge_graph(fgraph):
    """One pass: merge equal constants, then nodes with equal op and inputs."""
    consts = {}
    for v in list(fgraph.variables):
        if isinstance(v, Constant) and v in fgraph.variables:
            try:
                key = v.signature()
            except Exception:  # noqa: BLE001 - unhashable data: leave it
                continue
            other = consts.get(key)
            if other is None:
                consts[key] = v
            elif other is not v:
                fgraph.replace(v, other, reason="merge")
    seen = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes:
            continue
        if getattr(node.op, "nondeterministic", False):
            continue
        key = (node.op, tuple(id(i) for i in node.inputs))
        other = seen.get(key)
        if other is None:
            seen[key] = node
            continue
        for a, b in zip(node.outputs, other.outputs):
            if a.type == b.type:
                fgraph.replace(a, b, reason="merge")


_TAGS = ["merge", "fast_run", "fast_compile"]  # fast_compile: cheap, and it shrinks the graph
graph_rewriter("canonicalize", tags=_TAGS, name="merge")(merge_graph)
graph_rewriter("specialize", tags=_TAGS, name="merge_specialize")(merge_graph)
graph_rewriter("fuse", tags=_TAGS, name="merge_fuse")(merge_graph)
