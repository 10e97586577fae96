"""Printing graphs: ``debugprint`` (one node per line, indented) and ``pp`` (infix).

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> x = T.dscalar('x')
    >>> theano.pp(x ** 2 + 1)
    '((x ** 2) + 1)'
"""
from __future__ import annotations

import io
import sys

from symgraph.graph.basic import Constant, Variable

_INFIX = {"add": "+", "sub": "-", "mul": "*", "true_div": "/", "int_div": "//", "mod": "%",
          "pow": "**", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "neq": "!=",
          "and_": "&", "or_": "|", "xor": "^"}


def pp(var) -> str:
    """Pretty-print the expression computing ``var`` as infix math."""
    from symgraph.tensor.elemwise import DimShuffle, Elemwise

    def rec(v):
        if isinstance(v, Constant):
            return str(v)
        if v.owner is None:
            return v.name if v.name is not None else f"<{v.type}>"
        node = v.owner
        op = node.op
        args = [rec(i) for i in node.inputs]
        if isinstance(op, Elemwise):
            name = op.scalar_op.name
            if name in _INFIX:
                return "(" + f" {_INFIX[name]} ".join(args) + ")"
            if name == "neg":
                return f"-{args[0]}"
            return f"{name}({', '.join(args)})"
        if isinstance(op, DimShuffle):
            if all(i == "x" for i in op.new_order[: len(op.new_order) - len(op.shuffle)]) and \
                    list(op.shuffle) == sorted(op.shuffle) and not op.drop:
                return args[0]
            return f"{args[0]}.dimshuffle({', '.join(map(repr, op.new_order))})"
        return f"{op}({', '.join(args)})"

    if hasattr(var, "maker"):
        return "\n".join(rec(o) for o in var.maker.fgraph.outputs)
    return rec(var)


def debugprint(obj, file=None, print_type: bool = True, ids: str = "CHAR", depth: int = -1,
               print_shape: bool = True):
    """Print a graph one node per line, children indented; shared subgraphs shown once.

    ``obj`` is a variable, a list of variables, or a compiled Function (its optimized
    graph, with static shapes where known). Returns the text; prints to ``file``
    (default stdout; ``file='str'`` only returns it).
    """
    out = io.StringIO()
    seen: dict = {}
    counter = [0]
    if hasattr(obj, "maker"):
        roots = list(obj.maker.fgraph.outputs)
        n_user = getattr(obj.maker.fgraph, "n_user_outputs", len(roots))
        shapes = _static_shapes(obj.maker.fgraph) if print_shape else {}
        labels = [None] * n_user + [f"update of {v}" for v in obj.upd_vars]
    else:
        roots = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        shapes = {}
        labels = [None] * len(roots)

    def ident(node):
        if node not in seen:
            k = counter[0]
            counter[0] += 1
            s = ""
            k2 = k
            while True:
                s = chr(ord("A") + k2 % 26) + s
                k2 = k2 // 26 - 1
                if k2 < 0:
                    break
            seen[node] = s
            return s, True
        return seen[node], False

    def line(v, prefix, d):
        tstr = f" {v.type}" if print_type and hasattr(v, "type") else ""
        shp = shapes.get(v)
        sstr = f" shape={shp}" if shp is not None else ""
        if v.owner is None:
            label = str(v) if not isinstance(v, Constant) else f"{v}"
            kind = "shared " if getattr(v, "is_shared", False) else ""
            out.write(f"{prefix}{kind}{label}{tstr}{sstr}\n")
            return
        node = v.owner
        name, first = ident(node)
        idx = f".{v.index}" if len(node.outputs) > 1 else ""
        vname = f" '{v.name}'" if v.name else ""
        if not first:
            out.write(f"{prefix}{node.op}{idx} id={name}{vname}{tstr}{sstr} (see above)\n")
            return
        out.write(f"{prefix}{node.op}{idx} id={name}{vname}{tstr}{sstr}\n")
        if depth != -1 and d + 1 >= depth:
            return
        for i in node.inputs:
            line(i, prefix + " |", d + 1)

    for r, lab in zip(roots, labels):
        if lab:
            out.write(f"# {lab}\n")
        line(r, "", 0)
    text = out.getvalue()
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return text


def _static_shapes(fgraph) -> dict:
    """Shapes known at compile time (constants and broadcastable dims; others '?')."""
    try:
        from symgraph.rewriting.shape_inference import static_shapes

        return static_shapes(fgraph)
    except Exception:  # noqa: BLE001 - printing must never fail
        res = {}
        for v in fgraph.variables:
            if isinstance(v, Variable) and hasattr(v.type, "broadcastable"):
                if isinstance(v, Constant):
                    res[v] = tuple(getattr(v.data, "shape", ()))
                else:
                    res[v] = tuple(1 if b else "?" for b in v.type.broadcastable)
        return res
