"""(f) peak memory of a training step, each system in its own process: peak RSS
(``VmHWM`` of /proc/self/status) after the imports, after building/compiling (and one step), and
after ``steps`` more steps; plus the ``tracemalloc`` peak over ``steps`` steps (Python and
numpy allocations only: Numba's runtime and torch/XLA allocate outside it)."""
from __future__ import annotations

import sys

from .common import ChildError, run_child


def run(cfg, systems):
    from .training import SMOKE_CONV
    cases, skipped = [], []
    bs = cfg.pick(2, 10, 10)
    spec = cfg.pick(SMOKE_CONV, None, None)
    steps = cfg.pick(2, 20, 50)
    for sysname in systems:
        if sysname in ("numpy", "pytensor"):
            skipped.append({"case": f"convpool batch {bs}", "system": sysname,
                            "reason": "no ConvPool step for this system (see training)"})
            continue
        try:
            r = run_child("memory", {"system": sysname, "kind": "convpool", "bs": bs,
                                     "spec": spec, "steps": steps},
                          {"SYMGRAPH_FLAGS": "floatX=float32"})
        except ChildError as e:
            print(f"[bench]   {e}", file=sys.stderr, flush=True)
            skipped.append({"case": f"convpool batch {bs}", "system": sysname,
                            "reason": e.reason})
            continue
        cases.append({"case": f"convpool batch {bs}", "system": sysname, **r})
    return {"cases": cases, "skipped": skipped}
