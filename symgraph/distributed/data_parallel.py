"""``DataParallel``: synchronous data-parallel steps on Ray actors.

How a step runs on the object store (why this shape): the driver sends each live worker
its shards of the mini-batch together with the *previous* step's averaged gradients; the
worker applies those, then returns the sum of its shards' costs and gradients. The
driver averages (over all shards, in float64), applies the mean to its own mirror of the
parameters and puts it in Ray's object store once, for every worker to apply at the
start of the next step. One round trip per step; every replica, the driver's included,
applies the same mean with the same compiled update, so they stay equal.

The mean is over *shards*, not workers: a mini-batch always has ``world_size`` shards.
When a worker dies and ``elastic`` is on, its shards go to the survivors (some then do
two), so the result stays that of the whole mini-batch, exactly as before the failure.
Without ``elastic`` a dead or silent worker stops training with ``WorkerFailed`` naming
it. Every wait has a timeout: nothing hangs on a lost worker.

Collective path (preferred where torch is installed): the workers average the
gradients among themselves with a gloo all-reduce (``symgraph.distributed.collective``),
each applies the mean, and only worker 0 sends it to the driver (for the mirror). The
driver's traffic is then one mean per step whatever ``N``; each worker sends and receives
about twice its gradients. A worker *holds* the mean until its next call says the whole
group finished the all-reduce (``commit``), so a failure during one leaves every
replica at the same step. After a worker's death an elastic run continues on the object
store (a gloo group cannot lose a member), and a run without torch uses the object store
throughout.

Random streams: before each shard the worker reseeds the replica's streams from
``(seed, global step, shard)``, so the dropout masks of a step are those of that step
whichever worker computes the shard: a resumed run (``step=`` gives the position) or an
elastic one draws the same masks as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import time
import weakref

import numpy as np

from symgraph.distributed.allreduce import mean_of, stream_seed
from symgraph.distributed.runtime import Replica, WorkerFailed, config_snapshot, connect

#: ``allreduce=`` values: ``auto`` takes gloo where torch is installed (and N > 1)
ALLREDUCE = ("auto", "gloo", "object_store")

__all__ = ["DataParallel", "running", "keep_workers", "release_idle"]

_RUNNING: "weakref.WeakSet[DataParallel]" = weakref.WeakSet()
#: idle worker actors kept for the next DataParallel (None: not inside ``keep_workers``)
_IDLE: list | None = None


@contextlib.contextmanager
def keep_workers():
    """Within this block, the healthy workers of a closed ``DataParallel`` (and of a
    finished ``SGD(workers=N)``) are kept and serve the next one, which then skips
    starting processes, importing symgraph (and torch) and loading compiled code: what
    dominates a short run on a small machine. Workers that failed are never kept. On
    leaving the block the idle ones stop.

    Idle workers keep the CPU Ray reserved for each, so Ray tasks started inside the
    block may wait for them (``sweep`` releases them first; ``release_idle`` does it by
    hand). Nested blocks share the outer one's workers.
    """
    global _IDLE
    outer = _IDLE is not None
    if not outer:
        _IDLE = []
    try:
        yield
    finally:
        if not outer:
            release_idle()
            _IDLE = None


def release_idle() -> int:
    """Stop the idle workers kept by ``keep_workers`` (returns how many)."""
    idle = list(_IDLE or [])
    if _IDLE:
        _IDLE.clear()
    if idle:
        import ray

        for a in idle:
            with contextlib.suppress(Exception):     # already gone, or Ray shut down
                ray.kill(a, no_restart=True)
    return len(idle)


def running() -> list["DataParallel"]:
    """The ``DataParallel`` drivers of this process whose workers are up (e.g. to find the
    workers of a ``Network.SGD(workers=N)`` from its callback or progress bar)."""
    return [dp for dp in list(_RUNNING) if dp.live]


class _Bystander(str):
    """The reason of a worker that failed only because a peer in its gloo group did."""


class _Lost(str):
    """The reason of a worker that died or did not answer in time."""


def _first_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class DataParallel:
    """Run ``builder(rank, world_size, *builder_args) -> AllReduceFunction`` on
    ``workers`` Ray actors and step them synchronously.

    - ``mirror``: an ``Updater`` on the driver's own parameters, kept current every step.
    - ``initial_state``: arrays (``get_state`` order) every replica starts from; default:
      worker 0's, broadcast to the others.
    - ``elastic``: on a worker's death, continue on the others (its shards re-assigned).
    - ``step_timeout``/``setup_timeout``: seconds to wait for a step / for the workers
      to start and compile, before the silent workers count as failed.
    - ``threads``: Numba threads per worker (default: this machine's cores / workers on a
      local instance, Numba's default on a cluster).
    - ``allreduce``: ``"gloo"`` (worker to worker, needs torch), ``"object_store"``
      (through the driver), or ``"auto"`` (gloo when torch is importable and there is
      more than one worker; the object store if the group cannot be set up). The path
      taken is ``backend``.
    - ``address``/``num_cpus``: see ``runtime.connect``.

    >>> dp = DataParallel(build, workers=2)        # doctest: +SKIP
    >>> dp.compile((0,)); cost = dp.step([(0,), (5,)])   # doctest: +SKIP
    """

    def __init__(self, builder, workers: int, builder_args=(), *, seed: int = 0,
                 mirror=None, initial_state=None, elastic: bool = False,
                 step_timeout: float = 300.0, setup_timeout: float = 900.0,
                 threads: int | None = None, address: str | None = None,
                 num_cpus: int | None = None, allreduce: str = "auto"):
        workers = int(workers)
        if workers < 1:
            raise ValueError(f"DataParallel: workers must be >= 1, got {workers}")
        if allreduce not in ALLREDUCE:
            raise ValueError(f"DataParallel: allreduce must be one of {ALLREDUCE}, got "
                             f"{allreduce!r}")
        ray = connect(address, num_cpus)
        self._ray = ray
        self.world_size = workers
        self.elastic = bool(elastic)
        self.step_timeout = float(step_timeout)
        self.setup_timeout = float(setup_timeout)
        self.mirror = mirror
        self.seed = int(seed)
        self.steps = 0
        self._pending = None            # ObjectRef of the mean not yet applied by workers
        self._held = False              # the workers hold a collective mean to commit
        self.backend = "object_store"
        #: why ``allreduce="auto"`` fell back to the object store (None otherwise)
        self.backend_note = None
        if threads is None and not address:
            import os

            threads = max(1, (os.cpu_count() or 1) // workers)
        cls = ray.remote(num_cpus=1, max_restarts=0)(Replica)
        config = config_snapshot()
        kept = [_IDLE.pop() for _ in range(min(workers, len(_IDLE or [])))]
        self._actors = kept + [cls.remote() for _ in range(workers - len(kept))]
        self.live = list(range(workers))
        self.where = {}
        self.where.update(zip(self.live, self._call_all(
            "build", [(r, workers, seed, config, threads, builder, *builder_args)
                      for r in range(workers)], self.setup_timeout, "starting")))
        if initial_state is None:
            initial_state = self._call_all("get_state", [()], self.setup_timeout,
                                           "reading the initial state", ranks=[0])[0]
        self.set_state(initial_state)
        _RUNNING.add(self)
        if allreduce == "gloo" or (allreduce == "auto" and workers > 1):
            self._start_gloo(required=allreduce == "gloo")

    def _start_gloo(self, required: bool) -> None:
        """Set up the gloo group (see ``symgraph.distributed.collective``): worker 0
        serves the rendezvous, every worker joins. Its operations time out at half the
        step timeout, so that a worker stuck waiting for a dead or silent peer reports
        back before the driver gives up on the step, and the driver can tell the culprit
        (no answer, or a dead process) from the bystanders (``CollectiveFailed``)."""
        # every worker imports torch first (seconds each, in parallel), outside the
        # rendezvous, and says whether it has gloo: a worker without it then costs no wait
        ranks = list(self.live)
        usable = self._call_all("collective_available", [()] * len(ranks),
                                self.setup_timeout, "importing torch")
        missing = {r: "torch with gloo is not installed there"
                   for r, ok in zip(ranks, usable) if not ok}
        if missing:
            if required:
                self._raise(missing, "setting up the gloo group (allreduce='gloo')")
            self.backend_note = "; ".join(f"{self._describe(r)}: {why}"
                                          for r, why in sorted(missing.items()))
            return
        timeouts = (max(self.step_timeout / 2, 1.0), self.setup_timeout)
        listen = self._actors[ranks[0]].collective_listen.remote(*timeouts)
        results, failed = self._gather(ranks[:1], [listen], self.setup_timeout)
        if not failed:
            address, port = results[0]
            refs = [self._actors[r].collective_join.remote(address, port, len(ranks), *timeouts)
                    for r in ranks]
            results, failed = self._gather(ranks, refs, self.setup_timeout)
        if failed:
            if required or any(isinstance(why, _Lost) for why in failed.values()):
                self._raise(failed, "setting up the gloo group")
            # every worker is alive and idle: the object store will do
            self.backend_note = "; ".join(f"{self._describe(r)}: {why}"
                                          for r, why in sorted(failed.items()))
            return
        self.backend = "gloo"

    # ------------------------------------------------------------------ plumbing
    def _describe(self, rank) -> str:
        pid, node = self.where.get(rank, (None, None))
        at = f" (pid {pid} on {node})" if pid is not None else ""
        return f"worker {rank} of {self.world_size}{at}"

    def _call_all(self, method, args_per_rank, timeout, what, ranks=None):
        """Call ``method`` on the ``ranks`` (default: live) workers; return their results
        in order, or raise ``WorkerFailed`` for the first dead or silent one (after every
        call finished or timed out, so no call is left running behind the error)."""
        ranks = self.live if ranks is None else ranks
        refs = [getattr(self._actors[r], method).remote(*a) for r, a in zip(ranks, args_per_rank)]
        results, failed = self._gather(ranks, refs, timeout)
        if failed:
            self._raise(failed, what)
        return results

    def _gather(self, ranks, refs, timeout):
        """Wait for ``refs`` (at most ``timeout`` s in all); ``(results, {rank: reason})``."""
        ray = self._ray
        deadline = time.monotonic() + timeout
        pending = list(refs)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=left)
        results, failed = [None] * len(refs), {}
        waiting = set(pending)
        for k, (rank, ref) in enumerate(zip(ranks, refs)):
            if ref in waiting:
                failed[rank] = _Lost(f"did not answer within {timeout:g} s")
                continue
            try:
                results[k] = ray.get(ref, timeout=0)
            except ray.exceptions.RayActorError as e:
                cause = _first_line(getattr(e, "error_msg", "") or str(e))
                failed[rank] = _Lost(f"its process died ({type(e).__name__}: {cause})")
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                if type(cause).__name__ == "CollectiveFailed":
                    failed[rank] = _Bystander(f"stopped waiting for the others ({cause})")
                else:
                    failed[rank] = f"raised {cause!r}" if cause is not None else str(e)
        return results, failed

    def _raise(self, failed, what):
        culprits = {r: why for r, why in failed.items() if not isinstance(why, _Bystander)}
        rank = min(culprits or failed)
        order = sorted(failed, key=lambda r: (r not in culprits, r))
        names = "; ".join(f"{self._describe(r)}: {failed[r]}" for r in order)
        msg = (f"distributed training stopped while {what}: {names}. The parameters on the "
               f"driver are those after step {self.steps} (the last completed one)")
        self.close(keep=False)
        pid, node = self.where.get(rank, (None, None))
        raise WorkerFailed(msg, rank=rank, world_size=self.world_size, pid=pid, node=node,
                           step=self.steps + 1)

    # ------------------------------------------------------------------ public
    def worker_pids(self) -> dict[int, int]:
        """``{rank: pid}`` of the live workers."""
        return {r: self.where[r][0] for r in self.live}

    def set_state(self, state) -> None:
        """Set every live replica's (and the mirror's) parameters to ``state``."""
        self._flush()
        ref = self._ray.put([np.asarray(a) for a in state])
        self._call_all("set_state", [(ref,)] * len(self.live), self.setup_timeout,
                       "setting the parameters")

    def get_states(self) -> dict[int, list[np.ndarray]]:
        """``{rank: state}`` of every live replica (after the last step's update)."""
        self._flush()
        states = self._call_all("get_state", [()] * len(self.live), self.step_timeout,
                                "reading the parameters")
        return dict(zip(self.live, states))

    def compile(self, args) -> None:
        """Compile every replica (a dry run on ``args``) within ``setup_timeout``.

        All at once: letting one worker per node compile first and the others load its
        fresh disk-cache entry would save CPU, but a worker loading a network3 graph
        that a live process had just written crashed (SIGSEGV) on this machine, so
        every worker compiles (or loads an older cache entry) itself."""
        self._call_all("compile", [(tuple(args),)] * len(self.live), self.setup_timeout,
                       "compiling")

    def step(self, shards, step: int | None = None) -> float:
        """One synchronous step on ``shards`` (``world_size`` argument tuples, one per
        shard of the mini-batch); returns the mean cost over the shards.

        ``step``: the global index of this step in the run (default: the steps this
        driver ran), which with the seed and the shard keys the random streams."""
        shards = [tuple(s) for s in shards]
        if len(shards) != self.world_size:
            raise ValueError(f"DataParallel.step: {len(shards)} shards for a world of "
                             f"{self.world_size}")
        index = self.steps if step is None else int(step)
        keys = [stream_seed(self.seed, index, j) for j in range(self.world_size)]
        if self.backend == "gloo":
            cost = self._step_gloo(shards, keys)
            if cost is not None:
                return cost
        while True:
            ranks = list(self.live)
            share = {r: shards[j::len(ranks)] for j, r in enumerate(ranks)}
            key_share = {r: keys[j::len(ranks)] for j, r in enumerate(ranks)}
            refs = [self._actors[r].step.remote(self._pending, share[r], key_share[r])
                    for r in ranks]
            results, failed = self._gather(ranks, refs, self.step_timeout)
            if not failed:
                break
            # the survivors applied the pending mean already: do not send it twice
            self._pending = None
            self._drop(failed, len(ranks))
        cost = sum(c for c, _ in results) / self.world_size
        mean = mean_of([g for _, g in results], count=self.world_size,
                       dtypes=self._dtypes())
        if self.mirror is not None:
            self.mirror(mean)
        self._pending = self._ray.put(mean)
        self.steps += 1
        return cost

    def _step_gloo(self, shards, keys):
        """The step on the gloo group; None when a worker failed in it and the run goes
        on (elastic) on the object store, from the same parameters."""
        ranks = list(self.live)
        back = ranks[0] if self.mirror is not None else None
        refs = [self._actors[r].step.remote(None, [shards[r]], [keys[r]], self._held, True,
                                            r == back)
                for r in ranks]
        results, failed = self._gather(ranks, refs, self.step_timeout)
        if failed:
            # every survivor committed the previous mean at the start of this call, and
            # drops what it holds from this one at its next call
            self._held = False
            self._drop(failed, len(ranks), bystanders_live=True)
            self.backend = "object_store"
            print(f"symgraph.distributed: the gloo group lost a worker; step "
                  f"{self.steps + 1} and the following ones average through the object "
                  f"store", flush=True)
            return None
        self._held = True
        if self.mirror is not None:
            self.mirror(results[0][1])
        self.steps += 1
        return sum(c for c, _ in results) / self.world_size

    def _drop(self, failed, n_ranks, bystanders_live=False) -> None:
        """Stop on ``failed`` workers (``WorkerFailed``), or with ``elastic`` remove them
        and go on; bystanders of a collective failure stay when ``bystanders_live``."""
        culprits = {r: why for r, why in failed.items()
                    if not (bystanders_live and isinstance(why, _Bystander))}
        if not self.elastic or len(culprits) == n_ranks or not culprits:
            self._raise(failed, f"running step {self.steps + 1}")
        for r, why in culprits.items():
            print(f"symgraph.distributed: {self._describe(r)} {why}; continuing on "
                  f"{n_ranks - len(culprits)} workers (--elastic)", flush=True)
            self._ray.kill(self._actors[r], no_restart=True)
            self.live.remove(r)

    def _dtypes(self):
        if self.mirror is not None:
            return self.mirror.dtypes
        if not hasattr(self, "_dtype_cache"):
            state = self._call_all("get_state", [()], self.step_timeout, "reading dtypes",
                                   ranks=self.live[:1])[0]
            self._dtype_cache = [a.dtype for a in state]
        return self._dtype_cache

    def _flush(self) -> None:
        """Have every live worker apply the pending mean (so their state is current)."""
        if self._held:
            self._held = False
            self._call_all("commit", [()] * len(self.live), self.step_timeout,
                           "applying the last update")
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._call_all("apply", [(pending,)] * len(self.live), self.step_timeout,
                           "applying the last update")

    def close(self, keep: bool = True) -> None:
        """Stop the workers (the Ray instance stays up for the next use); inside
        ``keep_workers`` the live ones are kept for the next ``DataParallel`` instead,
        unless ``keep`` is false (after a failure)."""
        live = set(self.live)
        for r, a in enumerate(getattr(self, "_actors", [])):
            if keep and r in live and _IDLE is not None:
                a.release.remote()          # frees the replica's memory; no reply awaited
                _IDLE.append(a)
                continue
            with contextlib.suppress(Exception):     # already gone
                self._ray.kill(a, no_restart=True)
        self._actors = []
        self.live = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
