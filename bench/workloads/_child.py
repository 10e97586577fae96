"""Child process of the suite: ``_child.py TASK JSON``; prints one JSON line (the last
line of stdout) that the parent collects. Tasks: ``measure`` (the timed workloads (a)-(d),
one process per workload and system, or symgraph+numpy for (d)), ``compile`` (e) and
``memory`` (f)."""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _maxrss_mb() -> float:
    """Peak RSS of this process in MB: ``VmHWM`` (reset by exec, unlike ``ru_maxrss``,
    which a child inherits from its parent), else ``getrusage``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def compile_task(a):
    t0 = time.perf_counter()
    import symgraph  # noqa: F401
    from bench.workloads import nets
    from symgraph.compile.mode import Mode
    t_import = time.perf_counter() - t0
    mode = Mode(excluding=[a["exclude"]]) if a.get("exclude") else None
    nets.ETA = a.get("eta", nets.ETA)
    nets.LMBDA = a.get("lmbda", nets.LMBDA)
    build, _ = nets.symgraph_net(a["kind"], a["bs"], a.get("spec"), a.get("depth", 1), mode=mode,
                                 n_batches=a.get("n_batches", 20))
    t0 = time.perf_counter()
    f = build()
    t1 = time.perf_counter()
    f(0)
    t2 = time.perf_counter()
    return {"import_s": t_import, "function_s": t1 - t0, "first_call_s": t2 - t1,
            "total_s": t2 - t0}


def memory_task(a):
    import tracemalloc

    from bench.workloads import nets
    base = _maxrss_mb()
    if a["system"] == "symgraph":
        step, _, _ = nets.symgraph_step(a["kind"], a["bs"], a.get("spec"), a.get("depth", 1))
    else:
        step = nets.BUILDERS[a["system"]](a["kind"], a["bs"], a.get("spec"), a.get("depth", 1))
        step(0)
    after_setup = _maxrss_mb()
    for i in range(a["steps"]):
        step(i)
    after_steps = _maxrss_mb()
    tracemalloc.start()
    for i in range(a["steps"]):
        step(i)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"maxrss_after_import_mb": base, "maxrss_after_compile_mb": after_setup,
            "maxrss_after_steps_mb": after_steps,
            "step_rss_growth_mb": after_steps - after_setup,
            "tracemalloc_step_peak_mb": peak / 2**20}


MEASURE = {"convpool": ("training", "measure_convpool"), "mlp": ("training", "measure_mlp"),
           "overhead": ("overhead", "measure"), "elemwise": ("elemwise", "measure")}


def measure_task(a):
    """Time ``a["workload"]`` for ``a["systems"]`` in this process; torch gets 2 threads,
    as recorded in the report (``torch_threads``)."""
    import importlib

    from bench.workloads.common import Config
    if "torch" in a["systems"]:
        import torch
        torch.set_num_threads(2)
    mod, fn = MEASURE[a["workload"]]
    return getattr(importlib.import_module(f"bench.workloads.{mod}"), fn)(
        Config(a["level"]), a["systems"])


if __name__ == "__main__":
    task, args = sys.argv[1], json.loads(sys.argv[2])
    if task == "measure" and "symgraph" in args["systems"]:
        # before torch: symgraph's first function gives libgomp its OpenMP spin when
        # numba loads it (runtime.py); a libgomp loaded by torch first keeps its own
        import symgraph  # noqa: F401
    out = {"compile": compile_task, "memory": memory_task, "measure": measure_task}[task](args)
    print(json.dumps(out))
