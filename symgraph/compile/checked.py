"""Calls that run a compiled function, look at every result, then commit (or not).

Why: the checking modes (``DebugMode``, ``NanGuardMode``) must inspect the outputs *and*
the new values of shared variables before any shared variable changes, so that a call
they reject leaves the shared state as it was (the rule every call follows). A
``Function`` commits inside its call; these helpers split that in two: run
the linked graph on copies of the shared values, then commit the updates.

``CheckedFunction`` is the common wrapper: it keeps Theano's ``Function`` surface
(``maker``, ``name``, ``copy``, pickling, ``get_shared``...) by delegating to the
wrapped function, and calls ``self._checked_call(vals)``. They use the wrapped
function's ``Executable`` (``symgraph.link.executable``) in parts: ``check`` the
arguments, ``run`` without committing, ``explain`` a failure.
"""
from __future__ import annotations

import numpy as np


def host(x):
    """``x`` as a numpy value (device arrays are copied to the host)."""
    if hasattr(x, "copy_to_host") and not isinstance(x, np.ndarray):
        return x.copy_to_host()
    return x


def filtered_args(fn, args, kwargs):
    """The call's arguments bound to ``fn``'s inputs and converted to their types."""
    return fn.executable.check(args, kwargs)


def shared_snapshot(fn):
    """Copies of the current values of ``fn``'s shared variables (pre-call values)."""
    out = []
    for v in fn.shared_vars:
        out.append(np.array(v.container.value, copy=True))
    return out


def run_uncommitted(fn, vals):
    """Run ``fn``'s linked graph on ``vals``; returns (outputs, update values) as host
    arrays without changing any shared variable. Shared values are passed as copies, so
    in-place updates of the compiled code touch only the copies."""
    shared = shared_snapshot(fn)
    try:
        res = list(fn.executable.run(vals, shared))
    except Exception as e:  # noqa: BLE001 - named by the usual diagnosis path
        raise fn.executable.explain(e, vals) from None
    n = fn.n_out
    return [host(r) for r in res[:n]], [host(r) for r in res[n:]]


def commit(fn, outs, updates):
    """Store ``updates`` into ``fn``'s updated shared variables; return the call's result
    (a single array or a list, as ``fn`` would)."""
    for sv, v in zip(fn.upd_vars, updates):
        sv.set_value(v, borrow=True)
    copy_out = fn.executable.copy_out
    outs = [np.array(o, copy=True) if k in copy_out else o for k, o in enumerate(outs)]
    return outs[0] if fn.single else outs


class CheckedFunction:
    """A compiled function whose calls go through ``_checked_call(vals)``."""

    def __init__(self, fn, spec, mode):
        self._fn = fn
        self._spec = spec
        self.mode = mode

    def __getattr__(self, name):
        if name.startswith("__") or name == "_fn":
            raise AttributeError(name)
        return getattr(self._fn, name)

    def __call__(self, *args, **kwargs):
        vals = filtered_args(self._fn, args, kwargs)
        return self._checked_call(vals)

    def _checked_call(self, vals):  # pragma: no cover - abstract
        raise NotImplementedError

    def copy(self):
        from symgraph.compile.function import compile_spec

        return compile_spec(self._spec)

    def __reduce__(self):
        from symgraph.compile.function import compile_spec

        return (compile_spec, (self._spec,))

    def __repr__(self):
        return f"<symgraph Function under {self.mode!r}: {self._fn!r}>"


def checking_compiler(mode):
    """The compile function of a checking mode named or given by ``mode`` (a
    ``DebugMode``/``NanGuardMode`` instance, their names, or None with ``config.mode``
    naming one); None for an ordinary mode."""
    from symgraph.compile.debugmode import DebugMode, compile_debug
    from symgraph.compile.nanguardmode import NanGuardMode, compile_nanguard
    from symgraph.config import config

    if mode is None:
        mode = config.mode
    if mode == "DebugMode":
        mode = DebugMode()
    elif mode == "NanGuardMode":
        mode = NanGuardMode()
    if isinstance(mode, DebugMode):
        return lambda spec: compile_debug(spec, mode)
    if isinstance(mode, NanGuardMode):
        return lambda spec: compile_nanguard(spec, mode)
    return None


def plain_mode(mode):
    """The ordinary ``Mode`` (linker and rewrites) a checking mode compiles with."""
    from symgraph.compile.mode import Mode

    return Mode(mode.linker, mode.optimizer, mode.excluding_tags, mode.including_tags)


def describe_output(fn, k):
    """'output k (name), created at <user line>' for messages about result ``k`` (user
    outputs first, then the shared variables' updates)."""
    user = fn.executable.user_graph
    n = fn.n_out
    if k >= n:
        sv = fn.upd_vars[k - n]
        what = f"the update of shared variable {sv}"
    else:
        what = f"output {k}"
    var = user[1][k] if user is not None and k < len(user[1]) else None
    if var is not None and var.name:
        what += f" ({var.name})"
    if var is not None and var.owner is not None:
        from symgraph.graph.utils import format_trace

        what += ", created at:\n    " + format_trace(
            getattr(var.owner.tag, "trace", ())).replace("\n", "\n    ")
    return what
