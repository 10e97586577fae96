"""``mode='DebugMode'``: run the compiled backend and the numpy reference side by side.

Why: Theano's DebugMode checks an optimized, compiled function against the reference
implementation of every op. Here the reference is the py backend (each op's numpy
``perform`` on the same rewritten graph) and the compiled side is the Numba backend (or
CUDA with ``device=cuda``, or the ``linker`` given). Every call runs both on the same
inputs and the same shared values, compares every output and every shared-variable
update, and raises ``BadThunkOutput`` naming the output, where the two differ (index,
both values, the difference) and the user's line that created it, when they disagree
beyond the tolerance (on the Numba backend it also names the first node of the compiled
graph whose result differs from that node's reference, found by running the nodes one by
one, only when a difference was found); with ``check_isfinite`` (Theano's default) a NaN or Inf in a
result is an error too (``InvalidValueError``). A call that fails a check commits no
update. The compiled side's results are what the call returns.

Tolerances are Theano's: float32 ``rtol=atol=1e-5``, float64 ``rtol=1e-5, atol=1e-8``;
integers and booleans must match exactly. Random draws are the same on both sides (the
generator is bit-identical across backends).

Example::

    >>> f = theano.function([x], T.exp(x).sum(), mode='DebugMode')
    >>> f(np.ones(3))         # both backends ran and agreed
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

#: (rtol, atol) by dtype kind and size, Theano's ``_allclose`` tolerances
TOLERANCES = {"float16": (1e-3, 1e-3), "float32": (1e-5, 1e-5), "float64": (1e-5, 1e-8),
              "complex64": (1e-5, 1e-5), "complex128": (1e-5, 1e-8)}


class DebugModeError(Exception):
    """Base class of DebugMode's findings."""


class BadThunkOutput(DebugModeError):
    """The compiled backend and the numpy reference computed different values."""


class InvalidValueError(DebugModeError):
    """A result holds NaN or Inf (``check_isfinite=True``)."""


class DebugMode(Mode):
    """Theano's DebugMode: compiled backend vs numpy reference on every call.

    ``linker``: the backend checked ('numba' by default, 'cuda' with ``device=cuda``);
    ``rtol``/``atol``: override the per-dtype tolerances; ``check_isfinite``: a NaN or
    Inf in any result is an error.
    """

    def __init__(self, optimizer="fast_run", linker=None, check_isfinite=True, rtol=None,
                 atol=None, excluding=(), including=()):
        from symgraph.config import config

        if linker is None:
            linker = "cuda" if config.device == "cuda" else "numba"
        super().__init__(linker, optimizer, excluding, including)
        if self.linker == "py":
            raise ValueError("DebugMode compares a compiled backend with the py reference; "
                             "linker='py' would compare the reference with itself. Use "
                             "'numba' or 'cuda'.")
        self.check_isfinite = bool(check_isfinite)
        self.rtol, self.atol = rtol, atol

    def _with(self, excluding, including):
        return DebugMode(self.optimizer, self.linker, self.check_isfinite, self.rtol,
                         self.atol, excluding, including)

    def excluding(self, *tags):
        return self._with(self.excluding_tags + tags, self.including_tags)

    def including(self, *tags):
        return self._with(self.excluding_tags, self.including_tags + tags)

    def __repr__(self):
        return f"DebugMode(linker={self.linker!r} vs 'py', optimizer={self.optimizer!r})"

    def tolerance(self, dtype):
        rtol, atol = TOLERANCES.get(str(dtype), (0.0, 0.0))
        return (rtol if self.rtol is None else self.rtol,
                atol if self.atol is None else self.atol)

    def difference(self, got, ref):
        """None when ``got`` (compiled) matches ``ref`` (reference), else a description."""
        got, ref = np.asarray(got), np.asarray(ref)
        if got.shape != ref.shape:
            return f"shape {got.shape} vs the reference's {ref.shape}"
        if got.dtype != ref.dtype:
            return f"dtype {got.dtype} vs the reference's {ref.dtype}"
        if got.size == 0:
            return None
        if got.dtype.kind in "fc":
            rtol, atol = self.tolerance(got.dtype)
            ok = np.isclose(got, ref, rtol=rtol, atol=atol, equal_nan=True)
        else:
            rtol = atol = 0
            ok = got == ref
        if ok.all():
            return None
        bad = np.argwhere(~ok)
        idx = tuple(int(i) for i in bad[0])
        g, r = got[idx], ref[idx]
        with np.errstate(all="ignore"):
            diff = np.abs(got.astype("complex128") - ref.astype("complex128"))
            worst = float(np.nanmax(np.where(ok, 0, diff))) if got.dtype.kind in "fc" else None
        return (f"{len(bad)} of {got.size} values differ; first at index {idx}: "
                f"{g} vs the reference's {r}"
                + (f"; largest |difference| {worst:.3g}" if worst is not None else "")
                + f" (rtol={rtol}, atol={atol})")


class DebugFunction(CheckedFunction):
    """Pairs the compiled function with its py reference (see the module docstring)."""

    def __init__(self, fn, ref, spec, mode):
        super().__init__(fn, spec, mode)
        self._ref = ref

    def _checked_call(self, vals):
        fn, mode = self._fn, self.mode
        ref_outs, ref_upds = run_uncommitted(self._ref, [np.array(v, copy=True) for v in vals])
        outs, upds = run_uncommitted(fn, vals)
        for k, (got, ref) in enumerate(zip(outs + upds, ref_outs + ref_upds)):
            diff = mode.difference(got, ref)
            if diff is not None:
                raise BadThunkOutput(
                    f"DebugMode: the {mode.linker} backend and the py reference disagree on "
                    f"{describe_output(fn, k)}\n  {diff}" + _first_bad_node(fn, vals, mode))
            if mode.check_isfinite:
                a = np.asarray(got)
                if a.dtype.kind in "fc" and not np.isfinite(a).all():
                    what = "NaN" if np.isnan(a).any() else "Inf"
                    raise InvalidValueError(
                        f"DebugMode (check_isfinite): {what} in {describe_output(fn, k)}")
        return commit(fn, outs, upds)


def _first_bad_node(fn, vals, mode) -> str:
    """On a difference (only then): run the compiled graph node by node with the Numba
    module's per-node functions and each node's numpy reference on the same inputs, and
    describe the first node whose results differ ('' when that cannot be done)."""
    exe = fn.executable
    from symgraph.compile.checked import shared_snapshot
    from symgraph.graph.basic import Constant
    from symgraph.graph.utils import format_trace
    from symgraph.link.py.dispatch import py_impl

    env = dict(zip(fn.fgraph.inputs, vals))
    env.update(zip(fn.shared_vars, shared_snapshot(fn)))
    try:
        for k, node in enumerate(fn.fgraph.toposort()):
            ins = [v.data if isinstance(v, Constant) else env[v] for v in node.inputs]
            ref = py_impl.get(node)(node, [np.array(i, copy=True) for i in ins])
            args = [i[()] if isinstance(i, np.ndarray) and i.ndim == 0 else i for i in ins]
            node_fn = exe.node_function(k)
            if node_fn is None:  # the backend has no compiled per-node functions
                return ""
            got = node_fn(*args)
            got = list(got) if len(node.outputs) > 1 else [got]
            for j, (o, g, r) in enumerate(zip(node.outputs, got, ref)):
                d = mode.difference(np.asarray(g), np.asarray(r))
                if d is not None:
                    return (f"\n  First node that differs (compiled graph, node {k}): "
                            f"{node.op}, output {j}: {d}\n  Created at:\n    "
                            + format_trace(getattr(node.tag, "trace", ())).replace(
                                "\n", "\n    "))
                env[o] = np.asarray(g)
    except Exception:  # noqa: BLE001 - a diagnosis aid only: the difference is reported
        return ""
    return ""


def compile_debug(spec, mode: DebugMode):
    from symgraph.compile.function import _compile

    fn = _compile(dict(spec, mode=plain_mode(mode)))
    ref_mode = Mode("py", mode.optimizer, mode.excluding_tags, mode.including_tags)
    ref = _compile(dict(spec, mode=ref_mode))
    return DebugFunction(fn, ref, spec, mode)
