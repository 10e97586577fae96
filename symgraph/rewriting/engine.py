"""Rewrite engine (placeholder phases until the optimizer lands)."""
from __future__ import annotations


def run_phases(fgraph, mode) -> dict:
    return {}
