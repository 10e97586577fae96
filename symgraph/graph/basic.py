"""Graph IR: Variables produced by Apply nodes that apply Ops.

A graph is bipartite: ``Variable.owner`` is the ``Apply`` node that computes it (None for
inputs and constants), ``Apply.inputs``/``Apply.outputs`` are Variables. Everything else
(rewrites, linkers, gradients) walks these links.

Example::

    >>> from symgraph.graph.basic import Variable, Apply
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

from symgraph.graph.utils import user_trace

_ids = itertools.count()

#: ``function(inputs, outputs, on_unused_input=...)`` that ``Variable.eval`` compiles with.
#: The graph layer knows nothing of compilation: ``symgraph.compile.function`` installs
#: itself here when it is imported (``import symgraph`` does).
_COMPILER: list = []


def set_eval_compiler(function) -> None:
    """Install the function ``Variable.eval`` compiles with (done by ``symgraph.compile``)."""
    _COMPILER[:] = [function]


def eval_compiler():
    """The installed ``function``: ops with an inner graph (``Map``) compile it with this
    for their numpy reference, without importing the compile layer."""
    if not _COMPILER:
        raise RuntimeError("symgraph's compiler is not loaded: import symgraph first")
    return _COMPILER[0]


class Tag:
    """Free-form annotations (creation trace, test values...)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"Tag({self.__dict__})"


class Variable:
    """A value in the graph: a graph input, a constant, or an output of an Apply."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = Tag()
        self.auto_name = f"V{next(_ids)}"

    def clone(self):
        """A copy with no owner (a new graph input of the same type and name)."""
        cp = self.__class__(self.type, None, None, self.name)
        cp.tag = Tag(**self.tag.__dict__)
        return cp

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self):
        return str(self)

    def get_parents(self):
        return [self.owner] if self.owner is not None else []

    def eval(self, inputs_to_values=None):
        """Compile (and cache) a function of the free inputs and evaluate it.

        Example: ``(a + b).eval({a: 1, b: 2})``.
        """
        function = eval_compiler()
        inputs_to_values = inputs_to_values or {}
        ins = list(inputs_to_values.keys())
        key = tuple(ins)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if key not in cache:
            cache[key] = function(ins, self, on_unused_input="ignore")
        return cache[key](*[inputs_to_values[i] for i in ins])

    def get_test_value(self):
        """The test value (``config.compute_test_value``): ``tag.test_value`` checked
        against the type, a constant's data or a shared variable's value; AttributeError
        when there is none (Theano's ``Variable.get_test_value``)."""
        from symgraph.graph.test_value import _MISSING, get_test_value

        tv = get_test_value(self)
        if tv is _MISSING:
            raise AttributeError(f"{self} has no test value; set {self}.tag.test_value")
        return tv

    # Variables are hashed by identity; structural equality is the merge rewrite's job.
    __hash__ = object.__hash__


class Constant(Variable):
    """A Variable with a fixed value, known at compile time."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = type.filter(data, strict=False, allow_downcast=True)

    def signature(self):
        """A hashable key: equal signatures mean interchangeable constants (merging)."""
        return (self.type, self.type.data_signature(self.data))

    def clone(self):
        cp = self.__class__(self.type, self.data, self.name)
        cp.tag = Tag(**self.tag.__dict__)
        return cp

    def __str__(self):
        if self.name is not None:
            return self.name
        return self.type.constant_str(self.data)


class Apply:
    """One application of an Op to input Variables, producing output Variables."""

    def __init__(self, op, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            if out.owner is not None and out.owner is not self:
                raise ValueError(f"output {i} of {op} already has an owner")
            out.owner = self
            out.index = i
        self.tag = Tag(trace=user_trace(2))

    @property
    def out(self):
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    def clone_with_new_inputs(self, inputs: Sequence[Variable], strict: bool = True) -> "Apply":
        """Rebuild this node on other inputs (via ``make_node`` so types are re-derived)."""
        new = self.op.make_node(*inputs)
        new.tag = Tag(**self.tag.__dict__)
        for o_old, o_new in zip(self.outputs, new.outputs):
            if o_old.name is not None and o_new.name is None:
                o_new.name = o_old.name
        return new

    def __repr__(self):
        return f"Apply({self.op}, {self.inputs})"

    @property
    def nin(self):
        return len(self.inputs)

    @property
    def nout(self):
        return len(self.outputs)


# ----------------------------------------------------------------------------- traversal

def ancestors(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Variable]:
    """All variables that ``outputs`` depend on (including themselves), stopping at blockers."""
    blockers = set(blockers)
    seen = set()
    order = []
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(v.owner.inputs)
    return order


def graph_inputs(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Variable]:
    """The root variables (no owner, or blockers) that ``outputs`` depend on, in order found."""
    blockers = set(blockers)
    return [v for v in ancestors(outputs, blockers) if v.owner is None or v in blockers]


def toposort(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list[Apply]:
    """Apply nodes needed for ``outputs`` in an order where inputs come first (iterative DFS)."""
    blockers = set(blockers)
    order: list[Apply] = []
    done: set = set()
    for out in outputs:
        if out.owner is None or out in blockers or out.owner in done:
            continue
        stack = [(out.owner, 0)]
        visiting = {out.owner}
        while stack:
            node, i = stack.pop()
            if i < len(node.inputs):
                stack.append((node, i + 1))
                v = node.inputs[i]
                p = v.owner
                if p is not None and v not in blockers and p not in done and p not in visiting:
                    visiting.add(p)
                    stack.append((p, 0))
            else:
                done.add(node)
                order.append(node)
    return order


def io_toposort(inputs, outputs) -> list[Apply]:
    return toposort(outputs, blockers=inputs)


def clone_replace(outputs: Sequence[Variable], replace: dict | None = None) -> list[Variable]:
    """Copy the graph of ``outputs`` with some variables replaced by others.

    Nodes that do not depend on a replaced variable are reused as they are (graphs are
    immutable, so sharing is safe). Used for ``givens`` and by the gradient.
    """
    replace = dict(replace or {})
    memo: dict = dict(replace)
    for node in toposort(outputs, blockers=list(replace.keys())):
        new_inputs = [memo.get(v, v) for v in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs)
        for o, n in zip(node.outputs, new_node.outputs):
            memo[o] = n
    return [memo.get(o, o) for o in outputs]


def is_in_ancestors(node_or_var, target) -> bool:
    return target in ancestors([node_or_var])


def typed_by_value(constant: Constant, readers: Iterable[Apply]) -> bool:
    """Whether some node of ``readers`` types its outputs from ``constant``'s value, so
    that the constant cannot be replaced by a variable of its type (as moving it out of an
    inner graph into an input does): that node then refuses the variable or makes outputs
    of other types. ``Reshape`` does with its target shape: ``x.reshape((3, 1))`` is
    broadcastable along its second axis only because the 1 is a constant."""
    stand_in = constant.type.make_variable()
    for node in readers:
        if constant not in node.inputs:
            continue
        try:
            made = node.op.make_node(*[stand_in if v is constant else v for v in node.inputs])
        except Exception:  # noqa: BLE001 - the op takes only a constant there
            return True
        if [o.type for o in made.outputs] != [o.type for o in node.outputs]:
            return True
    return False
