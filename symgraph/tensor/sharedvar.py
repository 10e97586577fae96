"""Shared variables: symbolic variables with a value that persists across function calls.

They are tensor variables with a container, so they live in the tensor layer (as Theano's
``theano.tensor.sharedvar``); ``symgraph.compile.shared`` re-exports them, and compiled
functions read and write their containers.

Example::

    >>> import numpy as np, symgraph
    >>> w = symgraph.shared(np.zeros(3), name='w')
    >>> w.get_value()
    array([0., 0., 0.])
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Variable
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import _TensorMixin


class Container:
    """Holds a shared variable's current value; compiled functions read and write it.

    ``value`` is the value on the host. A backend that keeps the value on a device (the
    CUDA backend, between its calls) puts it in ``device_value``: an object with a
    ``newer`` flag (the host copy is stale) and ``copy_to_host_array()``. Reading
    ``value`` then copies the device value back first, once; assigning ``value`` makes
    the device copy stale (the backend uploads the new value at its next call). One
    class for every container, so every backend reads and writes them the same way.
    ``host`` is the host value as stored, for a backend's own fast path that checks
    ``device_value is None`` first.
    """

    __slots__ = ("host", "device_value")

    def __init__(self, value):
        self.host = value
        self.device_value = None

    @property
    def value(self):
        dv = self.device_value
        if dv is not None and dv.newer:
            self.host = dv.copy_to_host_array()
            dv.newer = False
        return self.host

    @value.setter
    def value(self, v):
        self.host = v
        self.device_value = None


class SharedVariable(Variable):
    """A Variable whose value lives in a Container shared by every function that uses it."""

    is_shared = True

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None):
        super().__init__(type, None, None, name)
        self.container = Container(type.filter(value, strict=strict, allow_downcast=allow_downcast))
        #: expression used as an update when a function does not update this variable
        self.default_update = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False):
        """The current value; a copy unless ``borrow=True``."""
        v = self.container.value
        return v if borrow else np.array(v, copy=True)

    def set_value(self, value, borrow: bool = False):
        """Replace the value (copied unless ``borrow=True``); must keep dtype and ndim."""
        v = self.type.filter(value, strict=False, allow_downcast=None, name=self.name or "shared")
        if not borrow or v is not value:
            v = np.array(v, copy=True) if (not borrow and v is value) else v
        self.container.value = v
        self.container.device_value = None

    def clone(self):
        return self

    @property
    def value(self):
        return self.get_value()

    @value.setter
    def value(self, v):
        self.set_value(v)

    def zero(self, borrow=False):
        self.set_value(np.zeros_like(self.container.value), borrow=True)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["container"] = None
        d["_value"] = self.container.value
        d.pop("_eval_cache", None)
        return d

    def __setstate__(self, d):
        value = d.pop("_value")
        self.__dict__.update(d)
        self.container = Container(value)

    def __str__(self):
        return self.name if self.name is not None else f"<shared {self.type}>"


class TensorSharedVariable(_TensorMixin, SharedVariable):
    """A shared tensor: supports every tensor operator and method."""


def shared(value, name: str | None = None, strict: bool = False, allow_downcast=None,
           borrow: bool = False, broadcastable=None):
    """Make a shared variable holding ``value`` (copied unless ``borrow=True``).

    A Python float or int becomes a 0-d array (float64 / int64). As in Theano, no
    dimension is broadcastable unless ``broadcastable`` says so.
    """
    if isinstance(value, Variable):
        raise TypeError("shared() takes a value (numpy array or number), not a symbolic variable")
    if isinstance(value, np.ndarray):
        arr = value if borrow else np.array(value, copy=True)
    elif isinstance(value, (bool, int, float, complex, np.generic, list, tuple)):
        arr = np.asarray(value)
        if isinstance(value, float):
            arr = arr.astype("float64")
    else:
        raise TypeError(f"shared(): cannot make a shared variable from {type(value).__name__}")
    if arr.dtype == object:
        raise TypeError(f"shared(): value {value!r} is not numeric")
    if broadcastable is None:
        broadcastable = (False,) * arr.ndim
    ttype = TensorType(str(arr.dtype), broadcastable)
    return TensorSharedVariable(ttype, arr, name=name, strict=True)
