"""Numba generators for Elemwise (and fused Composite), DimShuffle.

An Elemwise node becomes one loop nest; broadcasting is resolved statically from the type
patterns (a broadcastable input dimension is indexed at 0). 0-d inputs are scalars and
0-d constants are inlined as typed literals.
"""
from __future__ import annotations

import re

from symgraph.link.numba import parallel
from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.link.scalar_render import inline_literal, scalar_body
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.type import ARGUMENT_CONSTANT_DTYPES

#: reached by symbol (``link/numba/extern.py``), compiled once, not again in every graph:
#: an operand with a unit last stride, copied when it has not one (Numba's n-d copy loop
#: was most of a small kernel's code; the test and the join of two types, a large share
#: of every kernel's compile: docs/benchmarks.md)
_UNIT_LAST_EXTERN = ("_sg_last", "symgraph.link.numba.helpers:unit_last_stride")
#: and the write-back of an in-place result computed in such a copy
_COPY_EXTERN = ("_sg_copy_into", "symgraph.link.numba.helpers:copy_into")


_FLOAT_LITERAL = re.compile(
    r"_sg_dt_(?:float32|float64)\((?:-?np\.(?:nan|inf)|-?[0-9][0-9.eE+-]*)\)")


def hoist_float_literals(src: str):
    """``(src, lines)``: each typed float literal of ``src`` (``_sg_dt_float32(1.0)``, as
    ``scalar_ops.literal`` writes them) replaced by a module constant that ``lines``
    define. Why: Numba types and lowers a literal's conversion call at every use, while a
    module-level numpy scalar is a constant of its type, read at no cost (a sigmoid has
    two literals, an LSTM's gate kernel eight). The value is the same: the literal's text
    is already exact in its dtype. Only for a kernel's own module: a kernel inlined into
    ``graph_fn`` (straight-line code, no loop) would leave its constants behind."""
    names: dict = {}
    src = _FLOAT_LITERAL.sub(lambda m: names.setdefault(m.group(0), f"_sg_lit{len(names)}"),
                             src)
    return src, tuple(f"{n} = {lit}" for lit, n in names.items())


def literal_input(v):
    """``inline_literal`` for the other dtypes only. Constants of the usual dtypes are
    arguments (hoisted out of the loop like any broadcast input), so nodes differing only
    in a constant's value (a learning rate, a batch size) share one kernel and its
    compiled code; the arithmetic is the same, so are the results."""
    return None if v.type.dtype in ARGUMENT_CONSTANT_DTYPES else inline_literal(v)


def worth_parallel(op) -> bool:
    """Whether a large loop of ``op`` gains from running on every core: only when its
    scalar op is ``expensive`` (libm calls Numba cannot vectorize make the loop
    compute-bound). Loops of plain arithmetic are memory-bound: one core nearly saturates
    the bandwidth, and the parallel branch measured slower (network3's SGD updates,
    ``2.5 * x + 1``; docs/benchmarks.md)."""
    return op.scalar_op.expensive


def _parallel_dispatch(op, node, arrays, scalar_inputs, body, in_dtypes, out_dtypes,
                       operands):
    """The lines handing the flat loop to a parallel chunk kernel (the caller puts them
    under its ``nt >= PARALLEL_MIN`` condition).

    The chunk kernel (see ``link/numba/parallel.py``) takes the flat operands, the
    one-element broadcast inputs and the flat outputs, then ``lo, hi``; it is registered
    now and compiled only when a large array first reaches this node.
    """
    from symgraph.link.numba.linker import HEADER

    params = ([f"f{k}" for k in arrays] + [f"s{k}" for k in scalar_inputs]
              + [f"g{j}" for j in range(len(out_dtypes))])
    kernel_lines = [f"a{k} = s{k}[0]" for k in scalar_inputs]
    kernel_lines += ["step = -(-(hi - lo) // nc)",
                     "for c in prange(nc):",
                     "    for j in range(lo + c * step, min(hi, lo + (c + 1) * step)):",
                     indent("\n".join(body), 8)]
    src = ("\n".join(HEADER) + "\n\n\n@numba.njit(cache=True, error_model='numpy', "
           "nogil=True, parallel=True)\n"
           f"def kernel({', '.join(params + ['lo', 'hi', 'nc'])}):\n"
           + indent("\n".join(kernel_lines)) + "\n")
    dtypes = ([in_dtypes[k] for k in arrays] + [in_dtypes[k] for k in scalar_inputs]
              + list(out_dtypes))
    full = [True] * len(arrays) + [False] * len(scalar_inputs) + [True] * len(out_dtypes)
    kid = parallel.register(src, dtypes, full)
    n_arr = len(arrays)
    sources = operands[:n_arr] + [f"x{k}" for k in scalar_inputs] + operands[n_arr:]
    msg = repr(f"{op}: the parallel elementwise kernel failed; its traceback was printed "
               "above")
    stop = repr(f"{op}: interrupted (Ctrl-C) in a parallel elementwise kernel")
    # the status: parallel.py's OK, FAILED, NOT_RUN, INTERRUPTED (NOT_RUN left means an
    # asynchronous Ctrl-C reached the callback before it could catch anything)
    lines = [f"_st = _sg_run_parallel({kid}, nt, ({''.join(s + ', ' for s in sources)}))",
             f"if _st >= {parallel.NOT_RUN}:",
             f"    raise _sg_KernelInterrupted({stop})",
             f"if _st != {parallel.OK}:",
             f"    raise RuntimeError({msg})"]
    return "\n".join(lines)


@numba_impl.register(Elemwise)
def numba_elemwise(op, node, ctx):
    """One loop nest per node, with one copy of the loop body (``one_body``): run as a
    flat loop when every full-size operand is C-contiguous, else row by row.

    Broadcasting is static: a broadcastable input dimension is indexed at 0 (inputs that
    broadcast along every dimension are loaded once, before the loops), and each
    non-broadcastable dimension is checked against the first input that has it.
    """
    name = ctx.name
    n_in = len(node.inputs)
    ndim = node.outputs[0].type.ndim
    params = [f"x{k}" for k in range(n_in)]
    in_dtypes = [v.type.dtype for v in node.inputs]
    out_dtypes = [o.type.dtype for o in node.outputs]
    lines = []
    counter = [0]

    def fresh():
        counter[0] += 1
        return f"t{counter[0]}"

    def ret(names):
        return "return " + (names[0] if len(names) == 1 else "(" + ", ".join(names) + ",)")

    const_lit = {k: lit for k, v in enumerate(node.inputs)
                 if (lit := literal_input(v)) is not None}
    if ndim == 0:
        # 0-d: inputs and outputs are Numba scalars
        names = [const_lit.get(k, f"x{k}") for k in range(n_in)]
        stmts, outs = scalar_body(op.scalar_op, names, in_dtypes, out_dtypes, fresh)
        lines.extend(stmts)
        lines.append(ret(outs))
        return NumbaCode(f"def {name}({', '.join(params)}):\n" + indent("\n".join(lines)))
    # sizes: first non-broadcast input per dimension; the others must agree
    # the message names the op, not the node's source line: a kernel module is shared by
    # every graph with this op (its name is its source's hash), and a line in its source
    # would give each call site a kernel of its own to compile. The user sees the line
    # anyway: a failed call re-runs the user's graph on the numpy reference, whose error
    # names the node, its inputs' shapes and the line (``Executable.explain``).
    msg = repr(f"{op}: input dimension mismatch")
    # one condition and one raise for all the checks: each raise is a branch, an exit and
    # an exception of its own for Numba to type and lower
    size_of, mismatches = [], []
    for d in range(ndim):
        owners = [k for k, v in enumerate(node.inputs)
                  if not v.type.broadcastable[d] and k not in const_lit]
        if not owners:
            size_of.append("1")
            continue
        lines.append(f"n{d} = x{owners[0]}.shape[{d}]")
        size_of.append(f"n{d}")
        mismatches += [f"(x{k}.shape[{d}] != n{d})" for k in owners[1:]]
    if mismatches:
        lines.append(f"if {' | '.join(mismatches)}: raise ValueError({msg})")
    shape = "(" + "".join(s + ", " for s in size_of) + ")"
    inplace = dict(op.inplace_pattern)
    for j, dt in enumerate(out_dtypes):
        if j in inplace:
            lines.append(f"o{j} = x{inplace[j]}")
        else:
            # on huge pages when large, as numpy's own allocations are
            lines.append(f"o{j} = _sg_helpers.empty_hugepage({shape}, dtype={np_dtype(dt)})")
    # loads: literals inline, fully broadcast inputs hoisted, the rest inside the loop
    loads_outer = []
    arrays = []  # inputs read at every element
    scalar_names = []
    for k, v in enumerate(node.inputs):
        if k in const_lit:
            scalar_names.append(const_lit[k])
        elif all(v.type.broadcastable):
            loads_outer.append(f"a{k} = x{k}[{', '.join('0' for _ in range(ndim))}]")
            scalar_names.append(f"a{k}")
        else:
            arrays.append(k)
            scalar_names.append(f"a{k}")
    stmts, outs = scalar_body(op.scalar_op, scalar_names, in_dtypes, out_dtypes, fresh)
    lines.extend(loads_outer)
    scalar_inputs = [k for k, v in enumerate(node.inputs)
                     if k not in const_lit and all(v.type.broadcastable)]

    def nested():
        idx_all = ", ".join(f"j{d}" for d in range(ndim))
        inner = []
        for k in arrays:
            idx = ", ".join("0" if b else f"j{d}"
                            for d, b in enumerate(node.inputs[k].type.broadcastable))
            inner.append(f"a{k} = x{k}[{idx}]")
        inner += stmts + [f"o{j}[{idx_all}] = {e}" for j, e in enumerate(outs)]
        loop = ["    " * d + f"for j{d} in range({size_of[d]}):" for d in range(ndim)]
        loop.append(indent("\n".join(inner), 4 * ndim))
        return "\n".join(loop)

    def one_body():
        """The loop nest over unit-stride rows, or None when no operand varies along the
        last dimension (then ``nested()`` is the only loop).

        One loop body per kernel: each copy of a body is compiled on its own (its
        transcendentals inlined as SIMD code), and the flat, row and element loops were
        three copies of the same body, most of an elementwise kernel's compile time (an
        LSTM's gate kernel, docs/benchmarks.md). So:

        - an operand that varies along the last dimension without a one-element stride
          there (a transpose, a stepped slice) is first copied to a C-contiguous array
          (an in-place output is then written there and copied back at the end);
        - when every operand has the full shape and is C-contiguous, the whole array is
          one row (the flat loop, which also takes the parallel chunk kernel when
          worthwhile); else each row of the last dimension is one (a column block of a C
          matrix: an LSTM's gates ``z[:, :H]``), read through ``helpers.row`` so the
          loop vectorizes without gathers.

        Every element runs the same statements whatever the layout, so the results are the
        same bits for C-contiguous, row-sliced and strided operands."""
        last = ndim - 1
        rowed = [k for k in arrays if not node.inputs[k].type.broadcastable[last]]
        if not rowed or size_of[last] == "1":
            return None, ()
        # flat is possible only when every operand has the full shape; else the kernel
        # has no flat branch at all (no dead typing of flat views)
        flat_ok = all(not any(node.inputs[k].type.broadcastable) for k in arrays)
        src = {k: (f"y{k}" if k in rowed else f"x{k}") for k in arrays}
        out = [f"y{k} = _sg_last(x{k})" for k in rowed]
        target = {j: (src[inplace[j]] if j in inplace else f"o{j}")
                  for j in range(len(out_dtypes))}
        parallel_branch = flat_ok and worth_parallel(op)
        if flat_ok:
            out += [f"nt = {' * '.join(size_of)}",
                    "flat = " + " and ".join(f"_sg_helpers.c_contiguous(y{k})" for k in rowed)]
        if parallel_branch:
            flat_inner = [f"a{k} = f{k}[j]" for k in arrays]
            flat_inner += stmts + [f"g{j}[j] = {e}" for j, e in enumerate(outs)]
            # the chunk kernel views each operand's memory as nt elements: these are
            # C-contiguous here (flat), so their first elements' addresses are enough
            par = _parallel_dispatch(op, node, arrays, scalar_inputs, flat_inner,
                                     in_dtypes, out_dtypes,
                                     [f"y{k}" for k in arrays] + list(target.values()))
            out += [f"if flat and nt >= {parallel.PARALLEL_MIN}:", indent(par, 4), "else:"]

        # rows through helpers.row; in the flat case the outer loops run once (every
        # index 0) and the row is the whole array of nt elements
        outer = "".join(f"j{d}, " for d in range(last))
        body = []
        for k in rowed:
            row = "".join("0, " if b else f"j{d}, " for d, b in
                          enumerate(node.inputs[k].type.broadcastable[:last]))
            body.append(f"r{k} = _sg_helpers.row(y{k}, ({row}), width)")
        for j, t in target.items():
            body.append(f"q{j} = _sg_helpers.row({t}, ({outer}), width)")
        inner = []
        for k in arrays:
            if k in rowed:
                inner.append(f"a{k} = r{k}[j{last}]")
            else:
                idx = ", ".join("0" if b else f"j{d}"
                                for d, b in enumerate(node.inputs[k].type.broadcastable))
                inner.append(f"a{k} = x{k}[{idx}]")
        inner += stmts + [f"q{j}[j{last}] = {e}" for j, e in enumerate(outs)]
        body.append(f"for j{last} in range(width):")
        body.append(indent("\n".join(inner), 4))
        bound = "1 if flat else {}" if flat_ok else "{}"
        loop = ["    " * d + f"for j{d} in range({bound.format(size_of[d])}):"
                for d in range(last)]
        loop.append(indent("\n".join(body), 4 * last))
        width = f"nt if flat else {size_of[last]}" if flat_ok else size_of[last]
        nest = "\n".join([f"width = {width}"] + loop)
        out.append(indent(nest, 4) if parallel_branch else nest)
        externs = (_UNIT_LAST_EXTERN,)
        # an in-place output whose operand was copied: write the results back
        for j, k in inplace.items():
            out += [f"if x{k}.strides[{last}] != x{k}.itemsize:",
                    f"    _sg_copy_into(o{j}, y{k})"]
            externs = (_UNIT_LAST_EXTERN, _COPY_EXTERN)
        return "\n".join(out), externs

    body, body_externs = one_body()
    lines.append(nested() if body is None else body)
    lines.append(ret([f"o{j}" for j in range(len(out_dtypes))]))
    src, consts = hoist_float_literals(f"def {name}({', '.join(params)}):\n"
                                       + indent("\n".join(lines)))
    return NumbaCode(src, imports=consts, externs=body_externs,
                     views=tuple((inplace[j], ()) if j in inplace else None
                                 for j in range(len(out_dtypes))))


@numba_impl.register(DimShuffle)
def numba_dimshuffle(op, node, ctx):
    name = ctx.name
    in_nd = len(op.input_broadcastable)
    out_nd = len(op.new_order)
    dt = node.outputs[0].type.dtype
    if in_nd == 0:
        if out_nd == 0:
            return NumbaCode(f"def {name}(x):\n    return x\n")
        shape = "(" + "1, " * out_nd + ")"
        return NumbaCode(f"def {name}(x):\n    return np.full({shape}, x, dtype={np_dtype(dt)})\n")
    if out_nd == 0:
        return NumbaCode(f"def {name}(x):\n    return x[{', '.join('0' for _ in range(in_nd))}]\n",
                         views=((0, (("index", "i" * in_nd),)),))
    if not op.shuffle:
        # every input dim dropped, only new ones: x[0, ...] is a numba scalar, not an array
        shape = "(" + "1, " * out_nd + ")"
        first = ", ".join("0" for _ in range(in_nd))
        return NumbaCode(f"def {name}(x):\n    return np.full({shape}, x[{first}], "
                         f"dtype={np_dtype(dt)})\n")
    lines = ["v = x"]
    steps = []   # how the result's Numba type follows from x's (NumbaCode.views)
    if op.drop:
        idx = ", ".join("0" if i in op.drop else ":" for i in range(in_nd))
        lines.append(f"v = v[{idx}]")
        steps.append(("index", "".join("i" if i in op.drop else "s" for i in range(in_nd))))
    kept_sorted = sorted(op.shuffle)
    perm = [kept_sorted.index(i) for i in op.shuffle]
    externs = ()
    if perm == sorted(perm, reverse=True) and len(perm) > 1:
        lines.append("v = v.T")  # lowered inline: no per-process compile of Numba's transpose
        steps.append(("T",))
    elif perm != sorted(perm):
        # Numba's array.transpose(axes) compiles its error-message machinery (a long
        # compile) in every new process; the helper is compiled once per installation
        # (disk cache)
        lines.append(f"v = _sg_transpose(v, ({''.join(str(p) + ', ' for p in perm)}))")
        externs = (("_sg_transpose", "symgraph.link.numba.helpers:transpose"),)
        steps.append(("A",))
    if op.augment:
        idx = ", ".join("None" if i == "x" else ":" for i in op.new_order)
        lines.append(f"v = v[{idx}]")
        steps.append(("index", "".join("n" if i == "x" else "s" for i in op.new_order)))
    lines.append("return v")
    return NumbaCode(f"def {name}(x):\n" + indent("\n".join(lines)), externs=externs,
                     views=((0, tuple(steps)),))
