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


#: Theano's name for the default pretty-printer (``theano.printing.pprint(var)``; ``pp``
#: is ``theano.pp``)
pprint = pp


def debugprint(obj, file=None, print_type: bool = True, ids: str = "CHAR", depth: int = -1,
               print_shape: bool = True):
    """Print a graph one node per line, children indented; shared subgraphs shown once.

    ``obj`` is a variable, a list of variables, or a compiled Function (its optimized
    graph, with static shapes where known). Prints to ``file`` (default stdout) and, as
    in Theano, returns ``file`` (None for stdout); ``file='str'`` returns the text instead.
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
    # as Theano: the file when one is given, None for stdout (so that a notebook cell
    # ending in debugprint(...) does not show the graph a second time as its result)
    (file or sys.stdout).write(text)
    return file


def _static_shapes(fgraph) -> dict:
    """Shapes known at compile time: ints where the graph fixes them, '?' elsewhere."""
    from symgraph.tensor.shape_inference import static_shape

    res = {}
    memo_vars = [v for v in fgraph.variables if hasattr(getattr(v, "type", None), "broadcastable")]
    for v in memo_vars:
        try:
            res[v] = tuple("?" if s is None else s for s in static_shape(v))
        except Exception:  # noqa: BLE001 - printing must never fail
            res[v] = tuple(1 if b else "?" for b in v.type.broadcastable)
    return res


def graph_image(obj, path: str, title: str | None = None) -> str:
    """Draw the graph of a variable, list of variables or compiled Function to PNG/SVG.

    Nodes are ops (boxes) and variables (ellipses) laid out top-down with networkx and
    drawn with matplotlib, so users can compare a graph before and after optimization::

        graph_image(cost, "before.png"); graph_image(f, "after.png")
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import networkx as nx

    from symgraph.graph.basic import toposort

    if hasattr(obj, "maker"):
        outs = list(obj.maker.fgraph.outputs)
        blockers = list(obj.maker.fgraph.inputs)
    else:
        outs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        blockers = []
    g = nx.DiGraph()
    labels = {}
    kinds = {}
    for node in toposort(outs, blockers=blockers):
        nid = f"n{id(node)}"
        labels[nid] = _short(str(node.op))
        kinds[nid] = "op"
        for v in node.inputs:
            vid = f"v{id(v)}"
            if v.owner is None or v in blockers:
                labels[vid] = _short(str(v))
                kinds[vid] = "var"
                g.add_edge(vid, nid)
            else:
                g.add_edge(f"n{id(v.owner)}", nid)
    for o in outs:
        if o.owner is None:
            labels[f"v{id(o)}"] = _short(str(o))
            kinds[f"v{id(o)}"] = "var"
            g.add_node(f"v{id(o)}")
    for n in g.nodes:
        g.nodes[n]["layer"] = 0
    for layer, nodes in enumerate(nx.topological_generations(g)):
        for n in nodes:
            g.nodes[n]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal", scale=-1)
    n = max(len(g), 1)
    fig, ax = plt.subplots(figsize=(min(4 + n * 0.6, 30), min(3 + n * 0.35, 30)))
    ops = [k for k in g.nodes if kinds.get(k) == "op"]
    vs = [k for k in g.nodes if kinds.get(k) != "op"]
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=10, edge_color="#888")
    nx.draw_networkx_nodes(g, pos, nodelist=ops, node_shape="s", node_color="#cde4ff", ax=ax,
                           node_size=900)
    nx.draw_networkx_nodes(g, pos, nodelist=vs, node_shape="o", node_color="#d9f2d9", ax=ax,
                           node_size=700)
    nx.draw_networkx_labels(g, pos, labels={k: labels.get(k, k) for k in g.nodes}, font_size=7,
                            ax=ax)
    ax.set_title(title or f"{len(ops)} nodes")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(s: str, n: int = 28) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


from symgraph.printing_ops import Print, pydotprint  # noqa: E402,F401  (Theano's names)
