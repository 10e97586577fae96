"""Registries from Op class to a backend implementation (lookup walks the MRO).

Every backend declares its implementations here-style: ``@numba_impl.register(Conv2d)``.
No ``if backend == ...`` anywhere in ops.
"""
from __future__ import annotations


class Registry:
    """Map Op classes to implementations; lookup walks the class's MRO."""

    def __init__(self, name: str, default=None):
        self.name = name
        self._impls: dict = {}
        self.default = default

    def register(self, op_class):
        def deco(fn):
            self._impls[op_class] = fn
            return fn

        return deco

    def find(self, op_class):
        for cls in op_class.__mro__:
            if cls in self._impls:
                return self._impls[cls]
        return None

    def get(self, node):
        fn = self.find(type(node.op))
        if fn is None:
            if self.default is None:
                raise NotImplementedError(
                    f"no {self.name} implementation registered for op {node.op} "
                    f"({type(node.op).__module__}.{type(node.op).__qualname__})")
            return self.default(node)
        return fn(node)
