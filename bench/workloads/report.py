"""Markdown report of a suite run (``docs/benchmarks.md``)."""
from __future__ import annotations


def _ms(s):
    return "" if s is None else f"{s * 1e3:.3g}"


def _us(s):
    return "" if s is None else f"{s * 1e6:.3g}"


def _x(r):
    return "" if r is None else f"{r:.2f}x"


def _f(v, fmt=".2f"):
    return "" if v is None else format(v, fmt)


def _table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _training(res):
    rows = [[c["case"], c["system"], _ms(c["median_s"]),
             f"{_ms(c['p25_s'])}–{_ms(c['p75_s'])}", f"{c['n']}×{c['number']}",
             _f(c["epoch_s"], ".1f"), _x(c.get("ratio_to_symgraph")),
             _f(c.get("compile_function_s")) if "compile_function_s" in c
             else "", _f(c.get("compile_first_call_s", c.get("first_call_s")))]
            for c in res["cases"]]
    return _table(["case", "system", "ms/step (median)", "IQR ms", "samples×steps",
                   "s/60k epoch", "time vs symgraph", "function() s", "first call s"], rows)


def _overhead(res):
    rows = [[c["system"], _us(c["median_s"]), f"{_us(c['p25_s'])}–{_us(c['p75_s'])}",
             f"{c['n']}×{c['number']}", _x(c.get("ratio_to_symgraph")),
             _x(c.get("symgraph_over_this"))] for c in res["cases"]]
    return _table(["what", "µs/call (median)", "IQR µs", "samples×calls",
                   "time vs symgraph", "symgraph vs this"], rows)


def _elemwise(res):
    rows = [[c["case"], c["system"], _ms(c["median_s"]),
             f"{_ms(c['p25_s'])}–{_ms(c['p75_s'])}", _f(c["GB_per_s_read_write"], ".1f"),
             _ms(c.get("copyto_same_process_s")), _x(c.get("ratio_to_copyto")),
             _x(c.get("ratio_to_numpy")), _x(c.get("ratio_to_symgraph"))]
            for c in res["cases"]]
    return _table(["case", "system", "ms (median)", "IQR ms", "GB/s (2N bytes)",
                   "copyto in same process ms", "time vs copyto (same process)",
                   "time vs numpy", "time vs symgraph"], rows)


def _compile(res):
    """symgraph's rows, then each reference system's (JAX, PyTensor's modes), same columns:
    for a reference "function() s" is its builder in ``nets.py`` (PyTensor: graph, grad
    and ``pytensor.function``) and "first call s" its first step (JAX: trace + XLA
    compile); it has no compiled-glue column."""
    order = {"symgraph": 0}
    for c in res["cases"]:
        order.setdefault(c.get("system", "symgraph"), len(order))
    cases = sorted(res["cases"], key=lambda c: order[c.get("system", "symgraph")])
    rows = [[c["case"], c.get("system", "symgraph"), c["cache"], _f(c["function_s"]),
             _f(c["first_call_s"]), _f(c["total_s"]), _f(c.get("glue_ready_s")),
             _f(c["import_s"])] for c in cases]
    return _table(["graph", "system", "cache", "function() s", "first call s", "total s",
                   "compiled glue in place s", "import s (not in total)"], rows)


def _memory(res):
    rows = [[c["case"], c["system"], _f(c["maxrss_after_import_mb"], ".0f"),
             _f(c["maxrss_after_compile_mb"], ".0f"), _f(c["maxrss_after_steps_mb"], ".0f"),
             _f(c["step_rss_growth_mb"], ".1f"), _f(c["tracemalloc_step_peak_mb"], ".2f")]
            for c in res["cases"]]
    return _table(["case", "system", "peak RSS at start MB", "after compile+1 step MB",
                   "after steps MB", "growth in steps MB", "tracemalloc peak MB"], rows)


def _cell(c, unit):
    v = c["median_s"] * (1e3 if unit == "ms" else 1e6)
    r = c.get("ratio_to_symgraph")
    tail = "" if r is None or c["system"] == "symgraph" else f" ({r:.2f}x)"
    return f"{v:.3g} {'µs' if unit == 'us' else unit}" + tail


def headline(out: dict) -> str:
    """One table: median time per system (in parentheses: time / symgraph's)."""
    w = out["workloads"]
    systems = [k for k, v in out["machine"]["systems"].items() if v["installed"]]
    cols = systems + ["np.copyto floor"]
    rows = []
    for name, unit, label in (("convpool", "ms", "network3 step, "), ("mlp", "ms", "MLP step, "),
                              ("overhead", "us", ""), ("elemwise", "ms", "")):
        by_case: dict = {}
        for c in w.get(name, {}).get("cases", []):
            sysname = c["system"]
            if name == "overhead":
                sysname = {"numpy float64 scalars": "numpy", "torch 0-d tensors": "torch",
                           "jax jit (Python floats)": "jax"}.get(sysname, sysname)
                if sysname == "numpy 0-d arrays":
                    by_case.setdefault("hypot call, numpy 0-d arrays", {})["numpy"] = c
                    continue
            key = c["case"] if name != "overhead" else "hypot call (2 Python floats)"
            sysname = "np.copyto floor" if sysname.startswith("np.copyto") else sysname
            by_case.setdefault(key, {})[sysname] = c
        for case, per in by_case.items():
            cells = [(_cell(per[k], unit) if k in per else "—") for k in cols]
            if name in ("convpool", "mlp") and "symgraph" in per:
                case += f" ({per['symgraph']['epoch_s']:.0f} s/epoch symgraph)"
            rows.append([label + case] + cells)
    text = [_table(["workload (median; in parentheses time / symgraph)"] + cols, rows)]
    comp = {(c["case"], c["cache"]): c for c in w.get("compile", {}).get("cases", [])
            if c.get("system", "symgraph") == "symgraph"}
    if comp:
        text.append("")
        text.append(_table(["compile (symgraph)", "cold: function() + first call s",
                            "cached: function() + first call s"],
                           [[case, f"{comp[(case, 'cold')]['function_s']:.2f} + "
                                   f"{comp[(case, 'cold')]['first_call_s']:.2f}",
                             f"{comp[(case, 'cached')]['function_s']:.2f} + "
                             f"{comp[(case, 'cached')]['first_call_s']:.2f}"
                             if (case, "cached") in comp else ""]
                            for case, st in comp if st == "cold"]))
    return "\n".join(text)


RENDER = {"convpool": _training, "mlp": _training, "overhead": _overhead,
          "elemwise": _elemwise, "compile": _compile, "memory": _memory}


def markdown(out: dict) -> str:
    m = out["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`bench/run.py`, workloads in `bench/workloads/`); "
        "raw numbers in `bench/results/suite.json`. Re-run it to regenerate this page: "
        "`python -m bench` (full, < 10 min on 2 cores), `python -m bench --quick` (subset), "
        "`--systems symgraph,numpy,torch,pytensor,jax` (missing ones are skipped with the "
        "reason), `--only convpool,mlp,...`; `pip install -e .[bench]` installs torch "
        "(CPU); PyTensor and JAX are optional.",
        "",
        f"- run level: **{out['level']}**, date (UTC): {m['date_utc']}, commit "
        f"`{(m.get('commit') or '?')[:12]}`, total {out.get('total_seconds', 0):.0f} s",
        f"- machine: {m['cpu_count']} cores, {m['platform']}, Python {m['python']}, "
        f"numpy {m['numpy']}, numba {m['numba']}; torch threads: {m['torch_threads']}",
        (f"- **contention: {m['contention']} busy processes** (`--contention "
         f"{m['contention']}`) ran beside every measurement"
         if m.get("contention") else "- contention: none started by the suite"),
        f"- `uptime` at start: `{m['uptime_at_start']}`",
        f"- `uptime` at end: `{m.get('uptime_at_end', '?')}`",
        ("- **The machine was shared with other engineers' jobs during this run** (load "
         "above the core count): absolute times are inflated and noisy, and as the "
         "systems run one after another in their own processes, a change of load between "
         "them moves the ratios too."
         if m["loadavg_at_start"][0] > 0.75 * (m["cpu_count"] or 1) else
         "- load at start below the core count (machine mostly idle).")
        + " Medians of repeated samples, IQR = 25th–75th percentile.",
        "- systems: " + ", ".join(
            f"{k} {v['version']}" if v["installed"] else f"{k} skipped ({v['skipped']})"
            for k, v in m["systems"].items()),
        "",
        "Ratios \"time vs X\" are this row's time divided by X's (> 1: slower than X).",
        "",
        "## Headline",
        "",
        headline(out),
        "",
    ]
    for name, res in out["workloads"].items():
        lines += [f"## {res.get('title', name)}", ""]
        if res.get("error"):
            lines += [f"**failed:** `{res['error']}`", ""]
        if res["cases"]:
            lines += [RENDER[name](res), ""]
        for s in res.get("skipped", []):
            lines.append(f"- skipped {s['system']} ({s['case']}): {s['reason']}")
        lines += ["", f"_{res['seconds']:.0f} s_", ""]
    lines += [
        "## Notes",
        "",
        "- Processes: each timed workload (a)–(d) runs every system in a fresh Python "
        "process of its own (`bench/workloads/_child.py measure`), one after another; the "
        "process prints one JSON line, and the parent (`bench/run.py`, which times nothing) "
        "computes the ratios. In one shared process torch's and JAX's thread pools (their "
        "OpenMP/Eigen workers spin after each op) starved symgraph's Numba OpenMP threads "
        "on 2 cores: the network3 step measured 33–55 ms there against ~1.4 ms alone. "
        "symgraph's process imports symgraph first (its first function gives libgomp "
        "symgraph's OpenMP spin, for that process only, when numba loads it). On a busy "
        "machine symgraph's compiled calls use fewer threads (`SYMGRAPH_ADAPTIVE_THREADS`); "
        "`bench/contention.py` measures that, quiet and busy back to back "
        "([docs/contention.md](contention.md)). Within one process the samples of its systems are interleaved. "
        "Process start-up (imports) is not timed"
        + (f"; {out['child_processes']} child processes in this run (with (e) and (f))."
           if "child_processes" in out else "."),
        "- (d) reference runs: `np.copyto` (the floor) and numpy, both single-threaded, are "
        "measured in symgraph's process, interleaved with symgraph, so symgraph's \"time vs "
        "copyto\" and \"time vs numpy\" are same-process ratios; torch, JAX and PyTensor "
        "each measure `np.copyto` again in their own process, and their \"time vs copyto\" "
        "divides by that (column \"copyto in same process\"). The floor row shown is "
        "the first process's (symgraph's when it runs); \"time vs numpy\" and \"time vs "
        "symgraph\" of the other systems divide across processes.",
        "- (a)/(b): synthetic data (uniform images, random labels; 20 mini-batches kept in "
        "each system's memory); s/epoch = median step × 60,000 / batch. symgraph's "
        "`function()`/first-call times use the default cache dir (warm if run before); "
        "other systems' \"first call\" is their first step (JAX: trace + XLA compile). "
        "numpy has a hand-written MLP step only; PyTensor 3.x has no batched conv op.",
        "- Under load above the core count, multithreaded BLAS (the dots of symgraph, "
        "numpy and PyTensor) oversubscribes the cores: BLAS-heavy cases (MLP batch 100) "
        "have varied by more than 10x between runs on this machine (load ~5 vs ~3). "
        "Compare runs only at similar load, and prefer the ratios of one run.",
        "- (c): symgraph returns a 0-d array; numpy float64 scalars / 0-d arrays compute "
        "the same expression eagerly.",
        "- (d): symgraph and the others allocate their output; `np.copyto` reads and "
        "writes N elements into a preallocated array (bandwidth floor).",
        "- (e): each case in new processes; cold = empty `cache_dir`, cached = second "
        "process on the same dir. MLP n layers = n hidden FC(100, ReLU) + softmax. "
        "JAX/PyTensor rows (when selected): see `bench/workloads/compile.py` (JAX cached = "
        "its persistent compilation cache; PyTensor cold = a new `base_compiledir`).",
        "- (f): peak RSS (VmHWM) in a fresh process per system (start = numpy imported, "
        "before the system's own import); tracemalloc sees Python/numpy allocations only.",
        "",
    ]
    return "\n".join(lines)
