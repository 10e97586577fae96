"""``import symgraph`` changes nothing in the process; the Numba backend's tuning happens
when it builds its first function, for this process only (``link/numba/runtime.py``).

Before: the import set ``GOMP_SPINCOUNT`` (inherited by every child process), could set
``NUMBA_THREADING_LAYER`` and called ``mallopt``. Checked in a fresh process: the
environment, Numba's threading-layer setting, whether libgomp is loaded, and glibc's
mmap threshold (a freed 40 MB block is unmapped, so the next one page-faults again,
unless malloc was tuned; counted in 4 KiB pages, numpy's huge-page advice switched off).
"""
import os
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import json, os, resource, sys
    import numpy as np
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:   # numpy 1.x
        from numpy.core.multiarray import _set_madvise_hugepage
    # 4 KiB pages only: numpy asks for huge pages for a large block, and whether the
    # kernel has free 2 MiB pages to give changes from moment to moment (the same
    # unmapped 40 MB block faulted 57 times in one run, thousands in another)
    _set_madvise_hugepage(False)

    def maps():
        return open("/proc/self/maps").read()

    def faults_of_reused_block():
        a = np.ones(10_000_000, "float32"); del a
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = np.ones(10_000_000, "float32"); del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    import numba
    env0, layer0, faults0 = dict(os.environ), numba.config.THREADING_LAYER, faults_of_reused_block()
    import symgraph
    import symgraph.tensor as T
    x = T.dvector("x")
    y = T.exp(x) * 2                      # a graph, not compiled yet
    out = {"env_after_import": {k: v for k, v in os.environ.items() if env0.get(k) != v},
           "layer_changed": numba.config.THREADING_LAYER != layer0,
           "libgomp_after_import": "libgomp" in maps(),
           "faults_untuned": faults0, "faults_after_import": faults_of_reused_block()}
    from symgraph.link.numba import runtime as _rt
    out["malloc_tuned_after_import"] = _rt.STATE.get("malloc_tuned", False)
    f = symgraph.function([x], y)
    f(np.ones(3))
    from symgraph.link.numba import runtime
    out["env_after_call"] = {k: v for k, v in os.environ.items() if env0.get(k) != v}
    out["state"] = runtime.STATE["threads"]
    out["malloc_tuned"] = runtime.STATE["malloc_tuned"]
    out["faults_after_call"] = faults_of_reused_block()
    print(json.dumps(out))
""")


def _run(**env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
           and not k.startswith("MALLOC_")}
    env.update(env_extra)
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    import json
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks /proc and glibc malloc")
def test_import_changes_nothing_and_the_first_function_tunes_this_process_only():
    out = _run()
    assert out["env_after_import"] == {}
    assert not out["layer_changed"] and not out["libgomp_after_import"]
    # malloc untouched by the import (glibc's own dynamic mmap threshold makes a page-fault
    # count after import depend on earlier allocations, so the flag is what is checked)
    assert not out["malloc_tuned_after_import"], out
    # the first compiled function: spin given to libgomp, but not left in the environment
    assert out["env_after_call"] == {}
    layer = out["state"]["layer"]
    assert out["state"]["spin"] == ("30000" if layer == "omp" else None), out
    assert out["malloc_tuned"] and out["faults_after_call"] < 50, out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks /proc and glibc malloc")
def test_opt_outs_are_respected():
    out = _run(GOMP_SPINCOUNT="1000", SYMGRAPH_MALLOC_REUSE="0")
    assert out["state"]["spin"] is None and out["state"]["user_spin"]
    assert not out["malloc_tuned"] and out["faults_after_call"] > 200, out
    assert out["env_after_call"] == {}
