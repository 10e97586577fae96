"""The graph optimizer (see ``symgraph.rewriting.engine``)."""
from __future__ import annotations


def optimize(fgraph, mode) -> dict:
    """Rewrite ``fgraph`` in place according to ``mode``; returns seconds per phase."""
    if mode.optimizer is None:
        return {}
    from symgraph.rewriting.engine import run_phases

    return run_phases(fgraph, mode)
