"""(e) compile time, each case in a new process (imports not timed):

- cold: ``SYMGRAPH_FLAGS=cache_dir=<new empty dir>``; cached: a second process, same dir;
- the network3 training function (mini-batch 10) and MLP training functions of 1, 2, 4
  and 8 hidden FC(100, ReLU) layers (+ softmax);
- the network3 training function with each optimizer phase excluded
  (``Mode(excluding=[phase])``), cold and cached;
- after network3's cold and cached runs, the same graph with a new value of one setting
  (``eta``, ``lmbda``, the number of mini-batches in the data, the batch size), each in
  a new process on the same cache: what a hyper-parameter sweep pays per trial.

``function_s`` is ``symgraph.function(...)`` (rewrites + code generation);
``first_call_s`` is the first call (Numba JIT compile, or loading from the cache; a new
graph's first call runs on the Python tier while its glue compiles in the background);
``glue_ready_s`` is when the compiled glue took over (calls keep coming until then);
- MLPs also as a new graph on a cache that has compiled an MLP one layer deeper (same op
  kinds), tiered (the default) and with ``numba_glue=compiled``.
Cases run one after another (never in parallel: they would compete for the 2 cores).

Reference rows (``jax``/``pytensor`` selected), the same network3 and MLP training
functions built by ``nets.py``'s builders (``_child.py compile_ref``), each in a new process:

- JAX: ``function_s`` is the builder (data to device, ``jax.jit`` wrapper), ``first_call_s``
  the first step (trace + XLA compile + run). cold = no persistent cache; then a process
  that writes JAX's persistent compilation cache (every entry: thresholds 0) to a new dir
  and a second process that reads it (cached); network3 also with each new setting, on
  that cache (a new value is a new program for JAX: the constants are traced in).
- PyTensor, C backend (mode ``CVM``: each op's C code and the C virtual machine, Theano's
  classic default; the whole-graph ``C`` mode fails here, ``Dot``'s C code raises
  NotImplementedError) and Numba backend (``NUMBA``, PyTensor 3.x's default):
  ``function_s`` is graph + grad + ``pytensor.function`` (rewrites, C compilation),
  ``first_call_s`` the first step (Numba's compile or cache load). cold =
  ``PYTENSOR_FLAGS=base_compiledir=<new dir>`` (its C modules and its Numba cache live
  there) and ``NUMBA_CACHE_DIR`` beside it; cached = a second process on the same dir.
  No network3 rows: PyTensor 3.x has no batched 2-D convolution.
  PyTensor pins an older Numba than symgraph's, so its children may run in another
  interpreter: ``BENCH_PYTENSOR_PYTHON`` (as for ``bench/bench_lstm.py``); ``python -m
  bench.workloads.compile --systems jax,pytensor`` runs these rows alone.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

from .common import ChildError, run_child

PHASES = ("canonicalize", "stabilize", "specialize", "fuse", "inplace")

#: one setting changed at a time against the network3 case (eta 0.03, lmbda 0.1, 20
#: mini-batches of 10)
VARIANTS = (("eta", {"eta": 0.1}), ("lmbda", {"lmbda": 0.5}),
            ("number of batches", {"n_batches": 40}), ("batch size", {"bs": 20}))


def _cases(cfg):
    from .training import SMOKE_CONV, SMOKE_MLP
    if cfg.smoke:
        return [("mlp 1 layer", {"kind": "mlp", "bs": 2, "depth": 1, "spec": SMOKE_MLP})]
    out = [("network3 train", {"kind": "convpool", "bs": 10})]
    for d in cfg.pick(None, (1,), (1, 2, 4, 8)):
        out.append((f"mlp {d} layer{'s' if d > 1 else ''}", {"kind": "mlp", "bs": 10, "depth": d}))
    if not cfg.quick:
        for ph in PHASES:
            out.append((f"network3 train excluding {ph}",
                        {"kind": "convpool", "bs": 10, "exclude": ph}))
    _ = SMOKE_CONV
    return out


def _new_graph_rows(name, args):
    """An MLP of ``depth`` layers on a cache that has compiled an MLP one layer deeper
    (the same kinds of op, a new graph: what adding a layer costs), with the default
    tiered glue and with ``numba_glue=compiled``; each on its own cache, filled by a run
    with the same setting (the kernels a user's earlier runs left: with the default
    tiered glue those include the ones its Python tier runs, which a compiled-glue run
    inlines into its glue and never caches as kernels)."""
    out = []
    for glue in ("tiered", "compiled"):
        d = tempfile.mkdtemp(prefix="symgraph-bench-cache-")
        try:
            flags = f"floatX=float32,cache_dir={d}"
            run_child("compile", {**args, "depth": args["depth"] + 1},
                      {"SYMGRAPH_FLAGS": f"{flags},numba_glue={glue}"})
            r = run_child("compile", args, {"SYMGRAPH_FLAGS": f"{flags},numba_glue={glue}"})
            out.append({"case": f"{name}, new graph", "system": "symgraph",
                        "cache": f"kernels cached, numba_glue={glue}", **r})
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return out


#: PyTensor modes measured (mode, label)
PYTENSOR_MODES = (("CVM", "pytensor C (CVM)"), ("NUMBA", "pytensor NUMBA"))


def pytensor_python() -> str:
    """The interpreter for PyTensor's children: ``BENCH_PYTENSOR_PYTHON``, else this one."""
    return os.environ.get("BENCH_PYTENSOR_PYTHON") or sys.executable


def _ref_child(cases, skipped, row, args, env=None, python=None):
    """Run one reference child; a failure becomes a skipped row with its reason."""
    try:
        r = run_child("compile_ref", args, env, python=python)
    except ChildError as e:
        print(f"[bench]   {e}", file=sys.stderr, flush=True)
        skipped.append({"case": row["case"], "system": row["system"],
                        "reason": f"{row['cache']}: {e.reason}"})
        return False
    cases.append({**row, **r})
    return True


def _jax_rows(cfg, cases, skipped):
    for name, args in _cases(cfg):
        if args.get("exclude"):
            continue  # symgraph's optimizer phases
        a = {**args, "system": "jax"}
        _ref_child(cases, skipped, {"case": name, "system": "jax", "cache": "cold"}, a)
        d = tempfile.mkdtemp(prefix="jax-bench-cache-")
        try:
            a = {**a, "cache_dir": d}
            for state in ("cold, writing persistent cache", "cached"):
                _ref_child(cases, skipped, {"case": name, "system": "jax", "cache": state}, a)
            if name == "network3 train" and not cfg.smoke:
                for what, change in VARIANTS:
                    _ref_child(cases, skipped, {"case": f"{name}, new {what}", "system": "jax",
                                                "cache": "cached (other value)"},
                               {**a, **change})
        finally:
            shutil.rmtree(d, ignore_errors=True)


def _pytensor_rows(cfg, cases, skipped):
    py = pytensor_python()
    for name, args in _cases(cfg):
        if args.get("exclude"):
            continue
        if args["kind"] != "mlp":
            for _, label in PYTENSOR_MODES:
                skipped.append({"case": name, "system": label, "reason": "not applicable: "
                                "PyTensor 3.x has no batched 2-D convolution op"})
            continue
        for mode, label in PYTENSOR_MODES:
            d = tempfile.mkdtemp(prefix="pytensor-bench-cache-")
            try:
                env = {"PYTENSOR_FLAGS": f"base_compiledir={d}",
                       "NUMBA_CACHE_DIR": os.path.join(d, "numba-own")}
                for state in ("cold", "cached"):
                    _ref_child(cases, skipped, {"case": name, "system": label, "cache": state},
                               {**args, "system": "pytensor", "mode": mode}, env, py)
            finally:
                shutil.rmtree(d, ignore_errors=True)


def _reference_rows(cfg, systems):
    cases, skipped = [], []
    if "jax" in systems:
        _jax_rows(cfg, cases, skipped)
    if "pytensor" in systems:
        _pytensor_rows(cfg, cases, skipped)
    return {"cases": cases, "skipped": skipped}


def _symgraph_rows(cfg):
    cases = []
    for name, args in _cases(cfg):
        d = tempfile.mkdtemp(prefix="symgraph-bench-cache-")
        try:
            env = {"SYMGRAPH_FLAGS": f"floatX=float32,cache_dir={d}"}
            for state in ("cold", "cached"):
                r = run_child("compile", args, env)
                cases.append({"case": name, "system": "symgraph", "cache": state, **r})
            if args["kind"] == "mlp" and not cfg.smoke:
                cases.extend(_new_graph_rows(name, args))
            if name == "network3 train" and not cfg.smoke:
                for what, change in VARIANTS:
                    r = run_child("compile", {**args, **change}, env)
                    cases.append({"case": f"{name}, new {what}", "system": "symgraph",
                                  "cache": "cached (other value)", **r})
                # a new graph of ops the cache has: network3 with one FC layer more
                r = run_child("compile", {**args, "depth": 2}, env)
                cases.append({"case": f"{name}, one FC layer more (new graph)",
                              "system": "symgraph", "cache": "network3's kernels cached", **r})
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return cases


def run(cfg, systems):
    """symgraph's rows when ``symgraph`` is in ``systems``, the reference rows of ``jax``
    and ``pytensor`` when they are (``--systems jax,pytensor`` runs only those)."""
    cases, skipped = [], []
    if "symgraph" in systems:
        cases += _symgraph_rows(cfg)
    else:
        skipped.append({"case": "*", "system": "symgraph", "reason": "symgraph not selected"})
    refs = [s for s in ("jax", "pytensor") if s in systems]
    if refs:
        r = _reference_rows(cfg, refs)
        cases += r["cases"]
        skipped += r["skipped"]
    return {"cases": cases, "skipped": skipped}


def _interpreter_status(python: str, module: str) -> tuple[bool, str]:
    """(installed, version) of ``module`` in another interpreter, with its Numba."""
    import subprocess
    code = (f"import {module}, numba, sys; "
            f"print({module}.__version__, '(numba', numba.__version__ + ',', sys.executable + ')')")
    p = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    if p.returncode:
        return False, f"not installed in {python}: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
    return True, p.stdout.strip()


def main(argv=None) -> int:
    """(e) alone for the selected systems, also for PyTensor in its own interpreter (which
    ``bench/run.py``'s import check cannot see); writes the suite's JSON format, so
    ``python -m bench --render FILE --md OUT`` renders it."""
    import argparse
    import json
    import time
    from pathlib import Path

    from bench import run as suite

    from . import common
    from .report import _compile
    ap = argparse.ArgumentParser(prog="python -m bench.workloads.compile",
                                 description="compile-time rows of the selected systems")
    ap.add_argument("--systems", default="jax,pytensor")
    ap.add_argument("--level", default="full", choices=("smoke", "quick", "full"))
    ap.add_argument("--pytensor-python", default=None,
                    help="interpreter with PyTensor (default: BENCH_PYTENSOR_PYTHON, else "
                         "this one)")
    ap.add_argument("--json", default=str(common.REPO / "bench" / "results" / "compile_refs.json"))
    a = ap.parse_args(argv)
    if a.pytensor_python:
        os.environ["BENCH_PYTENSOR_PYTHON"] = a.pytensor_python
    wanted = [s.strip() for s in a.systems.split(",") if s.strip()]
    status, systems = {}, []
    for s in wanted:
        ok, info = (_interpreter_status(pytensor_python(), "pytensor") if s == "pytensor"
                    else common.system_status(s))
        status[s] = {"installed": ok, ("version" if ok else "skipped"): info}
        systems += [s] if ok else []
    cfg = common.Config(a.level)
    out = {"level": cfg.level, "machine": suite.machine(status), "workloads": {}}
    out["machine"]["contention"] = 0
    t0 = time.perf_counter()
    out["workloads"]["compile"] = suite.run_workload("compile", cfg, systems)
    out["total_seconds"] = time.perf_counter() - t0
    out["child_processes"] = len(common.CHILDREN)
    out["machine"]["uptime_at_end"] = suite._uptime()
    res = out["workloads"]["compile"]
    print(_compile(res) if res["cases"] else "(no rows)")
    for s in res["skipped"]:
        print(f"- skipped {s['system']} ({s['case']}): {s['reason']}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
    return 1 if any(not c["ok"] for c in common.CHILDREN) else 0


if __name__ == "__main__":
    sys.exit(main())
