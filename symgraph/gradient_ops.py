"""Ops that are the identity on values and change only the gradient, and
``subgraph_grad``: Theano's ``grad_clip``, ``grad_scale``, ``zero_grad``,
``disconnected_grad``, ``undefined_grad`` and ``subgraph_grad``.

Why ops and not graph tricks: the forward value must stay exactly ``x`` (a view, no copy)
while ``grad`` sees a different local derivative; an op with its own ``L_op`` is the one
place both facts can live. They are exported from ``symgraph.gradient``.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.gradient import grad, grad_clip
    >>> x = T.dscalar('x')
    >>> g = grad(grad_clip(x, -1, 1) ** 3, x)   # 3 x**2 clipped to [-1, 1]
"""
from __future__ import annotations

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op

__all__ = ["ViewOp", "GradClip", "GradScale", "ZeroGrad", "DisconnectedGrad", "UndefinedGrad",
           "grad_clip", "grad_scale", "zero_grad", "disconnected_grad", "undefined_grad",
           "subgraph_grad"]


def _as_tensor(x, what):
    from symgraph.tensor.basic import as_tensor_variable

    try:
        return as_tensor_variable(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: cannot convert {type(x).__name__} to a tensor: {e}") from e


class ViewOp(Op):
    """Returns its input unchanged (a view); subclasses only change the gradient."""

    view_map = {0: [0]}

    def make_node(self, x):
        x = _as_tensor(x, str(self))
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        return [inputs[0]]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


class GradClip(ViewOp):
    """Identity whose gradient is clipped to ``[clip_lower_bound, clip_upper_bound]``."""

    __props__ = ("clip_lower_bound", "clip_upper_bound")

    def __init__(self, clip_lower_bound, clip_upper_bound):
        try:
            lo, hi = float(clip_lower_bound), float(clip_upper_bound)
        except (TypeError, ValueError):
            raise TypeError(f"grad_clip: the bounds must be numbers, got "
                            f"{clip_lower_bound!r} and {clip_upper_bound!r}") from None
        if not hi >= lo:
            raise ValueError(f"grad_clip: clip_upper_bound ({hi}) must be >= "
                             f"clip_lower_bound ({lo})")
        self.clip_lower_bound = lo
        self.clip_upper_bound = hi

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.tensor.math import clip

        return [clip(output_grads[0], self.clip_lower_bound, self.clip_upper_bound)]


class GradScale(ViewOp):
    """Identity whose gradient is multiplied by ``multiplier``."""

    __props__ = ("multiplier",)

    def __init__(self, multiplier):
        try:
            self.multiplier = float(multiplier)
        except (TypeError, ValueError):
            raise TypeError(f"grad_scale: multiplier must be a number, got "
                            f"{multiplier!r}") from None

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0] * self.multiplier]


class ZeroGrad(ViewOp):
    """Identity whose gradient is zero (the input stays connected to the cost)."""

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.tensor.math import zeros_like

        return [zeros_like(output_grads[0])]


class DisconnectedGrad(ViewOp):
    """Identity through which no gradient flows: ``grad`` treats the input as not
    connected to the cost along this path (``disconnected_inputs`` decides what happens
    when no other path exists)."""

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class UndefinedGrad(ViewOp):
    """Identity whose gradient is undefined: asking ``grad`` for a gradient that flows
    through it raises ``NullTypeGradError``."""

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.gradient import NullTypeGradError

        raise NullTypeGradError(
            f"grad: the gradient through undefined_grad({inputs[0]}) is undefined (the "
            f"variable was wrapped in undefined_grad at "
            f"{_where(outputs[0])})")


def _where(v) -> str:
    from symgraph.graph.utils import format_trace

    trace = getattr(v.owner.tag, "trace", None) if v.owner is not None else None
    return format_trace(trace) if trace else "an unknown line"


def grad_clip(x, lower_bound, upper_bound):
    """``x`` itself, with its gradient clipped elementwise to ``[lower_bound, upper_bound]``
    during backpropagation (Theano's ``theano.gradient.grad_clip``)."""
    return GradClip(lower_bound, upper_bound)(x)


def grad_scale(x, multiplier):
    """``x`` itself, with its gradient multiplied by ``multiplier``."""
    return GradScale(multiplier)(x)


def zero_grad(x):
    """``x`` itself, with a zero gradient: ``grad(f(zero_grad(x)), x)`` is zeros."""
    return ZeroGrad()(x)


def disconnected_grad(x):
    """``x`` itself, seen by ``grad`` as a constant: no gradient flows back into ``x``."""
    return DisconnectedGrad()(x)


def undefined_grad(x):
    """``x`` itself, whose gradient is undefined: ``grad`` through it raises."""
    return UndefinedGrad()(x)


def subgraph_grad(wrt, end, start=None, cost=None, details=False):
    """Backpropagate through one part of a graph at a time (Theano's ``subgraph_grad``).

    Gradients flow from ``cost`` and/or ``start`` (a dict ``{variable: its gradient}``)
    down to the variables in ``end`` and no further. Returns ``(wrt_grads, end_grads)``:
    the gradients of the variables in ``wrt`` (those reached above ``end``) and of the
    ``end`` variables, which can seed the next call's ``start``. With ``details=True``
    also the gradients from ``start`` and from ``cost`` alone.
    """
    from symgraph.graph.basic import clone_replace
    from symgraph.gradient import grad

    if cost is None and start is None:
        raise ValueError("subgraph_grad: give a cost, a start dict, or both")
    if not isinstance(end, list) or not isinstance(wrt, list):
        raise TypeError("subgraph_grad: wrt and end must be lists of variables")
    if start is not None and not isinstance(start, dict):
        raise TypeError(f"subgraph_grad: start must be a dict {{variable: gradient}}, got "
                        f"{type(start).__name__}")
    for what, vs in (("wrt", wrt), ("end", end)):
        for k, v in enumerate(vs):
            if not isinstance(v, Variable):
                raise TypeError(f"subgraph_grad: {what}[{k}] is a {type(v).__name__}, "
                                f"expected a symbolic variable")
    params = list(dict.fromkeys(wrt + end))
    # stop the backward pass at `end`: cut the graph there (fresh stand-ins), take the
    # gradients with respect to the stand-ins, then put the real variables back
    stand = {e: e.type.make_variable(e.name) for e in end}
    back = {s: e for e, s in stand.items()}
    start = dict(start or {})
    roots = ([cost] if cost is not None else []) + list(start)
    cut = clone_replace(roots + params, stand)
    cut_roots, cut_params = cut[:len(roots)], cut[len(roots):]
    cut_cost = cut_roots[0] if cost is not None else None
    cut_start = dict(zip(cut_roots[1 if cost is not None else 0:], start.values()))

    def restore(gs):
        return clone_replace(gs, back) if gs else gs

    start_grads = cost_grads = None
    if start:
        start_grads = restore(list(grad(None, cut_params, known_grads=cut_start,
                                        disconnected_inputs="ignore")))
    if cost is not None:
        cost_grads = restore(list(grad(cut_cost, cut_params, disconnected_inputs="ignore")))
    if start_grads is None:
        grads = cost_grads
    elif cost_grads is None:
        grads = start_grads
    else:
        grads = [a + b for a, b in zip(start_grads, cost_grads)]
    by_param = dict(zip(params, grads))
    wrt_grads = [by_param[v] for v in wrt]
    end_grads = [by_param[v] for v in end]
    if details:
        return wrt_grads, end_grads, start_grads, cost_grads
    return wrt_grads, end_grads
