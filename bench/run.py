"""symgraph benchmark suite: symgraph against numpy, PyTorch, PyTensor and JAX.

Workloads (``bench/workloads/``): (a) ``convpool`` network3 ConvPool training step, (b)
``mlp`` 784-100-10 training step, (c) ``overhead`` per-call cost of a compiled scalar
function, (d) ``elemwise`` fused elementwise on 10M elements vs numpy and ``np.copyto``,
(e) ``compile`` cold/cached compile times (and with each optimizer phase excluded), (f)
``memory`` peak memory of a training step. A benchmark, not a test: it asserts nothing
about speed.

Every measurement runs in a fresh child process (``bench/workloads/_child.py``), one per
workload and system ((d): symgraph and numpy share one), one after another; this process
only collects their JSON lines and computes the ratios. Sharing one process let torch's and
JAX's spinning worker threads starve symgraph's OpenMP threads. A failed child skips its
systems with the reason (exit status 1).

Usage::

    python -m bench                       # full suite (< 10 min on 2 cores)
    python -m bench --quick               # subset, few repeats (~1 min with warm caches)
    python -m bench --smoke --systems symgraph   # each workload once at tiny size
    python bench/run.py --systems symgraph,torch --only convpool,mlp
    python -m bench --only convpool --contention 2   # with 2 busy processes running
    python bench/contention.py                       # quiet vs busy, back to back

Writes ``bench/results/suite.json`` and ``docs/benchmarks.md`` (``--json``/``--md`` to
change; ``--md ''`` for none). Systems not installed are skipped, with the reason.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import symgraph  # noqa: E402,F401  (changes nothing at import: the children get our environment)

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.workloads import common  # noqa: E402

WORKLOADS = {
    "convpool": ("training", "run_convpool", "(a) network3 ConvPool training step"),
    "mlp": ("training", "run_mlp", "(b) 784-100-10 MLP training step"),
    "overhead": ("overhead", "run", "(c) per-call overhead (hypotenuse of two floats)"),
    "elemwise": ("elemwise", "run", "(d) fused elementwise vs numpy and np.copyto"),
    "compile": ("compile", "run", "(e) compile time, cold and cached"),
    "memory": ("memory", "run", "(f) peak memory of a training step"),
}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def machine(systems: dict) -> dict:
    import numba
    import numpy
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "uptime_at_start": _uptime(),
            "loadavg_at_start": os.getloadavg(), "commit": _commit(),
            "systems": systems, "torch_threads": 2}


def run_workload(w: str, cfg: common.Config, systems: list[str]) -> dict:
    """One workload's result; an exception becomes its ``error`` so the others still run."""
    import importlib
    mod, fn, title = WORKLOADS[w]
    print(f"[bench] {title} ...", flush=True)
    t0, n0 = time.perf_counter(), len(common.CHILDREN)
    try:
        res = getattr(importlib.import_module(f"bench.workloads.{mod}"), fn)(cfg, systems)
    except Exception as e:  # noqa: BLE001 - record it, keep the other workloads
        traceback.print_exc()
        res = {"cases": [], "skipped": [], "error": f"{type(e).__name__}: {e}"}
    res["title"] = title
    res["seconds"] = time.perf_counter() - t0
    res["child_processes"] = len(common.CHILDREN) - n0
    print(f"[bench]   done in {res['seconds']:.1f} s ({res['child_processes']} child "
          f"processes)", flush=True)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    lvl = p.add_mutually_exclusive_group()
    lvl.add_argument("--quick", action="store_true", help="subset, small repeats (~1 min)")
    lvl.add_argument("--smoke", action="store_true",
                     help="each workload once at tiny size (for the smoke test)")
    p.add_argument("--systems", default=",".join(common.SYSTEMS),
                   help="comma-separated subset of " + ",".join(common.SYSTEMS))
    p.add_argument("--only", default=",".join(WORKLOADS),
                   help="comma-separated workloads: " + ",".join(WORKLOADS))
    p.add_argument("--contention", type=int, default=0, metavar="N",
                   help="run the workloads with N CPU-bound processes keeping the cores busy "
                        "(a shared machine); 0 (default): none")
    p.add_argument("--json", default=str(REPO / "bench" / "results" / "suite.json"))
    p.add_argument("--md", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument("--render", metavar="JSON",
                   help="only rewrite the Markdown (--md) from a saved JSON result")
    a = p.parse_args(argv)
    if a.render:
        from bench.workloads.report import markdown
        Path(a.md).write_text(markdown(json.loads(Path(a.render).read_text())))
        return 0
    cfg = common.Config("smoke" if a.smoke else "quick" if a.quick else "full")
    wanted = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in wanted if s not in common.SYSTEMS]
    only = [w.strip() for w in a.only.split(",") if w.strip()]
    bad += [w for w in only if w not in WORKLOADS]
    if bad:
        p.error(f"unknown system/workload {bad}; systems: {common.SYSTEMS}, "
                f"workloads: {list(WORKLOADS)}")
    status, systems = {}, []
    for s in wanted:
        ok, info = common.system_status(s)
        status[s] = {"installed": ok, ("version" if ok else "skipped"): info}
        if ok:
            systems.append(s)
        else:
            print(f"[bench] skipping {s}: {info}", flush=True)
    out = {"level": cfg.level, "machine": machine(status), "workloads": {}}
    out["machine"]["contention"] = a.contention
    t_all = time.perf_counter()
    with common.BusyProcesses(a.contention):
        if a.contention:
            print(f"[bench] {a.contention} busy processes running", flush=True)
        for w in only:
            out["workloads"][w] = run_workload(w, cfg, systems)
    out["total_seconds"] = time.perf_counter() - t_all
    out["child_processes"] = len(common.CHILDREN)
    failed = sum(not c["ok"] for c in common.CHILDREN)
    print(f"[bench] {len(common.CHILDREN)} child processes ({failed} failed), "
          f"{out['total_seconds']:.0f} s in all", flush=True)
    out["machine"]["uptime_at_end"] = _uptime()
    from bench.workloads.report import markdown
    md = markdown(out)
    print(md)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(a.json + ".tmp")
        tmp.write_text(json.dumps(out, indent=1, default=float) + "\n")
        os.replace(tmp, a.json)
    if a.md:
        Path(a.md).write_text(md)
    return 1 if failed or any("error" in r for r in out["workloads"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
