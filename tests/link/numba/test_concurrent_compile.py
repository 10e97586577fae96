"""Processes compiling the same graph at once on one empty cache all run it.

Why: a process imports a graph module and reads its link table (``extern.py``) before
another process, compiling the same graph, has finished; when the first then loads the
machine code the other cached, that code calls symbols the table it read did not list.
Before ``LinkTable.refresh`` (run before any load from the disk cache) this aborted with
``LLVM ERROR: Symbol not found: sgk...`` or a SIGSEGV, in most rounds of three processes.
"""
import os
import subprocess
import sys
import textwrap
import time

PROGRAM = textwrap.dedent("""
    import numpy as np, symgraph as th, symgraph.tensor as T
    x, y = T.fmatrix("x"), T.ivector("y")
    r = np.random.default_rng(0)
    w = th.shared(r.standard_normal((30, 20)).astype("float32"))
    b = th.shared(np.zeros(20, "float32"))
    v = th.shared(r.standard_normal((20, 10)).astype("float32"))
    h = T.nnet.relu(T.dot(x, w) + b)
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h, v)), y).mean()
    g = T.grad(cost, [w, b, v])
    f = th.function([x, y], cost,
                    updates=[(p, p - np.float32(0.1) * d) for p, d in zip([w, b, v], g)])
    xs, ys = r.random((8, 30), dtype=np.float32), r.integers(0, 10, 8).astype(np.int32)
    costs = [float(f(xs, ys)) for _ in range(3)]
    print(repr(costs))
""")


def test_three_processes_compiling_one_graph_at_once(tmp_path):
    """Two rounds of three processes, started 0.2 s apart (the window of the race)."""
    for round_ in range(2):
        env = dict(os.environ, SYMGRAPH_PROGRESS="0",
                   SYMGRAPH_FLAGS=f"floatX=float32,cache_dir={tmp_path / str(round_)}")
        env.pop("NUMBA_CACHE_DIR", None)
        procs = []
        for _ in range(3):
            procs.append(subprocess.Popen([sys.executable, "-c", PROGRAM], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            time.sleep(0.2)
        outs = [p.communicate(timeout=900) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, (round_, p.returncode, err[-2000:])
        results = {out.strip().splitlines()[-1] for out, _ in outs}
        assert len(results) == 1, results   # the same three costs in every process
