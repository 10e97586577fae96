"""Worker-to-worker gradient averaging: a torch.distributed gloo group among the actors.

Why this and not ``ray.util.collective``: in Ray 2.60 that library's ``gloo`` backend is
itself a torch.distributed gloo process group (pygloo is gone), but it creates the
process-wide default group with torch's default timeout (30 minutes, not settable
through it), its rendezvous store listens on every interface, and its group cannot lose
a member. A data-parallel step must name a dead or silent worker within
``step_timeout`` and a local instance must stay on loopback, so ``GlooGroup`` builds the
same kind of group itself, through Ray:

1. the driver asks worker 0 to ``listen``: it opens a socket on its Ray node address
   (127.0.0.1 for a local instance) and serves a ``TCPStore`` on it;
2. the driver tells every worker that address (``join``): each connects to the store
   and creates a ``ProcessGroupGloo`` whose network device is bound to its own Ray node
   address, with a timeout on every operation.

The group is an object of the worker (not torch's default group), so a worker process
can hold a new one for each ``DataParallel`` it serves. torch is needed only here, and
only in processes that use it.
"""
from __future__ import annotations

import datetime
import importlib.util
import os
import socket

import numpy as np

__all__ = ["gloo_available", "GlooGroup", "CollectiveFailed"]


class CollectiveFailed(RuntimeError):
    """An all-reduce did not complete (a peer died, or did not join in time): the worker
    that raises it is a bystander of another worker's failure."""


def gloo_available() -> bool:
    """Whether torch with a gloo-enabled torch.distributed can be imported here (without
    importing torch when it is not installed at all)."""
    if importlib.util.find_spec("torch") is None:
        return False
    try:
        import torch.distributed as dist
    except ImportError:
        return False
    return bool(dist.is_available() and dist.is_gloo_available())


class GlooGroup:
    """One worker's membership of a gloo group (see the module docstring).

    ``timeout`` (seconds) bounds every all-reduce: a worker whose peer died or stopped
    answering raises ``CollectiveFailed`` instead of waiting. ``setup_timeout`` (default:
    ``timeout``) bounds the rendezvous, which waits for the slowest member to start
    (importing torch alone takes seconds on a loaded machine).
    """

    def __init__(self, address: str, timeout: float, setup_timeout: float | None = None):
        import torch.distributed as dist

        self._dist = dist
        self.address = address
        self.timeout = datetime.timedelta(seconds=float(timeout))
        self.setup_timeout = datetime.timedelta(
            seconds=float(timeout if setup_timeout is None else setup_timeout))
        self._store = None
        self.pg = None
        self.rank = self.world_size = None

    def listen(self) -> int:
        """Worker 0: serve the rendezvous store on ``address`` (an OS-chosen port, bound
        to that address only); returns the port."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.address else socket.AF_INET)
        try:
            sock.bind((self.address, 0))
            sock.listen(128)
            port = sock.getsockname()[1]
        except OSError:
            sock.close()
            raise
        fd = sock.detach()          # the store owns the listening socket from here on
        try:
            self._store = self._dist.TCPStore(self.address, port, None, True,
                                              timeout=self.setup_timeout,
                                              wait_for_workers=False,
                                              master_listen_fd=fd)
        except Exception:
            os.close(fd)
            raise
        return port

    def join(self, store_address: str, port: int, rank: int, world_size: int) -> None:
        """Join the group of ``world_size`` (blocks until every member joined, at most
        ``timeout``)."""
        dist = self._dist
        if self._store is None:
            self._store = dist.TCPStore(store_address, int(port), None, False,
                                        timeout=self.setup_timeout)
        opts = dist.ProcessGroupGloo._Options()
        opts._timeout = self.setup_timeout
        opts._devices = [dist.ProcessGroupGloo.create_device(hostname=self.address)]
        try:
            self.pg = dist.ProcessGroupGloo(self._store, int(rank), int(world_size), opts)
        except RuntimeError as e:
            raise CollectiveFailed(f"joining the gloo group failed: {_first_line(e)}") from None
        self.pg._set_default_timeout(self.timeout)      # the all-reduces' own bound
        self.rank, self.world_size = int(rank), int(world_size)

    def allreduce_mean(self, arrays, count: int | None = None) -> list[np.ndarray]:
        """The element-wise mean over the group of ``arrays`` (numpy), in their dtypes:
        the arrays of each dtype are packed into one buffer, summed by one gloo
        all-reduce, and divided by ``count`` (default: the group's size). Every member
        gets the same bits (each element is reduced once, then copied)."""
        import torch

        n = self.world_size if count is None else count
        out: list = [None] * len(arrays)
        by_dtype: dict = {}
        for k, a in enumerate(arrays):
            by_dtype.setdefault(np.asarray(a).dtype, []).append(k)
        for dtype, ks in by_dtype.items():
            flat = np.concatenate([np.asarray(arrays[k], dtype=dtype).ravel() for k in ks])
            try:
                self.pg.allreduce([torch.from_numpy(flat)]).wait()
            except RuntimeError as e:
                raise CollectiveFailed(f"the gloo all-reduce failed: {_first_line(e)}") from None
            flat /= dtype.type(n)
            start = 0
            for k in ks:
                size = np.asarray(arrays[k]).size
                out[k] = flat[start: start + size].reshape(np.shape(arrays[k]))
                start += size
        return out

    def close(self) -> None:
        """Leave the group (its connections and the store close with the objects)."""
        self.pg = None
        self._store = None


def _first_line(err, limit: int = 300) -> str:
    line = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."
