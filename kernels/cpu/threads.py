"""Numba's thread pool for the CPU kernels: started once, and sized per call on a busy machine.

Three jobs, none done at import time (``import symgraph`` changes nothing in the process):

``start()`` starts Numba's threading layer, the first time a kernel package or a compiled
function needs it (the Numba linker and ``symgraph.kernels.cpu`` call it). Numba's
``parallel=True`` kernels run on GNU OpenMP, whose idle workers busy-wait
``GOMP_SPINCOUNT`` pause loops after each parallel region (libgomp's default, 300000, is
long: it starved BLAS and every other process on a small machine; too short, and the
workers fall asleep between the kernels of one training step, which then runs slower;
docs/benchmarks.md). libgomp reads the variable once, when
it is loaded, so ``start()`` puts ``GOMP_SPINCOUNT=30000`` in the environment just while
Numba loads libgomp and removes it again: child processes do not inherit it. Opt-out: set
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` yourself (yours is used and left alone). When
libgomp was loaded before (``import torch`` first) its spin cannot change any more; Numba
then shares that copy and symgraph keeps Numba's default (thread-safe) layer: it used to
switch to the ``workqueue`` layer, which aborts the process when two threads call.

``task_threads()`` is the thread count the kernels split their work for (Numba's maximum,
``NUMBA_NUM_THREADS``), read by compiled code through the C symbol ``TASK_SYMBOL``: a
kernel that sums partial results (``gemm.py``'s NN product) makes the same partials
whatever number of threads runs them, so results do not depend on the thread count.

``call_threads()`` is how many threads the next compiled call should use: fewer than
Numba's count when other processes keep cores busy. OpenMP's static split and barriers
need every worker on a core at once; with two CPU-bound processes on a 2-core machine a
network3 step at batch 10 ran many times slower on 2 threads than on one
(docs/benchmarks.md). The count is
``cores - other runnable threads`` (at least 1): ``/proc/loadavg``'s running-task count
less this process's own running threads, sampled at most every ``SAMPLE_S`` seconds (the
smaller of the last two samples, so one short-lived process does not count). It
only ever changes how many threads share the same tasks, so results are bit-identical
whatever it picks. Opt-out: ``SYMGRAPH_ADAPTIVE_THREADS=0`` (then only
``numba.set_num_threads`` decides).

``CallTuner`` (one per compiled function) goes one step further, by measurement: it times
the function's calls and, now and then, runs a few calls on half the threads; when those
are clearly faster it keeps the smaller count, and it probes the larger one again later.
Why: the machine's load is not the only thing that makes threads slow. On this project's
2-vCPU virtual machine a network3 step on 2 threads switches, for seconds at a time and
with no other process running, between 2.55 ms and 6.9 ms (both threads busy, twice the
CPU time), while one thread takes 4.7 ms throughout (docs/contention.md). Probes are
rare (at most every ``PROBE_MIN_S``, backing off to ``PROBE_MAX_S`` while they lose); with
the timing of each call, a machine where all threads help paid 0.4% on the 72 us MLP step
(docs/contention.md). Like the load-based count
it only changes how many threads share the same tasks: the results are bit-identical.
Same opt-out.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time

#: the OpenMP spin ``start()`` gives libgomp (pause loops; a tenth of libgomp's default)
GOMP_SPINCOUNT = "30000"
#: environment variable turning the per-call thread count off (``0``)
ADAPTIVE_ENV = "SYMGRAPH_ADAPTIVE_THREADS"
#: seconds between two looks at the machine's load
SAMPLE_S = 0.05
#: C symbol (an int) holding ``TASK_THREADS`` for compiled code
TASK_SYMBOL = "symgraph_task_threads"

_task_threads = ctypes.c_int64(1)
_registered = False
_lock = threading.Lock()
_started = False
#: what ``start()`` did: ``{"spin": ..., "libgomp_preloaded": ..., "layer": ...}``
STATE: dict = {}


def register_task_symbol() -> None:
    """Make ``TASK_SYMBOL`` known to LLVM (before any cached kernel that reads it loads)."""
    global _registered
    if _registered:
        return
    import numba
    from llvmlite import binding as llvm

    _task_threads.value = max(1, int(numba.config.NUMBA_NUM_THREADS))
    llvm.add_symbol(TASK_SYMBOL, ctypes.addressof(_task_threads))
    _registered = True


def task_threads() -> int:
    """The thread count the kernels split their work for."""
    register_task_symbol()
    return _task_threads.value


def _libgomp_loaded() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return "libgomp" in maps.read()
    except OSError:
        return False


def start() -> dict:
    """Start Numba's threading layer once per process (see the module docstring)."""
    global _started
    if _started:
        return STATE
    with _lock:
        if _started:
            return STATE
        import numba

        register_task_symbol()
        user = "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ
        preloaded = _libgomp_loaded()
        spin = None
        if not user and not preloaded:
            os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
            spin = GOMP_SPINCOUNT
        try:
            numba.get_num_threads()  # the public call that loads the threading layer
        finally:
            if spin is not None:
                os.environ.pop("GOMP_SPINCOUNT", None)  # this process only
        layer = numba.threading_layer()
        STATE.update(spin=spin if layer == "omp" else None, user_spin=user,
                     libgomp_preloaded=preloaded, layer=layer)
        _started = True
    return STATE


#: held around parallel calls when Numba runs its ``workqueue`` layer (chosen by the user
#: with ``NUMBA_THREADING_LAYER``), which aborts the process when two threads enter it
PARALLEL_LOCK = threading.Lock()


def serialize_parallel() -> bool:
    """Whether parallel calls must hold ``PARALLEL_LOCK`` (the layer is not thread-safe)."""
    return STATE.get("layer") == "workqueue"


# ----------------------------------------------------------------- per-call thread count

def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _others_running() -> int | None:
    """Runnable threads on the machine that are not this process's (None: unknown)."""
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
        mine = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue  # the thread ended
            if stat[stat.rindex(")") + 2] == "R":
                mine += 1
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - max(mine, 1))


class _Adaptive:
    """The per-call thread count, refreshed at most every ``SAMPLE_S`` seconds."""

    def __init__(self):
        self.enabled = os.environ.get(ADAPTIVE_ENV, "1").strip().lower() not in (
            "0", "false", "no", "off")
        self.cpus = _cpus()
        self.next = 0.0
        self.prev = 0  # other runnable threads at the previous sample
        self.limit = 0  # 0: no limit (the machine is not busier than its cores)

    def refresh(self, now: float) -> None:
        self.next = now + SAMPLE_S
        others = _others_running()
        if others is None:
            self.enabled = False
            self.limit = 0
            return
        # fewer threads only when two samples in a row saw other work: one sample can
        # catch a short-lived process, or one of our workers between two of its states
        busy, self.prev = min(others, self.prev), others
        free = self.cpus - busy
        self.limit = 0 if free >= self.cpus else max(1, free)


_adaptive = _Adaptive()
_now = time.monotonic


def call_threads() -> int:
    """A thread count for the next call, or 0 for "as Numba is set" (quiet machine, or
    ``SYMGRAPH_ADAPTIVE_THREADS=0``). Cheap: one clock read between samples."""
    a = _adaptive
    if not a.enabled:
        return 0
    now = _now()
    if now >= a.next:
        a.refresh(now)
    return a.limit


#: seconds between two probes of the other thread count: doubling from the minimum while
#: probes lose, back to the minimum after a switch
PROBE_MIN_S = 0.05
PROBE_MAX_S = 4.0
#: calls per probe, and timings kept of the chosen count (their medians are compared)
PROBE_CALLS = 3
KEEP = 8
#: a probe wins when its median is below this fraction of the chosen count's median
MARGIN = 0.85


class CallTuner:
    """Which of two thread counts runs one compiled function's calls faster, measured.

    ``n = tuner.pick()`` before a call (0: as Numba is set; else the count for
    :class:`fewer_threads`), ``tuner.done(seconds)`` after it. The candidates, on a
    machine the load leaves to us (:func:`call_threads` returns 0): Numba's count and
    half of it. On a busy machine the load's count is used as it is. (Tried and left
    out: where other processes fill every core, all threads waiting passively -- libgomp
    spins only 100 times while it manages more threads than there are CPUs, which an
    idle extra team arranges -- against the load's one thread. Timed for 3 s per
    process, two busy processes beside a network3 step, one thread averaged 6.4 ms at
    batch 100 and the choice between the two 6.9 ms: docs/contention.md.)
    A change of the load's count, or :meth:`reset` (the executable switched to other
    code), starts the measurement over. Calls from several threads at once only mix the
    timings; nothing here can fail a call.
    """

    __slots__ = ("key", "counts", "choice", "recent", "probing", "probe_times",
                 "next_probe", "interval", "probes", "switches")

    def __init__(self):
        self.key = None        # the load's count the candidates were made for
        self.counts = None     # (the load's count, the other one); None: nothing to tune
        self.choice = 0        # index into counts
        self.recent: list = []     # timings of calls on the chosen count
        self.probing = 0           # calls left in the current probe
        self.probe_times: list = []
        self.next_probe = 0.0
        self.interval = PROBE_MIN_S
        self.probes = 0            # counters, for tests and benchmarks
        self.switches = 0

    def reset(self) -> None:
        self.key = None

    def _restart(self, key) -> None:
        full = _max_threads()
        self.counts = (0, max(1, full // 2)) if key == 0 and full > 1 else None
        self.key = key
        self.choice = 0
        self.recent = []
        self.probing = 0
        self.interval = PROBE_MIN_S
        self.next_probe = _now() + PROBE_MIN_S

    def pick(self) -> int:
        allowed = call_threads()
        if not _adaptive.enabled:
            return allowed
        if allowed != self.key:
            self._restart(allowed)
        counts = self.counts
        if counts is None:
            return allowed
        if self.probing:
            return counts[1 - self.choice]
        if len(self.recent) >= PROBE_CALLS and _now() >= self.next_probe:
            self.probing = PROBE_CALLS
            self.probe_times = []
            self.probes += 1
            return counts[1 - self.choice]
        return counts[self.choice]

    def done(self, seconds: float) -> None:
        if self.counts is None:
            return
        if not self.probing:
            recent = self.recent
            recent.append(seconds)
            if len(recent) > KEEP:
                del recent[0]
            return
        self.probe_times.append(seconds)
        self.probing -= 1
        if self.probing:
            return
        if _median(self.probe_times) < MARGIN * _median(self.recent):
            self.choice = 1 - self.choice
            self.recent = self.probe_times
            self.interval = PROBE_MIN_S
            self.switches += 1
        else:
            self.interval = min(2 * self.interval, PROBE_MAX_S)
        self.next_probe = _now() + self.interval


def _median(xs) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else float("inf")


def _max_threads() -> int:
    import numba

    return numba.get_num_threads()


class fewer_threads:
    """``with fewer_threads(n):`` runs the block on at most ``n`` of the calling thread's
    Numba threads (``n`` from :func:`call_threads`; 0 changes nothing), then restores
    the count (Numba's count is per calling thread)."""

    __slots__ = ("n", "prev")

    def __init__(self, n: int):
        self.n = n
        self.prev = 0

    def __enter__(self):
        if self.n:
            import numba

            prev = numba.get_num_threads()
            if self.n < prev:
                self.prev = prev
                numba.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.prev:
            import numba

            numba.set_num_threads(self.prev)
        return False
