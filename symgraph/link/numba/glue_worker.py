"""Compile graph glue (``graph_fn``) in a background process (see ``tiered.py``).

Why a process and not a thread: Numba's compiler is Python code holding the GIL (and
Numba's compiler lock), so a thread would slow the very calls it is meant to spare, and
every compile in this process would wait for it. A worker process runs on another core
and shares only the cache: it writes ``graph_fn``'s machine code and
its ``.sigs``/``.links`` files through the same code as a compile here (``cache.py``),
and the requesting process loads them from there.

The same worker compiles kernels while a new graph's plan is built (``plan_compile.py``):
a kernel job names a kernel module instead of a graph module. Kernel jobs for known
argument types are served first, then those for guessed types, then glue jobs; a plan
takes back a kernel job the worker has not started when it has nothing else to compile
itself, or when its guess turned out wrong (``withdraw``).

Protocol: one JSON object per line each way. A job carries the module's source (the
worker imports it through ``cache.load_module``, which checks its name is the content
hash of exactly that source under this installation), the cache directory and the
argument types (``cachefiles.encode_type``: JSON, no pickle); the reply says ``ok`` or
gives the error. One job at a time: the next is sent when the reply comes, skipping
those whose function was dropped meanwhile (a test suite or a sweep builds many short-
lived functions). If the worker cannot start or dies, the waiting functions compile in
their own process, as with ``config.numba_glue = "compiled"``.

Run as ``python -m symgraph.link.numba.glue_worker`` (by :class:`GlueCompiler`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import weakref
from collections import deque

__all__ = ["GlueJob", "available", "prestart", "submit", "submit_kernel", "withdraw"]


class GlueJob:
    """One background compile of ``graph_fn`` (or of a kernel: ``submit_kernel``) for
    one signature; ``done`` is set when the reply came (``ok``: its machine code is in the
    cache), the worker is gone, or the job was taken back (``withdraw``)."""

    __slots__ = ("payload", "owner", "done", "ok", "error", "event", "__weakref__")

    def __init__(self, payload: dict, owner):
        self.payload = payload
        self.owner = weakref.ref(owner)   # the job is skipped once this is collected
        self.done = False
        self.ok = False
        self.error = None
        self.event = threading.Event()   # set with ``done`` (a plan waits on it)

    def finish(self, ok: bool, error=None) -> None:
        self.ok, self.error, self.done = ok, error, True
        self.event.set()


class GlueCompiler:
    """The worker process and its queue (one per process, started on first use)."""

    def __init__(self):
        self.pid = os.getpid()
        self.proc = None
        self.replies = -1   # the read end of the worker's reply pipe
        self.queue: deque = deque()
        self.kernels: deque = deque()   # kernel jobs: sent before anything else
        self.guesses: deque = deque()   # kernel jobs for guessed types: then these
        self.ahead: deque = deque()     # kernels only the glue needs: then these
        self.busy = None
        self.dead = False
        self.lock = threading.Lock()

    def submit(self, job: GlueJob, queue: str = "queue") -> None:
        """Queue ``job`` on ``queue``: ``"kernels"``, ``"guesses"``, ``"ahead"`` or
        ``"queue"`` (glue), served in that order."""
        with self.lock:
            if self.dead:
                job.finish(False, "the background compile process is not running")
                return
            getattr(self, queue).append(job)
            if self.busy is None:
                self._send_next()

    def withdraw(self, job: GlueJob) -> bool:
        """Take ``job`` back if the worker has not been sent it yet (True: it will not
        run there, and is finished as ``"withdrawn"``)."""
        with self.lock:
            for q in (self.kernels, self.guesses, self.ahead, self.queue):
                if job in q:
                    q.remove(job)
                    job.finish(False, "withdrawn")
                    return True
            return False

    def _start(self) -> bool:
        env = dict(os.environ)
        # the worker must import this very symgraph (its sources name the modules)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        from numba import config as nconfig

        if nconfig.CACHE_DIR:
            env["NUMBA_CACHE_DIR"] = nconfig.CACHE_DIR
        # replies come on a bare pipe read with os.read: the reader thread blocks on it
        # until the process exits, and a file object there would be reported unclosed
        self.replies, w = os.pipe()
        try:
            # its own session: a Ctrl-C at the terminal interrupts the program, not the
            # compile in hand (the worker exits when the program closes its input)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "symgraph.link.numba.glue_worker"],
                stdin=subprocess.PIPE, stdout=w, stderr=subprocess.DEVNULL,
                env=env, text=True, bufsize=1, close_fds=True, start_new_session=True)
        except OSError:
            os.close(self.replies)
            self.dead = True
            return False
        finally:
            os.close(w)
        threading.Thread(target=self._read, name="symgraph-glue-reader", daemon=True).start()
        return True

    def _send_next(self) -> None:
        """Send the next live job (holding ``lock``)."""
        while self.kernels or self.guesses or self.ahead or self.queue:
            job = (self.kernels or self.guesses or self.ahead or self.queue).popleft()
            if job.owner() is None:
                job.finish(False, "dropped")
                continue
            if self.proc is None and not self._start():
                job.finish(False, "the background compile process could not start")
                self._fail_all("the background compile process could not start")
                return
            try:
                self.proc.stdin.write(json.dumps(job.payload) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):
                job.finish(False, "the background compile process is gone")
                self.dead = True
                self._fail_all("the background compile process is gone")
                return
            self.busy = job
            return

    def _fail_all(self, why: str) -> None:
        for q in (self.kernels, self.guesses, self.ahead, self.queue):
            while q:
                q.popleft().finish(False, why)

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.replies, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    job, self.busy = self.busy, None
                    if job is not None:
                        job.finish(bool(reply.get("ok")), reply.get("error"))
                    self._send_next()
        with self.lock:   # the worker exited
            self.dead = True
            if self.busy is not None:
                self.busy.finish(False, "the background compile process exited")
                self.busy = None
            self._fail_all("the background compile process exited")

    def close(self) -> None:
        """Let the worker finish its job and exit (end of input); not waited for: it
        outlives this process by design (the next run finds the glue compiled), so its
        ``Popen`` is marked done, or its finalizer would report it as leaked."""
        proc = self.proc
        if proc is None:
            return
        with self.lock:
            self.dead = True
        try:
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        if proc.poll() is None:
            proc.returncode = 0


_compiler: GlueCompiler | None = None
_compiler_lock = threading.Lock()


def _get() -> GlueCompiler:
    global _compiler
    with _compiler_lock:
        if _compiler is None or _compiler.pid != os.getpid():   # none yet, or forked
            _compiler = GlueCompiler()
            import atexit

            atexit.register(_compiler.close)
        return _compiler


def _job(payload: dict, sig: tuple, owner) -> GlueJob:
    """A job compiling ``payload``'s module for ``sig`` (written as JSON: no pickle), or
    one finished at once, not ok, when ``sig`` cannot be written so."""
    from symgraph.config import config
    from symgraph.link.numba.cachefiles import UnsupportedType, encode_type

    try:
        types = [encode_type(t) for t in sig]
    except UnsupportedType as e:
        job = GlueJob({}, owner)
        job.finish(False, str(e))
        return job
    return GlueJob({**payload, "deps": _generated_deps(payload["src"], payload["name"]),
                    "cache_dir": config.cache_dir, "sig": types}, owner)


def submit(module, sig: tuple, owner) -> GlueJob:
    """Queue the compile of ``module.graph_fn`` for ``sig``; ``owner``'s collection
    cancels it. A signature that cannot be written as JSON finishes at once, not ok."""
    job = _job({"name": module.__name__, "src": module._sg_source}, sig, owner)
    if not job.done:
        _get().submit(job)
    return job


def submit_kernel(src: str, sig: tuple, owner, guess: bool = False,
                  ahead: bool = False) -> GlueJob:
    """Queue the compile of the kernel module with source ``src`` (its ``kernel``) for
    ``sig`` into the shared cache, ahead of any glue job (and, unless ``guess``: types
    guessed before they are known, ahead of every guess; ``ahead``: a kernel only the
    glue will call, after every guess); ``owner``'s collection cancels it. Finished at
    once, not ok, when the worker cannot take it."""
    from symgraph.link.numba.cache import module_key

    job = _job({"kind": "kernel", "name": f"sg_{module_key(src)}", "src": src}, sig, owner)
    if not job.done:
        _get().submit(job, "ahead" if ahead else "guesses" if guess else "kernels")
    return job


def withdraw(job: GlueJob) -> bool:
    """Take back a job the worker has not started (see ``GlueCompiler.withdraw``)."""
    return _get().withdraw(job)


def available() -> bool:
    """Whether jobs sent now can run in the worker (started, or not tried yet)."""
    return not _get().dead


def _generated_deps(src: str, own: str) -> list:
    """Sources of the generated modules ``src`` imports by name (a scan's step module,
    imported by its kernel), each after those it imports itself. The worker loads them
    first: it runs no code generator, so it would not have them otherwise."""
    from symgraph.link.numba.cache import generated_imports

    return [mod._sg_source for mod in generated_imports(src, own)]


# -- the worker -----------------------------------------------------------------------

def _compile(job: dict) -> None:
    from symgraph.config import config
    from symgraph.link.numba import cache
    from symgraph.link.numba.cachefiles import decode_type
    from symgraph.link.numba.executable import NumbaExecutable
    from symgraph.link.numba.fastload import load_or_compile
    from symgraph.link.numba.linker import _register_impls, record_signatures

    config.cache_dir = job["cache_dir"]
    NumbaExecutable.prepare()
    _register_impls()
    for dep in job.get("deps", ()):
        cache.load_module(dep)
    module = cache.load_module(job["src"])
    if module.__name__ != job["name"]:
        raise RuntimeError(f"this installation names the module {module.__name__}, the "
                           f"requester {job['name']} (a different symgraph or Numba)")
    sig = tuple(decode_type(t) for t in job["sig"])
    if job.get("kind") == "kernel":
        load_or_compile(module.kernel, sig)
        return
    load_or_compile(module.graph_fn, sig)
    record_signatures(module)


def prestart() -> None:
    """Start the worker now (it imports Numba while the first plan is built)."""
    c = _get()
    with c.lock:
        if c.proc is None and not c.dead:
            c._start()


def main() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # see GlueCompiler._start
    # replies go to the original stdout; anything compiled code or Numba prints goes to
    # stderr, so it cannot garble the protocol
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        try:
            _compile(json.loads(line))
            reply = {"ok": True}
        except Exception as e:  # noqa: BLE001 - reported; the requester compiles itself
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
