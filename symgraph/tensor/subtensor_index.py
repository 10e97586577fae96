"""Index descriptions of ``symgraph.tensor.subtensor``'s ops: checking and printing an
``idx_list``, the output's broadcastable pattern, numpy's advanced-indexing layout, and
the symbolic output shapes (slice lengths with Python's rules, as graphs).

Pure functions over ``idx_list`` (the format is described in ``subtensor``'s docstring),
kept apart from the ops so each file stays readable.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.tensor.basic import constant
from symgraph.tensor.type import INT_DTYPES, TensorType

_SYM = "?"
_FULL = ("slice", None, None, None)


# ----------------------------------------------------------------- index entries

def _entry_str(e) -> str:
    kind = e[0]
    if kind == "int":
        return str(e[1])
    if kind == "slice":
        a, b, c = (("" if v is None else str(v)) for v in e[1:])
        return f"{a}:{b}" + (f":{c}" if c else "")
    if kind == "none":
        return "None"
    if kind == "array":
        return "[?]"
    return "[mask]"


def _idx_str(idx_list) -> str:
    return ", ".join(_entry_str(e) for e in idx_list)


def _n_inputs(idx_list) -> int:
    """Number of symbolic inputs (after x, or x and y) the entries consume."""
    n = 0
    for e in idx_list:
        if e[0] in ("array", "bool"):
            n += 1
        else:
            n += sum(1 for v in e[1:] if v == _SYM)
    return n


def _is_int_scalar_type(t) -> bool:
    return isinstance(t, TensorType) and t.ndim == 0 and t.dtype in INT_DTYPES


def _check_idx_inputs(op, x, idx_list, inputs):
    """Check the index inputs against ``idx_list``; return the number of x axes consumed."""
    if len(inputs) != _n_inputs(idx_list):
        raise TypeError(f"{op}: expected {_n_inputs(idx_list)} index inputs, got {len(inputs)}")
    it = iter(inputs)
    consumed = 0
    for e in idx_list:
        kind = e[0]
        if kind in ("int", "slice"):
            for v in e[1:]:
                if v == _SYM:
                    s = next(it)
                    if not _is_int_scalar_type(s.type):
                        raise TypeError(f"{op}: a symbolic index or slice bound must be an "
                                        f"integer scalar, got {s} of type {s.type}")
            consumed += 1
        elif kind == "array":
            a = next(it)
            if not (isinstance(a.type, TensorType) and a.type.dtype in INT_DTYPES
                    and a.type.ndim >= 1):
                raise TypeError(f"{op}: an index array must be an integer tensor of ndim >= 1, "
                                f"got {a} of type {a.type}")
            consumed += 1
        elif kind == "bool":
            a = next(it)
            if not (isinstance(a.type, TensorType) and a.type.dtype == "bool"
                    and a.type.ndim >= 1):
                raise TypeError(f"{op}: a boolean mask must be a bool tensor of ndim >= 1, "
                                f"got {a} of type {a.type}")
            consumed += a.type.ndim
    if consumed > x.type.ndim:
        raise IndexError(f"{op}: too many indices for a {x.type.ndim}-d tensor ({x.type}): "
                         f"{consumed} axes are indexed")
    return consumed


def _np_index(idx_list, values):
    """The numpy index tuple for run-time ``values`` of the index inputs."""
    it = iter(values)
    out = []

    def val(v):
        return int(next(it)) if v == _SYM else v

    for e in idx_list:
        kind = e[0]
        if kind == "int":
            out.append(val(e[1]))
        elif kind == "slice":
            out.append(slice(val(e[1]), val(e[2]), val(e[3])))
        elif kind == "none":
            out.append(None)
        else:
            out.append(np.asarray(next(it)))
    return tuple(out)


def _check_ints(op, idx_list, index, shape):
    """Bounds-check integer entries (numpy wraps negatives; we name the op on errors)."""
    ax = 0
    for e, v in zip(idx_list, index):
        kind = e[0]
        if kind == "int":
            n = shape[ax]
            if not -n <= v < n:
                raise IndexError(f"{op}: index {v} is out of bounds for axis {ax} with size "
                                 f"{n} (input shape {tuple(shape)})")
            ax += 1
        elif kind == "slice":
            if v.step == 0:
                raise ValueError(f"{op}: slice step cannot be zero (input shape "
                                 f"{tuple(shape)})")
            ax += 1
        elif kind == "array":
            ax += 1
        elif kind == "bool":
            ax += v.ndim


def _slice_bcast(e, bc):
    """Broadcastable flag of the output axis a slice ``e`` makes of an axis with flag bc."""
    if not bc:
        return False
    if any(v == _SYM for v in e[1:]):
        return False
    try:
        return len(range(1)[slice(*e[1:])]) == 1
    except ValueError:
        return False


def _basic_out_bcast(idx_list, x_type):
    bc = []
    ax = 0
    for e in idx_list:
        if e[0] == "int":
            ax += 1
        elif e[0] == "slice":
            bc.append(_slice_bcast(e, x_type.broadcastable[ax]))
            ax += 1
        elif e[0] == "none":
            bc.append(True)
    bc.extend(x_type.broadcastable[ax:])
    return tuple(bc)


def _expanded(idx_list, x_ndim, inputs):
    """Entries padded with full slices to cover every axis of x, each paired with its
    symbolic inputs: ``[(entry, [inputs...]), ...]``; masks are kept whole."""
    it = iter(inputs)
    out = []
    ax = 0
    for e in idx_list:
        kind = e[0]
        if kind in ("array", "bool"):
            a = next(it)
            out.append((e, [a]))
            ax += a.type.ndim if kind == "bool" else 1
        elif kind == "none":
            out.append((e, []))
        else:
            out.append((e, [next(it) for v in e[1:] if v == _SYM]))
            ax += 1
    while ax < x_ndim:
        out.append((_FULL, []))
        ax += 1
    return out


def adv_layout(idx_list, x_ndim, inputs):
    """Output layout of advanced indexing (numpy's rules).

    Returns ``(entries, adv_first)``: ``entries`` as from ``_expanded``; ``adv_first`` is
    True when the broadcast index dimensions go first (advanced indices not adjacent),
    False when they replace the advanced entries in place.
    """
    ex = _expanded(idx_list, x_ndim, inputs)
    pos = [k for k, (e, _) in enumerate(ex) if e[0] in ("int", "array", "bool")]
    adjacent = pos == list(range(pos[0], pos[-1] + 1)) if pos else True
    return ex, not adjacent


def _adv_index_bcast(ex):
    """Broadcastable pattern of the broadcast advanced index dimensions."""
    pats = []
    for e, ins in ex:
        if e[0] == "int":
            pats.append(())
        elif e[0] == "array":
            pats.append(ins[0].type.broadcastable)
        elif e[0] == "bool":
            pats.append((False,))
    nd = max(len(p) for p in pats)
    res = []
    for d in range(nd):
        flags = [p[d - (nd - len(p))] for p in pats if d - (nd - len(p)) >= 0]
        res.append(all(flags))
    return tuple(res)


def _adv_out_bcast(idx_list, x_type, inputs):
    ex, adv_first = adv_layout(idx_list, x_type.ndim, inputs)
    adv = list(_adv_index_bcast(ex))
    before, after = [], []
    seen_adv = False
    ax = 0
    for e, ins in ex:
        kind = e[0]
        if kind in ("int", "array", "bool"):
            seen_adv = True
            ax += ins[0].type.ndim if kind == "bool" else 1
            continue
        if kind == "none":
            flag = True
        else:
            flag = _slice_bcast(e, x_type.broadcastable[ax])
            ax += 1
        (after if (seen_adv and not adv_first) else before).append(flag)
    if adv_first:
        return tuple(adv + before)
    return tuple(before + adv + after)


# ----------------------------------------------------------------- symbolic shapes

def _is_pyint(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _i64(v):
    from symgraph.tensor import math as tm

    if _is_pyint(v):
        return constant(int(v), dtype="int64")
    if isinstance(v, Constant) and v.type.ndim == 0:
        return constant(int(v.data), dtype="int64")
    return tm.cast(v, "int64")


def _const_val(v):
    if _is_pyint(v):
        return int(v)
    if isinstance(v, Constant) and v.type.ndim == 0:
        return int(v.data)
    return None


def _sym(py, sym_name):
    """Integer arithmetic on Python ints (folded) or int64 symbolic scalars."""
    from symgraph.tensor import math as tm

    def f(*args):
        vals = [_const_val(a) for a in args]
        if all(v is not None for v in vals):
            return py(*vals)
        return getattr(tm, sym_name)(*[_i64(a) for a in args])

    return f


_add = _sym(lambda a, b: a + b, "add")
_subi = _sym(lambda a, b: a - b, "sub")
_mini = _sym(min, "minimum")
_maxi = _sym(max, "maximum")
_fdiv = _sym(lambda a, b: a // b, "int_div")
_negi = _sym(lambda a: -a, "neg")


def _lt(a, b):
    va, vb = _const_val(a), _const_val(b)
    if va is not None and vb is not None:
        return va < vb
    from symgraph.tensor import math as tm

    return tm.lt(_i64(a), _i64(b))


def _eq1(a):
    va = _const_val(a)
    if va is not None:
        return va == 1
    from symgraph.tensor import math as tm

    return tm.eq(_i64(a), _i64(1))


def _switch(c, a, b):
    if isinstance(c, (bool, np.bool_)):
        return a if c else b
    from symgraph.tensor import math as tm

    return tm.switch(c, _i64(a), _i64(b))


def _clip_bound(b, n, lo, hi):
    """Python's slice-bound normalisation: negative counts from the end, then clip."""
    return _switch(_lt(b, 0), _maxi(_add(b, n), lo), _mini(b, hi))


def slice_length(n, start, stop, step):
    """Length of ``range(n)[start:stop:step]`` (ints folded, symbolic otherwise)."""
    if step is None:
        step = 1

    def pos():
        s = 0 if start is None else _clip_bound(start, n, 0, n)
        e = n if stop is None else _clip_bound(stop, n, 0, n)
        return _maxi(0, _fdiv(_add(_subi(e, s), _subi(step, 1)), step))

    def neg():
        s = _subi(n, 1) if start is None else _clip_bound(start, n, -1, _subi(n, 1))
        e = -1 if stop is None else _clip_bound(stop, n, -1, _subi(n, 1))
        ms = _negi(step)
        return _maxi(0, _fdiv(_add(_subi(s, e), _subi(ms, 1)), ms))

    sv = _const_val(step)
    if sv is not None:
        if sv == 0:
            raise ValueError("slice step cannot be zero")
        return pos() if sv > 0 else neg()
    return _switch(_lt(0, step), pos(), neg())


def _entry_bounds(e, ins):
    it = iter(ins)
    return [next(it) if v == _SYM else v for v in e[1:]]


def _bcast_dims(shapes):
    """Symbolic numpy broadcast of index shapes (tuples of ints/symbolic scalars)."""
    nd = max((len(s) for s in shapes), default=0)
    res = []
    for d in range(nd):
        dims = [s[d - (nd - len(s))] for s in shapes if d - (nd - len(s)) >= 0]
        dims = [v for v in dims if _const_val(v) != 1]
        if not dims:
            res.append(1)
            continue
        cur = dims[0]
        for v in dims[1:]:
            # numpy: a length-1 index dimension stretches to the other one
            cur = _switch(_eq1(cur), v, cur)
        res.append(cur)
    return res
