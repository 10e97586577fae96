"""Constant folding: a node whose inputs are all constants is computed at compile time
(the computation itself is ``symgraph.tensor.folding.fold_node``)."""
from __future__ import annotations

from symgraph.rewriting.engine import node_rewriter
from symgraph.tensor.folding import MAX_FOLD_ELEMENTS, fold_node  # noqa: F401


@node_rewriter("canonicalize", tags=["constant_folding", "fast_run", "fast_compile"])
def constant_folding(fgraph, node):
    return fold_node(node)
