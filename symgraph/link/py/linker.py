"""The py backend: runs each node's numpy ``perform`` in topological order.

It is the executable specification every other backend is tested against, and the
diagnosis path when a compiled function fails (it names the failing node).
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.graph.utils import format_trace
from symgraph.link.executable import Executable
from symgraph.link.py.dispatch import py_impl


class NodeError(ValueError):
    """A node failed at run time; the message names the op, input shapes/dtypes and the
    user's source line that created the node."""


def describe_failure(node, values, exc) -> str:
    shapes = ", ".join(
        f"{np.shape(v)} {getattr(np.asarray(v), 'dtype', type(v).__name__)}" for v in values)
    trace = format_trace(getattr(node.tag, "trace", ())).replace("\n", "\n    ")
    return (f"{exc}\n  Op: {node.op}\n  Input shapes and dtypes: ({shapes})\n"
            f"  Created at:\n    " + trace)


class PyThunk:
    """Callable ``run(inputs, shared_values) -> outputs`` over a FunctionGraph."""

    def __init__(self, fgraph, input_vars, shared_vars):
        self.fgraph = fgraph
        self.order = fgraph.toposort()
        self.input_vars = list(input_vars)
        self.shared_vars = list(shared_vars)
        self.outputs = list(fgraph.outputs)
        self.constants = {}
        for node in self.order:
            for v in node.inputs:
                if isinstance(v, Constant):
                    self.constants[v] = v.data
        for v in self.outputs:
            if isinstance(v, Constant):
                self.constants[v] = v.data
        self.impls = [py_impl.get(node) for node in self.order]

    def __call__(self, inputs, shared_values):
        env = dict(self.constants)
        for v, val in zip(self.input_vars, inputs):
            env[v] = val
        for v, val in zip(self.shared_vars, shared_values):
            env[v] = val
        for node, impl in zip(self.order, self.impls):
            args = [env[v] for v in node.inputs]
            try:
                outs = impl(node, args)
            except NodeError:
                raise
            except Exception as e:  # noqa: BLE001 - re-raised with context
                cls = type(e) if isinstance(e, (ValueError, IndexError, TypeError)) else NodeError
                try:
                    err = cls(describe_failure(node, args, e))
                except Exception:  # noqa: BLE001 - exotic exception signatures
                    err = NodeError(describe_failure(node, args, e))
                raise err from e
            for o, val in zip(node.outputs, outs):
                env[o] = val
        return [env[o] for o in self.outputs]


class PyExecutable(Executable):
    """The py backend's Executable: ``run`` is the ``PyThunk`` (no compiled per-node
    functions: profiling and diagnosis call the nodes' ``perform`` themselves)."""

    def __init__(self, fgraph, inputs, shared, updates, **opts):
        super().__init__(fgraph, inputs, shared, updates, **opts)
        self.thunk = PyThunk(fgraph, fgraph.inputs, self.shared_vars)

    def run(self, vals, shared_vals):
        return self.thunk(vals, shared_vals)


class PyLinker:
    name = "py"

    def link(self, fgraph, inputs, shared, updates, **opts) -> PyExecutable:
        PyExecutable.prepare()
        return PyExecutable(fgraph, inputs, shared, updates, **opts)
