"""The Type contract: what values a Variable may hold, and how to convert to them."""
from __future__ import annotations


class Type:
    """Base class. Types are compared by value (``__eq__``/``__hash__``)."""

    variable_type = None  # set by subclasses: the Variable subclass to create
    constant_type = None

    def filter(self, value, strict: bool = False, allow_downcast=None):  # pragma: no cover
        raise NotImplementedError

    def is_valid_value(self, value) -> bool:
        try:
            self.filter(value, strict=True)
            return True
        except (TypeError, ValueError):
            return False

    def make_variable(self, name=None):
        from symgraph.graph.basic import Variable

        cls = self.variable_type or Variable
        return cls(self, None, None, name)

    def __call__(self, name=None):
        return self.make_variable(name)

    def data_signature(self, data):
        return data

    def constant_str(self, data) -> str:
        return repr(data)
