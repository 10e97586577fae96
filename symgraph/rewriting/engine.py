"""Rewrite engine: named, tagged rewrites in ordered phases, run to a fixpoint.

Phases run in order: canonicalize -> stabilize -> specialize -> fuse -> inplace.
A *node rewrite* is ``fn(fgraph, node) -> None | list_of_replacements | dict``; it
declares the Op classes it looks at (``tracks``) so the engine only calls it on those.
A *graph rewrite* is ``fn(fgraph) -> None`` and runs once per pass of its phase.

Rules the engine enforces:
- a replacement keeps the type (dtype and broadcast pattern) of what it replaces;
- nodes a rewrite creates inherit the creation trace of the node they replace, so
  run-time errors still point at the user's line;
- every phase has a budget (passes and node growth): no runaway rewriting.

Select rewrites with ``Mode(excluding=['fusion'])``, ``SYMGRAPH_FLAGS=optimizer_excluding=
fusion``, or by Theano's optimizer names (``Mode(optimizer='fast_compile')``: ``OPTIMIZERS``;
``optimizer=None`` runs none).

Example::

    from symgraph.rewriting.engine import node_rewriter
    @node_rewriter("canonicalize", tracks=[Elemwise], tags=["algebra"])
    def local_neg_neg(fgraph, node): ...
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from symgraph.graph.basic import Variable, toposort
from symgraph.graph.fg import OUTPUT

PHASES = ("canonicalize", "stabilize", "specialize", "fuse", "inplace")
MAX_PASSES = 30


@dataclass
class Rewrite:
    name: str
    phase: str
    fn: object
    kind: str  # "node" or "graph"
    tracks: tuple = ()
    tags: tuple = ()
    stats: dict = field(default_factory=lambda: {"applied": 0, "seconds": 0.0})

    def selected(self, mode) -> bool:
        keys = {self.name, self.phase, *self.tags}
        if keys & set(mode.excluding_tags):
            return False
        preset = OPTIMIZERS[getattr(mode, "optimizer", "fast_run")]
        if (preset is None or self.phase not in preset.phases or not keys & set(preset.include)
                or keys & set(preset.exclude)):
            return False
        if "optional" in self.tags and not (keys & set(mode.including_tags)):
            return False
        return True


REGISTRY: list[Rewrite] = []


@dataclass(frozen=True)
class Optimizer:
    """A named selection of the registered rewrites, as Theano's optimizer names select
    from its optimizer database: a rewrite runs when it has one of the ``include`` tags,
    none of the ``exclude`` tags, and its phase is among ``phases`` (Theano's position
    cutoff: ``'stabilize'`` stops after that phase)."""

    include: tuple
    exclude: tuple = ()
    phases: tuple = PHASES


_FAST_RUN = Optimizer(("fast_run",))
_FAST_COMPILE = Optimizer(("fast_compile",))
#: Theano's optimizer names, each mapped onto symgraph's tags and phases. ``'fast_run'``
#: (the default) runs every rewrite; ``'fast_compile'`` only the cheap ones tagged
#: ``fast_compile`` (merging and constant folding); ``'merge'`` only merging; ``'stabilize'``
#: canonicalize and stabilize (no specialization, fusion or in-place); ``'o1'``..``'o4'`` as
#: in Theano (``'o2'`` = fast_compile plus fusion, ``'o3'`` = fast_run without in-place);
#: ``'unsafe'`` is ``'o3'`` (symgraph has no rewrite tagged unsafe). ``None``/``'None'``:
#: no rewrite at all (``rewriting.optimize`` returns at once). Other names are refused
#: when the ``Mode`` is made (Theano's ``'fast_run_stable'`` needs a ``stable`` tag that no
#: rewrite here has).
OPTIMIZERS: dict = {
    "fast_run": _FAST_RUN,
    "o4": _FAST_RUN,
    "fast_compile": _FAST_COMPILE,
    "o1": _FAST_COMPILE,
    "o2": Optimizer(("fast_compile", "fusion")),
    "o3": Optimizer(("fast_run",), exclude=("inplace",)),
    "unsafe": Optimizer(("fast_run",), exclude=("inplace",)),
    "merge": Optimizer(("merge",)),
    "stabilize": Optimizer(("fast_run",), phases=("canonicalize", "stabilize")),
    None: None,
    "None": None,
}


def optimizer_name(name):
    """``name`` checked against ``OPTIMIZERS`` (``'None'`` becomes None): what ``Mode`` keeps.
    Raises ValueError naming the accepted names, so a misspelt or unsupported optimizer
    fails where it is given instead of being ignored."""
    try:
        known = name in OPTIMIZERS
    except TypeError:  # unhashable: an optimizer object, as Theano also accepts
        known = False
    if not known:
        names = ", ".join(repr(k) for k in OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}: symgraph accepts the names {names} "
                         f"(Theano's optimizer objects and 'fast_run_stable' are not "
                         f"supported; select rewrites with Mode(excluding=[...]))")
    return None if name == "None" else name


def _register(kind, phase, tracks, tags, name):
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")

    def deco(fn):
        REGISTRY.append(Rewrite(name or fn.__name__, phase, fn, kind, tuple(tracks or ()),
                                tuple(tags or ())))
        return fn

    return deco


def node_rewriter(phase, tracks=None, tags=(), name=None):
    """Register ``fn(fgraph, node)`` as a node rewrite of ``phase`` for ``tracks`` ops."""
    return _register("node", phase, tracks, tags, name)


def graph_rewriter(phase, tags=(), name=None):
    """Register ``fn(fgraph)`` as a whole-graph rewrite of ``phase``."""
    return _register("graph", phase, None, tags, name)


#: each backend's own phase: linker name -> its graph rewrites, in registration order.
#: They turn an optimized graph into one that backend can run (the CUDA backend's
#: host/device transfers); the backend's linker runs them (``run_backend_phase``) after
#: the generic phases. Being lowering rather than optimization, they run whatever the
#: mode's ``optimizer``, ``excluding`` or ``including`` say.
BACKEND_PHASES: dict[str, list[Rewrite]] = {}


def backend_rewriter(backend: str, name=None):
    """Register ``fn(fgraph, context)`` as a graph rewrite of ``backend``'s phase;
    ``context`` is what that backend's linker knows about the graph (the CUDA linker
    passes its placement of the nodes)."""

    def deco(fn):
        BACKEND_PHASES.setdefault(backend, []).append(
            Rewrite(name or fn.__name__, backend, fn, "graph", tags=(backend,)))
        return fn

    return deco


def run_backend_phase(fgraph, backend: str, context=None) -> float:
    """Run ``backend``'s phase on ``fgraph``, each rewrite once, with the linker's
    ``context``; returns its seconds, also recorded (with the rewrites applied) in
    ``fgraph.rewrite_log``."""
    t0 = time.perf_counter()
    log = getattr(fgraph, "rewrite_log", None) or RewriteLog()
    for r in BACKEND_PHASES.get(backend, ()):
        t1 = time.perf_counter()
        n_before = len(fgraph.replace_log)
        r.fn(fgraph, context)
        if len(fgraph.replace_log) != n_before:
            log.applied[r.name] = log.applied.get(r.name, 0) + 1
            r.stats["applied"] += 1
        r.stats["seconds"] += time.perf_counter() - t1
    fgraph.rewrite_log = log
    dt = log.phase_seconds[backend] = time.perf_counter() - t0
    return dt


def _load_rewrites():
    # importing the topic modules registers their rewrites
    from symgraph.rewriting import (  # noqa: F401
        canonicalize,
        constant_folding,
        fusion,
        inplace,
        merge,
        nnet,
        specialize,
        stabilize,
        subtensor,
    )


class RewriteLog:
    """What the optimizer did: per-rewrite application counts and per-phase seconds."""

    def __init__(self):
        self.applied: dict[str, int] = {}
        self.phase_seconds: dict[str, float] = {}


def replace_node_outputs(fgraph, node, new_outputs, reason):
    """Replace ``node``'s outputs by ``new_outputs`` (None entries are kept)."""
    trace = getattr(node.tag, "trace", ())
    for old, new in zip(node.outputs, new_outputs):
        if new is None or new is old:
            continue
        if not isinstance(new, Variable):
            raise TypeError(f"rewrite {reason} returned {new!r}, not a Variable")
        if old.type != new.type:
            new = _fix_type(old, new, reason)
        _carry_trace(fgraph, new, trace)
        fgraph.replace(old, new, reason=reason)


def _fix_type(old, new, reason):
    """Adjust ``new`` to ``old``'s type where that is a safe relabel, else refuse."""
    import symgraph.tensor as T

    if new.type.dtype != old.type.dtype:
        new = T.cast(new, old.type.dtype)
    if new.type.broadcastable != old.type.broadcastable:
        if new.type.ndim != old.type.ndim:
            raise TypeError(f"rewrite {reason}: ndim {new.type.ndim} != {old.type.ndim}")
        new = T.patternbroadcast(new, old.type.broadcastable)
    if old.type != new.type:
        raise TypeError(f"rewrite {reason}: replacement type {new.type} != {old.type}")
    return new


def _carry_trace(fgraph, var, trace):
    if not trace:
        return
    stack = [var]
    seen = set()
    while stack:
        v = stack.pop()
        if v in seen or v.owner is None or v in fgraph.variables:
            continue
        seen.add(v)
        v.owner.tag.trace = trace
        stack.extend(v.owner.inputs)


def run_phases(fgraph, mode) -> dict:
    """Run every selected phase in order; returns seconds per phase."""
    _load_rewrites()
    times = {}
    log = RewriteLog()
    start_nodes = len(fgraph.apply_nodes)
    for phase in PHASES:
        t0 = time.perf_counter()
        rewrites = [r for r in REGISTRY if r.phase == phase and r.selected(mode)]
        if rewrites:
            _run_phase(fgraph, rewrites, log, budget_nodes=max(1000, 20 * start_nodes))
        times[phase] = time.perf_counter() - t0
    fgraph.rewrite_log = log
    log.phase_seconds = times
    return times


def _run_phase(fgraph, rewrites, log, budget_nodes):
    node_rw = [r for r in rewrites if r.kind == "node"]
    graph_rw = [r for r in rewrites if r.kind == "graph"]
    by_class: dict = {}

    def for_op(op):
        cls = type(op)
        if cls not in by_class:
            by_class[cls] = [r for r in node_rw
                             if not r.tracks or any(isinstance(op, t) for t in r.tracks)]
        return by_class[cls]

    for _ in range(MAX_PASSES):
        changed = False
        for r in graph_rw:
            t0 = time.perf_counter()
            n_before = len(fgraph.replace_log)
            r.fn(fgraph)
            if len(fgraph.replace_log) != n_before:
                changed = True
                log.applied[r.name] = log.applied.get(r.name, 0) + 1
            r.stats["seconds"] += time.perf_counter() - t0
        for node in toposort(fgraph.outputs, blockers=fgraph.inputs):
            if node not in fgraph.apply_nodes:
                continue
            for r in for_op(node.op):
                if node not in fgraph.apply_nodes:
                    break
                res = r.fn(fgraph, node)
                if not res:
                    continue
                if isinstance(res, dict):
                    for old, new in res.items():
                        replace_node_outputs(fgraph, old.owner, [new if o is old else None
                                                                 for o in old.owner.outputs],
                                             r.name)
                else:
                    replace_node_outputs(fgraph, node, list(res), r.name)
                changed = True
                log.applied[r.name] = log.applied.get(r.name, 0) + 1
                r.stats["applied"] += 1
                break
            if len(fgraph.apply_nodes) > budget_nodes:
                raise RuntimeError(
                    f"the optimizer grew the graph past {budget_nodes} nodes; this is a bug in "
                    f"a rewrite (last applied: {list(log.applied)[-3:]}). Compile with "
                    f"mode=Mode(optimizer=None) to work around it.")
        if not changed:
            return


def clients_of(fgraph, var):
    """Client nodes of ``var`` (graph outputs appear as the string 'output')."""
    return [c for c, _ in fgraph.clients.get(var, [])]


def is_output(fgraph, var) -> bool:
    return any(c == OUTPUT for c, _ in fgraph.clients.get(var, []))
