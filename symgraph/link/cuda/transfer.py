"""Markers of host<->device copies, inserted into a CUDA function's optimized graph.

The CUDA linker places every node on the device or the host and inserts a
``GpuFromHost`` (host value -> device array) or ``HostFromGpu`` (device array -> host
value) where a value crosses; ``debugprint(f)`` therefore shows every transfer, e.g. the
copies around an op that falls back to the CPU, or the final copies of the outputs.
Shared variables stay on the device between calls and need no marker.

Their ``perform`` is the identity (a copy), so the graph still runs on the py backend.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op


class _Transfer(Op):
    __props__ = ()
    direction = ""

    def make_node(self, x):
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        return [np.array(inputs[0], copy=True)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def __str__(self):
        return type(self).__name__


class GpuFromHost(_Transfer):
    """Copy a host value to the device (a per-call upload)."""

    direction = "host->device"


class HostFromGpu(_Transfer):
    """Copy a device array back to the host (a synchronisation point)."""

    direction = "device->host"


gpu_from_host = GpuFromHost()
host_from_gpu = HostFromGpu()
