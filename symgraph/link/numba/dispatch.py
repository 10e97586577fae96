"""The Numba backend's registry: Op class -> code generator.

A generator is ``fn(op, node, ctx) -> NumbaCode``: Python source defining a function named
``ctx.name`` that takes the node's inputs positionally and returns its output (a tuple for
several outputs). Conventions inside generated code:

- a 0-d tensor is a numba *scalar* (float64, float32, int64, bool...), not a 0-d array;
  generators must accept scalars for 0-d inputs and return scalars for 0-d outputs;
- typed constants: ``_sg_dt_<dtype>(value)`` (so float32 stays float32);
- math functions: ``_sg_<name>`` (``_sg_exp``...), bound to numpy ufuncs;
- helpers defined next to the main function must be decorated with ``@_sg_njit``.

Third-party ops register the same way::

    from symgraph.link.numba.dispatch import numba_impl, NumbaCode

    @numba_impl.register(MyOp)
    def _(op, node, ctx):
        return NumbaCode(f"def {ctx.name}(x):\\n    return x * 2\\n")
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symgraph.link.registry import Registry


@dataclass
class NumbaCode:
    """Source of one node function (no decorator on the main def) and what it needs."""

    src: str
    imports: tuple = ()
    jit_options: dict = field(default_factory=dict)
    #: (alias, "module:function") of cached ``@njit`` callees reached by symbol instead of
    #: being linked in and compiled again (``link/numba/extern.py``)
    externs: tuple = ()
    #: integers passed as trailing arguments after the node's inputs (the main def has a
    #: parameter for each): read from the graph's constant arguments instead of written
    #: into the source, so the node's code, and so its machine code, is the same whatever
    #: the values (a conv's ``image_shape`` hint holds the batch size)
    const_args: tuple = ()
    #: per output: None (a new array: C order, or a scalar), or ``(k, steps)`` when it is
    #: input ``k`` itself or a view of it, its Numba type following from input ``k``'s by
    #: ``steps``: ``("index", kinds)`` basic indexing (``kinds``: ``i`` integer, ``s`` slice
    #: without step, ``S`` slice with step, ``n`` None), ``("T",)`` a full transpose,
    #: ``("A",)`` any other axis order; no steps: the array itself. Only used to guess
    #: argument types before they are known (``plan_compile.py``): a wrong one costs the
    #: background worker time, never a result
    views: tuple = ()
    #: for a loop node (``Scan``): what the Python tier needs to run the loop itself in
    #: Python, calling the step's kernels, instead of compiling the loop and its step's
    #: glue before a new graph's first call (``tier_loop.py``); None for other nodes
    loop: dict | None = None


numba_impl = Registry("numba")


class CodegenContext:
    """Hands out unique names inside one generated module."""

    def __init__(self):
        self.counter = 0
        self.name = ""

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"_{prefix}{self.counter}"


def np_dtype(dtype: str) -> str:
    """Source text for a numpy dtype object in generated code."""
    return f"_sg_dt_{dtype}"


def indent(src: str, n: int = 4) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else line for line in src.splitlines())
