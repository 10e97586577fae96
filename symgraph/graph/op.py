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
    """Base class of all operations. Subclasses set ``__props__`` to their parameters.

    ``perform`` may also be written Theano's way, ``perform(self, node, inputs,
    output_storage[, params])`` storing each output in ``output_storage[i][0]`` (Theano's
    "Creating a new Op" tutorial): such a subclass gets it wrapped so that
    ``perform(node, inputs)`` returns the outputs, as every backend calls it
    (:func:`_storage_perform`)."""

    __props__: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        perform = cls.__dict__.get("perform")
        if perform is not None and _writes_storage(perform):
            cls.perform = _storage_perform(perform)
        infer_shape = cls.__dict__.get("infer_shape")
        if infer_shape is not None and len(_positional(infer_shape)) == 3:
            cls.infer_shape = _without_fgraph(infer_shape)

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


def _positional(fn) -> list:
    """``fn``'s positional parameters (none when its signature cannot be read)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _without_fgraph(theano_infer_shape):
    """Theano's ``infer_shape(self, node, input_shapes)`` called as symgraph calls it,
    ``infer_shape(fgraph, node, input_shapes)``."""
    import functools

    @functools.wraps(theano_infer_shape)
    def infer_shape(self, fgraph, node, input_shapes=None):
        if input_shapes is None:   # called Theano's way: (node, input_shapes)
            return theano_infer_shape(self, fgraph, node)
        return theano_infer_shape(self, node, input_shapes)

    return infer_shape


def _writes_storage(perform) -> bool:
    """Whether ``perform`` is Theano-style: ``(self, node, inputs, output_storage[,
    params])``, its outputs stored rather than returned (the wrapper below gives
    ``output_storage`` a default, so it never counts as one)."""
    import inspect

    positional = _positional(perform)
    return len(positional) >= 4 and positional[3].default is inspect.Parameter.empty


def _storage_perform(theano_perform):
    """``perform(node, inputs)`` returning the outputs of a Theano-style ``perform`` (each
    value as an array of its output's dtype); called with ``output_storage`` it runs the
    original unchanged."""
    import functools

    import numpy as np

    takes_params = len(_positional(theano_perform)) >= 5

    @functools.wraps(theano_perform)
    def perform(self, node, inputs, output_storage=None, params=None):
        if params is None and takes_params:
            get_params = getattr(self, "get_params", None)
            params = get_params(node) if get_params is not None else None
        extra = (params,) if takes_params else ()
        if output_storage is not None:
            return theano_perform(self, node, inputs, output_storage, *extra)
        storage = [[None] for _ in node.outputs]
        theano_perform(self, node, list(inputs), storage, *extra)
        outs = []
        for k, ((value,), out) in enumerate(zip(storage, node.outputs)):
            if value is None:
                raise ValueError(f"{self}.perform stored no value for output {k} "
                                 f"(output_storage[{k}][0])")
            dtype = getattr(out.type, "dtype", None)
            outs.append(np.asarray(value, dtype=dtype) if dtype is not None else value)
        return outs

    return perform
