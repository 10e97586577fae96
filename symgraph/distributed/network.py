"""``Network.SGD(..., workers=N)``: network3's training step run data-parallel on Ray.

``train_function`` returns a drop-in replacement for ``Network.build_train_fn``'s
compiled ``train_mb(i)``: calling it runs mini-batch ``i`` (of the same size ``B`` as in
one process) split into ``N`` shards of ``B / N`` examples, one per worker, averages the
gradients and applies the update on every replica and on the driver's own network. So
``SGD``'s loop, evaluation, history, progress bar and callbacks are unchanged, and the
driver's parameters are those after the last completed step at any time (a checkpoint
written from a callback is current; a failed worker leaves it intact).

Each worker rebuilds the network from the driver's checkpoint bytes (``Network.save``:
the same architecture and parameters) with mini-batch ``B / N``. Its dropout streams
are reseeded before every shard from (seed, global step, shard), the global step being
``epoch * batches per epoch + mini-batch``: masks differ between shards, repeat from run
to run, and a run resumed from a checkpoint (``SGD(resume=True)``, whose training state
says where it stopped) draws exactly the masks of one never stopped. The cost is the one
``build_train_fn`` uses (log-likelihood plus ``0.5 * lmbda * sum(w**2) /
num_training_batches``); its mean over the shards has the gradient of the whole
mini-batch.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.shared import SharedVariable
from symgraph.distributed.allreduce import Updater, function, momentum_sgd, sgd
from symgraph.distributed.data_parallel import DataParallel
from symgraph.distributed.runtime import connect

__all__ = ["train_function", "DataParallelTrainFn"]


def _rule(eta, momentum):
    return momentum_sgd(eta, momentum) if momentum else sgd(eta)


def _network_cost(net, lmbda, num_training_batches):
    l2_norm_squared = sum((layer.w ** 2).sum() for layer in net.layers)
    return net.layers[-1].cost(net) + 0.5 * lmbda * l2_norm_squared / num_training_batches


def _as_array(v) -> np.ndarray:
    """The value of a dataset half: a shared variable, or a graph over shared variables
    (network3's ``T.cast(shared_y, 'int32')``), evaluated with the numpy backend."""
    if isinstance(v, SharedVariable):
        return v.get_value(borrow=True)
    if isinstance(v, np.ndarray):
        return v
    return np.asarray(symgraph.function([], v, mode="py")())


def network_bytes(net) -> bytes:
    """``net`` as the bytes of its checkpoint file (``Network.save``)."""
    with tempfile.TemporaryDirectory(prefix="symgraph-dp-") as d:
        path = os.path.join(d, "net.npz")
        net.save(path)
        with open(path, "rb") as f:
            return f.read()


def _network_replica(rank, world_size, blob, x, y, shard, eta, lmbda, momentum,
                     num_training_batches, mode):
    """Builder run on each worker: the replica network and its all-reduced step
    ``step(start)`` on examples ``start .. start + shard`` of the training data."""
    from symgraph.nn import Network

    with tempfile.TemporaryDirectory(prefix="symgraph-dp-") as d:
        path = os.path.join(d, "net.npz")
        with open(path, "wb") as f:
            f.write(blob)
        net = Network.load(path, mini_batch_size=shard)
    train_x = symgraph.shared(np.array(x, dtype=symgraph.config.floatX), borrow=True)
    train_y = symgraph.shared(np.array(y, dtype="int32"), borrow=True)
    s = T.lscalar("start")
    return function([s], _network_cost(net, lmbda, num_training_batches), net.params,
                    _rule(eta, momentum), mode=mode, name="train_shard",
                    givens={net.x: train_x[s: s + shard], net.y: train_y[s: s + shard]})


class DataParallelTrainFn:
    """``train_mb(i) -> cost`` over ``workers`` Ray actors (see the module docstring);
    ``dry_run(i)`` compiles the workers; ``dp`` is the ``DataParallel`` driver."""

    def __init__(self, dp: DataParallel, batch: int, shard: int, net=None,
                 batches_per_epoch: int = 0):
        self.dp, self.batch, self.shard = dp, batch, shard
        self.net, self.batches_per_epoch = net, batches_per_epoch
        self._synced = False
        self._next_step = 0

    def _shards(self, i):
        base = int(i) * self.batch
        return [(base + r * self.shard,) for r in range(self.dp.world_size)]

    def dry_run(self, i=0):
        """Compile every replica and the driver's update (nothing is updated)."""
        self.dp.compile(self._shards(i)[0])
        self.dp.mirror.compile()

    def __call__(self, i) -> float:
        if not self._synced:
            # the driver's parameters and velocities as they are at the first step
            # (SGD(resume=True) restores velocities after compiling)
            mirror = self.dp.mirror
            self.dp.set_state([v.get_value(borrow=True)
                               for v in mirror.params + mirror.velocities])
            self._synced = True
            self._next_step = self._start_step(i)
        step, self._next_step = self._next_step, self._next_step + 1
        return self.dp.step(self._shards(i), step=step)

    def _start_step(self, i) -> int:
        """The global index of the first step: ``epoch * batches + i`` for the epoch of
        the network's training state (``SGD`` records where it starts, 0 or where a
        resumed run stopped, before the first step), else ``i``."""
        st = getattr(self.net, "training_state", None)
        epoch = int(st["epoch"]) if isinstance(st, dict) and "epoch" in st else 0
        return epoch * self.batches_per_epoch + int(i)

    def close(self) -> None:
        """Stop the workers (``SGD`` does when training ends, however it ends: a Ctrl-C's
        traceback would otherwise keep them, and the CPUs Ray reserved for them)."""
        self.dp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def train_function(net, training_data, mini_batch_size: int, eta: float, lmbda: float = 0.0,
                   momentum: float = 0.0, num_training_batches: int | None = None, mode=None,
                   *, workers: int, address: str | None = None, elastic: bool = False,
                   seed: int = 0, step_timeout: float = 300.0, setup_timeout: float = 900.0,
                   threads: int | None = None, num_cpus: int | None = None,
                   allreduce: str = "auto") -> DataParallelTrainFn:
    """The data-parallel ``train_mb`` of ``net`` (arguments as ``build_train_fn``, plus
    those of ``DataParallel``). ``mini_batch_size`` must be a multiple of ``workers``."""
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"SGD: workers must be >= 1, got {workers}")
    if mini_batch_size % workers:
        raise ValueError(f"SGD: the mini-batch ({mini_batch_size}) must split evenly over "
                         f"{workers} workers (each takes mini_batch_size / workers examples)")
    x, y = (_as_array(v) for v in training_data)
    if num_training_batches is None:
        num_training_batches = len(x) // mini_batch_size
    shard = mini_batch_size // workers
    rule = _rule(eta, momentum)
    mirror = Updater(net.params, rule, mode=mode, name="train_mirror")
    net.velocities = mirror.velocities
    initial = [p.get_value() for p in net.params] + [v.get_value() for v in mirror.velocities]
    ray = connect(address, num_cpus)
    args = (network_bytes(net), ray.put(np.asarray(x)), ray.put(np.asarray(y, dtype="int32")),
            shard, eta, lmbda, momentum, num_training_batches, mode)
    dp = DataParallel(_network_replica, workers, args, seed=seed, mirror=mirror,
                      initial_state=initial, elastic=elastic, step_timeout=step_timeout,
                      setup_timeout=setup_timeout, threads=threads, address=address,
                      num_cpus=num_cpus, allreduce=allreduce)
    return DataParallelTrainFn(dp, mini_batch_size, shard, net, num_training_batches)
