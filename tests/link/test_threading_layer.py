"""``import symgraph`` after something else loaded libgomp (``import torch`` first, in a
notebook) picks Numba's workqueue threading layer; otherwise it leaves Numba's default.

libgomp reads its spin settings once, when loaded; loaded before symgraph could set
``GOMP_SPINCOUNT``, its busy-waiting threads starved BLAS and made a network3 training
step ~20x slower. Each case runs in a fresh process (the layer is chosen once).
"""
import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import sys
    if sys.argv[1] == "libgomp-first":
        import numba.np.ufunc.omppool  # loads libgomp, as torch's import does
    import numba
    import numpy as np
    import symgraph
    import symgraph.tensor as T
    from symgraph.kernels.cpu import conv
    x = np.random.RandomState(0).rand(4, 1, 12, 12).astype("float32")
    w = np.random.RandomState(1).rand(3, 1, 5, 5).astype("float32")
    out = conv.conv2d_forward(x, w, 0, 0, 1, 1, True)  # a prange kernel
    ref = np.zeros((4, 3, 8, 8), "float32")
    wf = w[:, :, ::-1, ::-1]
    for i in range(8):
        for j in range(8):
            ref[:, :, i, j] = np.tensordot(x[:, :, i:i + 5, j:j + 5], wf, ([1, 2, 3], [1, 2, 3]))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    print(symgraph.THREADING_LAYER, numba.threading_layer())
""")


def _run(case):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    r = subprocess.run([sys.executable, "-c", PROGRAM, case], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_libgomp_loaded_first_selects_workqueue():
    assert _run("libgomp-first") == ["workqueue", "workqueue"]


def test_plain_import_keeps_numbas_default_layer():
    chosen, used = _run("plain")
    assert chosen == "None" and used in ("omp", "tbb", "workqueue")
