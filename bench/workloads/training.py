"""(a) network3 ConvPool training step and (b) 784-100-10 MLP training step.

Time per SGD step (median of ``repeat`` samples, each the mean of ``number`` steps) and the
derived seconds per 60,000-image epoch; each system in a fresh process of its own
(``common.measure_in_children``), the ratios computed here in the parent. symgraph's
``function()`` and first-call (Numba JIT or cache load; the default cache dir, so possibly
warm) times are reported separately, as is JAX's first (tracing + XLA compile) call.
"""
from __future__ import annotations

import time

from . import nets
from .common import add_ratios, measure_in_children, one_per_system, time_interleaved

SMOKE_CONV = {"img": 12, "filters": 2, "k": 5, "hidden": 8, "classes": 10}
SMOKE_MLP = {"n_in": 16, "hidden": 8, "classes": 10}
#: seconds each step runs before it is timed (levels quick and full)
WARM_S = 0.5


def _measure(kind, cfg, systems):
    """In a child process: time the step of each of ``systems`` (normally one)."""
    cases, skipped = [], []
    spec = cfg.pick(SMOKE_CONV if kind == "convpool" else SMOKE_MLP, None, None)
    batches = cfg.pick([2], [10, 100], [10, 100])
    for bs in batches:
        case = f"{kind} batch {bs}"
        steps, extra = {}, {}
        for sysname in systems:
            try:
                if sysname == "symgraph":
                    step, fn_s, first_s = nets.symgraph_step(kind, bs, spec)
                    extra[sysname] = {"compile_function_s": fn_s, "compile_first_call_s": first_s}
                else:
                    step = nets.BUILDERS[sysname](kind, bs, spec)
                    t0 = time.perf_counter()
                    step(0)
                    extra[sysname] = {"first_call_s": time.perf_counter() - t0}
                steps[sysname] = step
            except NotImplementedError as e:
                skipped.append({"case": case, "system": sysname, "reason": str(e)})
        counter = {k: 0 for k in steps}

        def call(k, step):
            def f():
                counter[k] += 1
                step(counter[k])
            return f
        number = cfg.pick(1, max(1, 100 // bs), max(2, 400 // bs))
        repeat = cfg.pick(1, 3, 7)
        # steady state, as in a training run: every system steps for a while before it is
        # timed (symgraph's per-function thread count settles by measurement meanwhile:
        # kernels/cpu/threads.py, CallTuner)
        for k, s in steps.items():
            f, t_end = call(k, s), time.perf_counter() + cfg.pick(0.0, WARM_S, WARM_S)
            while time.perf_counter() < t_end:
                f()
        res = time_interleaved({k: call(k, s) for k, s in steps.items()}, number, repeat)
        for k, st in res.items():
            cases.append({"case": case, "system": k, "batch": bs, **st, **extra[k],
                          "epoch_s": st["median_s"] * nets.EPOCH_BATCHES_OF / bs})
    return {"cases": cases, "skipped": skipped}


def measure_convpool(cfg, systems):
    return _measure("convpool", cfg, systems)


def measure_mlp(cfg, systems):
    return _measure("mlp", cfg, systems)


def _run(kind, cfg, systems):
    res = measure_in_children(kind, cfg, one_per_system(systems))
    add_ratios(res["cases"])
    return res


def run_convpool(cfg, systems):
    return _run("convpool", cfg, systems)


def run_mlp(cfg, systems):
    return _run("mlp", cfg, systems)
