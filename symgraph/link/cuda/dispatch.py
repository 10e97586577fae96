"""The CUDA backend's registry: Op class -> device implementation generator.

A generator is ``gen(op, node, ctx) -> CudaImpl | None`` (None: this node is not
supported on the device, e.g. an integer ``Dot``; it then runs on the CPU like an op
without a generator, with a one-time warning). A ``CudaImpl`` says

- ``input_locs``: where each input must be when the node runs: ``"device"`` (a device
  array), ``"host"`` (a host value: shapes, indices, BLAS scalars) or ``"const"`` (the
  generator baked a constant in); the linker inserts ``GpuFromHost``/``HostFromGpu``
  transfers where a producer left a value elsewhere;
- ``output_locs``: where the outputs are produced (default: all on the device);
- ``kernels``: device source (``@cuda.jit`` functions) added to the generated module;
  their names must start with ``ctx.name``;
- ``build(module) -> fn``: makes the host function ``fn(*inputs) -> output`` (a tuple
  for several outputs) once the module is loaded; it launches the kernels.
- ``fresh_outputs``: outputs that are new buffers each call (not views of inputs); a
  shared variable's update can take them without a copy. ``ctx.slot()`` gives reusable
  output buffers (``Slot``); list those as ``slots[j]`` so an update can swap them.

Inside ``kernels``: a 0-d host input arrives as a numpy scalar by value, a 0-d device
input as a 0-d device array (read ``x[()]``); typed constants ``_sg_dt_<dtype>(v)``, math
``_sg_<name>`` (``symgraph.link.cuda.mathfuncs``), shared-memory dtypes ``_sg_nb_<dtype>``.

Third-party ops register the same way::

    from symgraph.link.cuda.dispatch import CudaImpl, cuda_impl

    @cuda_impl.register(MyOp)
    def _(op, node, ctx):
        return CudaImpl(["device"], build=lambda mod: lambda x: x)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.link.registry import Registry

cuda_impl = Registry("cuda")

#: A generator may return this: run the node's py implementation on the host, without a
#: warning (views and shape arithmetic on values that are on the host anyway).
RUN_ON_HOST = "run-on-host"


@dataclass
class CudaImpl:
    """How one node runs on the device (see the module docstring)."""

    input_locs: list
    build: Callable
    kernels: str = ""
    output_locs: list | None = None
    fresh_outputs: tuple = ()
    slots: dict = field(default_factory=dict)
    imports: tuple = ()


class CudaContext:
    """Per-node view of the linker's state handed to generators."""

    def __init__(self, linker_state):
        self._state = linker_state
        self.name = ""
        self.node = None
        #: a generator returning None may say why here (the fallback warning quotes it)
        self.why = None

    def loc(self, var) -> str:
        """Where ``var`` is produced: 'host', 'device' or 'const'."""
        if isinstance(var, Constant):
            return "const"
        return self._state.loc[var]

    def slot(self):
        """A reusable output buffer (``runtime.Slot``)."""
        from symgraph.link.cuda.runtime import Slot

        return Slot()

    def device_constant(self, c):
        """The device copy of a constant (uploaded once, at link time)."""
        return self._state.device_constant(c)

    def error_flag(self, message: str) -> tuple:
        """``(flag_array, code)``: kernels write ``code`` into ``flag_array[0]`` to report
        an error; the call then raises ValueError(message) before committing updates."""
        return self._state.error_flag(message)


def np_dtype(dtype: str) -> str:
    """Source text for a typed constructor in kernel code (``_sg_dt_float32``)."""
    return f"_sg_dt_{dtype}"


def nb_dtype(dtype: str) -> str:
    """Source text for a Numba type in kernel code (shared arrays)."""
    return f"_sg_nb_{dtype}"


def indent(src: str, n: int = 4) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else line for line in src.splitlines())


def const_value(c):
    return np.asarray(c.data)
