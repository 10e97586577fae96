"""In-place: an Elemwise may write its output into an input buffer nothing else reads.

Safe when the input is a fresh intermediate (produced by a non-view op of this graph),
has this node as its only client, is not a graph output, and has the output's dtype and
broadcast pattern. Graph inputs, shared variables and constants are never overwritten,
so a failed call still leaves shared variables unchanged.
"""
from __future__ import annotations

from symgraph.graph.basic import Constant
from symgraph.rewriting.engine import is_output, node_rewriter
from symgraph.tensor.elemwise import Elemwise


def _fresh_buffer(fgraph, var) -> bool:
    node = var.owner
    if node is None or isinstance(var, Constant):
        return False
    op = node.op
    if (op.view_map or {}).get(var.index) or (op.destroy_map or {}).get(var.index):
        return False
    if var.type.ndim == 0:
        return False  # scalars are values in the Numba backend
    return True


@node_rewriter("inplace", tracks=[Elemwise], tags=["inplace", "fast_run"])
def local_elemwise_inplace(fgraph, node):
    op = node.op
    if op.inplace_pattern or node.outputs[0].type.ndim == 0:
        return None
    pattern = {}
    used = set()
    for j, out in enumerate(node.outputs):
        for k, x in enumerate(node.inputs):
            if k in used:
                continue
            if x.type != out.type or not _fresh_buffer(fgraph, x) or is_output(fgraph, x):
                continue
            clients = fgraph.clients.get(x, [])
            if len(clients) != 1 or any(node.inputs[i] is x for i in range(len(node.inputs))
                                        if i != k):
                continue
            pattern[j] = k
            used.add(k)
            break
    if not pattern:
        return None
    new_op = Elemwise(op.scalar_op, pattern)
    new_node = new_op.make_node(*node.inputs)
    new_node.tag.trace = getattr(node.tag, "trace", ())
    return new_node.outputs
