"""A first call that fails still records graph_fn's argument types (``<module>.sigs``):
Numba has cached the machine code by then, and a later process must find a complete
cache, not report a missing file on an ordinary path."""
import os
import subprocess
import sys

SCRIPT = """
import numpy as np, symgraph, symgraph.tensor as T
x = T.dmatrix('x'); y = T.dmatrix('y')
f = symgraph.function([x, y], T.dot(x, y) * 2 + 1)
try:
    f(np.ones((2, 3)), np.ones((4, 2)))
except ValueError:
    print('refused')
"""


def test_failed_first_call_leaves_a_complete_cache(tmp_path):
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={tmp_path / 'c'}")
    for _ in range(2):
        r = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "refused" in r.stdout
        assert "Warning" not in r.stderr, r.stderr
    sigs = list((tmp_path / "c" / "numba").glob("*.sigs"))
    assert sigs, "the failed call recorded no signature file"
