"""Stabilization: rewrite numerically fragile expressions into stable ones.

The forms themselves (hand-written sigmoids, ``log(sigmoid)``, ``1 - sigmoid``,
``log(1 + exp)``, ``log(sum(exp))``, ``log(softmax)``) live in
``symgraph.tensor.stable_forms``, because ``grad`` applies them too, before
differentiating, so that gradients are as stable as values. Here each form becomes one
node rewrite of the ``stabilize`` phase, named ``local_<form>``, so
``Mode(excluding=['local_log_sigmoid'])`` turns one off and ``excluding=['stabilize']``
all of them. The softmax-specific rewrites of gradients and crossentropies are in
``symgraph.rewriting.nnet``.
"""
from __future__ import annotations

from symgraph.rewriting.engine import node_rewriter
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.stable_forms import FORMS, fit, plain_owner


def _as_rewrite(form):
    def rewrite(fgraph, node):
        if len(node.outputs) != 1:
            return None
        new = fit(node.outputs[0], form(node, plain_owner))
        return None if new is None else [new]

    rewrite.__doc__ = form.__doc__
    rewrite.__name__ = f"local_{form.__name__}"
    return node_rewriter("stabilize", tracks=[Elemwise], tags=["stabilize", "fast_run"],
                         name=rewrite.__name__)(rewrite)


globals().update({f"local_{form.__name__}": _as_rewrite(form) for form in FORMS})
