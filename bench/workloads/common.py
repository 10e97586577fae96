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
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[k].append((time.perf_counter() - t0) / number)
    return {k: stats(v, number) for k, v in samples.items()}


def run_child(task: str, args: dict, env_extra: dict | None = None,
              timeout: float = 600) -> dict:
    """Run ``bench/workloads/_child.py task args`` in a new process; its last stdout line
    is JSON. Raises RuntimeError with the child's stderr on failure."""
    env = dict(os.environ)
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, str(REPO / "bench" / "workloads" / "_child.py"), task,
                        json.dumps(args)], capture_output=True, text=True, env=env,
                       timeout=timeout, cwd=str(REPO))
    if p.returncode != 0:
        raise RuntimeError(f"child {task} {args} failed (rc {p.returncode}):\n"
                           f"{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def add_ratios(cases: list[dict], key: str = "median_s") -> None:
    """``ratio_to_symgraph`` = this system's ``key`` / symgraph's for the same case
    (> 1: slower than symgraph)."""
    base = {c["case"]: c[key] for c in cases if c["system"] == "symgraph" and c.get(key)}
    for c in cases:
        if c["case"] in base and c.get(key):
            c["ratio_to_symgraph"] = c[key] / base[c["case"]]
