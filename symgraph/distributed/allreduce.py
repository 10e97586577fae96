"""A compiled training step whose gradients are averaged across workers.

Why two compiled functions instead of one: in a single process ``symgraph.function``
fuses "gradient" and "update" into one graph, but data-parallel training must stop in
between, average the gradients of every replica, and only then update. So
``AllReduceFunction`` compiles

- ``gradients(*inputs)``: the cost, extra outputs and ``T.grad(cost, params)`` on this
  worker's shard (no update), and
- ``apply(mean_grads)``: the user's update rule fed with the averaged gradients (plain
  SGD, momentum, or any ``(params, grads) -> updates`` callable),

and ``__call__`` chains them through a communicator's ``allreduce_mean``. Every replica
applies the same averaged gradients with the same compiled update, so replicas that
start equal stay equal (bit for bit: same code, same inputs).

No Ray is needed here: the communicator can be anything with ``allreduce_mean(list of
arrays) -> list of arrays`` (``symgraph.distributed.ObjectStoreCommunicator`` between Ray
actors, ``LocalCommunicator`` for one process).

Example (one process: the mean over one worker is the gradient itself)::

    >>> import numpy as np, symgraph, symgraph.tensor as T
    >>> from symgraph.distributed import function, sgd, LocalCommunicator
    >>> x = T.dvector('x'); w = symgraph.shared(np.ones(3), name='w')
    >>> step = function([x], ((w - x) ** 2).sum(), [w], sgd(0.25),
    ...                 communicator=LocalCommunicator(), mode='py')
    >>> float(step(np.zeros(3)))
    3.0
    >>> w.get_value()
    array([0.5, 0.5, 0.5])
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.compile.shared import SharedVariable
from symgraph.graph.basic import ancestors
from symgraph.tensor.random import RandomDraw, random_state

__all__ = ["AllReduceFunction", "Updater", "function", "sgd", "momentum_sgd", "LocalCommunicator",
           "mean_of", "random_streams", "stream_seed"]


def sgd(eta: float) -> Callable:
    """Plain SGD update rule: ``p <- p - eta * g`` (as ``Network.build_train_fn``).

    >>> rule = sgd(0.1)
    """
    def rule(params, grads):
        return [(p, p - eta * g) for p, g in zip(params, grads)]
    rule.__name__ = f"sgd(eta={eta})"
    return rule


def momentum_sgd(eta: float, mu: float) -> Callable:
    """Momentum update rule: ``v <- mu * v - eta * g``, ``p <- p + v`` (velocities start
    at zero, one shared variable per parameter, as ``Network.build_train_fn``).

    >>> rule = momentum_sgd(0.1, 0.9)
    """
    def rule(params, grads):
        updates = []
        rule.velocities = []
        for p, g in zip(params, grads):
            v = symgraph.shared(np.zeros_like(p.get_value(borrow=True)), name=f"v_{p.name}")
            rule.velocities.append(v)
            new_v = mu * v - eta * g
            updates += [(v, new_v), (p, p + new_v)]
        return updates
    rule.__name__ = f"momentum_sgd(eta={eta}, mu={mu})"
    return rule


def mean_of(contributions: Sequence[Sequence[np.ndarray]], count: int | None = None,
            dtypes=None) -> list[np.ndarray]:
    """Element-wise mean of several workers' lists of arrays: summed in float64 (so the
    order of workers barely matters), divided by ``count`` (default: the number of
    lists) and cast back to each array's dtype (or ``dtypes``).

    >>> mean_of([[np.float32([1, 2])], [np.float32([3, 5])]])
    [array([2. , 3.5], dtype=float32)]
    """
    contributions = list(contributions)
    if not contributions:
        raise ValueError("mean_of: no contributions to average")
    n = len(contributions) if count is None else count
    first = contributions[0]
    out = []
    for k in range(len(first)):
        acc = np.array(first[k], dtype=np.float64, copy=True)
        for c in contributions[1:]:
            acc += c[k]
        acc /= n
        out.append(acc.astype(first[k].dtype if dtypes is None else dtypes[k], copy=False))
    return out


def random_streams(outputs) -> list[SharedVariable]:
    """The random-stream states (shared ``[key, counter]`` arrays advanced by a
    ``RandomDraw``: dropout masks) that ``outputs`` depend on, in graph order."""
    found: list = []
    for v in ancestors(list(outputs)):
        upd = getattr(v, "default_update", None) if isinstance(v, SharedVariable) else None
        if (upd is not None and upd.owner is not None and isinstance(upd.owner.op, RandomDraw)
                and not any(v is f for f in found)):
            found.append(v)
    return found


def stream_seed(*key: int) -> int:
    """A 64-bit seed derived from a tuple of non-negative ints (``SeedSequence``): distinct
    tuples give unrelated seeds, the same tuple the same seed.

    >>> stream_seed(0, 5, 1) == stream_seed(0, 5, 1) != stream_seed(0, 5, 2)
    True
    """
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0])


class LocalCommunicator:
    """The communicator of a single worker: the mean over one contribution is itself.

    >>> LocalCommunicator().allreduce_mean([np.ones(2)])
    [array([1., 1.])]
    """

    rank = 0
    world_size = 1

    def allreduce_mean(self, arrays):
        return list(arrays)


class Updater:
    """The update half alone: ``updater(mean_grads)`` applies ``rule`` to ``params``.

    The driver of ``DataParallel`` keeps one on its own copy of the parameters (a
    mirror replica that never computes gradients), so its parameters are current after
    every step: checkpoints and evaluation need no transfer from the workers.
    """

    def __init__(self, params, rule, mode=None, name: str = "apply"):
        self.params = list(params)
        self.name = name
        self._grad_in = [p.type(f"mean_grad_{p.name or k}") for k, p in enumerate(self.params)]
        upd = rule(self.params, self._grad_in)
        #: extra state the rule created (momentum velocities), in parameter order
        self.velocities = list(getattr(rule, "velocities", []))
        self._fn = symgraph.function(self._grad_in, [], updates=upd, mode=mode, name=name)
        self.dtypes = [p.get_value(borrow=True).dtype for p in self.params]

    def __call__(self, mean_grads) -> None:
        if len(mean_grads) != len(self.params):
            raise ValueError(f"{self.name}: {len(mean_grads)} gradients for "
                             f"{len(self.params)} parameters")
        self._fn(*[_writable(g, d) for g, d in zip(mean_grads, self.dtypes)])

    def compile(self) -> None:
        """Build the machine code now (a dry run: nothing is updated)."""
        self._fn.dry_run(*[np.zeros_like(p.get_value(borrow=True)) for p in self.params])


def _writable(a, dtype) -> np.ndarray:
    """``a`` as a writable array of ``dtype`` (arrays from Ray's object store are
    read-only views, which compiled code would see as another argument type)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


class AllReduceFunction:
    """``gradients`` + all-reduce + ``apply``: one synchronous data-parallel step.

    Built by ``symgraph.distributed.function``; see the module docstring. ``params`` are
    the shared variables trained; ``velocities`` (momentum) are extra state the update
    rule created, part of what must be equal on every replica.
    """

    def __init__(self, inputs, cost, params, updates=None, outputs=(), givens=None,
                 mode=None, communicator=None, name: str = "allreduce_step"):
        params = list(params)
        for p in params:
            if not isinstance(p, SharedVariable):
                raise TypeError(f"{name}: params must be shared variables, got "
                                f"{type(p).__name__} {p!r}")
        if updates is None:
            raise TypeError(f"{name}: give an update rule, e.g. sgd(0.1) or "
                            f"momentum_sgd(0.1, 0.9), or a callable (params, grads) -> updates")
        self.name = name
        self.params = params
        self.communicator = communicator
        outputs = list(outputs)
        self.n_outputs = len(outputs)
        grads = T.grad(cost, params)
        self._grad_fn = symgraph.function(list(inputs), [cost, *outputs, *grads],
                                          givens=givens, mode=mode, name=f"{name}_gradients")
        self.updater = Updater(params, updates, mode=mode, name=f"{name}_apply")
        self.velocities = self.updater.velocities
        #: the random streams the gradients draw from (``reseed`` sets them per shard)
        self.random_streams = random_streams([cost, *outputs])

    def reseed(self, key: int) -> None:
        """Set every random stream to a state derived from ``key`` (stream ``m`` from
        ``stream_seed(key, m)``). ``DataParallel`` calls it before each shard with a key
        of (run seed, global step, shard): the masks of a shard then depend on where it
        is in the run, not on which worker computes it or what that worker did before,
        so a resumed run and an elastic one draw the masks of an uninterrupted run."""
        for m, v in enumerate(self.random_streams):
            v.set_value(random_state(stream_seed(key, m)), borrow=True)

    # -- the two halves
    def gradients(self, *args):
        """``(cost, [outputs], [grads])`` on this worker's inputs; changes nothing."""
        res = self._grad_fn(*args)
        k = 1 + self.n_outputs
        return res[0], list(res[1:k]), list(res[k:])

    def apply(self, mean_grads) -> None:
        """Update the parameters (and velocities) with the averaged gradients."""
        self.updater(mean_grads)

    def compile(self, *args) -> None:
        """Build the machine code of both halves now (a dry run: nothing is updated)."""
        self._grad_fn.dry_run(*args)
        self.updater.compile()

    def __call__(self, *args):
        """One step: local gradients, ``communicator.allreduce_mean``, the update; returns
        the cost averaged over the workers (and the extra outputs, local)."""
        if self.communicator is None:
            raise RuntimeError(f"{self.name}: no communicator; pass communicator= to "
                               f"symgraph.distributed.function, or drive it with "
                               f"symgraph.distributed.DataParallel")
        cost, outs, grads = self.gradients(*args)
        reduced = self.communicator.allreduce_mean(
            [np.asarray(cost, dtype=np.float64).reshape(1)] + grads)
        self.apply(reduced[1:])
        mean_cost = reduced[0][0]
        return [mean_cost, *outs] if self.n_outputs else mean_cost

    # -- state (what must be equal on every replica)
    def get_state(self) -> list[np.ndarray]:
        """Copies of the parameters followed by the velocities."""
        return [v.get_value() for v in self.params + self.velocities]

    def set_state(self, values) -> None:
        """Set parameters (then velocities, if given) from ``get_state``-ordered arrays."""
        shared = self.params + self.velocities
        if len(values) not in (len(self.params), len(shared)):
            raise ValueError(f"{self.name}.set_state: {len(values)} arrays; expected "
                             f"{len(self.params)} parameters (+ {len(self.velocities)} "
                             f"velocities)")
        for v, a in zip(shared, values):
            # a private writable copy: arrays from Ray's object store are read-only
            # views, and compiled code typed for writable arrays must not get one
            v.set_value(np.array(a, dtype=v.get_value(borrow=True).dtype, copy=True),
                        borrow=True)


def function(inputs, cost, params, updates, outputs=(), givens=None, mode=None,
             communicator=None, name: str = "allreduce_step") -> AllReduceFunction:
    """Compile a training step whose gradients are averaged across workers.

    ``cost``: the scalar to minimise on this worker's shard (a mean over the shard, so
    the average of the workers' gradients is the gradient of the whole batch when shards
    are equal in size); ``params``: shared variables; ``updates``: an update rule
    (``sgd(eta)``, ``momentum_sgd(eta, mu)`` or ``(params, grads) -> [(shared, expr)]``),
    given the averaged gradients as symbolic variables; ``outputs``: extra local outputs;
    ``givens``/``mode`` as ``symgraph.function``. Call it on every worker with that
    worker's inputs; or build it inside ``DataParallel``'s builder and let the driver
    run the steps.
    """
    return AllReduceFunction(inputs, cost, params, updates, outputs, givens, mode,
                             communicator, name)
