"""Graph utilities under Theano's ``theano.gof.graph`` names: ``inputs`` (in Theano's
order), ``clone`` (inputs and outputs copied together), ``equal_computations`` and
``is_same_graph`` (structural comparison), and ``theano.clone`` (``clone_with_replace``).

Why separate from ``basic.py``: these are user-facing helpers with Theano's exact
conventions (order of discovery, what counts as "the same"), while ``basic.py`` holds the
IR itself and the traversals the compiler relies on.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.graph.compare import inputs, is_same_graph
    >>> x, y = T.dscalars('x', 'y')
    >>> [v.name for v in inputs([x * y + x])]
    ['x', 'y']
    >>> is_same_graph(x + y, x + y)
    True
"""
from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable, toposort

__all__ = ["ancestors", "inputs", "clone", "clone_get_equiv", "clone_with_replace",
           "equal_computations", "is_same_graph", "io_toposort", "variables", "orphans"]


def _as_list(v, what):
    if isinstance(v, Variable):
        return [v], True
    if isinstance(v, (list, tuple)):
        out = list(v)
        for k, x in enumerate(out):
            if not isinstance(x, Variable):
                raise TypeError(f"{what}: element {k} is a {type(x).__name__}, expected a "
                                f"symbolic Variable")
        return out, False
    raise TypeError(f"{what}: expected a Variable or a list of Variables, got "
                    f"{type(v).__name__}")


def ancestors(variable_list, blockers=None) -> list:
    """Variables ``variable_list`` depends on, in Theano's depth-first order: the last
    variable of the list is expanded first and each node's inputs are visited left to
    right (Theano's ``stack_search(..., 'dfs')``)."""
    variable_list, _ = _as_list(variable_list, "ancestors")
    blockers = set(blockers or ())
    seen: set = set()
    order = []
    stack = deque(variable_list)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(reversed(v.owner.inputs))
    return order


def inputs(variable_list, blockers=None) -> list:
    """The graph inputs (variables without an owner: symbolic inputs, shared variables,
    constants) of ``variable_list``, in Theano's order (see ``ancestors``)."""
    return [v for v in ancestors(variable_list, blockers) if v.owner is None]


def variables(i, o) -> list:
    """Every variable on a path from inputs ``i`` to outputs ``o`` (inclusive)."""
    blockers = set(i)
    return [v for v in ancestors(list(o), blockers)]


def orphans(i, o) -> list:
    """Inputs of the graph of ``o`` that are not in ``i`` (constants, forgotten inputs)."""
    i = set(i)
    return [v for v in ancestors(list(o), i) if v.owner is None and v not in i]


def io_toposort(i, o) -> list:
    """Apply nodes between inputs ``i`` and outputs ``o``, inputs first."""
    return toposort(list(o), blockers=list(i))


def clone_get_equiv(i, o, copy_inputs: bool = True, memo: dict | None = None) -> dict:
    """``{old variable or Apply: its copy}`` for the graph from ``i`` to ``o``.

    Every Apply between them is rebuilt (new nodes, new output variables); inputs in ``i``
    are cloned too when ``copy_inputs`` (else kept); constants and other orphans are kept.
    """
    memo = {} if memo is None else memo
    for v in i:
        if v not in memo:
            memo[v] = v.clone() if copy_inputs else v
    for node in toposort(list(o), blockers=list(i)):
        new_inputs = [memo.get(x, x) for x in node.inputs]
        new = node.clone_with_new_inputs(new_inputs)
        memo[node] = new
        for old, nv in zip(node.outputs, new.outputs):
            if old.name is not None:
                nv.name = old.name
            memo[old] = nv
    for v in o:
        memo.setdefault(v, v)
    return memo


def clone(i, o, copy_inputs: bool = True):
    """Copy the graph from inputs ``i`` to outputs ``o``; returns ``(new_i, new_o)``
    (Theano's ``gof.graph.clone``)."""
    i, _ = _as_list(i, "clone")
    o, _ = _as_list(o, "clone")
    eq = clone_get_equiv(i, o, copy_inputs)
    return [eq[v] for v in i], [eq[v] for v in o]


def clone_with_replace(output, replace=None, strict: bool = True, share_inputs: bool = True,
                       copy_inputs=None):
    """Theano's ``theano.clone``: a copy of the graph of ``output`` (a variable or a list)
    in which the variables that are keys of ``replace`` are replaced by its values.

    - ``replace``: a dict ``{old: new}`` or a list of ``(old, new)`` pairs; ``new`` may be a
      constant or array (it is converted to a tensor);
    - ``strict``: with True, a replacement must have the same type as the variable it
      replaces (TypeError otherwise); with False, ops re-derive their output types;
    - ``share_inputs``: with True the copy uses the same graph inputs as the original; with
      False its symbolic inputs are fresh copies (shared variables and constants are kept,
      as in Theano).
    """
    if copy_inputs is not None:
        share_inputs = not copy_inputs
    outs, single = _as_list(output, "clone")
    if replace is None:
        pairs = []
    elif isinstance(replace, dict):
        pairs = list(replace.items())
    elif isinstance(replace, (list, tuple)):
        pairs = list(replace)
    else:
        raise TypeError(f"clone: replace must be a dict or a list of (old, new) pairs, got "
                        f"{type(replace).__name__}")
    memo: dict = {}
    for k, pair in enumerate(pairs):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise TypeError(f"clone: replace entry {k} is not an (old, new) pair: {pair!r}")
        old, new = pair
        if not isinstance(old, Variable):
            raise TypeError(f"clone: replace key {k} is a {type(old).__name__}, expected a "
                            f"symbolic Variable")
        if not isinstance(new, Variable):
            from symgraph.tensor.basic import as_tensor_variable

            new = as_tensor_variable(new)
            if new.type.dtype != getattr(old.type, "dtype", new.type.dtype):
                from symgraph.tensor.math import cast

                new = cast(new, old.type.dtype)
        if strict and new.type != old.type:
            raise TypeError(f"clone: cannot replace {old} of type {old.type} by {new} of type "
                            f"{new.type} with strict=True (pass strict=False to let the ops "
                            f"re-derive their types)")
        memo[old] = new
    blockers = list(memo)
    roots = [v for v in ancestors(outs, blockers) if v.owner is None and v not in memo]
    if not share_inputs:
        from symgraph.compile.shared import SharedVariable

        for v in roots:
            if not isinstance(v, (Constant, SharedVariable)):
                memo[v] = v.clone()
    for node in toposort(outs, blockers=blockers):
        new_inputs = [memo.get(x, x) for x in node.inputs]
        new = node.clone_with_new_inputs(new_inputs, strict=strict)
        for old, nv in zip(node.outputs, new.outputs):
            if old.name is not None:
                nv.name = old.name
            memo[old] = nv
    res = [memo.get(v, v) for v in outs]
    return res[0] if single else res


def _const_equal(a: Constant, b: Constant) -> bool:
    if a.type != b.type:
        return False
    x, y = np.asarray(a.data), np.asarray(b.data)
    return x.shape == y.shape and x.dtype == y.dtype and bool(
        np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))


def equal_computations(xs: Sequence, ys: Sequence, in_xs=None, in_ys=None) -> bool:
    """True when the graphs of ``xs`` and ``ys`` compute the same thing node by node.

    Two variables match when they are the same object, when they are paired by position
    in ``in_xs``/``in_ys``, when both are constants of the same type and value, or when
    both are outputs (same index) of nodes with equal ops and matching inputs.
    """
    xs, _ = _as_list(xs, "equal_computations")
    ys, _ = _as_list(ys, "equal_computations")
    in_xs = list(in_xs or [])
    in_ys = list(in_ys or [])
    if len(xs) != len(ys):
        return False
    if len(in_xs) != len(in_ys):
        raise ValueError("equal_computations: in_xs and in_ys must have the same length")
    paired = {}
    for a, b in zip(in_xs, in_ys):
        if a.type != b.type:
            return False
        paired[a] = b
    memo: dict = {}

    def same(a, b) -> bool:
        key = (a, b)
        if key in memo:
            return memo[key]
        if a in paired or b in paired.values():
            r = paired.get(a) is b
        elif a is b:
            r = True
        elif isinstance(a, Constant) and isinstance(b, Constant):
            r = _const_equal(a, b)
        elif a.owner is None or b.owner is None:
            r = False
        else:
            r = (a.index == b.index and a.type == b.type and _same_node(a.owner, b.owner))
        memo[key] = r
        return r

    def _same_node(n: Apply, m: Apply) -> bool:
        if n.op != m.op or len(n.inputs) != len(m.inputs) or len(n.outputs) != len(m.outputs):
            return False
        return all(same(p, q) for p, q in zip(n.inputs, m.inputs))

    import sys

    # the comparison recurses once per node on a path: allow deep (unrolled) graphs

    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(old, 10000))
        return all(x.type == y.type and same(x, y) for x, y in zip(xs, ys))
    finally:
        sys.setrecursionlimit(old)


def is_same_graph(var1, var2, givens=None) -> bool:
    """True when ``var1`` and ``var2`` perform the same computation on the same inputs.

    ``givens`` (a dict) lists variables to consider equal in the two graphs: each key is
    replaced by its value in both graphs before they are compared. ``x * (y * z)`` and
    ``(x * y) * z`` are different graphs (no algebra is done).
    """
    if not isinstance(var1, Variable) or not isinstance(var2, Variable):
        raise TypeError("is_same_graph: var1 and var2 must be symbolic Variables")
    if givens:
        if not isinstance(givens, dict):
            raise TypeError("is_same_graph: givens must be a dict {variable: variable}")
        var1, var2 = clone_with_replace([var1, var2], givens, strict=False)
    return equal_computations([var1], [var2])
