"""Numba generators for indexing: Subtensor, IncSubtensor, AdvancedSubtensor,
AdvancedIncSubtensor, Nonzero, FlatNonzero.

Code is specialised per index pattern (which entries are ints, slices, newaxis, arrays or
masks, and which bounds are constants, is fixed when the node is built; the symbolic
bounds arrive as integer scalars):

- ``Subtensor`` returns ``x[...]`` with a numba basic index, which is a view of ``x``;
- ``IncSubtensor`` takes that view of its output (a copy of ``x``, or ``x`` itself when
  ``inplace``) and writes ``y`` into it with explicit loops;
- the advanced ops compute the output layout with numpy's rules (advanced dimensions
  first when the advanced indices are not adjacent) and run one loop nest, so repeated
  indices accumulate in ``AdvancedIncSubtensor`` like ``np.add.at``.

Integer indices are bounds-checked (numba does not check); negative ones wrap.
"""
from __future__ import annotations

from collections import namedtuple

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor.subtensor import (
    _FULL,
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    FlatNonzero,
    IncSubtensor,
    Nonzero,
    Subtensor,
    adv_layout,
)

# Emitted into the generated module (not imported): the module's source hash then covers
# it, so Numba's on-disk cache can never pair new callers with a stale helper.
_SLICE_INFO = """
@_sg_njit
def {name}(n, start, stop, step, has_start, has_stop):
    # (first index, step, length) of range(n)[start:stop:step], Python's rules
    if step == 0:
        raise ValueError('slice step cannot be zero')
    if step > 0:
        if not has_start:
            start = 0
        elif start < 0:
            start += n
            if start < 0:
                start = 0
        elif start > n:
            start = n
        if not has_stop:
            stop = n
        elif stop < 0:
            stop += n
            if stop < 0:
                stop = 0
        elif stop > n:
            stop = n
        ln = (stop - start + step - 1) // step if stop > start else 0
    else:
        if not has_start:
            start = n - 1
        elif start < 0:
            start += n
            if start < 0:
                start = -1
        elif start >= n:
            start = n - 1
        if not has_stop:
            stop = -1
        elif stop < 0:
            stop += n
            if stop < 0:
                stop = -1
        elif stop >= n:
            stop = n - 1
        ln = (start - stop - step - 1) // (-step) if start > stop else 0
    return start, step, ln
"""


_P = namedtuple("_P", "name type")


class _Src:
    """Collects generated lines with an indentation level."""

    def __init__(self):
        self.lines = []
        self.level = 0

    def add(self, *lines):
        for ln in lines:
            self.lines.append("    " * self.level + ln)

    def text(self):
        return "\n".join(self.lines)


def _msg(s: str) -> str:
    return repr(s)


def _bound(v, params):
    """Source of a slice bound / int index: a literal, or the next parameter as int64."""
    if v == "?":
        return f"_sg_dt_int64({next(params)})"
    return "None" if v is None else repr(int(v))


def _emit_int(src, op, expr, name, shape_expr, ax):
    src.add(f"{name} = {expr}",
            f"if {name} < 0:",
            f"    {name} += {shape_expr}",
            f"if {name} < 0 or {name} >= {shape_expr}:",
            f"    raise IndexError({_msg(f'{op}: integer index out of bounds for axis {ax}')})")


def _basic_index(src, op, node, arr, params):
    """Emit int checks; return the numba basic-index text for ``arr`` (may be empty)."""
    parts = []
    ax = 0
    for e in op.idx_list:
        kind = e[0]
        if kind == "int":
            _emit_int(src, op, _bound(e[1], params), f"i{ax}", f"{arr}.shape[{ax}]", ax)
            parts.append(f"i{ax}")
            ax += 1
        elif kind == "slice":
            a, b, c = (_bound(v, params) for v in e[1:])
            a, b = ("" if a == "None" else a), ("" if b == "None" else b)
            parts.append(f"{a}:{b}" + ("" if c == "None" else f":{c}"))
            ax += 1
        else:
            parts.append("None")
    return ", ".join(parts)


@numba_impl.register(Subtensor)
def numba_subtensor(op, node, ctx):
    x = node.inputs[0]
    params = [f"p{k}" for k in range(len(node.inputs) - 1)]
    src = _Src()
    if x.type.ndim == 0:
        k = node.outputs[0].type.ndim
        if k:
            shape = "(" + "1, " * k + ")"
            src.add(f"return np.full({shape}, x, dtype={np_dtype(x.type.dtype)})")
        else:
            src.add("return x")
    else:
        idx = _basic_index(src, op, node, "x", iter(params))
        src.add(f"return x[{idx}]" if idx else "return x")
    sig = ", ".join(["x"] + params)
    view = None if x.type.ndim == 0 else (0, (("index", _index_kinds(op)),))
    return NumbaCode(f"def {ctx.name}({sig}):\n" + indent(src.text()) + "\n", views=(view,))


def _index_kinds(op) -> str:
    """The kinds of ``_basic_index``'s entries (see ``NumbaCode.views``)."""
    kinds = ""
    for e in op.idx_list:
        if e[0] == "int":
            kinds += "i"
        elif e[0] == "slice":
            kinds += "s" if e[3] is None else "S"
        else:
            kinds += "n"
    return kinds


def _y_check(src, op, ynode, sub_shape):
    """Emit the check that y's non-broadcastable dims match the subtensor's shape."""
    for d, b in enumerate(ynode.type.broadcastable):
        if not b:
            msg = _msg(f"{op}: the value does not have the shape of the indexed subtensor "
                       f"(axis {d})")
            src.add(f"if y.shape[{d}] != {sub_shape[d]}:", f"    raise ValueError({msg})")


def _y_index(ynode, loop_vars):
    parts = ["0" if b else j for b, j in zip(ynode.type.broadcastable, loop_vars)]
    return "y[" + ", ".join(parts) + "]" if parts else "y"


@numba_impl.register(IncSubtensor)
def numba_incsubtensor(op, node, ctx):
    x, y = node.inputs[0], node.inputs[1]
    params = [f"p{k}" for k in range(len(node.inputs) - 2)]
    sig = ", ".join(["x", "y"] + params)
    k = y.type.ndim
    assign = "=" if op.set_instead_of_inc else "+="
    src = _Src()
    if x.type.ndim == 0:
        # only newaxis entries: the subtensor is x itself seen with k length-1 axes
        _y_check(src, op, y, ["1"] * k)
        yv = "y[" + ", ".join(["0"] * k) + "]" if k else "y"
        src.add(f"return {yv}" if op.set_instead_of_inc else f"return x + {yv}")
        return NumbaCode(f"def {ctx.name}({sig}):\n" + indent(src.text()) + "\n")
    src.add("out = x" if op.inplace else "out = x.copy()")
    idx = _basic_index(src, op, node, "out", iter(params))
    if k == 0:
        target = f"out[{idx}]" if idx else "out[()]"
        src.add(f"{target} {assign} y", "return out")
        return NumbaCode(f"def {ctx.name}({sig}):\n" + indent(src.text()) + "\n")
    src.add(f"sub = out[{idx}]" if idx else "sub = out")
    _y_check(src, op, y, [f"sub.shape[{d}]" for d in range(k)])
    loop_vars = [f"j{d}" for d in range(k)]
    rows = k == 2 and not y.type.broadcastable[1]
    if rows:
        # a column block (an LSTM's gate gradient): over unit-stride rows typed 'C' the
        # loop is SIMD (see elemwise.py's one_body and helpers.row)
        y0 = "0" if y.type.broadcastable[0] else "j0"
        src.add("if sub.strides[1] == sub.itemsize and y.strides[1] == y.itemsize:",
                "    for j0 in range(sub.shape[0]):",
                "        sr = _sg_helpers.row(sub, (j0,), sub.shape[1])",
                f"        yr = _sg_helpers.row(y, ({y0},), sub.shape[1])",
                "        for j1 in range(sub.shape[1]):",
                f"            sr[j1] {assign} yr[j1]",
                "else:")
        src.level += 1
    for d in range(k):
        src.add(f"for j{d} in range(sub.shape[{d}]):")
        src.level += 1
    src.add(f"sub[{', '.join(loop_vars)}] {assign} {_y_index(y, loop_vars)}")
    src.level = 0
    src.add("return out")
    return NumbaCode(f"def {ctx.name}({sig}):\n" + indent(src.text()) + "\n")


def _advanced(op, node, ctx, inc):
    """One loop nest over the indexed subtensor's shape (see the module docstring)."""
    x = node.inputs[0]
    first = 2 if inc else 1
    params = [_P(f"p{k}", v.type) for k, v in enumerate(node.inputs[first:])]
    sig = ", ".join(["x", "y"] if inc else ["x"]) + "".join(f", {p.name}" for p in params)
    arr = "out" if inc else "x"
    ex, adv_first = adv_layout(op.idx_list, x.type.ndim, params)
    src = _Src()
    helper = None
    if inc:
        src.add("out = x" if op.inplace else "out = x.copy()")
    # -- per entry set-up: slice geometry, int checks, masks --------------------------
    before, after, adv_contrib = [], [], []   # output dims: ("slice", k) / ("none",)
    x_index = {}                                # x axis -> expression (adv axes later)
    seen = False
    ax = 0
    for k, (e, ins) in enumerate(ex):
        kind = e[0]
        if kind == "int":
            it = iter(p.name for p in ins)
            _emit_int(src, op, _bound(e[1], it), f"i{ax}", f"{arr}.shape[{ax}]", ax)
            x_index[ax] = f"i{ax}"
            ax += 1
            seen = True
        elif kind == "array":
            a = ins[0]
            adv_contrib.append((a.name, a.type.broadcastable, ax, True))
            ax += 1
            seen = True
        elif kind == "bool":
            m = ins[0]
            r = m.type.ndim
            for j in range(r):
                msg = _msg(f"{op}: boolean index does not match the indexed tensor along "
                           f"axis {ax + j}")
                src.add(f"if {m.name}.shape[{j}] != {arr}.shape[{ax + j}]:",
                        f"    raise IndexError({msg})")
            src.add(f"nz{k} = np.nonzero({m.name})")
            for j in range(r):
                adv_contrib.append((f"nz{k}[{j}]", (False,), ax + j, False))
            ax += r
            seen = True
        else:
            if kind == "none":
                dim = ("none",)
            else:
                if e == _FULL:
                    src.add(f"st{ax} = 0", f"sp{ax} = 1", f"ln{ax} = {arr}.shape[{ax}]")
                else:
                    it = iter(p.name for p in ins)
                    a, b, c = (_bound(v, it) for v in e[1:])
                    helper = f"{ctx.name}_slice_info"
                    src.add(f"st{ax}, sp{ax}, ln{ax} = {helper}({arr}.shape[{ax}], "
                            f"{0 if a == 'None' else a}, {0 if b == 'None' else b}, "
                            f"{1 if c == 'None' else c}, {a != 'None'}, {b != 'None'})")
                dim = ("slice", ax)
                ax += 1
            (after if (seen and not adv_first) else before).append(dim)
    # -- broadcast the advanced indices ------------------------------------------------
    nb = max(len(bc) for _, bc, _, _ in adv_contrib)
    for d in range(nb):
        src.add(f"b{d} = 1")
    bmsg = _msg(f"{op}: shape mismatch: indexing arrays could not be broadcast together")
    for n, (name, bc, _, _) in enumerate(adv_contrib):
        off = nb - len(bc)
        for dd, flag in enumerate(bc):
            if flag:
                continue
            src.add(f"s = {name}.shape[{dd}]",
                    "if s != 1:",
                    f"    if b{off + dd} == 1:",
                    f"        b{off + dd} = s",
                    f"    elif b{off + dd} != s:",
                    f"        raise IndexError({bmsg})",
                    f"z{n}_{dd} = 0 if {name}.shape[{dd}] == 1 else 1")
    adv_dims = [("adv", d) for d in range(nb)]
    dims = adv_dims + before if adv_first else before + adv_dims + after
    lengths = []
    for dm in dims:
        lengths.append({"slice": lambda a: f"ln{a[1]}", "none": lambda a: "1",
                        "adv": lambda a: f"b{a[1]}"}[dm[0]](dm))
    shape = "(" + "".join(f"{s}, " for s in lengths) + ")"
    if inc:
        _y_check(src, op, node.inputs[1], lengths)
    else:
        src.add(f"out = np.empty({shape}, dtype={np_dtype(x.type.dtype)})")
    # -- the loop nest -------------------------------------------------------------------
    loop_vars = [f"o{j}" for j in range(len(dims))]
    last_adv = max(j for j, dm in enumerate(dims) if dm[0] == "adv")
    for j, dm in enumerate(dims):
        src.add(f"for o{j} in range({lengths[j]}):")
        src.level += 1
        if dm[0] == "slice":
            a = dm[1]
            x_index[a] = f"st{a} + o{j} * sp{a}"
        if j == last_adv:
            bvar = {dm2[1]: f"o{j2}" for j2, dm2 in enumerate(dims) if dm2[0] == "adv"}
            for n, (name, bc, axis, check) in enumerate(adv_contrib):
                off = nb - len(bc)
                ix = ", ".join("0" if flag else f"{bvar[off + dd]} * z{n}_{dd}"
                               for dd, flag in enumerate(bc))
                src.add(f"v{axis} = _sg_dt_int64({name}[{ix}])")
                if check:
                    omsg = _msg(f"{op}: index out of bounds (axis {axis})")
                    src.add(f"if v{axis} < 0:",
                            f"    v{axis} += {arr}.shape[{axis}]",
                            f"if v{axis} < 0 or v{axis} >= {arr}.shape[{axis}]:",
                            f"    raise IndexError({omsg})")
                x_index[axis] = f"v{axis}"
    xi = ", ".join(x_index[a] for a in range(x.type.ndim))
    oi = ", ".join(loop_vars)
    if inc:
        assign = "=" if op.set_instead_of_inc else "+="
        src.add(f"out[{xi}] {assign} {_y_index(node.inputs[1], loop_vars)}")
    else:
        src.add(f"out[{oi}] = x[{xi}]")
    src.level = 0
    src.add("return out")
    main = f"def {ctx.name}({sig}):\n" + indent(src.text()) + "\n"
    if helper:
        main = _SLICE_INFO.format(name=helper).lstrip() + "\n\n" + main
    return NumbaCode(main)


@numba_impl.register(AdvancedSubtensor)
def numba_advanced_subtensor(op, node, ctx):
    return _advanced(op, node, ctx, inc=False)


@numba_impl.register(AdvancedIncSubtensor)
def numba_advanced_incsubtensor(op, node, ctx):
    return _advanced(op, node, ctx, inc=True)


@numba_impl.register(Nonzero)
def numba_nonzero(op, node, ctx):
    nd = node.inputs[0].type.ndim
    lines = ["nz = np.nonzero(a)", f"out = np.empty(({nd}, nz[0].shape[0]), dtype=np.int64)"]
    lines += [f"out[{d}, :] = nz[{d}]" for d in range(nd)]
    lines.append("return out")
    return NumbaCode(f"def {ctx.name}(a):\n" + indent("\n".join(lines)) + "\n")


@numba_impl.register(FlatNonzero)
def numba_flatnonzero(op, node, ctx):
    if node.inputs[0].type.ndim == 0:
        body = "return np.arange(1 if a != 0 else 0).astype(np.int64)"
    else:
        body = "return np.flatnonzero(a).astype(np.int64)"
    return NumbaCode(f"def {ctx.name}(a):\n    {body}\n")
