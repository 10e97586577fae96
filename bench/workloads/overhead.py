"""(c) per-call overhead: the compiled hypotenuse ``sqrt(a**2 + b**2)`` called with two
Python floats, against the same math on numpy float64 scalars and on numpy 0-d arrays
(and torch 0-d tensors, a jitted JAX function, a PyTensor function where installed).
Each system in a fresh process of its own; the ratios are computed in the parent."""
from __future__ import annotations

import numpy as np

from .common import add_ratios, measure_in_children, one_per_system, time_interleaved


def measure(cfg, systems):
    """In a child process: per-call times of each of ``systems`` (numpy: two rows)."""
    fns, skipped = {}, []
    x, y = 3.0, 4.0
    if "symgraph" in systems:
        import symgraph as theano
        import symgraph.tensor as T
        theano.config.numba_glue = "compiled"  # timed: the compiled glue, not the Python tier
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
    cases = [{"case": "hypot call", "system": k, **st} for k, st in res.items()]
    return {"cases": cases, "skipped": skipped}


def run(cfg, systems):
    res = measure_in_children("overhead", cfg, one_per_system(systems))
    add_ratios(res["cases"])
    for c in res["cases"]:
        if c.get("ratio_to_symgraph"):
            c["symgraph_over_this"] = 1 / c["ratio_to_symgraph"]
    return res
