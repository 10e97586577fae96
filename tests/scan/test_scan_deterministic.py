"""The same scan program generates the same code in every process.

Why: generated modules are named after their source, so a source that varies from
process to process (an order taken from a set of variables, which follows their
addresses) is a new module, a new compile and a cache miss in every new process."""
from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = r'''
import numpy as np
import symgraph, symgraph.tensor as T
r = np.random.default_rng(0)
xs = T.tensor3("xs", dtype="float32")
W = symgraph.shared(r.standard_normal((3, 8)).astype("float32"), name="W")
U = symgraph.shared(r.standard_normal((2, 8)).astype("float32"), name="U")
def step(x, h, c):
    z = T.dot(x, W) + T.dot(h, U)
    i, f, o, g = (T.nnet.sigmoid(z[:, :2]), T.nnet.sigmoid(z[:, 2:4]),
                  T.nnet.sigmoid(z[:, 4:6]), T.tanh(z[:, 6:]))
    c2 = f * c + i * g
    return o * T.tanh(c2), c2
h0 = T.zeros((xs.shape[1], 2), dtype="float32")
(hs, cs), _ = symgraph.scan(step, sequences=xs, outputs_info=[h0, h0])
cost = T.sum(hs[-1] ** 2)
f = symgraph.function([xs], cost, updates=[(p, p - 0.1 * g) for p, g in
                                          zip([W, U], T.grad(cost, [W, U]))])
print(f.executable.module.__name__)
'''


def test_a_scan_gradient_generates_the_same_module_in_every_process(tmp_path):
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={tmp_path}")
    names = set()
    for seed in range(4):   # a different heap layout in each process
        env["PYTHONHASHSEED"] = str(seed)
        p = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        names.add(p.stdout.split()[-1])
    assert len(names) == 1, names
