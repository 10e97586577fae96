"""Helpers shared by the workloads: systems, timing statistics, levels, subprocesses."""
from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMS = ("symgraph", "numpy", "torch", "pytensor", "jax")


@dataclass
class Config:
    """Run level: ``smoke`` (each workload once, tiny), ``quick`` (~1 min), ``full``."""
    level: str = "full"

    @property
    def smoke(self) -> bool:
        return self.level == "smoke"

    @property
    def quick(self) -> bool:
        return self.level == "quick"

    def pick(self, smoke, quick, full):
        return {"smoke": smoke, "quick": quick, "full": full}[self.level]


def system_status(name: str) -> tuple[bool, str]:
    """(installed, version or the reason it is skipped)."""
    mod = {"symgraph": "symgraph", "numpy": "numpy", "torch": "torch",
           "pytensor": "pytensor", "jax": "jax"}[name]
    try:
        m = importlib.import_module(mod)
    except Exception as e:  # noqa: BLE001 - any import failure means "skip, with reason"
        return False, f"not installed ({type(e).__name__}: {e})"
    if name == "torch":
        m.set_num_threads(2)
    return True, str(getattr(m, "__version__", "?"))


def stats(samples: list[float], number: int = 1) -> dict:
    """Median and spread of per-call seconds (each sample is a mean over ``number`` calls)."""
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    return {"median_s": statistics.median(s), "p25_s": q[0], "p75_s": q[2], "min_s": s[0],
            "max_s": s[-1], "n": len(s), "number": number}


def time_calls(fn, number: int, repeat: int, warmup: int = 1) -> dict:
    """Statistics of ``repeat`` samples, each the mean time of ``number`` calls of ``fn``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return stats(samples, number)


def time_interleaved(fns: dict, number: int, repeat: int, warmup: int = 1) -> dict:
    """Like ``time_calls`` for several functions, alternating samples so that machine load
    affects them alike; returns ``{name: stats}``."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(number):
                fn()
            samples[k].append((time.perf_counter() - t0) / number)
            cpu[k].append((time.process_time() - c0) / number)
    # cpu_median_s: the process's CPU time (all its threads, spinning ones included) per
    # call: on a busy machine it shows the work done, where wall time shows the share got
    return {k: dict(stats(v, number), cpu_median_s=statistics.median(cpu[k]))
            for k, v in samples.items()}


CHILDREN: list[dict] = []  # every child process this (parent) process ran: task, seconds, ok


class ChildError(RuntimeError):
    """A child process failed, timed out or printed no result; ``reason`` is one line for
    the report (the system is then skipped with it), the message keeps the stderr tail."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "(no output on stderr)"


def reference_env() -> dict:
    """The environment for a child process: this process's, unchanged (``import symgraph``
    changes nothing in it; symgraph tunes its own process when it builds its first
    function, see ``symgraph/link/numba/runtime.py``), so every system's process gets the
    environment the user gave."""
    return dict(os.environ)


BUSY_PROGRAM = "while True:\n    pass\n"


class BusyProcesses:
    """``with BusyProcesses(n):`` keeps ``n`` CPU-bound processes running (a plain Python
    loop each, normal priority), as other jobs on a shared machine do; they are ended, by
    their process ids, when the block ends (``--contention N``)."""

    def __init__(self, n: int):
        self.n = max(0, int(n))
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", BUSY_PROGRAM],
                                               stdin=subprocess.DEVNULL))
        if self.procs:
            time.sleep(0.3)  # let them reach the loop
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs.clear()
        return False


def run_child(task: str, args: dict, env_extra: dict | None = None,
              timeout: float = 600, python: str | None = None) -> dict:
    """Run ``bench/workloads/_child.py task args`` in a new process; its last stdout line
    is JSON. Raises ChildError (with the child's stderr) on failure or timeout. The child
    gets :func:`reference_env` (a symgraph child sets its own settings when it imports
    symgraph)."""
    env = reference_env()
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    what = f"child {task} {json.dumps(args)}"
    log = {"task": task, "seconds": None, "ok": False}
    CHILDREN.append(log)
    t0 = time.perf_counter()
    try:
        p = subprocess.run([python or sys.executable,
                            str(REPO / "bench" / "workloads" / "_child.py"),
                            task, json.dumps(args)], capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=str(REPO))
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        raise ChildError(f"{what} timed out after {timeout:g} s:\n{(err or '')[-3000:]}",
                         f"child process timed out after {timeout:g} s") from None
    finally:
        log["seconds"] = time.perf_counter() - t0
    if p.returncode != 0:
        raise ChildError(f"{what} failed (rc {p.returncode}):\n{p.stderr[-3000:]}",
                         f"child process failed (rc {p.returncode}): {_last_line(p.stderr)}")
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ChildError(f"{what} printed no JSON line:\n{p.stdout[-1000:]}\n"
                         f"{p.stderr[-2000:]}", "child process printed no JSON result") from None
    log["ok"] = True
    return out


def _case_order(cases: list[dict]) -> list[dict]:
    """Cases grouped by case name in first-seen order, systems in run order within a case
    (the children report per system; the tables read per case)."""
    first: dict = {}
    for c in cases:
        first.setdefault(c["case"], len(first))
    return sorted(cases, key=lambda c: first[c["case"]])


def measure_in_children(workload: str, cfg: Config, groups: list[list[str]],
                        timeout: float = 600) -> dict:
    """Measure ``workload`` for each group of systems in a fresh process of its own
    (``_child.py measure``), one after another. In one shared process torch's and JAX's
    spinning worker threads starved symgraph's Numba OpenMP threads on 2 cores (ConvPool
    step 33-55 ms instead of ~1.4 ms). A failed child skips its systems, with the reason."""
    cases, skipped = [], []
    for group in groups:
        t0 = time.perf_counter()
        try:
            r = run_child("measure", {"workload": workload, "level": cfg.level,
                                      "systems": group}, timeout=timeout)
        except ChildError as e:
            print(f"[bench]   {e}", file=sys.stderr, flush=True)
            r = {"cases": [], "skipped": [{"case": "all cases", "system": s,
                                           "reason": e.reason} for s in group]}
        cases += r["cases"]
        skipped += r["skipped"]
        print(f"[bench]   {'+'.join(group)} process: {time.perf_counter() - t0:.1f} s",
              flush=True)
    return {"cases": _case_order(cases), "skipped": skipped}


def one_per_system(systems: list[str]) -> list[list[str]]:
    """Groups for ``measure_in_children``: every system alone in its process."""
    return [[s] for s in systems]


def add_ratios(cases: list[dict], key: str = "median_s") -> None:
    """``ratio_to_symgraph`` = this system's ``key`` / symgraph's for the same case
    (> 1: slower than symgraph)."""
    base = {c["case"]: c[key] for c in cases if c["system"] == "symgraph" and c.get(key)}
    for c in cases:
        if c["case"] in base and c.get(key):
            c["ratio_to_symgraph"] = c[key] / base[c["case"]]
