"""``ifelse(cond, then, else)``: Theano's lazy conditional.

Why two ops: ``IfElse`` is what users build. It is a plain node (both branches are its
inputs), so the optimizer and the gradient treat it like any op: its gradient routes the
output gradient to the branch that was taken (``ifelse(cond, g, 0)`` and
``ifelse(cond, 0, g)``). At the end of optimization the ``ifelse_lazy`` rewrite moves the
work used only by one branch into that branch's inner graph (``LazyIfElse``), so each
backend computes only the chosen branch: the py backend evaluates one inner graph, the
Numba backend generates ``if cond: then_fn(...) else: else_fn(...)``. Work shared with
the rest of the graph (or with the condition) stays outside and runs eagerly.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> from symgraph.ifelse import ifelse
    >>> a, b = T.dscalars('a', 'b')
    >>> f = theano.function([a, b], ifelse(T.lt(a, b), a * 2, b * 3))
    >>> float(f(1, 2)), float(f(3, 2))
    (2.0, 6.0)
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant, clone_replace, toposort, typed_by_value
from symgraph.graph.op import Op
from symgraph.rewriting.engine import graph_rewriter
from symgraph.tensor.type import TensorType

__all__ = ["ifelse", "IfElse", "LazyIfElse"]


class IfElse(Op):
    """``outputs = then if cond else else_``; inputs ``[cond, *then, *else_]``."""

    __props__ = ("n_outs",)

    def __init__(self, n_outs, name=None):
        self.n_outs = int(n_outs)
        self.name = name

    def make_node(self, cond, *branches):
        from symgraph.tensor.basic import as_tensor_variable

        cond = as_tensor_variable(cond)
        if cond.type.ndim != 0:
            raise TypeError(f"ifelse{' ' + self.name if self.name else ''}: the condition must "
                            f"be a scalar, got {cond.type}")
        if len(branches) != 2 * self.n_outs:
            raise TypeError(f"{self}: expected {2 * self.n_outs} branch values, got "
                            f"{len(branches)}")
        branches = [as_tensor_variable(b) for b in branches]
        outs = []
        for k in range(self.n_outs):
            t, e = branches[k], branches[self.n_outs + k]
            if t.type.dtype != e.type.dtype or t.type.ndim != e.type.ndim:
                raise TypeError(
                    f"ifelse{' ' + self.name if self.name else ''}: output {k} is {t.type} in "
                    f"the then branch but {e.type} in the else branch; both branches must have "
                    f"the same dtype and number of dimensions (cast one of them)")
            bc = tuple(a and b for a, b in zip(t.type.broadcastable, e.type.broadcastable))
            outs.append(TensorType(t.type.dtype, bc).make_variable())
        return Apply(self, [cond] + branches, outs)

    def perform(self, node, inputs):
        c = bool(inputs[0])
        vals = inputs[1:1 + self.n_outs] if c else inputs[1 + self.n_outs:]
        return [np.array(v, copy=True) for v in vals]

    def infer_shape(self, fgraph, node, input_shapes):
        import symgraph.tensor as T

        c = node.inputs[0]
        res = []
        for k in range(self.n_outs):
            ts, es = input_shapes[1 + k], input_shapes[1 + self.n_outs + k]
            res.append(tuple(a if a is b else ifelse(c, T.as_tensor_variable(a),
                                                     T.as_tensor_variable(b))
                             for a, b in zip(ts, es)))
        return res

    def L_op(self, inputs, outputs, output_grads):
        import symgraph.tensor as T

        c = inputs[0]
        gt, ge = [], []
        for k, g in enumerate(output_grads):
            t = inputs[1 + k]
            e = inputs[1 + self.n_outs + k]
            z = T.zeros_like(g)
            gt.append(_fit(ifelse(c, g, z), t))
            ge.append(_fit(ifelse(c, z, g), e))
        return [None] + gt + ge


def _fit(g, x):
    if g.type.broadcastable != x.type.broadcastable:
        from symgraph.tensor.elemwise import unbroadcast_grad

        return unbroadcast_grad(g, x)
    return g


def ifelse(condition, then_branch, else_branch, name=None):
    """``then_branch`` if the scalar ``condition`` is true, else ``else_branch`` (a variable
    or a list of variables, the same number in both); only the chosen branch is computed."""
    single = not isinstance(then_branch, (list, tuple))
    tb = [then_branch] if single else list(then_branch)
    eb = [else_branch] if not isinstance(else_branch, (list, tuple)) else list(else_branch)
    if len(tb) != len(eb):
        raise ValueError(f"ifelse{' ' + name if name else ''}: the then branch has {len(tb)} "
                         f"values, the else branch {len(eb)}")
    outs = IfElse(len(tb), name)(condition, *tb, *eb)
    outs = outs if isinstance(outs, list) else [outs]
    return outs[0] if single else outs


class LazyIfElse(Op):
    """The lazy form: inputs ``[cond, *then_inputs, *else_inputs]``; each branch is an inner
    graph run only when chosen."""

    __props__ = ()

    def __init__(self, then_graph, else_graph, name=None):
        self.then_graph = then_graph  # (inner inputs, inner outputs)
        self.else_graph = else_graph
        self.n_then = len(then_graph[0])
        self.name = name
        self._py = {}

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"LazyIfElse{{{self.name or ''}}}"

    __repr__ = __str__

    def cache_key(self):
        return f"LazyIfElse@{id(self)}"

    def make_node(self, cond, *inputs, out_types=None):
        outs = [t.make_variable() for t in out_types]
        return Apply(self, [cond, *inputs], outs)

    def branch_fn(self, which):
        if which not in self._py:
            from symgraph.compile.function import function
            from symgraph.compile.mode import Mode

            ins, outs = self.then_graph if which == "then" else self.else_graph
            f = function(ins, outs, mode=Mode("py", optimizer=None), on_unused_input="ignore",
                         accept_inplace=True)  # an optimized inner graph
            f.trust_input = True
            self._py[which] = f
        return self._py[which]

    def perform(self, node, inputs):
        if bool(inputs[0]):
            res = self.branch_fn("then")(*inputs[1:1 + self.n_then])
        else:
            res = self.branch_fn("else")(*inputs[1 + self.n_then:])
        return [np.array(r, copy=True) for r in res]


def _exclusive_nodes(fgraph, node, slots):
    """Nodes whose every output is used only by ``node``'s ``slots`` or by other such nodes."""
    from symgraph.graph.basic import toposort
    from symgraph.graph.fg import OUTPUT

    roots = [node.inputs[k] for k in slots]
    order = toposort(roots, blockers=fgraph.inputs)
    excl = set()
    for n in reversed(order):
        ok = True
        for o in n.outputs:
            for client, i in fgraph.clients.get(o, []):
                if client == OUTPUT:
                    ok = False
                elif client is node:
                    if i not in slots:
                        ok = False
                elif client not in excl:
                    ok = False
                if not ok:
                    break
            if not ok:
                break
        if ok and not getattr(n.op, "destroy_map", None):
            excl.add(n)
    return excl


def _branch_graph(branch_vars, excl):
    """(outer boundary variables, inner inputs, inner outputs) of one branch."""
    def stays(v):
        """A scalar constant, or one a node of the branch reads to type its output
        (``typed_by_value``), stays in the branch."""
        return isinstance(v, Constant) and (v.type.ndim == 0 or typed_by_value(v, excl))

    boundary = []
    # in graph order, not the set's: a set of nodes iterates in the order of their
    # addresses, which differ from process to process, and so would the branch module's
    # inputs, its source and its cache entry (compiled again in every new process)
    for n in toposort(branch_vars):
        if n not in excl:
            continue
        for v in n.inputs:
            if v.owner not in excl and not stays(v):
                boundary.append(v)
    for v in branch_vars:
        if v.owner not in excl and not stays(v):
            boundary.append(v)
    boundary = list(dict.fromkeys(boundary))
    inner = [v.type.make_variable(v.name) for v in boundary]
    outs = clone_replace(list(branch_vars), dict(zip(boundary, inner)))
    return boundary, inner, outs


@graph_rewriter("inplace", tags=["fast_run", "lazy_ifelse"], name="ifelse_lazy")
def ifelse_lazy(fgraph):
    """Move each branch's exclusive work into a ``LazyIfElse`` inner graph."""
    for node in [n for n in fgraph.toposort() if isinstance(n.op, IfElse)]:
        k = node.op.n_outs
        then_slots = list(range(1, 1 + k))
        else_slots = list(range(1 + k, 1 + 2 * k))
        ex_t = _exclusive_nodes(fgraph, node, then_slots)
        ex_e = _exclusive_nodes(fgraph, node, else_slots)
        if not ex_t and not ex_e:
            continue
        bt, it, ot = _branch_graph(node.inputs[1:1 + k], ex_t)
        be, ie, oe = _branch_graph(node.inputs[1 + k:], ex_e)
        op = LazyIfElse((it, ot), (ie, oe), node.op.name)
        new = op.make_node(node.inputs[0], *bt, *be,
                           out_types=[o.type for o in node.outputs])
        new.tag.trace = getattr(node.tag, "trace", ())
        for old, nv in zip(node.outputs, new.outputs):
            fgraph.replace(old, nv, reason="ifelse_lazy")
