"""The boundary between compiling and running: what a backend's ``link()`` returns.

Why one boundary: ``Function`` (compile/) knows nothing of backends, and a backend knows
nothing of ``Function``. Every backend's ``link(fgraph, inputs, shared, updates)`` returns
an :class:`Executable`, which owns the whole call:

* argument passing and checking: positional or by name, defaults, each value converted
  to its input's type (``bind``, ``filter``);
* reading the shared values, running the linked graph (``run``: the backend's part),
  copying outputs that would alias an input, a constant or another result
  (``outputs_aliasing_inputs``), and storing the updates only after a successful call,
  all or none, under the updated variables' locks (``store``, ``callguard.py``);
* the error path: a failure is re-run on the user's graph with the numpy reference,
  so the error names the node the user wrote and their source line (``explain``);
* ``prepare()``: process tuning a backend needs, once per process, before its first
  graph is linked (the Numba backend's threads, malloc and BLAS settings).

A backend subclasses it and overrides ``run`` (and where it keeps values elsewhere,
``read_shared``/``store``); it may also bring a faster entry point (``entry``: the Numba
backend generates one per function), which must behave exactly as ``call``.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> a, b = T.dscalars('a', 'b')
    >>> f = theano.function([a, b], a * b)
    >>> float(f.executable.call(2.0, b=3.0))
    6.0
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant, Variable
from symgraph.graph.fg import FunctionGraph
from symgraph.link.callguard import commit, interrupt_from, update_lock
from symgraph.tensor.sharedvar import SharedVariable

__all__ = ["Arg", "Executable", "outputs_aliasing_inputs"]

_MISSING = object()


class Arg:
    """How one input of a compiled function takes its value: type, name (for keyword
    calls and messages), default, and whether a lossy conversion is allowed."""

    __slots__ = ("type", "name", "has_default", "default", "allow_downcast")

    def __init__(self, type, name=None, has_default=False, default=None,
                 allow_downcast=None):
        self.type = type
        self.name = name
        self.has_default = has_default
        self.default = default
        self.allow_downcast = allow_downcast


def _exact_class(t):
    """The Python class whose values an input takes as they are (a Python float for a
    float64 scalar...), so the common call skips the conversion; None: always convert."""
    if t.ndim == 0:
        return {"float64": float, "int64": int}.get(t.dtype)
    return None


class Executable:
    """A linked graph, ready to be called (see the module docstring).

    ``fgraph``: the optimized graph, its outputs the user's outputs then the new values
    of ``updates``; ``inputs``: an :class:`Arg` per ``fgraph.inputs``; ``shared``: the
    shared variables the graph reads, in the backend's argument order; ``single``:
    calls return the one output itself instead of a list; ``user_graph``: (inputs,
    outputs) before rewriting, and ``name``: the function's name, for error messages.
    """

    def __init__(self, fgraph, inputs, shared, updates, *, single=False, user_graph=None,
                 name=None):
        self.fgraph = fgraph
        self.args = list(inputs)
        if len(self.args) != len(fgraph.inputs):
            raise ValueError(f"internal: {len(self.args)} Args for {len(fgraph.inputs)} "
                             f"graph inputs")
        self.shared_vars = list(shared)
        self.update_vars = list(updates)
        self.n_out = len(fgraph.outputs) - len(self.update_vars)
        self.single = single
        self.user_graph = user_graph
        self.name = name
        self.containers = [v.container for v in self.shared_vars]
        self.update_containers = [v.container for v in self.update_vars]
        self.update_lock = update_lock(self.update_containers)
        self.copy_out = outputs_aliasing_inputs(fgraph, self.n_out, self.update_vars)
        self.names = [a.name or f"#{k}" for k, a in enumerate(self.args)]
        self._positions = {a.name: k for k, a in enumerate(self.args) if a.name is not None}
        self._exact = [_exact_class(a.type) for a in self.args]

    # -- the backend's part --------------------------------------------------------
    @classmethod
    def prepare(cls) -> None:
        """Process tuning this backend needs, done once per process by its ``link()``
        before it builds anything (the backend's first use). Nothing by default."""

    def run(self, vals, shared_vals) -> list:
        """Run the graph on checked input values and the shared variables' values;
        returns the outputs then the update values, committing nothing."""
        raise NotImplementedError

    def read_shared(self) -> list:
        """The values ``run`` takes for the shared variables."""
        return [c.value for c in self.containers]

    def store(self, values) -> None:
        """Make ``values`` the updated shared variables' values: all or none."""
        commit(self.update_containers, values)

    def node_function(self, k):
        """A callable running node ``k`` of ``fgraph.toposort()`` alone on scalars and
        arrays (per-node profiling and diagnosis), or None when the backend has none."""
        return None

    def entry(self):
        """The callable ``Function.__call__`` is: ``call`` unless the backend has a
        faster one that behaves the same."""
        return self.call

    # -- the call ------------------------------------------------------------------
    def call(self, *args, **kwargs):
        """Bind and check the arguments, run, copy aliased outputs, commit the updates;
        returns the output (``single``) or the list of outputs."""
        if kwargs or len(args) != len(self.args):
            args = self.bind(args, kwargs)
        exact = self._exact
        vals = [a if (exact[k] is not None and a.__class__ is exact[k]) else self.filter(k, a)
                for k, a in enumerate(args)]
        return self.call_checked(vals)

    def call_trusted(self, *args, **kwargs):
        """``call`` without converting the values (``Function.trust_input``): the caller
        guarantees each has its input's type."""
        if kwargs or len(args) != len(self.args):
            args = self.bind(args, kwargs)
        return self.call_checked(list(args))

    def call_checked(self, vals):
        """The call on values already of their inputs' types."""
        # calls that update shared variables hold their locks from reading the values to
        # storing the results, so threads do not lose updates (callguard.py)
        with self.update_lock:
            shared_vals = self.read_shared()
            try:
                results = self.run(vals, shared_vals)
            except Exception as e:  # noqa: BLE001 - re-raised naming the user's node
                raise self.explain(e, vals) from None
            for k in self.copy_out:
                results[k] = np.array(results[k], copy=True)
            # commit only now, all or none: a failed or interrupted call changes nothing
            if self.update_vars:
                self.store(results[self.n_out:])
        if self.single:
            return results[0]
        return results[: self.n_out]

    def dry_run(self, *args, **kwargs):
        """Run once without committing updates (compiles the machine code; no side
        effect); returns the list of outputs."""
        vals = self.check(args, kwargs)
        return list(self.run(vals, self.read_shared())[: self.n_out])

    # -- arguments -----------------------------------------------------------------
    def check(self, args, kwargs) -> list:
        """The call's arguments bound to the inputs and converted to their types."""
        if kwargs or len(args) != len(self.args):
            args = self.bind(args, kwargs)
        return [self.filter(k, a) for k, a in enumerate(args)]

    def filter(self, k, v):
        """``v`` as a value of input ``k``'s type (the value itself when it is one)."""
        t = self.args[k].type
        if type(v) is np.ndarray and v.dtype is t.numpy_dtype and v.ndim == t.ndim:
            if not any(t.broadcastable) or all(
                    s == 1 for s, b in zip(v.shape, t.broadcastable) if b):
                return v
        if isinstance(v, Variable):
            raise TypeError(f"input {self.names[k]!r}: got the symbolic variable {v}; a "
                            f"compiled function takes values (numbers or numpy arrays)")
        return t.filter(v, strict=False, allow_downcast=self.args[k].allow_downcast,
                        name=self.names[k])

    def bind(self, args, kwargs) -> list:
        """Positional and keyword arguments, and defaults, as one value per input."""
        n = len(self.args)
        names = ", ".join(self.names)
        if len(args) > n:
            raise TypeError(f"function{' ' + self.name if self.name else ''} takes {n} "
                            f"argument{'s' if n != 1 else ''} ({names}), got {len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, v in kwargs.items():
            if key not in self._positions:
                raise TypeError(f"function got an unexpected keyword argument {key!r}; inputs "
                                f"are {self.names}")
            k = self._positions[key]
            if vals[k] is not _MISSING:
                raise TypeError(f"function got multiple values for input {key!r}")
            vals[k] = v
        for k, a in enumerate(self.args):
            if vals[k] is _MISSING:
                if not a.has_default:
                    raise TypeError(f"function takes {n} argument{'s' if n != 1 else ''} "
                                    f"({names}); missing a value for input {k} "
                                    f"({self.names[k]!r})")
                vals[k] = a.default
        return vals

    # -- errors --------------------------------------------------------------------
    def explain(self, exc, vals):
        """The exception a failed call raises: ``KeyboardInterrupt`` when Ctrl-C stopped
        it; else the error of the user's graph (before rewriting) re-run on the numpy
        reference, which names the node the user wrote, its input shapes and dtypes and
        the user's source line (not a fused or rewritten node); else ``exc``. Runs only
        on the error path."""
        interrupt = interrupt_from(exc)  # Ctrl-C inside a parallel kernel: no diagnosis
        if interrupt is not None:
            return interrupt
        if self.user_graph is None:
            return exc
        try:
            from symgraph.link.py.linker import PyThunk

            fg = FunctionGraph(self.user_graph[0], self.user_graph[1], clone=True)
            shared = [v for v in fg.variables if isinstance(v, SharedVariable)]
            ref = PyThunk(fg, fg.inputs, shared)
            ref_vals = [np.array(v, copy=True) for v in vals]
            ref_shared = [np.array(v.container.value, copy=True) for v in shared]
        except Exception:  # noqa: BLE001 - diagnosis must not hide the original error
            return exc
        try:
            ref(ref_vals, ref_shared)
        except Exception as ref_exc:  # noqa: BLE001
            return ref_exc
        return exc

    def explain_args(self, exc, args, kwargs=None):
        """``explain`` for a call's raw arguments (a fast entry's error path)."""
        try:
            vals = self.check(args, kwargs or {})
        except Exception as bad:  # noqa: BLE001 - the arguments themselves are wrong
            return bad
        return self.explain(exc, vals)


def outputs_aliasing_inputs(fgraph, n_out, upd_vars=()):
    """Indices of outputs (user outputs, then update values) that get copied after a call.

    As Theano's ``insert_deepcopy``: a returned array or a shared variable's new value must
    not share memory with an input, a constant, another shared variable, or another
    output/update (the same variable twice, or a view of one); otherwise mutating one
    silently changes the other. An update may alias its own shared variable.
    """
    res = []
    roots = set(fgraph.inputs) | {v for v in fgraph.variables if isinstance(v, SharedVariable)}
    taken = set()
    for k, o in enumerate(fgraph.outputs):
        v = o
        while True:
            node = v.owner
            if node is None or v in roots:
                break
            vm = getattr(node.op, "view_map", {}) or {}
            dm = getattr(node.op, "destroy_map", {}) or {}
            src = vm.get(v.index) or dm.get(v.index)
            if not src:
                break
            v = node.inputs[src[0]]
        own = upd_vars[k - n_out] if k >= n_out else None
        if v in taken or isinstance(v, Constant) or (v in roots and v is not own):
            res.append(k)
        else:
            taken.add(v)
    return res
