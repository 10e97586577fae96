"""Numba generator for ``Scan``: the loop runs inside the compiled graph function.

The inner graph is optimized and generated like any graph (``generate_module``), as its
own cached module, so its products call the same BLAS kernels (Dot/Gemm generators) as
the outer graph. The node function generated here allocates the output buffers once,
copies the initial values in, then calls the inner ``graph_fn`` (by symbol) once per step
from compiled code (no Python call per step) and copies each step's values into the buffers
(``copy_into``).
A state kept only for its last value (``store_last``) lives in a ring buffer of ``L`` rows.
"""
from __future__ import annotations

import weakref

import numpy as np

from symgraph.graph.fg import FunctionGraph
from symgraph.link.mode import Mode
from symgraph.link.numba import cache
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.scan_module.op import Scan


def _const_line(k, arr) -> str:
    arr = np.ascontiguousarray(arr)
    return (f"_sg_K{k} = np.frombuffer(bytes.fromhex({arr.tobytes().hex()!r}), "
            f"dtype=np.{arr.dtype.name}).reshape({tuple(arr.shape)!r}).copy()")


def step_module(inputs, outputs, optimize_inner, check_consts=None):
    """Source of a module holding ``graph_fn``, the graph ``inputs -> outputs`` compiled.

    Array constants of the graph become module globals ``_sg_K<k>`` (``_sg_n_consts``
    says how many): a caller passes them after the graph's inputs (:func:`step_entry`),
    and Numba freezes them into the caller's machine code. ``check_consts(arrays)`` may
    refuse them (raise) before the source is written.
    """
    from symgraph.link.numba.linker import generate_module
    from symgraph.rewriting import optimize

    fg = FunctionGraph(inputs, outputs, clone=True)
    if optimize_inner:
        optimize(fg, Mode("numba"))
    src, consts, _ = generate_module(fg, fg.inputs, [])
    if check_consts is not None:
        check_consts(consts)
    lines = [_const_line(k, c) for k, c in enumerate(consts)]
    lines.append(f"_sg_n_consts = {len(consts)}")
    return src + "\n\n" + "\n".join(lines) + "\n"


def step_entry(mod, alias):
    """How a node function calls the inner graph of ``mod`` (:func:`step_module`) as
    ``alias``: ``(constant names to pass after its inputs, import lines, extern)``.

    By symbol (``extern.py``), like the kernels: a linked callee's code is optimized and
    compiled again inside every caller (docs/benchmarks.md, stop 34)."""
    consts = [f"{alias}_K{k}" for k in range(mod._sg_n_consts)]
    imports = tuple(f"from {mod.__name__} import _sg_K{k} as {c}" for k, c in enumerate(consts))
    return consts, imports, (alias, f"{mod.__name__}:graph_fn")


#: op -> {part: generated source} for ops with inner graphs (Scan, LazyIfElse, Map);
#: kept here, not on the op, so the ops stay backend-neutral. Those ops compare by
#: identity, and an entry goes when its op does.
_inner_sources: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inner_source(op, part, build):
    """The generated source of ``op``'s inner graph ``part``, built by ``build()`` once per
    op (generating and optimizing an inner graph costs more than loading its module)."""
    sources = _inner_sources.setdefault(op, {})
    if part not in sources:
        sources[part] = build()
    return sources[part]


def inner_module(op, optimize_inner=True):
    """Import (generating once per op) the module of the scan's step (``graph_fn``)."""
    src = inner_source(op, "step", lambda: step_module(
        op.inner_inputs, op.inner_outputs, optimize_inner and not op.optimized))
    return cache.load_module(src)


#: the message of the one check that guards memory (a sequence read past its end)
_LENGTHS = "n_steps < 0, or a sequence with fewer rows than n_steps"


def _err(op, msg) -> str:
    """A ``raise`` naming the scan but not the line that built it: the kernel module is
    named after its source, and a line (a path) in it would give the same loop built
    from another script, line or folder a kernel of its own to compile. A failed call
    re-runs the user's graph on the numpy reference, whose error names the line."""
    return f"raise ValueError({(f'scan {op.name!r}: ' + msg)!r})"


@numba_impl.register(Scan)
def numba_scan(op, node, ctx):
    mod = inner_module(op)
    step = f"_scan_{mod.__name__}"
    consts, imports, step_extern = step_entry(mod, step)
    n_seqs, n_st, n_nit = op.n_seqs, op.n_states, op.n_nitsot
    seqs = [f"s{k}" for k in range(n_seqs)]
    inits = [f"x{i}" for i in range(n_st)]
    nonseqs = [f"p{k}" for k in range(op.n_nonseqs)]
    L = [op.buffer_len(i) for i in range(n_st)]
    ring = list(op.store_last)
    st_t = [op.inner_outputs[i].type for i in range(n_st)]
    nit_t = [op.inner_outputs[n_st + j].type for j in range(n_nit)]
    # one condition and one raise for the checks that guard memory (a sequence read past
    # its end): each raise is a branch and an exception of its own for Numba to type and
    # lower. Shapes that do not fit are caught by ``copy_into``; either way the failed call
    # is explained by the numpy reference, whose error names the scan, the output, the
    # shapes and the user's line (``Executable.explain``).
    bad = ["(n < 0)"] + [f"({s}.shape[0] < n)" for s in seqs]
    lines = [f"if {' | '.join(bad)}:",
             f"    {_err(op, _LENGTHS)}"]
    for i, x in enumerate(inits):
        rows = L[i] if ring[i] else f"{L[i]} + n"
        shape = f"({rows},) + {x}.shape[1:]" if st_t[i].ndim else f"{rows}"
        lines.append(f"b{i} = np.empty({shape}, dtype={np_dtype(st_t[i].dtype)})")
        # (an initial value with too few rows: a shorter slice, refused by copy_into)
        lines.append(f"_sg_copy_into(b{i}[:{L[i]}], {x}[:{L[i]}])")
    lines.append("ran = n")

    def read(i, k, t):
        if ring[i]:
            return f"b{i}[({t} + {L[i] + k}) % {L[i]}]"
        return f"b{i}[{t} + {L[i] + k}]"

    # one call site of the step: the first step only allocates the per-step outputs'
    # buffers (their row shape is known once it has run). A peeled first step compiled
    # the call, its checks and its copies twice.
    for j in range(n_nit):
        empty = "(" + "0, " * (nit_t[j].ndim + 1) + ")"
        lines.append(f"z{j} = np.empty({empty}, dtype={np_dtype(nit_t[j].dtype)})")
    args = [f"{s}[t]" for s in seqs]
    for i, taps in enumerate(op.state_taps):
        args += [read(i, k, "t") for k in taps]
    args += nonseqs + consts
    body = [f"r = {step}({', '.join(args)})"]
    for i in range(n_st):
        dst = f"b{i}[t % {L[i]}]" if ring[i] else f"b{i}[t + {L[i]}]"
        # (a step value of another shape: refused by copy_into)
        body.append(f"_sg_copy_into({dst}, r[{i}])" if st_t[i].ndim else f"{dst} = r[{i}]")
    if n_nit:
        body.append("if t == 0:")
    for j in range(n_nit):
        v = f"r[{n_st + j}]"
        shape = f"(n,) + {v}.shape" if nit_t[j].ndim else "n"
        body.append(f"    z{j} = np.empty({shape}, dtype={np_dtype(nit_t[j].dtype)})")
    for j in range(n_nit):
        v = f"r[{n_st + j}]"
        body.append(f"_sg_copy_into(z{j}[t], {v})" if nit_t[j].ndim else f"z{j}[t] = {v}")
    if op.until:
        body += [f"if r[{n_st + n_nit}]:", "    ran = t + 1", "    break"]
    lines.append("for t in range(n):")
    lines += ["    " + ln for ln in body]
    rets = []
    for i in range(n_st):
        if ring[i]:
            rets.append(f"b{i}[(ran + {L[i] - 1}) % {L[i]}]" if st_t[i].ndim == 0
                        else f"b{i}[(ran + {L[i] - 1}) % {L[i]}].copy()")
        else:
            rets.append(f"b{i}[:{L[i]} + ran]")
    rets += [f"z{j}[:ran]" for j in range(n_nit)]
    ret = rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ",)"
    lines.append(f"return {ret}")
    params = ["n"] + seqs + inits + nonseqs
    src = f"def {ctx.name}({', '.join(params)}):\n" + indent("\n".join(lines))
    # what the Python tier needs to run this loop itself (``tier_loop.py``): the step's
    # module, the layout above, and the one message of the checks
    loop = {"step": mod.__name__, "n_consts": mod._sg_n_consts, "n_seqs": n_seqs,
            "n_nonseqs": op.n_nonseqs, "taps": [list(t) for t in op.state_taps],
            "ring": ring, "states": [(t.dtype, t.ndim) for t in st_t],
            "nitsot": [(t.dtype, t.ndim) for t in nit_t], "until": op.until,
            "error": f"scan {op.name!r}: {_LENGTHS}"}
    # copy_into by symbol too: compiled once per installation and type, not linked into
    # and optimized again in every scan's node function (docs/benchmarks.md)
    return NumbaCode(src, imports=imports,
                     externs=(("_sg_copy_into", "symgraph.link.numba.helpers:copy_into"),
                              step_extern), loop=loop)
