"""Numba generators for the shape ops of ``symgraph.tensor.shape_ops``: Shape_i,
MakeVector, Reshape, Rebroadcast, SpecifyShape, Join, Split, Alloc, ARange, Eye, Flip,
Repeat. (``Shape`` itself is registered in ``reduce.py``.)

Reshape copies a non-contiguous input first (``np.ascontiguousarray``) and is a view of a
contiguous one. Error paths raise ValueError with a constant message naming the op; the
compiled function then re-runs the py backend to report the shapes.
"""
from __future__ import annotations

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.shape_ops import (
    Alloc,
    ARange,
    Eye,
    Flip,
    Join,
    MakeVector,
    Rebroadcast,
    Repeat,
    Reshape,
    Shape_i,
    SpecifyShape,
    Split,
)


def _fn(ctx, params, lines):
    return NumbaCode(f"def {ctx.name}({', '.join(params)}):\n" + indent("\n".join(lines)))


def _tuple(items):
    return "(" + "".join(f"{i}, " for i in items) + ")"


def _idx(nd, axis, what):
    """Index text selecting ``what`` along ``axis`` and everything elsewhere."""
    return ", ".join(what if d == axis else ":" for d in range(nd))


def _msg(op, text):
    return repr(f"{op}: {text}")


@numba_impl.register(Shape_i)
def numba_shape_i(op, node, ctx):
    return _fn(ctx, ["x"], [f"return np.int64(x.shape[{op.i}])"])


@numba_impl.register(MakeVector)
def numba_make_vector(op, node, ctx):
    n = len(node.inputs)
    params = [f"a{k}" for k in range(n)]
    lines = [f"out = np.empty({n}, dtype={np_dtype(op.dtype)})"]
    lines += [f"out[{k}] = a{k}" for k in range(n)]
    lines.append("return out")
    return _fn(ctx, params, lines)


@numba_impl.register(Reshape)
def numba_reshape(op, node, ctx):
    nd = op.ndim
    x, shp = node.inputs
    dt = x.type.dtype
    lines = []
    if x.type.ndim == 0:
        lines.append("size = 1")
        lines.append(f"a = np.empty(1, dtype={np_dtype(dt)})")
        lines.append("a[0] = x")
    else:
        lines.append("size = x.size")
    bad = _msg(op, "cannot reshape: the input size does not match the new shape")
    if nd == 0:
        lines.append(f"if shp.shape[0] != 0 or size != 1: raise ValueError({bad})")
        lines.append("return x" if x.type.ndim == 0
                     else "return np.ascontiguousarray(x).ravel()[0]")
        return _fn(ctx, ["x", "shp"], lines)
    # a constant target shape is read from its argument like any other, not written
    # into the source: the same graph at another batch size is then the same code. Its
    # checks and its -1 go to a helper by symbol, the copy and the view too: Numba's n-d
    # copy and reshape were most of the kernel's compile time (0.15-0.3 s for each
    # Reshape node of a new graph), then the checks, a branch and a raise per dimension
    lines.append(f"s = _sg_reshape_target(size, shp, {nd})")
    src = "a" if x.type.ndim == 0 else "x"
    lines.append(f"return _sg_reshape({src}, {_tuple(f's[{d}]' for d in range(nd))})")
    return NumbaCode(f"def {ctx.name}(x, shp):\n" + indent("\n".join(lines)),
                     externs=(("_sg_reshape", "symgraph.link.numba.helpers:reshape_contiguous"),
                              ("_sg_reshape_target", "symgraph.link.numba.helpers:reshape_target")))


@numba_impl.register(Rebroadcast)
def numba_rebroadcast(op, node, ctx):
    lines = []
    for a, b in op.axis:
        if b:
            msg = _msg(op, f"dimension {a} is marked broadcastable but its length is not 1")
            lines.append(f"if x.shape[{a}] != 1: raise ValueError({msg})")
    lines.append("return x")
    return _fn(ctx, ["x"], lines)


@numba_impl.register(SpecifyShape)
def numba_specify_shape(op, node, ctx):
    nd = node.inputs[0].type.ndim
    params = ["x"] + [f"s{d}" for d in range(nd)]
    lines = []
    for d in range(nd):
        msg = _msg(op, f"dimension {d} of the input does not have the specified length")
        lines.append(f"if x.shape[{d}] != s{d}: raise ValueError({msg})")
    lines.append("return x")
    return _fn(ctx, params, lines)


@numba_impl.register(Join)
def numba_join(op, node, ctx):
    """Each input goes to its block of the output through ``helpers.join_block`` (by
    symbol: one flat copy per index of the axes before ``axis``). Why not loops here:
    they were a flat copy and an element loop per input, most of the kernel's compile
    (docs/benchmarks.md); why flat copies at all: the element loop indexes both arrays in
    n-d and does not vectorize; in an LSTM's batch-100 backward loop it cost twice the
    flat copy."""
    n = len(node.inputs)
    nd = node.outputs[0].type.ndim
    ax = op.axis
    dt = node.outputs[0].type.dtype
    params = [f"x{k}" for k in range(n)]
    lines = []
    msg = _msg(op, f"all input dimensions except axis {ax} must match")
    # one condition and one raise (each raise is code of its own for Numba)
    bad = [f"(x{k}.shape[{d}] != x0.shape[{d}])" for k in range(1, n)
           for d in range(nd) if d != ax]
    if bad:
        lines.append(f"if {' | '.join(bad)}: raise ValueError({msg})")
    lines.append("n = " + " + ".join(f"x{k}.shape[{ax}]" for k in range(n)))
    shape = [("n" if d == ax else f"x0.shape[{d}]") for d in range(nd)]
    lines.append(f"out = np.empty({_tuple(shape)}, dtype={np_dtype(dt)})")
    lines.append("p = 0")
    for k in range(n):
        lines += [f"_sg_join_block(out, x{k}, {ax}, p)", f"p += x{k}.shape[{ax}]"]
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}({', '.join(params)}):\n" + indent("\n".join(lines)),
                     externs=(("_sg_join_block", "symgraph.link.numba.helpers:join_block"),))


@numba_impl.register(Split)
def numba_split(op, node, ctx):
    n = op.n_splits
    nd = node.inputs[0].type.ndim
    ax = op.axis
    lines = [f"if splits.shape[0] != {n}: raise ValueError("
             f"{_msg(op, f'expected {n} split sizes')})",
             "t = 0",
             f"for i in range({n}):",
             f"    if splits[i] < 0: raise ValueError({_msg(op, 'negative split size')})",
             "    t += splits[i]",
             f"if t != x.shape[{ax}]: raise ValueError("
             f"{_msg(op, 'the split sizes do not sum to the length of the axis')})",
             "p0 = 0"]
    for k in range(n):
        lines.append(f"p{k + 1} = p{k} + splits[{k}]")
    outs = [f"x[{_idx(nd, ax, f'p{k}:p{k + 1}')}]" for k in range(n)]
    lines.append("return " + (outs[0] if n == 1 else _tuple(outs)))
    return _fn(ctx, ["x", "splits"], lines)


@numba_impl.register(Alloc)
def numba_alloc(op, node, ctx):
    value = node.inputs[0]
    nd = len(node.inputs) - 1
    vnd = value.type.ndim
    off = nd - vnd
    dt = node.outputs[0].type.dtype
    params = ["v"] + [f"s{d}" for d in range(nd)]
    if nd == 0:
        return _fn(ctx, params, ["return v"])
    lines = []
    # one raise for the negative dimensions (each raise is code of its own for Numba)
    neg = " | ".join(f"(s{d} < 0)" for d in range(nd))
    lines.append(f"if {neg}: raise ValueError("
                 f"{_msg(op, 'negative dimension in the requested shape')})")
    shape = _tuple(f"s{d}" for d in range(nd))
    if vnd == 0:
        # np.full is helpers.full (use_cached_allocators): compiled once per installation
        # and type, not a loop of its own in every Alloc kernel; it converts the value as
        # an element assignment does
        lines.append(f"return np.full({shape}, v, dtype={np_dtype(dt)})")
        return _fn(ctx, params, lines)
    for j in range(vnd):
        if not value.type.broadcastable[j]:
            lines.append(f"if v.shape[{j}] != s{off + j}: raise ValueError("
                         f"{_msg(op, f'dimension {j} of the value does not match the shape')})")
    lines.append(f"out = np.empty({shape}, dtype={np_dtype(dt)})")
    # explicit loops (cheaper to compile than broadcasting slice assignment)
    for d in range(nd):
        lines.append("    " * d + f"for j{d} in range(s{d}):")
    vidx = ", ".join("0" if value.type.broadcastable[j] else f"j{off + j}"
                     for j in range(vnd))
    lines.append("    " * nd + f"out[{', '.join(f'j{d}' for d in range(nd))}] = v[{vidx}]")
    lines.append("return out")
    return _fn(ctx, params, lines)


@numba_impl.register(ARange)
def numba_arange(op, node, ctx):
    dt = op.dtype
    ints = all(v.type.dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                "uint32", "bool") for v in node.inputs)
    lines = [f"if step == 0: raise ValueError({_msg(op, 'step must not be zero')})"]
    if ints:
        lines += ["a = np.int64(start)", "b = np.int64(stop)", "c = np.int64(step)",
                  "n = -((a - b) // c)"]
    else:
        lines += ["n = np.int64(np.ceil((np.float64(stop) - np.float64(start)) / "
                  "np.float64(step)))"]
    lines += ["if n < 0: n = 0",
              f"out = np.empty(n, dtype={np_dtype(dt)})",
              "if n == 0: return out",
              f"s0 = {np_dtype(dt)}(start)",
              "out[0] = s0",
              "if n == 1: return out",
              f"s1 = {np_dtype(dt)}(start + step)",
              "delta = s1 - s0",
              "out[1] = s1",
              "for i in range(2, n):",
              f"    out[i] = s0 + {np_dtype(dt)}(i) * delta",
              "return out"]
    return _fn(ctx, ["start", "stop", "step"], lines)


@numba_impl.register(Eye)
def numba_eye(op, node, ctx):
    one = ts.literal(1, op.dtype)
    lines = [f"if n < 0 or m < 0: raise ValueError({_msg(op, 'negative dimensions')})",
             f"out = np.zeros((n, m), dtype={np_dtype(op.dtype)})",
             "for i in range(n):",
             "    j = i + k",
             "    if j >= 0 and j < m:",
             f"        out[i, j] = {one}",
             "return out"]
    return _fn(ctx, ["n", "m", "k"], lines)


@numba_impl.register(Flip)
def numba_flip(op, node, ctx):
    nd = node.inputs[0].type.ndim
    idx = ", ".join("::-1" if d in op.axis else ":" for d in range(nd))
    return _fn(ctx, ["x"], [f"return x[{idx}]"])


@numba_impl.register(Repeat)
def numba_repeat(op, node, ctx):
    x = node.inputs[0]
    nd = x.type.ndim
    ax = op.axis
    reps = op.repeats
    total = sum(reps)
    shape = [str(total) if d == ax else f"x.shape[{d}]" for d in range(nd)]
    lines = [f"if x.shape[{ax}] != {len(reps)}: raise ValueError("
             f"{_msg(op, 'the number of repeats does not match the length of the axis')})",
             f"reps = np.array({list(reps)!r}, dtype=np.int64)" if reps else
             "reps = np.zeros(0, dtype=np.int64)",
             f"out = np.empty({_tuple(shape)}, dtype={np_dtype(x.type.dtype)})",
             "j = 0",
             f"for i in range({len(reps)}):",
             "    for r in range(reps[i]):"]
    others = [d for d in range(nd) if d != ax]
    for k, d in enumerate(others):
        lines.append("    " * (k + 2) + f"for j{d} in range(x.shape[{d}]):")
    oidx = ", ".join("j" if d == ax else f"j{d}" for d in range(nd))
    iidx = ", ".join("i" if d == ax else f"j{d}" for d in range(nd))
    lines.append("    " * (len(others) + 2) + f"out[{oidx}] = x[{iidx}]")
    lines += ["        j += 1", "return out"]
    return _fn(ctx, ["x"], lines)
