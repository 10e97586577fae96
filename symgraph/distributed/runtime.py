"""Connecting to Ray, the replica actor, and the errors of distributed training.

Why a module of its own: everything that touches Ray directly is here, imported only
when a distributed feature is used, so ``import symgraph`` never needs Ray and the rest
of ``symgraph.distributed`` can be read without knowing Ray's API.

A local Ray instance is started on the loopback interface only (``127.0.0.1``, no
dashboard, Ray's usage statistics off unless the user set ``RAY_USAGE_STATS_ENABLED``);
``address="ray://host:10001"`` or ``"auto"`` joins an existing cluster instead.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["DistributedUnavailable", "WorkerFailed", "require_ray", "connect",
           "config_snapshot", "set_threads", "worker_seed", "Replica"]


class DistributedUnavailable(ImportError):
    """Ray is not installed: ``pip install symgraph[distributed]``."""


class WorkerFailed(RuntimeError):
    """A worker died or stopped answering; training stopped.

    ``rank`` (0-based, as created), ``world_size``, ``pid`` and ``node`` name the worker;
    ``step`` is the step that failed (the parameters are those after step ``step - 1``).
    """

    def __init__(self, message, rank=None, world_size=None, pid=None, node=None, step=None):
        super().__init__(message)
        self.rank, self.world_size, self.pid, self.node, self.step = (
            rank, world_size, pid, node, step)


def require_ray():
    """The ``ray`` module, or ``DistributedUnavailable`` saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise DistributedUnavailable(
            f"distributed training needs Ray, which is not installed ({e}); install it with "
            f"pip install 'symgraph[distributed]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """Make sure this process is connected to Ray; returns the ``ray`` module.

    Already connected: nothing changes (the caller's instance is used as it is).
    ``address`` given: join that cluster (``"ray://head:10001"`` through Ray Client,
    ``"auto"`` for the cluster this node belongs to). Otherwise start a local instance
    bound to 127.0.0.1 with ``num_cpus`` CPUs (default: all of this machine's).
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=True)
        return ray
    # a local instance: loopback only, no dashboard, no usage report leaving the machine
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _loopback_only()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=True)
    return ray


def _loopback_only() -> None:
    """Make a local Ray instance bind and advertise 127.0.0.1 only.

    Ray resolves ``127.0.0.1`` to the machine's outward address and its servers listen on
    every interface unless it believes clusters are off (its
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``). The variable is read by Ray's processes
    when they start (so it is set for the ones about to be started, unless the user set
    it) and by this process's already-imported Ray constants (set there too).
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"].lower() in ("0", "false", "no"):
        try:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
        except (ImportError, AttributeError):  # another Ray layout: its own defaults
            pass


def config_snapshot() -> dict:
    """``symgraph.config`` as a dict, to apply in worker processes (floatX, cache...)."""
    import symgraph

    return {k: getattr(symgraph.config, k) for k in type(symgraph.config)._fields}


def set_threads(n: int) -> None:
    """Numba threads for this process's compiled calls, after symgraph has started
    Numba's threading layer its own way (``symgraph.kernels.cpu.threads.start``):
    ``numba.set_num_threads`` first would start it without symgraph's set-up, and the
    cached ConvPool kernels then crashed (SIGSEGV) in worker processes."""
    import numba

    from symgraph.kernels.cpu import threads

    threads.start()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def worker_seed(seed: int, rank: int) -> int:
    """The ``numpy.random`` seed of worker ``rank``: distinct per worker, repeatable.

    >>> worker_seed(0, 0) != worker_seed(0, 1) and worker_seed(0, 1) == worker_seed(0, 1)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


class Replica:
    """One worker process, run as a Ray actor by ``DataParallel``: ``build`` makes it a
    replica (``builder(rank, world_size, *builder_args)``, an ``AllReduceFunction``);
    the process can be built again for a later ``DataParallel`` (``keep_workers``).

    Before the builder runs, the driver's ``symgraph.config`` is applied and
    ``numpy.random`` is seeded with ``worker_seed(seed, rank)``, so whatever the builder
    draws (initial weights, random-stream seeds) differs between workers and repeats
    from run to run, in a fresh process or a kept one; ``DataParallel`` then reseeds the
    streams before every shard (``AllReduceFunction.reseed``).
    """

    def __init__(self):
        self.rank = self.fn = self._group = self._held = None

    def build(self, rank, world_size, seed, config, threads, builder, *builder_args):
        """Become replica ``rank``; returns ``where()``."""
        import symgraph

        self.release()
        for k, v in config.items():
            setattr(symgraph.config, k, v)
        if threads:
            set_threads(threads)
        self.rank = rank
        np.random.seed(worker_seed(seed, rank))
        self.fn = builder(rank, world_size, *builder_args)
        return self.where()

    def release(self):
        """Drop the replica, its gloo group and any held mean (the process stays)."""
        self.fn = self._group = self._held = None
        return True

    def where(self):
        """``(pid, node address)`` of this worker."""
        import ray

        return os.getpid(), ray.util.get_node_ip_address()

    def compile(self, args):
        self.fn.compile(*args)
        return True

    def get_state(self):
        return self.fn.get_state()

    def set_state(self, state):
        self._held = None
        self.fn.set_state(state)
        return True

    def apply(self, mean_grads):
        self.fn.apply(mean_grads)
        return True

    # -- the collective path (symgraph.distributed.collective)
    def collective_available(self):
        """Whether this process can join a gloo group (imports torch when installed)."""
        from symgraph.distributed.collective import gloo_available

        return gloo_available()

    def collective_listen(self, timeout, setup_timeout):
        """Worker 0: serve the gloo group's rendezvous on this node's address; returns
        ``(address, port)``."""
        from symgraph.distributed.collective import GlooGroup

        self._group = GlooGroup(self.where()[1], timeout, setup_timeout)
        return self._group.address, self._group.listen()

    def collective_join(self, address, port, world_size, timeout, setup_timeout):
        """Join the gloo group served at ``address:port`` (every worker, at once)."""
        from symgraph.distributed.collective import GlooGroup

        if self._group is None:
            self._group = GlooGroup(self.where()[1], timeout, setup_timeout)
        self._group.join(address, port, self.rank, world_size)
        return True

    def commit(self):
        """Apply the mean held from the last collective step (see ``step``)."""
        held, self._held = self._held, None
        if held is not None:
            self.fn.apply(held)
        return True

    def step(self, mean_grads, shards, keys=None, commit=False, collective=False,
             return_mean=False):
        """One step's work on ``shards`` (a list of argument tuples), with the random
        streams reseeded from ``keys[j]`` before shard ``j`` (if given).

        Object-store path (``collective`` false): apply the previous step's averaged
        gradients ``mean_grads`` (if any), then return ``(sum of costs, sum of
        gradients)`` over the shards. The gradients go back in their own dtype (float32
        halves the traffic of float64): one shard's as computed, several shards' summed
        in float64 first.

        Collective path: apply the mean held from the previous step if ``commit`` (drop
        it otherwise), compute this worker's one shard, average the gradients over the
        gloo group and *hold* the mean; return ``(cost, mean or None)`` (the mean for
        ``return_mean``: the driver's mirror). Applying at the next call, once the driver
        knows every worker finished the all-reduce, keeps the replicas equal when a
        worker fails during one: the driver then has the survivors drop it."""
        held, self._held = self._held, None
        if commit and held is not None:
            self.fn.apply(held)
        if mean_grads is not None:
            self.fn.apply(mean_grads)
        cost_sum = 0.0
        results = []
        for j, args in enumerate(shards):
            if keys is not None:
                self.fn.reseed(keys[j])
            cost, _, grads = self.fn.gradients(*args)
            cost_sum += float(cost)
            results.append(grads)
        if collective:
            if len(results) != 1:
                raise ValueError(f"collective step: one shard per worker, got {len(results)}")
            self._held = self._group.allreduce_mean(results[0])
            return cost_sum, (self._held if return_mean else None)
        if len(results) == 1:
            return cost_sum, results[0]
        sums = []
        for k, g in enumerate(results[0]):
            acc = np.array(g, dtype=np.float64)
            for other in results[1:]:
                acc += other[k]
            sums.append(acc.astype(g.dtype, copy=False))
        return cost_sum, sums
