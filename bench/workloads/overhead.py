"""(c) per-call overhead: the compiled hypotenuse ``sqrt(a**2 + b**2)`` called with two
Python floats, against the same math on numpy float64 scalars and on numpy 0-d arrays
(and torch 0-d tensors, a jitted JAX function, a PyTensor function where installed)."""
from __future__ import annotations

import numpy as np

from .common import time_interleaved


def run(cfg, systems):
    fns, skipped = {}, []
    x, y = 3.0, 4.0
    if "symgraph" in systems:
        import symgraph as theano
        import symgraph.tensor as T
        a, b = T.dscalars("a", "b")
        f = theano.function([a, b], T.sqrt(a ** 2 + b ** 2))
        assert float(f(x, y)) == 5.0
        fns["symgraph"] = lambda: f(x, y)
    if "numpy" in systems:
        sqrt, f64 = np.sqrt, np.float64
        fns["numpy float64 scalars"] = lambda: sqrt(f64(x) ** 2 + f64(y) ** 2)
        a0, b0 = np.array(x), np.array(y)
        fns["numpy 0-d arrays"] = lambda: sqrt(a0 ** 2 + b0 ** 2)
    if "torch" in systems:
        import torch
        ta, tb = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        fns["torch 0-d tensors"] = lambda: torch.sqrt(ta ** 2 + tb ** 2)
    if "jax" in systems:
        import jax
        import jax.numpy as jnp
        jf = jax.jit(lambda p, q: jnp.sqrt(p ** 2 + q ** 2))
        fns["jax jit (Python floats)"] = lambda: jf(x, y).block_until_ready()
    if "pytensor" in systems:
        import pytensor
        import pytensor.tensor as pt
        pa, pb = pt.dscalars("a", "b")
        pf = pytensor.function([pa, pb], pt.sqrt(pa ** 2 + pb ** 2))
        fns["pytensor"] = lambda: pf(x, y)
    number = cfg.pick(200, 1000, 2000)
    repeat = cfg.pick(1, 5, 15)
    res = time_interleaved(fns, number, repeat, warmup=cfg.pick(1, 100, 200))
    cases = []
    base = res.get("symgraph", {}).get("median_s")
    for k, st in res.items():
        c = {"case": "hypot call", "system": k, **st}
        if base:
            c["ratio_to_symgraph"] = st["median_s"] / base
            c["symgraph_over_this"] = base / st["median_s"]
        cases.append(c)
    return {"cases": cases, "skipped": skipped}
