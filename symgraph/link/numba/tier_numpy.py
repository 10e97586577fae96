"""Elementwise nodes the Python tier runs as numpy, bit for bit what their kernels compute.

Why: a new graph's first call (``tiered.py``) waited for every kernel it was the first to
need, and an elementwise kernel (a bias add and ReLU, an SGD update, a ReLU's gradient:
dozens in a network) costs 0.1-0.35 s of Numba's pipeline each: about half of a new
network3 graph's kernel compile time (docs/benchmarks.md). Most of that arithmetic is
IEEE-754 operations that every implementation computes to the same bits: ``+ - * /``,
``sqrt``, comparisons, selections, conversions between float widths, ``abs``, negation,
``floor``/``ceil``/``trunc``. For a node made of those alone, the tier evaluates the
node's scalar program on whole arrays with numpy, and the kernel is compiled by the
background worker with the rest of the glue (``glue_worker.py``), which keeps running
it as machine code.

The same bits, by construction: each step mirrors the expression the kernel's source
computes (``symgraph.link.scalar_render``), not numpy's own idea of the op:

* operands are converted to the step's compute dtypes and the result to the step's
  dtype exactly where the kernel converts them (``cast_expr``, ``result_cast``), literals
  are numpy scalars of their dtype (``_sg_dt_float32(0.5)`` in the kernel), and an n-ary
  sum or product folds left to right, as ``(a + b + c)`` evaluates;
* ``maximum``/``minimum`` are the kernel's ``a if a >= b or a != a else b`` (not
  ``np.maximum``, whose choice between ``0.0`` and ``-0.0`` is its own), a switch tests
  ``c != 0`` (Numba's truth of a float: NaN is true), a float to bool conversion is
  ``x != 0``;
* symgraph compiles without fast-math, so LLVM contracts no multiply-add and reorders no
  arithmetic, and numpy's ufuncs compute float32 in float32;
* broadcasting is the kernel's static rule (a broadcastable dimension is read at index
  0; a non-broadcastable one must equal the first input's that has it); a shape the
  kernel would refuse, an in-place output whose memory another operand overlaps
  elsewhere, or any argument type the program was not made for runs the compiled kernel
  instead, which raises its own error.

Transcendentals (``exp``, ``log``, ``log1p``, ``expm1``, ``tanh``, ``sin``, ``cos``, and
``sigmoid`` and ``softplus``, whose templates call them) are steps too, but not numpy's:
``vmath``'s float32 functions are symgraph's own polynomials and the rest libm's, so each
is applied by a compiled loop calling the very function the kernel calls
(``tier_math.py``), between the numpy steps. A NaN made from two NaNs of opposite signs
may come out with either sign (the order of a commutative operation's operands is
LLVM's choice); every other value is the kernel's bits.

Left out, each compiled as before: other transcendentals, integer arithmetic (Numba
computes it in int64 and LLVM assumes it never overflows), complex and float16 values,
and reductions (the order of a sum). A float converted to an integer out of range, or a
NaN, runs the compiled kernel (LLVM's conversion has no defined value there).
Tests: ``tests/link/numba/test_tier_numpy.py`` compares every supported operation with
its kernel over zeros of both signs, infinities, NaN, subnormals and extremes.
"""
from __future__ import annotations

import numpy as np

from symgraph.link.numba import tier_math
from symgraph.link.numba.plan_compile import Compiled, StandIn, new_value_type
from symgraph.tensor import scalar_logic as tl
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Composite, Elemwise

__all__ = ["numpy_program", "NumpyNode"]

_FLOATS = ("float32", "float64")
#: (not uint64: its conversion to a float is a sequence of instructions of each
#: compiler's own, where the other integers convert in one rounding instruction)
_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
_VALUES = _FLOATS + _INTS + ("bool",)

#: scalar op type -> program key, for ops computed on float operands only
_FLOAT_OPS = {ts.Add: "add", ts.Mul: "mul", ts.Sub: "sub", ts.TrueDiv: "div",
              ts.Neg: "neg", ts.Sqr: "sqr", ts.Abs: "abs", ts.Reciprocal: "reciprocal",
              ts.Maximum: "maximum", ts.Minimum: "minimum", tl.Clip: "clip",
              ts.Sgn: "sgn", ts.Sqrt: "sqrt", ts.Floor: "floor", ts.Ceil: "ceil",
              ts.Trunc: "trunc"}
#: on any value dtype (the result is an exact comparison or one of the operands)
_ANY_OPS = {tl.LT: "<", tl.GT: ">", tl.LE: "<=", tl.GE: ">=", tl.EQ: "==", tl.NEQ: "!=",
            tl.Switch: "switch", tl.Identity: "identity", tl.Second: "second"}
#: on booleans only
_BOOL_OPS = {tl.And: "and", tl.Or: "or", tl.Xor: "xor"}
#: transcendental functions, by their compiled loops (``tier_math.py``), on float operands
#: of one dtype
_MATH_OPS = {ts.Exp: "exp", ts.Log: "log", ts.Log1p: "log1p", ts.Expm1: "expm1",
             ts.Tanh: "tanh", ts.Sin: "sin", ts.Cos: "cos"}
#: templates built on those: the functions they call
_MATH_TEMPLATES = {ts.Sigmoid: ("sigmoid", ("exp",)), ts.Softplus: ("softplus", ("exp", "log1p"))}


def _step_key(op, cdts, dt):
    """The program key of scalar op ``op`` computed in ``cdts`` into ``dt``, or None
    when its numpy evaluation could differ from the kernel's."""
    if dt not in _VALUES or any(c not in _VALUES for c in cdts):
        return None
    kind = type(op)
    same_float = len(set(cdts)) == 1 and cdts[0] in _FLOATS
    if kind in _FLOAT_OPS:
        return _FLOAT_OPS[kind] if same_float else None
    if kind in _MATH_OPS or kind in _MATH_TEMPLATES:
        from symgraph.link.numba.tier_math import exact

        key, names = _MATH_TEMPLATES.get(kind) or ("fn:" + _MATH_OPS[kind], (_MATH_OPS[kind],))
        # (a template's literals are of the output dtype: the same as its operands')
        return key if same_float and cdts[0] == dt and all(exact(n, dt) for n in names) \
            else None
    if kind in _ANY_OPS:
        return _ANY_OPS[kind]
    if kind in _BOOL_OPS:
        return _BOOL_OPS[kind] if all(c == "bool" for c in cdts) else None
    if kind is tl.Cast:
        return "cast"   # float -> integer: checked in range at every call (``_in_range``)
    return None


def _steps_of(sop, in_dtypes, out_dtypes):
    """``[(key, refs, cdts, natural, dt)]`` and the output step indices for scalar op
    ``sop`` on inputs of ``in_dtypes``, or None. A single op is a program of one step."""
    if isinstance(sop, Composite):
        if list(sop.in_dtypes) != list(in_dtypes):
            return None
        pairs = [(op, refs, dt) for op, refs, dt in sop.steps]
        outputs = list(sop.outputs)
    elif sop.nout == 1 and len(out_dtypes) == 1:
        pairs = [(sop, tuple(("i", k) for k in range(len(in_dtypes))), out_dtypes[0])]
        outputs = [0]
    else:
        return None
    steps, dts = [], []
    for op, refs, dt in pairs:
        if isinstance(op, Composite):
            return None
        a_dts, prog_refs = [], []
        for r in refs:
            if r[0] == "i":
                a_dts.append(in_dtypes[r[1]])
                prog_refs.append(("i", r[1]))
            elif r[0] == "s":
                a_dts.append(dts[r[1]])
                prog_refs.append(("s", r[1]))
            else:   # a literal: (value, dtype), as the kernel writes it
                if r[2] not in _VALUES:
                    return None
                a_dts.append(r[2])
                prog_refs.append(("c", np.asarray(r[1]).astype(r[2]).item(), r[2]))
        cdts = list(op.compute_dtypes(a_dts, [dt]))
        key = _step_key(op, cdts, dt)
        if key is None:
            return None
        natural = op.output_dtypes(*cdts)[0]
        steps.append((key, tuple(prog_refs), tuple(a_dts), tuple(cdts), natural, dt))
        dts.append(dt)
    if [dts[j] for j in outputs] != list(out_dtypes):
        return None
    return steps, outputs


def numpy_program(node):
    """A description of ``node`` (:func:`elemwise_program`, :func:`reshape_program`,
    ``tier_data.data_program``) the tier runs as numpy, or None."""
    from symgraph.link.numba.tier_data import data_program

    return elemwise_program(node) or reshape_program(node) or data_program(node)


def reshape_program(node):
    """A ``Reshape`` of an array to rank >= 1: its kernel resolves the target shape
    (``helpers.reshape_target``) and views the array, copied first when it is not
    C-contiguous (``helpers.reshape_contiguous``); numpy's ``ascontiguousarray`` and
    ``reshape`` make the same view of the same memory, or the same copy. A target shape
    that does not fit (``shape_ops.resolve_reshape``, the rule of ``reshape_target``
    too) runs the kernel, which raises its error."""
    from symgraph.tensor.shape_ops import Reshape

    if type(node.op) is not Reshape or node.op.ndim == 0:   # (its generator's own op)
        return None
    x = node.inputs[0]
    if x.type.ndim == 0 or x.type.dtype not in _VALUES + ("complex64", "complex128"):
        return None
    return {"kind": "reshape", "ndim": node.op.ndim}


def elemwise_program(node):
    """A description of elementwise ``node`` (plain values: it is written into the graph
    module's ``_sg_tier``) that :class:`NumpyNode` evaluates to its kernel's bits, or
    None when the node has an operation or dtype outside the exact set (module
    docstring)."""
    op = node.op
    if type(op) is not Elemwise:   # (a subclass may have a generator of its own)
        return None
    in_dtypes = [v.type.dtype for v in node.inputs]
    out_dtypes = [o.type.dtype for o in node.outputs]
    if any(d not in _VALUES for d in in_dtypes + out_dtypes):
        return None
    found = _steps_of(op.scalar_op, in_dtypes, out_dtypes)
    if found is None:
        return None
    steps, outputs = found
    inplace = dict(op.inplace_pattern)
    ndim = node.outputs[0].type.ndim
    if any(in_dtypes[k] != out_dtypes[j] for j, k in inplace.items()):
        return None
    return {"kind": "elemwise", "ndim": ndim, "in": in_dtypes, "out": out_dtypes,
            "bcast": [list(v.type.broadcastable) for v in node.inputs],
            "steps": steps, "outputs": outputs, "inplace": sorted(inplace.items())}


# ------------------------------------------------------------------- evaluation

def _cast(v, frm: str, to: str):
    """``cast_expr``: ``x != 0`` to bool, else a conversion to ``to``."""
    if frm == to:
        return v
    if to == "bool":
        return v != 0
    return v.astype(to)


def _where(c, a, b):
    return np.where(c, a, b)


def _extremum(a, b, keep):
    return np.where(keep(a, b) | (a != a), a, b)


def _one(dt):
    return np.ones((), dt)[()]


_CMP = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


def _apply(key, ops, cdts, natural, dt):
    """Step ``key`` on operands already in their compute dtypes (the kernel's
    template, as numpy operations), in the op's natural dtype ``natural``."""
    if key == "add":
        out = ops[0]
        for o in ops[1:]:
            out = out + o
        return out
    if key == "mul":
        out = ops[0]
        for o in ops[1:]:
            out = out * o
        return out
    if key == "sub":
        return ops[0] - ops[1]
    if key == "div":
        return ops[0] / ops[1]
    if key == "neg":
        return -ops[0]
    if key == "sqr":
        return ops[0] * ops[0]
    if key == "abs":
        return np.abs(ops[0])
    if key == "reciprocal":
        return _one(dt) / ops[0]
    if key == "maximum":
        return _extremum(ops[0], ops[1], np.greater_equal)
    if key == "minimum":
        return _extremum(ops[0], ops[1], np.less_equal)
    if key == "clip":
        return _extremum(_extremum(ops[0], ops[1], np.greater_equal), ops[2],
                         np.less_equal)
    if key == "sgn":
        x = ops[0]
        return np.where(x > 0, _one(dt), np.where(x < 0, -_one(dt), x))
    if key in ("sqrt", "floor", "ceil", "trunc"):
        return getattr(np, key)(ops[0])
    if key.startswith("fn:"):
        return tier_math.apply(key[3:], ops[0])
    if key == "sigmoid":   # (1 / (1 + exp(-a)))
        return _one(dt) / (_one(dt) + tier_math.apply("exp", -ops[0]))
    if key == "softplus":   # ((a if a > 0 else 0) + log1p(exp(-abs(a))))
        a = ops[0]
        zero = np.zeros((), dt)[()]
        return np.where(a > zero, a, zero) + tier_math.apply(
            "log1p", tier_math.apply("exp", -np.abs(a)))
    if key in _CMP:
        return _CMP[key](ops[0], ops[1])
    if key == "switch":
        c = ops[0] if cdts[0] == "bool" else ops[0] != 0
        return _where(c, ops[1], ops[2])
    if key == "identity":
        return ops[0]
    if key == "second":
        return ops[1]
    if key == "and":
        return ops[0] & ops[1]
    if key == "or":
        return ops[0] | ops[1]
    if key == "xor":
        return ops[0] ^ ops[1]
    if key == "cast":
        if cdts[0] in _FLOATS and natural in _INTS:
            _in_range(ops[0], natural)
        return _cast(ops[0], cdts[0], natural)
    raise KeyError(key)


def _in_range(x, dtype: str) -> None:
    """Raise :class:`Inexact` unless every value of float ``x`` converts to integer
    ``dtype`` without leaving its range: both numpy and the kernel truncate toward zero
    there, while beyond it (and for NaN) LLVM's conversion has no defined value and the
    kernel's result is its machine code's own."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max) + 1.0   # both exact powers of two (or 0)
    x = np.asarray(x)
    if x.size and not (lo <= x.min() and x.max() < hi):   # NaN fails both
        raise Inexact(f"a value outside {dtype}'s range")


class Inexact(Exception):
    """A step numpy cannot vouch for: a float converted to an integer out of its range,
    or (never expected) a step numpy computed in another dtype than the kernel would.
    The caller runs the compiled kernel instead."""


def evaluate(prog, args):
    """The program's outputs on ``args`` (numpy arrays of the program's rank, or numpy
    scalars for rank 0), before they are stored: numpy values of each output's dtype."""
    vals, dts = [], []
    for key, refs, a_dts, cdts, natural, dt in prog["steps"]:
        ops = []
        for r, frm, to in zip(refs, a_dts, cdts):
            if r[0] == "i":
                v = args[r[1]]
            elif r[0] == "s":
                v = vals[r[1]]
            else:
                v = np.asarray(r[1], r[2])[()]
            ops.append(_cast(v, frm, to))
        res = _apply(key, ops, cdts, natural, dt)
        if np.result_type(res) != np.dtype(natural):
            raise Inexact(f"{key} on {cdts} gave {np.result_type(res)}, not {natural}")
        if natural != dt or dt not in _FLOATS:   # ``result_cast``
            res = _cast(res, natural, dt) if dt == "bool" else np.asarray(res).astype(dt)
        vals.append(res)
        dts.append(dt)
    return [vals[j] for j in prog["outputs"]]


def _shape(prog, args):
    """The output shape the kernel computes for ``args`` (the first non-broadcastable
    input per dimension), or None where the kernel would raise its mismatch error."""
    shape = []
    for d in range(prog["ndim"]):
        size = None
        for a, b in zip(args, prog["bcast"]):
            if b[d]:
                continue
            if size is None:
                size = a.shape[d]
            elif a.shape[d] != size:
                return None
        shape.append(1 if size is None else size)
    return tuple(shape)


def _overlaps(dest, others) -> bool:
    """Whether an operand other than ``dest`` itself may share memory with it (the
    kernel reads and writes element by element: such an overlap makes the result depend
    on its loop order, which numpy's whole-array steps do not follow)."""
    for a in others:
        if a is dest:
            continue
        if (isinstance(a, np.ndarray) and np.may_share_memory(a, dest)
                and not (a.shape == dest.shape and a.strides == dest.strides
                         and a.__array_interface__["data"][0]
                         == dest.__array_interface__["data"][0])):
            return True
    return False


def run_arrays(prog, args):
    """The node's results for arrays ``args`` (rank >= 1), as its kernel returns them
    (new C-ordered arrays, or the in-place operand itself, written), or None where the
    compiled kernel must run instead."""
    shape = _shape(prog, args)
    if shape is None:
        return None
    inplace = dict(prog["inplace"])
    for k in inplace.values():
        dest = args[k]
        if dest.shape != shape or not dest.flags.writeable or _overlaps(dest, args):
            return None
    # a broadcastable dimension is read at index 0, as in the kernel
    views = [a if not any(b) else a[tuple(slice(0, 1) if f else slice(None) for f in b)]
             for a, b in zip(args, prog["bcast"])]
    with np.errstate(all="ignore"):
        results = evaluate(prog, views)
    if any(np.result_type(r) != np.dtype(dt) for r, dt in zip(results, prog["out"])):
        return None   # (never expected) checked before anything is written
    outs = []
    for j, (res, dt) in enumerate(zip(results, prog["out"])):
        if j in inplace:
            dest = args[inplace[j]]
            np.copyto(dest, res, casting="no")
            outs.append(dest)
            continue
        out = np.empty(shape, dt)
        np.copyto(out, res, casting="no")
        outs.append(out)
    return outs


def run_reshape(prog, x, shp):
    """The reshape kernel's result (a C-ordered view, or a reshaped copy), or None where
    the target does not fit (the kernel then runs, for its own message)."""
    from symgraph.tensor.shape_ops import Reshape, resolve_reshape

    try:
        target = resolve_reshape(Reshape(prog["ndim"]), x.size, x.shape, shp)
    except ValueError:
        return None
    return np.ascontiguousarray(x).reshape(target)


def run_scalars(prog, args):
    """The node's results for numpy scalars ``args`` (rank 0): numpy scalars."""
    with np.errstate(all="ignore"):
        results = evaluate(prog, args)
    return [np.asarray(r, dt)[()] for r, dt in zip(results, prog["out"])]


class NumpyNode(StandIn):
    """Stands in for an elementwise node's kernel in a Python-tier plan: runs the node's
    program (:func:`numpy_program`) with numpy for argument types it was made for (arrays
    of the node's rank and dtypes, or scalars of its dtypes for a 0-d node), returning
    what the kernel returns and typed as the kernel's return type; anything else, and
    any call :func:`run_arrays` declines or numpy fails, runs the compiled kernel."""

    def __init__(self, dispatcher, prog):
        super().__init__(dispatcher)
        self.prog = prog

    def _fits(self, argtys) -> bool:
        from numba import types
        from numba.np.numpy_support import as_dtype

        prog = self.prog
        if prog["kind"] == "reshape":
            # a read-only array gives a read-only view: its own type, left to the kernel.
            # Its rank and dtype are not the program's own: nodes of any input rank and
            # dtype share one reshape kernel (its source names neither), and the program
            # recorded is the first such node's
            x, shp = argtys if len(argtys) == 2 else (None, None)
            if not (isinstance(x, types.Array) and x.ndim >= 1 and x.mutable
                    and isinstance(shp, types.Array) and shp.ndim == 1
                    and isinstance(shp.dtype, types.Integer)):
                return False
            try:
                return as_dtype(x.dtype).name in _VALUES + ("complex64", "complex128")
            except NotImplementedError:
                return False
        if len(argtys) != len(prog["in"]):
            return False
        for t, dt in zip(argtys, prog["in"]):
            if prog["ndim"] == 0:
                if not isinstance(t, (types.Integer, types.Float, types.Boolean)):
                    return False
            elif not (isinstance(t, types.Array) and t.ndim == prog["ndim"]):
                return False
            try:
                if as_dtype(getattr(t, "dtype", t)) != np.dtype(dt):
                    return False
            except NotImplementedError:
                return False
        return True

    def __getitem__(self, argtys):
        from numba.np.numpy_support import as_dtype

        argtys = tuple(argtys)
        if self.prog["kind"] in _DATA_KINDS:   # (``tier_data.py``)
            from symgraph.link.numba.tier_data import data_entry

            return data_entry(self, argtys) or self._compiled(argtys)
        if not self._fits(argtys):
            return self._compiled(argtys)
        prog = self.prog
        if prog["kind"] == "reshape":
            def reshaped(x, shp):
                try:
                    out = run_reshape(prog, x, shp)
                except Exception:  # noqa: BLE001 - the compiled kernel says it
                    out = None
                return self._compiled(argtys).entry_point(x, shp) if out is None else out

            return Compiled(reshaped, new_value_type(str(as_dtype(argtys[0].dtype)),
                                                     prog["ndim"]))
        inplace = dict(prog["inplace"])
        rets = [argtys[inplace[j]] if j in inplace else new_value_type(dt, prog["ndim"])
                for j, dt in enumerate(prog["out"])]
        ret = rets[0] if len(rets) == 1 else _tuple_type(rets)
        single = len(rets) == 1

        if prog["ndim"] == 0:
            convs = [np.dtype(dt).type for dt in prog["in"]]

            def entry(*args):
                try:
                    outs = run_scalars(prog, [c(a) for c, a in zip(convs, args)])
                except Exception:  # noqa: BLE001 - the compiled kernel says it
                    return self._compiled(argtys).entry_point(*args)
                return outs[0] if single else tuple(outs)
        else:
            def entry(*args):
                try:
                    outs = run_arrays(prog, args)
                except Exception:  # noqa: BLE001 - the compiled kernel says it
                    outs = None
                if outs is None:
                    return self._compiled(argtys).entry_point(*args)
                return outs[0] if single else tuple(outs)

        return Compiled(entry, ret)


_DATA_KINDS = ("specify_shape", "join", "alloc")


def _tuple_type(rets):
    from numba import types

    return types.Tuple(rets)
