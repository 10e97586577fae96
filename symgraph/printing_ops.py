"""``theano.printing.Print`` (print a value when the compiled function computes it) and
``pydotprint`` (draw a graph to a file), exported from ``symgraph.printing``.

Why a separate module: ``Print`` is an Op (it needs the tensor layer and a Numba
implementation), while ``printing.py`` only formats graphs.

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> x = T.dvector('x')
    >>> y = theano.printing.Print('x is')(x) * 2
    >>> theano.function([x], y)([1., 2.])        # prints "x is __str__ = [1. 2.]"
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op

__all__ = ["Print", "pydotprint"]

#: print functions reachable by key from compiled code: ``"module:qualname"`` for
#: importable functions (stable across processes and the disk cache), ``"id:N"`` otherwise
_PRINT_FNS: dict = {}


def _print_fn(op, xin):
    """Theano's default: ``message attr = value`` for each attribute of the value."""
    for attr in op.attrs:
        temp = getattr(xin, attr)
        pmsg = temp() if callable(temp) else temp
        print(op.message, attr, "=", pmsg)


def _fn_key(fn) -> str:
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    key = f"id:{id(fn)}"
    if mod and qual and "<" not in qual:
        try:
            obj = importlib.import_module(mod)
            for part in qual.split("."):
                obj = getattr(obj, part)
            if obj is fn:
                key = f"{mod}:{qual}"
        except (ImportError, AttributeError):
            pass
    _PRINT_FNS[key] = fn
    return key


def _lookup(key: str):
    fn = _PRINT_FNS.get(key)
    if fn is None:
        mod, qual = key.split(":", 1)
        fn = importlib.import_module(mod)
        for part in qual.split("."):
            fn = getattr(fn, part)
        _PRINT_FNS[key] = fn
    return fn


def print_hook(message, attrs, fn_key, dtype, x):
    """Called from compiled (Numba) code, in object mode, with the value to print."""
    op = Print(message, attrs)
    op.global_fn_key = fn_key
    _lookup(fn_key)(op, np.asarray(x, dtype=dtype))


class Print(Op):
    """Returns its input unchanged and, each time it is computed, calls
    ``global_fn(op, value)`` -- by default printing ``message attr = value.attr`` for each
    of ``attrs`` (``'__str__'``, ``'shape'``, ...). Gradients pass through unchanged.

    The value is printed only when the output is used by the compiled function (a Print
    whose result is not used is removed like any dead code), as in Theano.
    """

    __props__ = ("message", "attrs", "global_fn_key")
    view_map = {0: [0]}
    #: printing is a side effect: never evaluate at compile time
    no_constant_folding = True

    def __init__(self, message="", attrs=("__str__",), global_fn=_print_fn):
        if not isinstance(message, str):
            raise TypeError(f"Print: message must be a str, got {type(message).__name__}")
        if isinstance(attrs, str):
            attrs = (attrs,)
        attrs = tuple(attrs)
        for a in attrs:
            if not isinstance(a, str):
                raise TypeError(f"Print: attrs must be attribute names (str), got {a!r}")
        if not callable(global_fn):
            raise TypeError(f"Print: global_fn must be callable, got {global_fn!r}")
        self.message = message
        self.attrs = attrs
        self.global_fn = global_fn
        self.global_fn_key = _fn_key(global_fn)

    def __str__(self):
        return f"Print{{message={self.message!r}}}"

    def make_node(self, x):
        from symgraph.tensor.basic import as_tensor_variable

        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        self.global_fn(self, np.asarray(x))
        return [x]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def pydotprint(fct, outfile=None, compact=True, format="png", with_ids=False,
               high_contrast=True, cond_highlight=None, colorCodes=None, max_label_size=70,
               scan_graphs=False, var_with_name_simple=False, print_output_file=True,
               return_image=False):
    """Draw the graph of a compiled function, a variable or a list of variables to
    ``outfile`` (Theano's ``pydotprint``; drawn with networkx/matplotlib instead of
    pydot/graphviz, so ``format`` is one matplotlib can write: png, svg, pdf...).

    With ``return_image=True`` the image bytes are returned and no file is kept.
    The layout options of Theano's version (``compact``, ``high_contrast``...) are
    accepted and have no effect.
    """
    import tempfile

    from matplotlib.figure import Figure

    from symgraph.printing import graph_image

    supported = Figure().canvas.get_supported_filetypes()
    if format not in supported:
        raise ValueError(f"pydotprint: format {format!r} is not supported; use one of "
                         f"{sorted(supported)}")
    if return_image:
        fd, path = tempfile.mkstemp(suffix="." + format)
        os.close(fd)
        try:
            graph_image(fct, path)
            with open(path, "rb") as f:
                return f.read()
        finally:
            os.remove(path)
    if outfile is None:
        outfile = os.path.join(os.getcwd(), f"symgraph.pydotprint.{format}")
    elif not os.path.splitext(outfile)[1]:
        outfile = f"{outfile}.{format}"
    graph_image(fct, outfile)
    if print_output_file:
        print("The output file is available at", outfile)
    return None
