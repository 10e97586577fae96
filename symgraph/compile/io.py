"""``In``: describe a function input with a name and a default value.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> x, y = T.dscalars('x', 'y')
    >>> f = theano.function([x, theano.In(y, value=1)], x + y)
    >>> float(f(2)), float(f(2, y=3))
    (3.0, 5.0)
"""
from __future__ import annotations

_NO_DEFAULT = object()


class In:
    """A function input: ``variable``, optional ``name`` (keyword) and default ``value``."""

    def __init__(self, variable, name=None, value=_NO_DEFAULT, mutable=False, borrow=False,
                 allow_downcast=None, implicit=False):
        self.variable = variable
        self.name = name if name is not None else getattr(variable, "name", None)
        self.value = value
        self.mutable = mutable
        self.borrow = borrow
        self.allow_downcast = allow_downcast

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_DEFAULT

    def __repr__(self):
        return f"In({self.variable}, name={self.name!r})"


class Out:
    """An output with ``borrow`` (accepted for Theano compatibility)."""

    def __init__(self, variable, borrow=False):
        self.variable = variable
        self.borrow = borrow
