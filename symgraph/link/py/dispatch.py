"""Registry from Op class to a py implementation (default: the op's own ``perform``).

Why a registry here too: third-party ops or special cases (e.g. ops with inner graphs)
can register a python implementation without subclassing.
"""
from __future__ import annotations

from symgraph.link.registry import Registry


def _perform(node):
    perform = node.op.perform

    def run(node, args):
        return perform(node, args)

    return run


py_impl = Registry("py", default=_perform)
