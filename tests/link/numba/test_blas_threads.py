"""The BLAS that compiled functions call runs on one thread (link/numba/blas_threads.py).

Each case runs in a fresh process: the setting is made once per process, when the Numba
backend builds its first function.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import json
    import symgraph, symgraph.tensor as T
    from threadpoolctl import ThreadpoolController
    import scipy.linalg.cython_blas  # noqa: F401
    before = {l.filepath: l.num_threads for l in ThreadpoolController().lib_controllers
              if l.user_api == "blas"}
    x = T.matrix("x")
    f = symgraph.function([x], T.dot(x, x))
    from symgraph.link.numba import blas_threads
    after = {l.filepath: l.num_threads for l in ThreadpoolController().lib_controllers
             if l.user_api == "blas"}
    print(json.dumps({"before": before, "after": after, "changed": blas_threads.CHANGED}))
""")


def _probe(**env):
    full = dict(os.environ, OPENBLAS_NUM_THREADS="2", **env)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=full, timeout=300)
    return proc


def test_scipys_blas_gets_one_thread_and_numpys_is_left_alone():
    proc = _probe()
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["changed"], "no BLAS library of scipy's was found and limited"
    for path, before, now in res["changed"]:
        assert "scipy" in path and now == 1 and res["after"][path] == 1
    limited = {path for path, _, _ in res["changed"]}
    for path, n in res["after"].items():
        if path not in limited:  # e.g. numpy's own OpenBLAS in pip wheels
            assert n == res["before"][path], path


def test_keep_leaves_every_library_alone():
    proc = _probe(SYMGRAPH_BLAS_THREADS="keep")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["changed"] == [] and res["after"] == res["before"]


def test_explicit_count():
    proc = _probe(SYMGRAPH_BLAS_THREADS="2")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["changed"] and all(now == 2 for _, _, now in res["changed"])


@pytest.mark.parametrize("bad", ["zero", "0", "-3"])
def test_bad_setting_is_a_clear_error(bad):
    proc = _probe(SYMGRAPH_BLAS_THREADS=bad)
    assert proc.returncode != 0
    assert f"SYMGRAPH_BLAS_THREADS={bad!r}" in proc.stderr
    assert "positive thread count or 'keep'" in proc.stderr
