"""What ``Network.SGD`` needs to stop on Ctrl-C and to resume from a checkpoint.

Why: a long training run is stopped with Ctrl-C and continued later. SGD stops cleanly
only at a mini-batch boundary (where every parameter, velocity and random stream is
consistent), so the first SIGINT just asks it to stop there (``Interruptible``); the
state recorded at each boundary (``state``) is what a checkpoint holds, and resuming from
it replays nothing and skips nothing, giving the numbers of an uninterrupted run.
"""
from __future__ import annotations

import signal
import sys
import threading

import numpy as np

from symgraph.compile.shared import SharedVariable
from symgraph.graph.basic import ancestors


class Interruptible:
    """The training loop's guard: it tracks the last mini-batch boundary reached
    (``epoch``, ``batch``: the first batch of ``epoch`` not trained yet, ``costs``: the
    costs of that epoch so far) and, when a ``KeyboardInterrupt`` leaves the loop, stores
    the state of that boundary in ``net.training_state`` before letting it go on.

    While active, the first Ctrl-C (SIGINT) only sets ``requested`` (SGD stops after the
    running mini-batch); a second one raises ``KeyboardInterrupt`` at once. It takes over
    SIGINT only in the main thread and when Python's own handler is installed (a handler
    of the user's or of a host application is left alone; Ctrl-C then raises as usual).
    """

    def __init__(self, net, history: dict, hyper: dict, verbose: bool, epoch: int = 0,
                 batch: int = 0, costs=()):
        self.net, self.history, self.hyper, self.verbose = net, history, hyper, verbose
        self.epoch, self.batch = epoch, batch
        self.costs = np.asarray(costs, dtype=float)
        self.requested = False
        self._installed = False

    def snapshot(self) -> dict:
        """The training state at the boundary reached last (see ``state``)."""
        return state(self.net, self.epoch, self.batch, self.costs[: self.batch], self.history,
                     self.hyper)

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.verbose:
            print("\nCtrl-C: stopping after this mini-batch (Ctrl-C again stops at once)",
                  file=sys.stderr, flush=True)

    def __exit__(self, exc_type, exc, tb):
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.net.training_state = self.snapshot()
            if self.verbose:
                n = self.hyper["training_images"] // self.hyper["mini_batch_size"]
                print(f"Training interrupted in epoch {self.epoch} after mini-batch "
                      f"{self.batch} of {n}.", flush=True)
        return False


def random_streams(net) -> list:
    """The shared random-stream states the training graph advances (dropout masks), in a
    fixed order: the order the graph is built in, the same for a network rebuilt by
    ``Network.load``."""
    found = []
    for v in ancestors([net.output_dropout]):
        if isinstance(v, SharedVariable) and getattr(v, "default_update", None) is not None:
            if not any(v is f for f in found):
                found.append(v)
    return found


def state(net, epoch: int, batch: int, costs, history: dict, hyper: dict) -> dict:
    """The training state at a mini-batch boundary: ``epoch`` (0-based) is the epoch to
    continue in and ``batch`` the first mini-batch of it not yet trained (0 at an epoch
    boundary); ``costs`` the costs of the batches of ``epoch`` already trained."""
    hist = {k: (list(v) if isinstance(v, list) else v) for k, v in history.items()}
    hyper = {k: (int(v) if k in ("mini_batch_size", "training_images") else float(v))
             for k, v in hyper.items()}
    return dict(hyper, epoch=int(epoch), batch=int(batch),
                costs=[float(c) for c in costs], history=hist,
                velocities=[np.array(v.get_value(borrow=True)) for v in net.velocities],
                random_states=[np.array(r.get_value(borrow=True))
                               for r in random_streams(net)])


def check(st: dict, hyper: dict) -> None:
    """Check that ``st`` (a loaded training state) belongs to this training run
    (``hyper``: mini-batch size, eta, lmbda, momentum, training images)."""
    for key, got in hyper.items():
        if st[key] != got:
            raise ValueError(f"SGD: resume: the checkpoint was trained with {key} "
                             f"{st[key]!r}, this call gives {got!r}; resume with the same "
                             f"settings and data")


def restore(net, st: dict) -> None:
    """Put the velocities and random streams of ``st`` (checked by ``check``) into the
    network's shared variables (after SGD built them)."""
    for what, saved, shared in (("momentum velocities", st["velocities"], net.velocities),
                                ("dropout random streams", st["random_states"],
                                 random_streams(net))):
        if len(saved) != len(shared):
            raise ValueError(f"SGD: resume: the checkpoint holds {len(saved)} {what}, this "
                             f"network has {len(shared)}")
        for s, a in zip(shared, saved):
            want = s.get_value(borrow=True)
            if a.shape != want.shape:
                raise ValueError(f"SGD: resume: {what}: shape {a.shape} in the checkpoint, "
                                 f"{want.shape} in the network")
            s.set_value(a.astype(want.dtype, copy=True), borrow=True)
