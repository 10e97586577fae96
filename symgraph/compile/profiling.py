"""Per-node profiling of a compiled function: ``f.profile(*args)``.

Why per node: users need to see which fused kernel or conv dominates a training step.
For the Numba backend each node's jitted function is called on its own (the generated
module keeps them as ``node<k>``); for the py backend each ``perform`` is timed. The
report also lists the optimizer's seconds per phase and the rewrites applied.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from symgraph.graph.basic import Constant


def profile_function(fn, args, kwargs, n_calls: int = 10, file=None) -> str:
    exe = fn.executable
    vals = exe.check(args, kwargs)
    fgraph = fn.fgraph
    order = fgraph.toposort()
    node_fns = [exe.node_function(k) for k in range(len(order))]
    shared_vals = exe.read_shared()
    env = {}
    for v, x in zip(fgraph.inputs, vals):
        env[v] = x
    for v, x in zip(fn.shared_vars, shared_vals):
        env[v] = x
    times = np.zeros(len(order))
    for rep in range(max(1, n_calls) + 1):
        if rep == 1:
            times[:] = 0.0  # the first pass compiled and warmed up
        local = dict(env)
        for k, node in enumerate(order):
            ins = []
            for v in node.inputs:
                if v in local:
                    ins.append(local[v])
                elif isinstance(v, Constant):
                    ins.append(v.data)
            f = node_fns[k]
            if f is not None:
                ins = [i[()] if isinstance(i, np.ndarray) and i.ndim == 0 else i for i in ins]
                t0 = time.perf_counter()
                outs = f(*ins)
                times[k] += time.perf_counter() - t0
                outs = list(outs) if len(node.outputs) > 1 else [outs]
            else:
                from symgraph.link.py.dispatch import py_impl

                impl = py_impl.get(node)
                t0 = time.perf_counter()
                outs = impl(node, ins)
                times[k] += time.perf_counter() - t0
            for o, x in zip(node.outputs, outs):
                if isinstance(x, np.ndarray) and x.ndim == 0:
                    x = x[()]
                local[o] = x
    times /= max(1, n_calls)
    # whole-call time for comparison
    exe.run(vals, shared_vals)
    t0 = time.perf_counter()
    for _ in range(max(1, n_calls)):
        exe.run(vals, shared_vals)
    whole = (time.perf_counter() - t0) / max(1, n_calls)
    total = times.sum()
    lines = [f"Profile of {fn!r}", f"  whole call: {whole * 1e3:.4f} ms "
             f"(sum over nodes called one by one: {total * 1e3:.4f} ms)",
             "  compile: " + ", ".join(f"{k} {v:.3f}s" for k, v in fn.compile_times.items()
                                       if k != "phases"),
             "  rewrite phases: " + ", ".join(f"{k} {v * 1e3:.1f}ms" for k, v in
                                               fn.compile_times.get("phases", {}).items())]
    log = getattr(fgraph, "rewrite_log", None)
    if log is not None and log.applied:
        lines.append("  rewrites applied: " + ", ".join(f"{k} x{v}" for k, v in
                                                         sorted(log.applied.items())))
    lines.append(f"  {'time %':>7} {'ms/call':>10}  node")
    for k in np.argsort(-times):
        node = order[k]
        shapes = []
        for v in node.inputs:
            x = env.get(v) if v in env else None
            shapes.append(str(np.shape(x)) if x is not None else "")
        lines.append(f"  {100 * times[k] / max(total, 1e-12):6.1f}% {times[k] * 1e3:10.4f}  "
                     f"{node.op}")
    text = "\n".join(lines) + "\n"
    (file or sys.stdout).write(text)
    return text
