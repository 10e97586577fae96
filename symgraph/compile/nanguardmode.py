"""``NanGuardMode``: stop at the first NaN, Inf or huge value, naming the node and line.

Why: a diverging training run shows up as a NaN loss many steps after the cause. Theano
users compile with ``mode=NanGuardMode(nan_is_error=True, inf_is_error=True,
big_is_error=True)`` to fail on the very call that first produces such a value.

How it runs here: the function is compiled for its usual backend (Numba by default,
CUDA with ``device=cuda``, or the ``linker`` given) and runs at full speed; each call
checks the inputs, the shared values it reads, its outputs and the new values of the
shared variables *before* committing them. When one is bad, the call commits nothing
and the user's graph (before rewriting) is replayed node by node with the numpy
reference on the same values, to name the first node whose output is bad and the
user's line that created it. A value that is bad on the backend but not in the
reference is reported as such. Like Theano, every node is checked, also one whose value
never reaches an output or an update (the discarded branch of a ``T.switch``): after the
fast call, the user's graph is replayed with the numpy reference (so a call costs about
what the py backend costs; a debugging mode).

Theano's messages: "NaN detected", "Inf detected", "Big value detected" (an absolute
value above 1e10 in a float array), then "NanGuardMode found an error in the output of
a node in this variable:" or "... in an input of the graph.". The error is an
``AssertionError`` (``NanGuardError``), as in Theano.

Example::

    >>> from symgraph.compile.nanguardmode import NanGuardMode
    >>> f = theano.function([x], T.log(x),
    ...                     mode=NanGuardMode(nan_is_error=True, inf_is_error=True))
    >>> f(np.array([-1.0]))   # NanGuardError: NaN detected ... Elemwise{log} ... line
"""
from __future__ import annotations

import numpy as np

from symgraph.compile.checked import (
    CheckedFunction,
    commit,
    describe_output,
    plain_mode,
    run_uncommitted,
)
from symgraph.compile.mode import Mode

#: Theano's threshold for ``big_is_error``
BIG = 1e10


class NanGuardError(AssertionError):
    """A NaN, Inf or big value was found under ``NanGuardMode``."""


class NanGuardMode(Mode):
    """Compile normally; fail a call whose values hold NaN / Inf / |x| > 1e10.

    ``nan_is_error``, ``inf_is_error``, ``big_is_error`` default to True (Theano's
    ``config.NanGuardMode`` defaults); ``optimizer='default'`` means ``config.optimizer``;
    ``linker`` picks the backend (default: the configured one, 'numba' or 'cuda').
    """

    def __init__(self, nan_is_error=None, inf_is_error=None, big_is_error=None,
                 optimizer="default", linker=None, excluding=(), including=()):
        from symgraph.config import config

        flags = [True if f is None else f for f in (nan_is_error, inf_is_error, big_is_error)]
        for name, f in zip(("nan_is_error", "inf_is_error", "big_is_error"), flags):
            if not isinstance(f, (bool, np.bool_)):
                raise TypeError(f"NanGuardMode: {name} must be True or False, got {f!r}")
        if not any(flags):
            raise ValueError("NanGuardMode: at least one of nan_is_error, inf_is_error and "
                             "big_is_error must be True")
        self.nan_is_error, self.inf_is_error, self.big_is_error = (bool(f) for f in flags)
        if optimizer == "default":
            optimizer = config.optimizer
        super().__init__(linker, optimizer, excluding, including)

    def _with(self, excluding, including):
        return NanGuardMode(self.nan_is_error, self.inf_is_error, self.big_is_error,
                            self.optimizer, self.linker, excluding, including)

    def excluding(self, *tags):
        return self._with(self.excluding_tags + tags, self.including_tags)

    def including(self, *tags):
        return self._with(self.excluding_tags, self.including_tags + tags)

    def __repr__(self):
        return (f"NanGuardMode(nan_is_error={self.nan_is_error}, inf_is_error="
                f"{self.inf_is_error}, big_is_error={self.big_is_error}, linker="
                f"{self.linker!r})")

    def problems(self, value) -> list:
        """Theano's findings for one value: a list of 'NaN/Inf/Big value detected'."""
        if not isinstance(value, (np.ndarray, np.generic)):
            return []
        a = np.asarray(value)
        if a.dtype.kind not in "fc" or a.size == 0:
            return []
        found = []
        if self.nan_is_error and np.isnan(a).any():
            found.append("NaN detected")
        if self.inf_is_error and np.isinf(a).any():
            found.append("Inf detected")
        if self.big_is_error:
            with np.errstate(invalid="ignore"):
                big = np.abs(a[np.isfinite(a)]).max(initial=0) > BIG
            if big:
                found.append("Big value detected")
        return found


class NanGuardFunction(CheckedFunction):
    """A compiled function whose every call is checked (see the module docstring)."""

    def _checked_call(self, vals):
        fn, mode = self._fn, self.mode
        for k, v in enumerate(vals):
            found = mode.problems(v)
            if found:
                raise NanGuardError("\n".join(found) + "\nNanGuardMode found an error in an "
                                    f"input of the graph: input {fn.executable.names[k]!r}")
        for sv in fn.shared_vars:
            found = mode.problems(sv.get_value(borrow=True))
            if found:
                raise NanGuardError("\n".join(found) + "\nNanGuardMode found an error in an "
                                    f"input of the graph: shared variable {sv}")
        outs, updates = run_uncommitted(fn, vals)
        for k, v in enumerate(outs + updates):
            found = mode.problems(v)
            if found:
                raise NanGuardError(self._locate(vals, k, found))
        # Theano checks every node: also values that never reach an output or an update
        node, detail, found = _first_bad_node(fn, vals, mode)
        if node is not None:
            raise NanGuardError(_node_message("\n".join(found), node, detail,
                                              "no output or update (it is discarded later)"))
        return commit(fn, outs, updates)

    def _locate(self, vals, k, found):
        """Replay the user's graph with the numpy reference; name its first bad node."""
        fn, mode = self._fn, self.mode
        head = "\n".join(found)
        where = describe_output(fn, k)
        node, detail, _ = _first_bad_node(fn, vals, mode)
        if node is None:
            return (f"{head}\nNanGuardMode found an error in {where}\n  on the "
                    f"{mode.linker} backend; the numpy reference computes it without "
                    f"{'/'.join(f.split()[0] for f in found)} ({detail}), so the backend's "
                    f"result differs from the reference there.")
        return _node_message(head, node, detail,
                             where.splitlines()[0].removesuffix(', created at:'))


def _node_message(head, node, args, reaches):
    """Theano's message for a bad node output, with the user's line that created it."""
    from symgraph.graph.utils import format_trace

    shapes = ", ".join(f"{np.shape(v)} {np.asarray(v).dtype}" for v in args)
    return (f"{head}\nNanGuardMode found an error in the output of a node in this "
            f"variable:\n  {node.op}({', '.join(str(i) for i in node.inputs)})\n"
            f"  Input shapes and dtypes: ({shapes})\n  Created at:\n    "
            + format_trace(getattr(node.tag, "trace", ())).replace("\n", "\n    ")
            + f"\n(the first node, in execution order, whose output is bad; the bad "
              f"value reaches {reaches})")


def _first_bad_node(fn, vals, mode):
    """(node, its input values, findings) of the first user-graph node with a bad output,
    or (None, reason, []) when the numpy reference finds none."""
    from symgraph.compile.shared import SharedVariable
    from symgraph.graph.fg import FunctionGraph
    from symgraph.link.py.dispatch import py_impl

    user = fn.executable.user_graph
    if user is None:
        return None, "no user graph kept", []
    fg = FunctionGraph(user[0], user[1], clone=True)
    env = {}
    for v, x in zip(fg.inputs, vals):
        env[v] = np.array(x, copy=True)
    for v in fg.variables:
        if isinstance(v, SharedVariable):
            env[v] = np.array(v.get_value(borrow=True), copy=True)
        elif v.owner is None and hasattr(v, "data"):
            env[v] = v.data
    for node in fg.toposort():
        args = [env[i] for i in node.inputs]
        try:
            outs = py_impl.get(node)(node, args)
        except Exception as e:  # noqa: BLE001 - the reference cannot run: say so
            return None, f"the reference raised {type(e).__name__}: {e}", []
        for o, x in zip(node.outputs, outs):
            env[o] = x
            found = mode.problems(x)
            if found:
                return node, args, found
    return None, "no node of the reference has such a value", []


def compile_nanguard(spec, mode: NanGuardMode):
    from symgraph.compile.function import _compile

    fn = _compile(dict(spec, mode=plain_mode(mode)))
    return NanGuardFunction(fn, spec, mode)
