"""Child process of the suite: ``_child.py TASK JSON``; prints one JSON line (the last
line of stdout) that the parent collects. Tasks: ``measure`` (the timed workloads (a)-(d),
one process per workload and system, or symgraph+numpy for (d)), ``compile`` (e),
``compile_ref`` (e)'s reference systems (JAX, PyTensor) and ``memory`` (f)."""
from __future__ import annotations

import json
import os
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
    # a new graph's first calls run on the Python tier while its glue compiles in the
    # background (symgraph/link/numba/tiered.py): when the compiled glue took over
    exe = f.executable
    calls = 1
    while getattr(exe, "tiered", False) and time.perf_counter() - t0 < 600:
        f(calls % 20)
        calls += 1
        time.sleep(0.002)
    ready = time.perf_counter() - t0
    return {"import_s": t_import, "function_s": t1 - t0, "first_call_s": t2 - t1,
            "total_s": t2 - t0, "glue_ready_s": ready, "calls_before_ready": calls}


def compile_ref_task(a):
    """A reference system's training function built and first run in this new process:
    ``a["system"]`` is ``jax`` (``a["cache_dir"]``: JAX's persistent compilation cache
    there, every entry kept; none: no persistent cache) or ``pytensor`` (``a["mode"]``;
    its caches are wherever ``PYTENSOR_FLAGS`` put them). ``function_s`` is the builder
    of ``nets.py`` (data, graph, and for PyTensor ``pytensor.function``: rewrites and C
    compilation or the Numba linker's set-up); ``first_call_s`` is the first step (JAX:
    trace + XLA compile + run, as ``jax.jit`` compiles on its first call; PyTensor NUMBA:
    Numba's compile or cache load)."""
    from bench.workloads import nets
    t0 = time.perf_counter()
    if a["system"] == "jax":
        import jax
        if a.get("cache_dir"):
            jax.config.update("jax_compilation_cache_dir", a["cache_dir"])
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        version, kw = jax.__version__, {}
    else:
        import pytensor
        version, kw = pytensor.__version__, {"mode": a["mode"]}
    t_import = time.perf_counter() - t0
    # what the cache held when this process started (a cached row must find it filled)
    cache = a.get("cache_dir") if a["system"] == "jax" else (
        str(pytensor.config.base_compiledir))
    entries = sum(len(fs) for _, _, fs in os.walk(cache)) if cache else 0
    nets.ETA = a.get("eta", nets.ETA)
    nets.LMBDA = a.get("lmbda", nets.LMBDA)
    t0 = time.perf_counter()
    step = nets.BUILDERS[a["system"]](a["kind"], a["bs"], a.get("spec"), a.get("depth", 1),
                                      n_batches=a.get("n_batches", 20), **kw)
    t1 = time.perf_counter()
    step(0)
    t2 = time.perf_counter()
    out = {"import_s": t_import, "function_s": t1 - t0, "first_call_s": t2 - t1,
           "total_s": t2 - t0, "version": version, "cache_files_at_start": entries}
    if a["system"] == "pytensor":
        out["linker"] = type(pytensor.compile.mode.get_mode(a["mode"]).linker).__name__
    return out


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


def throughput_task(a):
    """Steps of ``a["workload"]`` (network3 or the MLP) for each batch in ``a["batches"]``,
    one system, run back to back for ``a["seconds"]`` after ``a["warm"]`` seconds: the
    mean time per step (what an epoch takes) and the median. On a busy machine the
    scheduler moves a process between cores shared with others within a second, so a
    short median catches one of those moments; the mean over seconds is the throughput
    (``bench/contention.py``)."""
    import statistics

    from bench.workloads import nets
    system = a["system"]
    if system == "torch":
        import torch
        torch.set_num_threads(2)
    cases = []
    for bs in a["batches"]:
        if system == "symgraph":
            step = nets.symgraph_step(a["workload"], bs)[0]
        else:
            step = nets.BUILDERS[system](a["workload"], bs)
        i, t_end = 0, time.perf_counter() + a["warm"]
        while time.perf_counter() < t_end:
            step(i)
            i += 1
        times = []
        c0, t0 = time.process_time(), time.perf_counter()
        t_end = t0 + a["seconds"]
        while True:
            t = time.perf_counter()
            step(i)
            i += 1
            now = time.perf_counter()
            times.append(now - t)
            if now >= t_end:
                break
        wall = time.perf_counter() - t0
        cases.append({"batch": bs, "steps": len(times), "mean_s": wall / len(times),
                      "median_s": statistics.median(times),
                      "cpu_mean_s": (time.process_time() - c0) / len(times)})
    return {"cases": cases}


if __name__ == "__main__":
    task, args = sys.argv[1], json.loads(sys.argv[2])
    if task in ("measure", "throughput") and "symgraph" in args.get("systems",
                                                                  [args.get("system")]):
        # before torch: symgraph's first function gives libgomp its OpenMP spin when
        # numba loads it (runtime.py); a libgomp loaded by torch first keeps its own
        import symgraph  # noqa: F401
    out = {"compile": compile_task, "compile_ref": compile_ref_task, "memory": memory_task,
           "measure": measure_task, "throughput": throughput_task}[task](args)
    print(json.dumps(out))
