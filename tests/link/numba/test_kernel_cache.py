"""A graph that links the hand-written parallel kernels runs again from the disk cache.

Numba crashed (segfault) when a cached function calling cached ``prange`` kernels was
loaded from its cache in a new process before the threading layer had started (numba
#8578); the linker now starts it first. Cold, then cached, each in a fresh process.
"""
import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import numpy as np, symgraph, symgraph.tensor as T
    from symgraph.tensor.nnet import conv2d
    from symgraph.tensor.signal import pool
    from symgraph.link.numba import linker
    r = np.random.RandomState(0)
    x = T.ftensor4("x")
    y = T.ivector("y")
    w = symgraph.shared(r.randn(3, 1, 3, 3).astype("float32"), name="w")
    h = T.nnet.relu(pool.pool_2d(conv2d(x, w), ws=(2, 2), ignore_border=True))
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(h.flatten(2)), y).mean()
    f = symgraph.function([x, y], [cost, T.grad(cost, w)])
    src = f.executable.module.__loader__.get_data(f.executable.module.__file__).decode()
    assert "from symgraph.kernels.cpu" in src and "kcall_" not in src  # linked, no objmode
    c, g = f(r.rand(2, 1, 8, 8).astype("float32"), np.array([1, 4], "int32"))
    print(f"{float(c):.6f} {float(abs(g).sum()):.6f}")
""")


def test_kernel_graph_runs_cold_then_from_the_cache(tmp_path):
    env = {**os.environ, "SYMGRAPH_FLAGS": f"cache_dir={tmp_path}"}
    outs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                           timeout=600, env=env)
        assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
        outs.append(r.stdout.split())
    assert outs[0] == outs[1] and len(outs[0]) == 2
