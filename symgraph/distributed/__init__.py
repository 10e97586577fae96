"""Training beyond one process: data-parallel SGD and hyper-parameter sweeps on Ray.

An optional extra: ``pip install 'symgraph[distributed]'`` installs Ray. Importing this
package does not need Ray; starting workers does (``DistributedUnavailable`` otherwise).

- ``function(inputs, cost, params, sgd(eta), ...)``: a compiled step whose gradients
  are averaged across workers (``AllReduceFunction``).
- ``DataParallel(builder, workers)``: runs such a step synchronously on Ray actors,
  averaging on a gloo group where torch is installed (else through Ray's object store),
  with random streams keyed by step and shard, timeouts and optional elastic
  continuation; ``keep_workers()`` lets later runs reuse its worker processes.
- ``Network.SGD(..., workers=N)`` and ``symgraph-mnist --workers N`` train network3's
  networks this way (``train_function``); ``symgraph-mnist sweep`` runs a grid of
  hyper-parameters as Ray tasks (``sweep``).

See docs/scaling.md for multi-node and multi-GPU operation and the measured costs.
"""
from symgraph.distributed.allreduce import (
    AllReduceFunction,
    LocalCommunicator,
    Updater,
    function,
    mean_of,
    momentum_sgd,
    sgd,
)
from symgraph.distributed.data_parallel import DataParallel, keep_workers, release_idle
from symgraph.distributed.runtime import (
    DistributedUnavailable,
    WorkerFailed,
    connect,
    require_ray,
    worker_seed,
)

__all__ = ["AllReduceFunction", "DataParallel", "DistributedUnavailable", "LocalCommunicator",
           "Updater", "WorkerFailed", "connect", "function", "keep_workers", "mean_of",
           "momentum_sgd", "release_idle", "require_ray", "sgd", "train_function",
           "worker_seed"]


def train_function(*args, **kwargs):
    """``Network.SGD``'s training step on Ray workers (see ``symgraph.distributed.network``)."""
    from symgraph.distributed.network import train_function as _tf

    return _tf(*args, **kwargs)
