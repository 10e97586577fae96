"""The Python tier's view of a fused 0-d expression: one kernel per scalar operation.

Why: fusion (``rewriting/fusion.py``) turns a cost's scalar arithmetic into one 0-d
``Composite``, whose shape follows the model: an L2 penalty's sum over the layers has one
term per layer. The compiled glue writes such a node inline, but the Python tier
(``tiered.py``) runs every node as a kernel, so each new depth of an MLP compiled a new
kernel before its first step (about 1 s with Numba's first-compile set-up:
docs/benchmarks.md). Here the tier runs the composite's steps instead, each as a
one-step composite of its own: a handful of kernels per dtype, compiled once per
installation and shared by every graph, whatever its depth. The graph users see
(``debugprint``) and the compiled glue keep the fused node.

The same bits as the inline code, by construction: each step is rendered by the very
code that renders it inside the composite (``scalar_render._composite_code``: operands
cast to the step's compute dtypes, the op's template, the result cast to the step's
dtype), with the same literals in place. An n-ary sum or product is split into a
left-to-right chain of binary ones, the order in which ``(a + b + c)`` evaluates (only
``Add`` and ``Mul`` themselves, whose templates are those n-ary expressions), and
only where every operand already has the step's float dtype, so that each partial
result is what the n-ary expression holds at that point.
"""
from __future__ import annotations

import numpy as np

from symgraph.tensor import scalar_logic as tl
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.elemwise import Composite, DimShuffle, Elemwise
from symgraph.tensor.math import AxesSize
from symgraph.tensor.shape_ops import MakeVector, Shape, Shape_i
from symgraph.tensor.subtensor import Subtensor
from symgraph.tensor.type import TensorType

__all__ = ["python_exact", "python_view", "scalar_steps"]

_CHAIN_DTYPES = ("float32", "float64")


def _splittable(node) -> bool:
    op = node.op
    return (isinstance(op, Elemwise) and isinstance(op.scalar_op, Composite)
            and not op.inplace_pattern
            and all(v.type.ndim == 0 for v in node.inputs + node.outputs))


def _one_step(op, refs, dt, operand_dtypes):
    """A 0-d node computing ``op`` on ``refs`` (``('o', j)``: operand ``j`` of the step's
    node; ``('c', value, dtype)``: a literal, kept in the code as inside the composite)."""
    ins = [TensorType(d, ())() for d in operand_dtypes]
    comp = Composite([(op, tuple(("i", r[1]) if r[0] == "o" else r for r in refs), dt)],
                     [0], list(operand_dtypes))
    return Elemwise(comp).make_node(*ins)


def scalar_steps(node):
    """``[(step_node, operands, result)]`` running ``node``'s 0-d composite one operation
    at a time, or None when ``node`` is not such a composite. ``operands`` name each
    input of ``step_node`` as ``('in', k)`` (input ``k`` of ``node``) or ``('t', j)``
    (the result of step ``j`` of this list); ``result`` is the output index of ``node``
    the step computes, or None for an intermediate value."""
    if not _splittable(node):
        return None
    # (imported here: the generators' modules load with the backend's registries)
    from symgraph.link.numba.impl.elemwise import literal_input

    comp = node.op.scalar_op
    if len(set(comp.outputs)) != len(comp.outputs):
        return None
    out_of = {s: j for j, s in enumerate(comp.outputs)}
    steps: list = []
    where: list = []   # per composite step: ('t', index in steps)
    in_dts = [v.type.dtype for v in node.inputs]
    # inputs the composite's kernel has as literals in its code (``literal_input``) stay
    # literals in the steps' code
    literal = {k: ("c", np.asarray(v.data).reshape(-1)[0].item(), v.type.dtype)
               for k, v in enumerate(node.inputs) if literal_input(v) is not None}

    def operand(r):
        if r[0] == "i" and r[1] in literal:
            return None, in_dts[r[1]]
        if r[0] == "i":
            return ("in", r[1]), in_dts[r[1]]
        if r[0] == "s":
            return where[r[1]], comp.steps[r[1]][2]
        return None, r[2]

    for k, (op, refs, dt) in enumerate(comp.steps):
        resolved = [operand(r) for r in refs]
        if all(src is None for src, _ in resolved):
            return None   # a step of literals only (constant folding leaves none)
        chain = (type(op) in (ts.Add, ts.Mul) and len(refs) > 2 and dt in _CHAIN_DTYPES
                 and all(d == dt for _, d in resolved))
        groups = ([refs[:2]] + [[None, r] for r in refs[2:]]) if chain else [list(refs)]
        for g, group in enumerate(groups):
            operands, dts, step_refs = [], [], []
            for r in group:
                if r is None:   # the chain's running value
                    src, d = ("t", len(steps) - 1), dt
                else:
                    src, d = operand(r)
                if src is None:
                    step_refs.append(literal[r[1]] if r[0] == "i" else r)
                else:
                    step_refs.append(("o", len(operands)))
                    operands.append(src)
                    dts.append(d)
            if not operands:
                return None
            last = g == len(groups) - 1
            steps.append((_one_step(op, step_refs, dt, dts), operands,
                          out_of.get(k) if last else None))
        where.append(("t", len(steps) - 1))
    return steps


# --------------------------------------------------------------- integer steps in Python

#: scalar operations that Python computes on numpy ``int64`` operands exactly as Numba's
#: machine code does on ``int64`` wherever both are defined: the exact integer (``//`` and
#: ``%`` floored, as in Python and Numba), no rounding and no float in sight. Where
#: numpy's scalars would wrap around or divide by zero, the tier runs the compiled kernel
#: instead (``tiered.PythonNode``)
_INT_ARITHMETIC = (ts.Add, ts.Sub, ts.Mul, ts.Neg, ts.Abs, ts.Maximum, ts.Minimum,
                   ts.IntDiv, ts.Mod)
#: the same for int64 or bool operands (comparisons, selections, casts between the two);
#: ``&``, ``|``, ``^`` when both operands have one dtype
_INT_OR_BOOL = (tl.Comparison, tl.Switch, tl.Cast, tl.Identity, tl.Second)
_BITWISE = (tl.And, tl.Or, tl.Xor)
_EXACT_DTYPES = ("int64", "bool")


def _exact_step(op, operand_dtypes, dtype) -> bool:
    if dtype not in _EXACT_DTYPES or any(d not in _EXACT_DTYPES for d in operand_dtypes):
        return False
    if isinstance(op, _INT_ARITHMETIC):
        return dtype == "int64" and all(d == "int64" for d in operand_dtypes)
    if isinstance(op, _BITWISE):
        return len(set(operand_dtypes)) == 1
    return isinstance(op, _INT_OR_BOOL)


def python_exact(node) -> bool:
    """Whether the Python tier may run ``node`` as its kernel's Python source on numpy
    values instead of compiling the kernel: integer shape arithmetic (an LSTM's
    ``n_steps``, slice bounds and reshape targets: about twenty such operations, each a
    compile of 0.1 s or more on a new cache dir, docs/benchmarks.md), and the shapes and
    int64 vectors it starts from and ends in (``Shape``, ``Shape_i``, ``AxesSize``,
    ``MakeVector``); and a 0-d value of any dtype indexed or dimshuffled (itself, or
    copied into a new array of its dtype).
    The same values, by construction: every operation is one of the integer and boolean
    operations above, on int64 or bool values only, a read of a shape, or a copy, and
    the compiled glue still runs the node as machine code. A fused node with one operation
    outside them is split into steps (:func:`scalar_steps`), and this is asked again of
    each step."""
    op = node.op
    if isinstance(op, (Shape, Shape_i, AxesSize)):
        return True   # integers read from an array's shape into a new array (or int64)
    if isinstance(op, (Subtensor, DimShuffle)) and node.inputs[0].type.ndim == 0:
        # a 0-d value itself, or copied into a new array of ones' shape (``np.full``)
        return all(o.type.dtype == node.inputs[0].type.dtype for o in node.outputs)
    if isinstance(op, MakeVector):
        return op.dtype == "int64"   # int64 scalars into a new int64 vector
    if not isinstance(op, Elemwise) or op.inplace_pattern:
        return False
    if any(v.type.ndim != 0 for v in node.inputs + node.outputs):
        return False
    in_dts = [v.type.dtype for v in node.inputs]
    if any(d not in _EXACT_DTYPES for d in in_dts + [o.type.dtype for o in node.outputs]):
        return False
    comp = op.scalar_op
    if not isinstance(comp, Composite):
        return _exact_step(comp, in_dts, node.outputs[0].type.dtype)
    step_dts = []
    for scalar, refs, dt in comp.steps:
        dts = [in_dts[r[1]] if r[0] == "i" else step_dts[r[1]] if r[0] == "s" else r[2]
               for r in refs]
        if not _exact_step(scalar, dts, dt):
            return False
        step_dts.append(dt)
    return True


#: helpers a view's kernel calls by symbol that ``tiered.PythonNode`` runs as numpy
PYTHON_EXTERNS = {"symgraph.link.numba.helpers:transpose"}


def python_view(node, code) -> bool:
    """Whether the Python tier may run ``node`` as its kernel's Python source on numpy
    arrays, its results typed by Numba's typing of the view steps the generator declares
    (``NumbaCode.views``) instead of by a compiled kernel (``tiered.PythonNode``): basic
    indexing (``Subtensor``: integers and slices, with the kernel's own bounds checks)
    and dimshuffles that add, drop or reverse axes. numpy and Numba make the same view of
    the same memory for these; an LSTM's graph has about forty of them, some fifteen
    distinct kernels, each a compile of 0.05-0.19 s on a new cache dir
    (docs/benchmarks.md), while the compiled glue has them inline and compiles none.
    A dimshuffle that permutes axes calls ``helpers.transpose`` by symbol: in Python
    that is numpy's ``transpose`` (``tiered.PythonNode``), the same view, typed as Numba
    types ``array.transpose(axes)``: layout 'A' (its view step ``("A",)``)."""
    if not isinstance(node.op, (Subtensor, DimShuffle)) or any(
            path not in PYTHON_EXTERNS for _, path in code.externs):
        return False
    if not node.inputs or node.inputs[0].type.ndim == 0:
        return False
    views = code.views
    return len(views) == len(node.outputs) and all(v is not None for v in views)
