"""The Op contract.

An Op is defined once and knows:
- ``make_node(*inputs)``: check inputs, derive output types, return an ``Apply``;
- ``perform(node, inputs)``: the numpy reference, returning a list of output values;
- ``infer_shape(fgraph, node, input_shapes)``: symbolic output shapes;
- ``L_op(inputs, outputs, output_grads)``: the gradient, built from other ops;
- ``__props__``: the parameters that make two instances equal (merging, caching).

Backends register implementations per Op class in their own registries; there is no
backend code here.
"""
from __future__ import annotations

from typing import Any

from symgraph.config import config


class Op:
    """Base class of all operations. Subclasses set ``__props__`` to their parameters."""

    __props__: tuple[str, ...] = ()

    def _props(self) -> tuple:
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        return hash((type(self), self._props()))

    def __str__(self) -> str:
        if self.__props__:
            args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
            return f"{type(self).__name__}{{{args}}}"
        return type(self).__name__

    __repr__ = __str__

    def cache_key(self) -> str:
        """A string that identifies this op's behaviour for the on-disk code cache."""
        return f"{type(self).__module__}.{type(self).__qualname__}{self._props()!r}"

    # -- contract -----------------------------------------------------------------
    def make_node(self, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def perform(self, node, inputs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.perform")

    def infer_shape(self, fgraph, node, input_shapes):
        raise ShapeNotImplemented(f"{type(self).__name__} does not infer shapes")

    def L_op(self, inputs, outputs, output_grads):
        return self.grad(inputs, output_grads)

    def grad(self, inputs, output_grads):
        raise NotImplementedError(f"the gradient of {self} is not implemented")

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        if config.compute_test_value != "off":
            from symgraph.graph.test_value import compute_test_values

            compute_test_values(node)
        if len(node.outputs) == 1:
            return node.outputs[0]
        return list(node.outputs)

    #: ops whose outputs are views of an input: {output_index: [input_index]}
    view_map: dict = {}
    #: ops that overwrite an input: {output_index: [input_index]}
    destroy_map: dict = {}


class ShapeNotImplemented(NotImplementedError):
    """Raised by ``infer_shape`` when shapes must be computed at run time."""
