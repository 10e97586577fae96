"""Gradients with respect to integer or boolean variables, with Theano's answer.

Why: Theano code asks for ``T.grad(cost, params)`` where ``params`` may hold an integer
shared variable (a step counter, an index); Theano defines that gradient as zeros of
dtype ``floatX`` when the cost depends on the variable, and as a disconnected input
(``disconnected_inputs`` decides: raise, warn, or zeros) when it does not. The float
variables in the same call get their ordinary gradients.
"""
from __future__ import annotations

from symgraph.graph.basic import ancestors
from symgraph.tensor.type import DISCRETE_DTYPES


def grad_with_discrete_wrt(cost, wrt, consider_constant=None, disconnected_inputs="raise",
                           known_grads=None, **kw):
    """``grad`` where some ``wrt`` are discrete: see the module docstring."""
    import symgraph.tensor as T
    from symgraph.config import config
    from symgraph.gradient import grad, report_disconnected

    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    floats = [w for w in wrt_list if w.type.dtype not in DISCRETE_DTYPES]
    float_grads = dict(zip(floats, grad(cost, floats, consider_constant, disconnected_inputs,
                                        known_grads, **kw))) if floats else {}
    roots = ([cost] if cost is not None else []) + list(known_grads or ())
    blockers = set(consider_constant or ())
    reached = set(ancestors(roots, blockers=blockers))
    out = []
    for w in wrt_list:
        if w in float_grads:
            out.append(float_grads[w])
            continue
        if w not in reached:
            report_disconnected(w, disconnected_inputs, stacklevel=4)
            if kw.get("return_disconnected") == "None":
                out.append(None)
                continue
        out.append(T.zeros_like(w, dtype=config.floatX))
    return out[0] if single else out
