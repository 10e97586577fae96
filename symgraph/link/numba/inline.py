"""Inline node functions into ``graph_fn`` so a graph is one Numba compilation unit.

Why: Numba compiles every jitted function separately, with a fixed cost per function;
a training graph of ~60 nodes paid it ~60 times. A node function qualifies when its only
``return`` is its last statement (loops and ``raise`` are fine). Its parameters are
substituted by the caller's variable names and its locals get a unique prefix.
"""
from __future__ import annotations

import ast


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        if node.id in self.mapping:
            return ast.copy_location(ast.Name(id=self.mapping[node.id], ctx=node.ctx), node)
        return node


def _local_names(fn: ast.FunctionDef) -> set:
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def split_main(src: str, name: str):
    """Return (other top-level source, main FunctionDef) from a node's source."""
    tree = ast.parse(src)
    main = None
    rest = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            main = stmt
        else:
            rest.append(stmt)
    return rest, main


def inline_body(fn: ast.FunctionDef, args: list[str], outs: list[str], prefix: str):
    """Source lines computing ``outs`` from ``args`` with ``fn``'s body, or None."""
    if fn.decorator_list or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs:
        return None
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                            ast.Constant):
        body = body[1:]  # docstring
    if not body or not isinstance(body[-1], ast.Return):
        return None
    for stmt in body[:-1]:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.FunctionDef,
                                 ast.Lambda, ast.Global, ast.Nonlocal)):
                return None
    params = [a.arg for a in fn.args.args]
    if len(params) != len(args):
        return None
    mapping = dict(zip(params, args))
    for nm in _local_names(fn):
        if nm in mapping:
            return None  # a parameter is reassigned: keep the function
        mapping[nm] = f"{prefix}{nm}"
    renamer = _Rename(mapping)
    lines = []
    for stmt in body[:-1]:
        lines.append(ast.unparse(renamer.visit(stmt)))
    ret = body[-1].value
    if ret is None:
        return None
    ret = renamer.visit(ret)
    if len(outs) == 1:
        lines.append(f"{outs[0]} = {ast.unparse(ret)}")
    else:
        if isinstance(ret, ast.Tuple) and len(ret.elts) == len(outs):
            for o, e in zip(outs, ret.elts):
                lines.append(f"{o} = {ast.unparse(e)}")
        else:
            lines.append(f"{', '.join(outs)} = {ast.unparse(ret)}")
    return "\n".join(lines)
