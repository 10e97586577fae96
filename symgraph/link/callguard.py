"""What a compiled call holds and restores so that threads and Ctrl-C leave shared state whole.

Why: a call reads its shared variables, runs the compiled graph (without the GIL) and
then stores the updates. Two threads calling a training step at once both read the same
weights and the second store wins: 4 threads x 20,000 increments of a counter ended at
28,757. And a ``KeyboardInterrupt`` raised between two stores left half the updates done.

* ``update_lock(containers)``: one lock per shared variable, taken (in a fixed order, so
  two functions never wait on each other crosswise) by every call that updates it, from
  reading the values to storing the results. Calls that update nothing are not
  serialized; they see each shared value either before or after another call's update
  (a store replaces the array, it never writes into it).
* ``commit(containers, values)``: stores the updates; if an exception (Ctrl-C) comes
  between two stores, the earlier ones are undone before it propagates.
* ``interrupt_from(exc)``: the ``KeyboardInterrupt`` hidden in an error from compiled code
  when Ctrl-C was pressed during the call, so the call raises that instead of the
  kernel's failure message or Numba's SystemError.
"""
from __future__ import annotations

import sys
import threading

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


class _Locks:
    """Several locks taken in a fixed order (``with`` statement)."""

    __slots__ = ("locks",)

    def __init__(self, locks):
        self.locks = locks

    def __enter__(self):
        taken = []
        try:
            for lock in self.locks:
                lock.acquire()
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        return self

    def __exit__(self, *exc):
        for lock in reversed(self.locks):
            lock.release()
        return False


class _NoLock:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


NO_LOCK = _NoLock()


def update_lock(containers):
    """A context manager serializing calls that update any of ``containers``."""
    if not containers:
        return NO_LOCK
    with _locks_guard:
        locks = {id(c): _locks.setdefault(id(c), threading.Lock()) for c in containers}
    ordered = [locks[k] for k in sorted(locks)]
    return ordered[0] if len(ordered) == 1 else _Locks(ordered)


def commit(containers, values) -> None:
    """``c.value = v`` for each pair, all or none (see the module docstring)."""
    old = [c.value for c in containers]
    try:
        for c, v in zip(containers, values):
            c.value = v
    except BaseException:
        for c, v in zip(containers, old):
            c.value = v
        raise


def interrupt_from(exc: BaseException) -> BaseException | None:
    """A ``KeyboardInterrupt`` to raise instead of ``exc`` (None: ``exc`` is the error).

    Two ways Ctrl-C comes back from compiled code: a parallel kernel's callback caught it
    (``KernelInterrupted``), or Python noticed the signal while the compiled function
    was returning, and Numba's dispatcher then reports ``SystemError: ... returned a
    result with an exception set`` with the ``KeyboardInterrupt`` as its context."""
    parallel = sys.modules.get("symgraph.link.numba.parallel")
    if parallel is not None and isinstance(exc, parallel.KernelInterrupted):
        return KeyboardInterrupt(str(exc))
    seen = 0
    e = exc
    while e is not None and seen < 8:
        if isinstance(e, KeyboardInterrupt):
            return KeyboardInterrupt(*e.args)
        e = e.__cause__ or e.__context__
        seen += 1
    return None

