"""A new graph's kernels compile on two processes while its Python-tier plan is built.

Why: the first call of a new graph (``tiered.py``) compiles every kernel it is the first
to need, and it compiled them one after another in this process while the background
worker (``glue_worker.py``) waited for the glue job that only comes after the plan: on a
2-core machine one core idled through most of a first run (docs/benchmarks.md).

How. A node's kernel is compiled for its argument types, which are known once the
kernels producing its arguments are compiled or loaded (their return types). The heavy
kernels of a network (convolution, pooling, products, and their gradients) form one
chain, so waiting for exact types leaves little to share. So, once this process meets
its first kernel to compile:

* every node whose types are not known yet is queued to the worker with *guessed*
  types (the graph's dtype and rank; a new array is C-ordered, and a view's layout
  follows from the value it views by Numba's own typing rules: ``NumbaCode.views``),
  last node first, while this process goes through the graph from the first node: the
  two meet in the middle;
* a node whose types are known is loaded from the cache (memory or disk) when it is
  there; that includes a guess the worker compiled, when the guess was right;
* of the ready nodes left, this process compiles the first in graph order and queues
  the others to the worker with their exact types, ahead of the guesses;
* a guess that turned out wrong is taken back if the worker has not started it (a
  wrong one it compiled only cost it time); a job the worker could not do is compiled
  here, which raises its error where it belongs;
* with nothing ready to compile here, this process takes back the first exact job the
  worker has not started (``glue_worker.withdraw``), or else waits for the running one
  (``WAIT_LIMIT`` seconds at most: then it compiles that kernel too).

The results do not depend on the split: each kernel is Numba's machine code for the same
source and argument types whichever process compiled it, and the plan runs the very
overloads this process loaded (their return types come from what was loaded, never from
the worker's word). Without Numba's internals (``symgraph.numba_compat``) loading and
compiling are one call, and every kernel compiles here as before.
"""
from __future__ import annotations

import bisect
import heapq
import sys

from symgraph.link.numba import progress
from symgraph.link.numba.fastload import load_cached, load_or_compile

__all__ = ["compile_nodes", "new_value_type", "view_type", "source_of", "Compiled",
           "StandIn"]

#: send kernels to the background worker (tests switch it off to compare)
USE_WORKER = True
#: seconds this process waits for one kernel the worker is compiling before it compiles
#: that kernel itself too
WAIT_LIMIT = 120.0


def _bind(tys: dict, ref, outs, ret) -> None:
    """Record the types of a node's outputs from its kernel's return type."""
    from numba import types

    if len(outs) == 1:
        tys[outs[0]] = ret
        return
    elems = ret.types if isinstance(ret, types.BaseTuple) else None
    if elems is None or len(elems) != len(outs):
        raise TypeError(f"kernel {ref} returns {ret}, expected {len(outs)} values")
    tys.update(zip(outs, elems))


def source_of(dispatcher) -> str | None:
    """The source of the generated module defining ``dispatcher`` (what the worker is
    sent), or None for anything else."""
    func = dispatcher.py_func   # None for a node run in Python (``tiered.PythonNode``)
    if func is None:
        return None
    return getattr(sys.modules.get(func.__module__), "_sg_source", None)


class Compiled:
    """What a plan reads of a compiled overload: its entry point and its signature's
    return type. Given by the nodes the Python tier runs itself (:class:`StandIn`)."""

    def __init__(self, entry_point, return_type):
        self.entry_point = entry_point
        self.signature = self
        self.return_type = return_type


class StandIn:
    """Stands in for a node's kernel dispatcher in a plan when the Python tier runs the
    node itself (``tiered.PythonNode``, ``tier_loop.PythonLoop``): ``overloads`` holds an
    entry for any argument types, as if compiled (a subclass's ``__getitem__`` gives a
    :class:`Compiled`), nothing is sent to the worker (no ``py_func``), and
    :meth:`_compiled` is the node's compiled kernel, for what it cannot run itself."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.py_func = None   # nothing for a worker to compile (``source_of``)
        self.overloads = self

    def __contains__(self, argtys) -> bool:
        return True

    def runs_without_kernel(self, argtys) -> bool:
        """Whether the node runs for ``argtys`` without its compiled kernel. When not, a
        plan compiles the kernel as any other (``_Plan.load_ready``): on the worker
        too."""
        return True

    def _compiled(self, argtys):
        load_or_compile(self.dispatcher, argtys)
        return self.dispatcher.overloads[argtys]


def new_value_type(dtype: str, ndim: int):
    """The Numba type of a new value of ``dtype`` and rank ``ndim``: a scalar for rank 0
    (kernels return 0-d values as scalars), else a C-ordered array. Also what a node the
    Python tier runs in Python returns (``tiered.PythonNode``)."""
    import numpy as np
    from numba import from_dtype, types

    scalar = from_dtype(np.dtype(dtype))
    return scalar if ndim == 0 else types.Array(scalar, ndim, "C")


def view_type(base, steps):
    """``base``'s type after the view ``steps`` (``NumbaCode.views``), or None: Numba's
    own typing of each indexing step (``numba_compat.typing.index_result``) and of a
    transpose. For the worker's guesses, and for the views the Python tier runs as
    numpy (``tiered.PythonNode``)."""
    from numba import types

    from symgraph.numba_compat.typing import index_result

    for step in steps:
        if not isinstance(base, types.Array):
            return None
        if step[0] == "index":
            base = index_result(base, step[1]) if step[1] else base
        elif step[0] == "T":
            base = base.copy(layout={"C": "F", "F": "C"}.get(base.layout, "A"))
        else:
            base = base.copy(layout="A")
        if base is None:
            return None
    return base


def guessed_type(name: str, tys: dict, guess: dict, memo: dict):
    """The type ``name`` is most likely given: its type when known, else from the
    guess table (``linker``: dtype, rank, and for a view the value it views and how).
    Raises KeyError for a name the table lacks."""
    if name in tys:
        return tys[name]
    if name in memo:
        return memo[name]
    g = guess[name]
    plain = new_value_type(g[0], g[1])
    t = view_type(guessed_type(g[2], tys, guess, memo), g[3]) if len(g) == 4 else None
    if t is None or not _agrees(t, plain):
        t = plain
    memo[name] = t
    return t


def _agrees(t, plain) -> bool:
    """Whether ``t`` has ``plain``'s dtype and rank (a scalar for rank 0)."""
    from numba import types

    if not isinstance(plain, types.Array):
        return t == plain
    return isinstance(t, types.Array) and (t.ndim, t.dtype) == (plain.ndim, plain.dtype)


class _Plan:
    """The state of one plan's compile (see the module docstring)."""

    def __init__(self, nodes, tys: dict, guess: dict, owner, worker):
        self.nodes = nodes
        self.tys = tys
        self.guess = guess
        self.owner = owner
        self.worker = worker
        self.cres: list = [None] * len(nodes)
        self.left = len(nodes)
        self.ready: list = []     # heap of nodes whose argument types are all known
        self.misses: list = []    # sorted: ready, not in the cache, not sent anywhere
        self.jobs: dict = {}      # ready node -> its job in the worker
        self.guesses: dict = {}   # node not ready -> (its guessed job, the types guessed)
        self.submitted: dict = {}  # (kernel dispatcher id, types) -> its job (``_submit``)
        self.guessed = False
        self.waited = None        # (node, since when) this process waits for the worker
        self.waiting = [0] * len(nodes)
        self.users: dict = {}
        for j, (_, ins, _, _) in enumerate(nodes):
            missing = {a for a in ins if a not in tys}
            self.waiting[j] = len(missing)
            for a in missing:
                self.users.setdefault(a, []).append(j)
            if not missing:
                self.ready.append(j)
        heapq.heapify(self.ready)
        #: kernels this plan loaded after the worker compiled them
        self.by_worker = 0
        self.counted: set = set()   # ids of the jobs counted in ``by_worker``

    def argtys(self, j) -> tuple:
        return tuple(self.tys[a] for a in self.nodes[j][1])

    def resolve(self, j) -> None:
        disp, _, outs, ref = self.nodes[j]
        cres = self.cres[j] = disp.overloads[self.argtys(j)]
        _bind(self.tys, ref, outs, cres.signature.return_type)
        self.left -= 1
        for o in outs:
            for u in self.users.pop(o, ()):
                self.waiting[u] -= 1
                if not self.waiting[u]:
                    heapq.heappush(self.ready, u)

    def compile_here(self, j) -> None:
        progress.busy()
        if not load_or_compile(self.nodes[j][0], self.argtys(j)):
            progress.tick()
        self.resolve(j)

    def _from_worker(self, job) -> None:
        """Count ``job`` (once: a shared job serves several nodes, ``_submit``)."""
        if id(job) not in self.counted:
            self.counted.add(id(job))
            self.by_worker += 1
            progress.tick()

    def collect(self) -> bool:
        """Load what the worker finished (or compile here what it could not do)."""
        done = [j for j, job in self.jobs.items() if job.done]
        for j in done:
            job = self.jobs.pop(j)
            if job.ok:
                self._from_worker(job)
            self.compile_here(j)   # a load from the cache when the worker compiled it
        return bool(done)

    def load_ready(self) -> bool:
        loaded = False
        while self.ready:
            j = heapq.heappop(self.ready)
            argtys = self.argtys(j)
            self._kernel_if_needed(j, argtys)
            job, guessed = self.guesses.pop(j, (None, None))
            if job is not None:
                if guessed == argtys and not job.done:
                    self.jobs[j] = job   # the guess was right: as good as an exact job
                    continue
                if guessed != argtys:
                    self._withdraw(job)
            if load_cached(self.nodes[j][0], argtys):
                if job is not None and job.ok and guessed == argtys:
                    self._from_worker(job)
                self.resolve(j)
                loaded = True
            else:
                bisect.insort(self.misses, j)
        return loaded

    def _kernel_if_needed(self, j, argtys) -> None:
        """Plan node ``j``'s kernel as any other's when its stand-in cannot run without it
        for ``argtys`` (a callee not compiled yet, on an empty cache): it is then loaded,
        compiled here or sent to the worker, guessed too, instead of compiled by the
        stand-in when first called."""
        disp = self.nodes[j][0]
        if isinstance(disp, StandIn) and not disp.runs_without_kernel(argtys):
            self.nodes[j] = (disp.dispatcher,) + tuple(self.nodes[j][1:])

    def _submit(self, j, argtys, guess: bool):
        """Queue node ``j``'s kernel for ``argtys``; nodes with the same kernel and
        types (the SGD updates of two layers) share one job, which the worker compiles
        once (each its own job, this process took one back and compiled it while the
        worker compiled the other)."""
        key = (id(self.nodes[j][0]), argtys)
        job = self.submitted.get(key)
        if job is not None and not (job.done and not job.ok):
            return job
        src = source_of(self.nodes[j][0])
        if src is None:
            return None
        job = self.submitted[key] = self.worker.submit_kernel(src, argtys, self.owner,
                                                              guess=guess)
        return job

    def _withdraw(self, job) -> bool:
        """Take ``job`` back unless another node still waits on it."""
        held = sum(1 for g in self.guesses.values() if g[0] is job)
        held += sum(1 for other in self.jobs.values() if other is job)
        return held == 0 and self.worker.withdraw(job)

    def send(self) -> None:
        """Queue every ready miss but the first to the worker."""
        keep = []
        for j in self.misses[1:]:
            job = self._submit(j, self.argtys(j), False)
            if job is None:
                keep.append(j)
            else:
                self.jobs[j] = job
        self.misses[1:] = keep

    def send_guesses(self) -> None:
        """Queue every node not ready yet to the worker with guessed types, last first."""
        self.guessed = True
        memo: dict = {}
        for j in range(len(self.nodes) - 1, -1, -1):
            if not self.waiting[j]:
                continue
            try:
                argtys = tuple(guessed_type(a, self.tys, self.guess, memo)
                               for a in self.nodes[j][1])
            except (KeyError, TypeError, ValueError, NotImplementedError):
                continue   # no guess for a value (an unusual dtype)
            self._kernel_if_needed(j, argtys)
            job = self._submit(j, argtys, True)
            if job is not None:
                self.guesses[j] = (job, argtys)

    def take_back(self) -> bool:
        for j in sorted(self.jobs):
            if self.worker.withdraw(self.jobs[j]):   # (a shared job: for all its nodes)
                return True   # finished as withdrawn: ``collect`` compiles it here
        return False

    def wait_for_worker(self) -> None:
        """Wait for the worker's running job; after ``WAIT_LIMIT`` seconds of waiting,
        compile it here as well (a stuck worker never blocks a plan; a compile twice
        only costs time)."""
        import time

        j, job = next(((j, job) for j, job in self.jobs.items() if not job.done),
                      (None, None))
        if job is None:
            return
        progress.busy()
        if self.waited is None or self.waited[0] != j:
            self.waited = (j, time.monotonic())
        job.event.wait(min(0.2, WAIT_LIMIT))
        if not job.done and time.monotonic() - self.waited[1] > WAIT_LIMIT:
            del self.jobs[j]
            bisect.insort(self.misses, j)

    def abandon(self) -> None:
        for job in list(self.jobs.values()) + [g[0] for g in self.guesses.values()]:
            self.worker.withdraw(job)


def compile_nodes(nodes, tys: dict, owner, guess: dict | None = None) -> tuple:
    """Compile or load each node's kernel; ``nodes``: ``[(dispatcher, argument names,
    output names, ref)]`` in graph order; ``tys``: the types of the names known before
    any node (parameters, constants), completed here with every node's outputs;
    ``guess``: ``name -> (dtype, ndim[, viewed name, view steps])`` for the nodes'
    outputs (``linker.generate_module``).
    Returns each node's ``CompileResult`` and how many of them the worker compiled.
    ``owner``: the worker skips the jobs of a plan whose owner was collected."""
    from symgraph.numba_compat import numba_internals

    worker = None
    if USE_WORKER and numba_internals():
        from symgraph.link.numba import glue_worker

        worker = glue_worker
    plan = _Plan(nodes, tys, guess or {}, owner, worker)
    try:
        while plan.left:
            if plan.collect() | plan.load_ready():
                continue   # newly ready nodes may be in the cache
            if plan.misses and worker is not None and worker.available():
                if not plan.guessed:
                    plan.send_guesses()
                if len(plan.misses) > 1:
                    plan.send()
            if plan.misses:
                plan.compile_here(plan.misses.pop(0))
            elif plan.jobs:
                if not (worker is not None and plan.take_back()):
                    plan.wait_for_worker()
            else:
                stuck = [nodes[j][3] for j, w in enumerate(plan.waiting) if w]
                raise RuntimeError(f"the plan's nodes {stuck[:5]} wait for values no node "
                                   "computes")
    finally:
        if worker is not None:
            plan.abandon()
    return plan.cres, plan.by_worker
