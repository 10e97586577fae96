"""Scalar expressions rendered as source text, shared by the Numba and CUDA backends.

Both backends generate Python source that Numba compiles (``numba.njit`` on the CPU,
``numba.cuda.jit`` on the device), so both follow Numba's typing rules, and the scalar
part of an elementwise loop, a fused ``Composite`` or a reduction step is the same text
on both. It is rendered here, once; each backend only binds the vocabulary the text uses
(``_sg_dt_<dtype>`` typed constructors, ``_sg_<name>`` math functions) and builds its
own loops around it. This module imports neither backend.

The ops themselves (``symgraph.tensor.scalar_ops``) stay backend-neutral: they give an
expression template per op (``ScalarOp.code``) and their dtype rules. What it takes to
get numpy's results from those templates under Numba's rules is decided here: where
results are converted (``result_cast``: Numba promotes small integers) and the few ops
whose plain template Numba would compute differently (``_RENDERERS``).
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Composite
from symgraph.tensor.type import DISCRETE_DTYPES

_FLOATS = ("float32", "float64", "complex64", "complex128")


def src_line(node) -> str:
    """``file.py:line`` where ``node`` was created (``?`` if unknown), for error messages
    raised by generated code."""
    tr = getattr(node.tag, "trace", ())
    if tr:
        return f"{str(tr[0][0]).rsplit('/', 1)[-1]}:{tr[0][1]}"
    return "?"


def inline_literal(v):
    """A typed literal for a single-element constant that broadcasts everywhere, else None
    (such a constant is written into the loop body instead of being read from memory)."""
    if isinstance(v, Constant) and np.asarray(v.data).size == 1 and all(v.type.broadcastable):
        return ts.literal(np.asarray(v.data).reshape(-1)[0].item(), v.type.dtype)
    return None


def cast_expr(name: str, from_dtype: str, to_dtype: str) -> str:
    """Wrap ``name`` in a typed conversion when the dtypes differ."""
    if from_dtype == to_dtype:
        return name
    if to_dtype == "bool":
        return f"({name} != 0)"
    return f"_sg_dt_{to_dtype}({name})"


def result_cast(expr: str, natural_dtype: str, to_dtype: str) -> str:
    """Convert an op's result expression to ``to_dtype`` for storing or returning.

    Integer and boolean arithmetic in Numba promotes (int8 + int8 is an int64, True + True
    is 2), so discrete results are always wrapped: that gives numpy's wrap-around and keeps
    0-d results (Numba scalars) of the declared dtype. Float results are wrapped only when
    the dtypes differ (Numba keeps float32 arithmetic in float32).
    """
    if natural_dtype == to_dtype and to_dtype in _FLOATS:
        return expr
    return f"_sg_dt_{to_dtype}({expr})"


def _int_div(sop, args, in_dtypes, out_dtypes, fresh):
    a, b = args
    if out_dtypes[0] == "int64":
        # Numba gives 0 for INT64_MIN // -1; numpy wraps to INT64_MIN (i.e. -a)
        return [], [f"(-{a} if {b} == -1 else {a} // {b})"]
    return [], [sop.expr(args)]


def _pow(sop, args, in_dtypes, out_dtypes, fresh):
    dt = out_dtypes[0]
    if dt in DISCRETE_DTYPES and not dt.startswith("uint"):
        # numpy refuses negative integer exponents; Numba would return garbage
        return [f"if {args[1]} < 0: raise ValueError('pow: integers to negative integer "
                f"powers are not allowed')"], [sop.expr(args)]
    return [], [sop.expr(args)]


#: scalar op type -> renderer, where an op's template alone would not give numpy's result
#: under Numba (fused ``Composite`` programs are rendered step by step)
_RENDERERS = {ts.IntDiv: _int_div, ts.Pow: _pow}


def op_code(sop, args, in_dtypes, out_dtypes, fresh):
    """``(stmts, out_exprs)`` of scalar op ``sop`` on ``args`` already cast to its
    compute dtypes: the op's own template, unless ``_RENDERERS`` or ``Composite`` says
    otherwise."""
    if isinstance(sop, Composite):
        return _composite_code(sop, args, fresh)
    render = _RENDERERS.get(type(sop))
    if render is not None:
        return render(sop, args, in_dtypes, out_dtypes, fresh)
    return sop.code(args, in_dtypes, out_dtypes, fresh)


def _composite_code(comp, args, fresh):
    """Statements computing every step of ``comp`` into a fresh temporary (each step's
    result cast to the step's dtype, as the unfused ops would store it); the outputs are
    temporaries."""
    stmts, names, dts = [], [], []
    for op, refs, dt in comp.steps:
        a_names, a_dts = [], []
        for r in refs:
            if r[0] == "i":
                a_names.append(args[r[1]])
                a_dts.append(comp.in_dtypes[r[1]])
            elif r[0] == "s":
                a_names.append(names[r[1]])
                a_dts.append(dts[r[1]])
            else:
                a_names.append(ts.literal(r[1], r[2]))
                a_dts.append(r[2])
        cdts = op.compute_dtypes(a_dts, [dt])
        cast_args = [cast_expr(n, d, c) for n, d, c in zip(a_names, a_dts, cdts)]
        sub_stmts, exprs = op_code(op, cast_args, cdts, [dt], fresh)
        stmts.extend(sub_stmts)
        t = fresh()
        stmts.append(f"{t} = {result_cast(exprs[0], op.output_dtypes(*cdts)[0], dt)}")
        names.append(t)
        dts.append(dt)
    return stmts, [names[j] for j in comp.outputs]


def scalar_body(sop, in_names, in_dtypes, out_dtypes, fresh):
    """Statements computing ``sop`` on scalar names; returns (stmts, out_exprs).

    Output expressions already have the declared output dtypes (``result_cast``), so they
    can be stored into arrays or returned as 0-d results (Numba scalars) alike. Inputs
    that need a conversion get a name of their own, so templates may repeat them.
    """
    cdts = sop.compute_dtypes(list(in_dtypes), list(out_dtypes))
    stmts = []
    named = []
    for n, d, c in zip(in_names, in_dtypes, cdts):
        a = cast_expr(n, d, c)
        if a != n:
            t = fresh()
            stmts.append(f"{t} = {a}")
            named.append(t)
        else:
            named.append(n)
    sub, exprs = op_code(sop, named, cdts, list(out_dtypes), fresh)
    stmts.extend(sub)
    natural = sop.output_dtypes(*cdts)
    return stmts, [result_cast(e, nd, od) for e, nd, od in zip(exprs, natural, out_dtypes)]


# -- reductions ----------------------------------------------------------------------

def reduce_identity(sop, dtype: str) -> str:
    """Typed literal a reduction with ``sop`` starts from (``ScalarOp.identity``)."""
    value = sop.identity(dtype)
    if value is None:
        raise TypeError(f"cannot reduce with {sop}: it has no identity element")
    return ts.literal(value, dtype)


def reduce_step(sop, acc: str, v: str) -> str:
    """Expression folding ``v`` into the accumulator ``acc``: the op's own template, so a
    reduction computes what the elementwise op computes (max/min propagate NaN)."""
    return sop.expr([acc, v])
