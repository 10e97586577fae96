"""The benchmark suite runs end to end: ``python -m bench --smoke --systems symgraph``
(every workload once, at tiny sizes) writes valid JSON with every workload and a
Markdown report. Guards bench/run.py and bench/workloads/ against rot; it times nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.run import WORKLOADS  # noqa: E402


def test_bench_smoke_writes_every_workload(tmp_path):
    out, md = tmp_path / "suite.json", tmp_path / "benchmarks.md"
    env = dict(os.environ)
    env.pop("SYMGRAPH_FLAGS", None)
    p = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--systems", "symgraph",
                        "--json", str(out), "--md", str(md)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["level"] == "smoke"
    assert set(res["workloads"]) == set(WORKLOADS)
    assert res["machine"]["cpu_count"] and "load average" in res["machine"]["uptime_at_start"]
    for name, w in res["workloads"].items():
        assert "error" not in w, (name, w["error"])
        assert w["cases"], name
        for c in w["cases"]:
            assert c["system"] and c["case"], (name, c)
            for k, v in c.items():
                if k.endswith("_s") and isinstance(v, float):
                    assert v >= 0, (name, k, v)
    sg = [c for c in res["workloads"]["convpool"]["cases"] if c["system"] == "symgraph"]
    assert sg and sg[0]["median_s"] > 0 and sg[0]["epoch_s"] > 0
    assert {c["cache"] for c in res["workloads"]["compile"]["cases"]} == {"cold", "cached"}
    text = md.read_text()
    for w in res["workloads"].values():
        assert w["title"] in text


def test_bench_rejects_unknown_system():
    p = subprocess.run([sys.executable, "-m", "bench", "--systems", "nosuch", "--json", "",
                        "--md", ""], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "nosuch" in p.stderr


def test_bench_run_script_entry_point():
    p = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--quick" in p.stdout and "--systems" in p.stdout


def test_contention_option_starts_and_ends_its_busy_processes():
    from bench.workloads.common import BusyProcesses

    with BusyProcesses(2) as busy:
        pids = [p.pid for p in busy.procs]
        assert len(pids) == 2 and all(p.poll() is None for p in busy.procs)
        states = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for pid in pids] if sys.platform.startswith("linux") else []
        assert all(s in "RS" for s in states), states  # running (or just scheduled out)
    assert not busy.procs
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or sys.platform != "linux"
    p = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert "--contention" in p.stdout
    p = subprocess.run([sys.executable, "bench/contention.py", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--busy" in p.stdout


def test_bench_compile_reference_rows_jax(tmp_path):
    """(e)'s JAX rows at smoke size, alone (``--systems jax``: no symgraph rows run):
    cold without a persistent cache, a process writing it, a process reading it (which
    must find it filled); rendered in the compile table, kept out of symgraph's headline."""
    import pytest
    pytest.importorskip("jax", reason="JAX is an optional reference system")
    from bench.workloads.report import _compile, headline

    out = tmp_path / "refs.json"
    p = subprocess.run([sys.executable, "-m", "bench.workloads.compile", "--level", "smoke",
                        "--systems", "jax", "--json", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text())
    rows = res["workloads"]["compile"]["cases"]
    assert {c["system"] for c in rows} == {"jax"}
    by = {c["cache"]: c for c in rows}
    assert set(by) == {"cold", "cold, writing persistent cache", "cached"}
    assert by["cold, writing persistent cache"]["cache_files_at_start"] == 0
    assert by["cached"]["cache_files_at_start"] > 0
    for c in rows:
        assert c["function_s"] >= 0 and c["first_call_s"] > 0
        assert abs(c["total_s"] - c["function_s"] - c["first_call_s"]) < 1e-6
    assert {"case": "*", "system": "symgraph", "reason": "symgraph not selected"} in \
        res["workloads"]["compile"]["skipped"]
    table = _compile(res["workloads"]["compile"])
    assert table.count("| jax |") == 3
    assert "compile (symgraph)" not in headline(res)
