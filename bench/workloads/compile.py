"""(e) compile time, each case in a new process (imports not timed):

- cold: ``SYMGRAPH_FLAGS=cache_dir=<new empty dir>``; cached: a second process, same dir;
- the network3 training function (mini-batch 10) and MLP training functions of 1, 2, 4
  and 8 hidden FC(100, ReLU) layers (+ softmax);
- the network3 training function with each optimizer phase excluded
  (``Mode(excluding=[phase])``), cold and cached;
- after network3's cold and cached runs, the same graph with a new value of one setting
  (``eta``, ``lmbda``, the number of mini-batches in the data, the batch size), each in
  a new process on the same cache: what a hyper-parameter sweep pays per trial.

``function_s`` is ``symgraph.function(...)`` (rewrites + code generation);
``first_call_s`` is the first call (Numba JIT compile, or loading from the cache).
Cases run one after another (never in parallel: they would compete for the 2 cores).
"""
from __future__ import annotations

import shutil
import tempfile

from .common import run_child

PHASES = ("canonicalize", "stabilize", "specialize", "fuse", "inplace")

#: one setting changed at a time against the network3 case (eta 0.03, lmbda 0.1, 20
#: mini-batches of 10)
VARIANTS = (("eta", {"eta": 0.1}), ("lmbda", {"lmbda": 0.5}),
            ("number of batches", {"n_batches": 40}), ("batch size", {"bs": 20}))


def _cases(cfg):
    from .training import SMOKE_CONV, SMOKE_MLP
    if cfg.smoke:
        return [("mlp 1 layer", {"kind": "mlp", "bs": 2, "depth": 1, "spec": SMOKE_MLP})]
    out = [("network3 train", {"kind": "convpool", "bs": 10})]
    for d in cfg.pick(None, (1,), (1, 2, 4, 8)):
        out.append((f"mlp {d} layer{'s' if d > 1 else ''}", {"kind": "mlp", "bs": 10, "depth": d}))
    if not cfg.quick:
        for ph in PHASES:
            out.append((f"network3 train excluding {ph}",
                        {"kind": "convpool", "bs": 10, "exclude": ph}))
    _ = SMOKE_CONV
    return out


def run(cfg, systems):
    cases, skipped = [], []
    if "symgraph" not in systems:
        return {"cases": cases, "skipped": [{"case": "*", "system": "symgraph",
                                             "reason": "symgraph not selected"}]}
    for name, args in _cases(cfg):
        d = tempfile.mkdtemp(prefix="symgraph-bench-cache-")
        try:
            env = {"SYMGRAPH_FLAGS": f"floatX=float32,cache_dir={d}"}
            for state in ("cold", "cached"):
                r = run_child("compile", args, env)
                cases.append({"case": name, "system": "symgraph", "cache": state, **r})
            if name == "network3 train" and not cfg.smoke:
                for what, change in VARIANTS:
                    r = run_child("compile", {**args, **change}, env)
                    cases.append({"case": f"{name}, new {what}", "system": "symgraph",
                                  "cache": "cached (other value)", **r})
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return {"cases": cases, "skipped": skipped}
