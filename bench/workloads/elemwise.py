"""(d) fused elementwise on N float32 / float64 elements (N = 10,000,000 in the full run):

- transcendental: ``y = exp(-x**2) * sin(x) + 1 / (1 + exp(-x))``
- memory-bound:   ``y = 2.5 * x + 1.0``

symgraph (one compiled function, fused by the optimizer, allocating its output) vs numpy
(temporaries per operation) vs torch eager, JAX jit, PyTensor where installed, and
``np.copyto(dst, src)`` (read N + write N: the memory-bandwidth floor). Ratios are given
to copyto (``ratio_to_copyto``) and to numpy (``ratio_to_numpy``).

Processes: symgraph, numpy and the copyto floor in one (numpy and copyto are single-threaded
and leave symgraph's threads alone, so symgraph's ratios to them are same-process ones);
torch, JAX and PyTensor each in their own, which measures copyto again:
``ratio_to_copyto`` always divides by the floor of the row's own process
(``copyto_same_process_s``). The floor row reported is the first process's.
"""
from __future__ import annotations

import numpy as np

from .common import add_ratios, measure_in_children, one_per_system, time_interleaved

FLOOR = "np.copyto (floor)"


def _np_trans(x):
    return np.exp(-x ** 2) * np.sin(x) + 1 / (1 + np.exp(-x))


def _np_mem(x):
    return 2.5 * x + 1.0


def measure(cfg, systems):
    """In a child process: copyto and each of ``systems``, interleaved, per case."""
    n = cfg.pick(10_000, 2_000_000, 10_000_000)
    cases, skipped = [], []
    for dtype in ("float32", "float64"):
        x = np.random.default_rng(0).standard_normal(n).astype(dtype)
        dst = np.empty_like(x)
        for expr in ("transcendental", "memory-bound"):
            fns = {FLOOR: lambda: np.copyto(dst, x)}
            ref = (_np_trans if expr == "transcendental" else _np_mem)(x)
            if "symgraph" in systems:
                import symgraph as theano
                import symgraph.tensor as T
                theano.config.numba_glue = "compiled"  # timed: the compiled glue
                v = T.vector("x", dtype=dtype)
                e = (T.exp(-v ** 2) * T.sin(v) + 1 / (1 + T.exp(-v))
                     if expr == "transcendental" else 2.5 * v + 1.0)
                f = theano.function([v], e)
                out = f(x)
                assert out.dtype == x.dtype and np.allclose(out, ref, rtol=1e-4, atol=1e-5)
                fns["symgraph"] = lambda f=f: f(x)
            if "numpy" in systems:
                fns["numpy"] = (lambda: _np_trans(x)) if expr == "transcendental" else (
                    lambda: _np_mem(x))
            if "torch" in systems:
                import torch
                tx = torch.from_numpy(x)
                fns["torch"] = (lambda: torch.exp(-tx ** 2) * torch.sin(tx) + 1 / (
                    1 + torch.exp(-tx))) if expr == "transcendental" else (lambda: 2.5 * tx + 1.0)
            if "jax" in systems:
                import jax
                import jax.numpy as jnp
                if dtype == "float64" and not jax.config.read("jax_enable_x64"):
                    skipped.append({"case": f"{expr} {dtype}", "system": "jax",
                                    "reason": "jax runs float32 only unless jax_enable_x64 "
                                              "is set at start-up"})
                else:
                    jfun = jax.jit((lambda a: jnp.exp(-a ** 2) * jnp.sin(a) + 1 / (
                        1 + jnp.exp(-a))) if expr == "transcendental" else (
                        lambda a: 2.5 * a + 1.0))
                    jx = jax.device_put(x)
                    fns["jax"] = lambda jfun=jfun, jx=jx: jfun(jx).block_until_ready()
            if "pytensor" in systems:
                import pytensor
                import pytensor.tensor as pt
                pv = pt.vector("x", dtype=dtype)
                pe = (pt.exp(-pv ** 2) * pt.sin(pv) + 1 / (1 + pt.exp(-pv))
                      if expr == "transcendental" else 2.5 * pv + 1.0)
                pf = pytensor.function([pv], pe)
                fns["pytensor"] = lambda pf=pf: pf(x)
            res = time_interleaved(fns, cfg.pick(1, 2, 2), cfg.pick(1, 5, 5))
            floor = res[FLOOR]["median_s"]
            for k, st in res.items():
                cases.append({"case": f"{expr} {dtype} n={n}", "system": k, **st,
                              "ratio_to_copyto": st["median_s"] / floor,
                              "copyto_same_process_s": floor,
                              "GB_per_s_read_write": 2 * x.nbytes / st["median_s"] / 1e9})
            del fns
    return {"cases": cases, "skipped": skipped}


def _groups(systems):
    """symgraph with numpy (the reference process) first, then one process per other."""
    ref = [s for s in ("symgraph", "numpy") if s in systems]
    return ([ref] if ref else []) + one_per_system([s for s in systems if s not in ref])


def _one_floor_row(cases):
    """Each case's first floor row (the reference process's); the other processes' floors
    stay in their rows as ``copyto_same_process_s``."""
    seen, out = set(), []
    for c in cases:
        if c["system"] == FLOOR:
            if c["case"] in seen:
                continue
            seen.add(c["case"])
        out.append(c)
    return out


def run(cfg, systems):
    res = measure_in_children("elemwise", cfg, _groups(systems))
    cases = _one_floor_row(res["cases"])
    npy = {c["case"]: c["median_s"] for c in cases if c["system"] == "numpy"}
    for c in cases:
        if c["case"] in npy:
            c["ratio_to_numpy"] = c["median_s"] / npy[c["case"]]
    add_ratios(cases)
    res["cases"] = cases
    return res
