"""FunctionGraph: a graph closed over its inputs and outputs, with client lists.

Rewrites need to know who uses a variable (its *clients*) and to replace one variable by
another everywhere; this class keeps that bookkeeping consistent.
"""
from __future__ import annotations

from typing import Sequence

from symgraph.graph.basic import Apply, Constant, Variable, toposort
from symgraph.graph.utils import MissingInputError

OUTPUT = "output"  # client marker for a graph output


class FunctionGraph:
    """Owns a set of Apply nodes between ``inputs`` and ``outputs``.

    ``clients[var]`` is a list of ``(node, i)`` meaning ``node.inputs[i] is var``; a graph
    output ``k`` appears as ``("output", k)``.
    """

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable], clone: bool = True):
        if clone:
            inputs, outputs = clone_graph(inputs, outputs)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.apply_nodes: set[Apply] = set()
        self.variables: set[Variable] = set()
        self.clients: dict[Variable, list] = {}
        self.replace_log: list = []
        for v in self.inputs:
            self._add_var(v)
        for k, out in enumerate(self.outputs):
            self._import_var(out)
            self.clients[out].append((OUTPUT, k))

    # -- building -------------------------------------------------------------
    def _add_var(self, v):
        if v not in self.variables:
            self.variables.add(v)
            self.clients.setdefault(v, [])

    def _import_var(self, v):
        if v in self.variables:
            return
        if v.owner is None:
            if not isinstance(v, Constant) and not _is_shared(v) and v not in self.inputs:
                raise MissingInputError(
                    f"An output depends on the variable {v!r} (type {v.type}), which is not "
                    f"an input of the function. Pass it in the inputs list or in givens."
                )
            self._add_var(v)
            return
        self.import_node(v.owner)

    def import_node(self, node: Apply):
        """Add ``node`` and everything it depends on."""
        for n in toposort(node.outputs, blockers=[v for v in self.variables]):
            if n in self.apply_nodes:
                continue
            for v in n.inputs:
                self._import_var(v)
            self.apply_nodes.add(n)
            for o in n.outputs:
                self._add_var(o)
            for i, v in enumerate(n.inputs):
                self.clients[v].append((n, i))

    def _prune(self, node: Apply):
        """Drop ``node`` (and, recursively, producers left without clients)."""
        if node not in self.apply_nodes:
            return
        if any(self.clients.get(o) for o in node.outputs):
            return
        self.apply_nodes.discard(node)
        for o in node.outputs:
            self.variables.discard(o)
            self.clients.pop(o, None)
        for i, v in enumerate(node.inputs):
            cl = self.clients.get(v)
            if cl is not None:
                try:
                    cl.remove((node, i))
                except ValueError:
                    pass
                if not cl and v.owner is not None:
                    self._prune(v.owner)
                elif not cl and v.owner is None and v not in self.inputs:
                    self.variables.discard(v)
                    self.clients.pop(v, None)

    # -- editing --------------------------------------------------------------
    def replace(self, old: Variable, new: Variable, reason: str = "", check_type: bool = True):
        """Make every client of ``old`` use ``new`` instead."""
        if old is new:
            return
        if check_type and old.type != new.type:
            raise TypeError(
                f"replace ({reason}): {old} of type {old.type} cannot become {new} of type {new.type}"
            )
        if old not in self.variables:
            return
        self._import_var(new)
        self.replace_log.append((reason, old, new))
        for client, i in list(self.clients.get(old, [])):
            if client == OUTPUT:
                self.outputs[i] = new
            else:
                client.inputs[i] = new
            self.clients[new].append((client, i))
        self.clients[old] = []
        if old.owner is not None:
            self._prune(old.owner)
        elif old not in self.inputs:
            self.variables.discard(old)
            self.clients.pop(old, None)

    def change_input(self, client, i: int, new: Variable, reason: str = ""):
        """Make input ``i`` of ``client`` (graph output ``i`` when ``client`` is
        ``OUTPUT``) use ``new``; its other clients keep the old variable.

        Why beside ``replace``: a backend's rewrite that inserts a conversion for some
        consumers only (the CUDA backend's host/device copies: a value used on both sides
        keeps its device clients) must not edit ``clients`` by hand. The type may change
        (a transfer's output type equals its input's, but a lowering may relabel)."""
        old = self.outputs[i] if client == OUTPUT else client.inputs[i]
        if old is new:
            return
        self._import_var(new)
        self.replace_log.append((reason, old, new))
        if client == OUTPUT:
            self.outputs[i] = new
        else:
            client.inputs[i] = new
        self.clients[old].remove((client, i))
        self.clients[new].append((client, i))
        if not self.clients[old]:
            if old.owner is not None:
                self._prune(old.owner)
            elif old not in self.inputs and not _is_shared(old):
                self.variables.discard(old)
                self.clients.pop(old, None)

    def replace_all(self, pairs, reason: str = ""):
        for old, new in pairs:
            self.replace(old, new, reason)

    # -- queries --------------------------------------------------------------
    def toposort(self) -> list[Apply]:
        return toposort(self.outputs, blockers=self.inputs)

    def __repr__(self):
        return f"FunctionGraph({self.inputs} -> {self.outputs}, {len(self.apply_nodes)} nodes)"


def _is_shared(v) -> bool:
    return getattr(v, "is_shared", False)


def clone_graph(inputs, outputs):
    """Copy every Apply between inputs and outputs (inputs cloned too, constants/shared kept)."""
    memo: dict = {}
    new_inputs = []
    for v in inputs:
        c = v.clone() if not _is_shared(v) else v
        if c is not v:
            c.tag = v.tag
        memo[v] = c
        new_inputs.append(c)
    for node in toposort(outputs, blockers=inputs):
        ins = [memo.get(v, v) for v in node.inputs]
        new_outs = [o.clone() for o in node.outputs]
        new_node = Apply(node.op, ins, new_outs)
        new_node.tag = node.tag
        for o, n in zip(node.outputs, new_outs):
            n.tag = o.tag
            memo[o] = n
    return new_inputs, [memo.get(o, o) for o in outputs]
