"""Host<->device copies as graph nodes, and the CUDA backend's rewrite that inserts them.

The CUDA linker places every node on the device or the host; then this backend's rewrite
phase (``insert_transfers``, registered with ``rewriting.engine.backend_rewriter`` and
run by the linker) inserts a ``GpuFromHost`` (host value -> device array) or
``HostFromGpu`` (device array -> host value) where a value crosses, through the
FunctionGraph's own editing (``change_input``), so the linker never edits client lists.
``debugprint(f)`` therefore shows every transfer, e.g. the copies around an op that
falls back to the CPU, or the final copies of the outputs. Shared variables stay on the
device between calls and need no marker.

The ops' ``perform`` is the identity (a copy), so the graph still runs on the py backend.
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant
from symgraph.graph.fg import OUTPUT
from symgraph.graph.op import Op
from symgraph.rewriting.engine import backend_rewriter


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


@backend_rewriter("cuda", name="cuda_transfers")
def insert_transfers(fgraph, placement):
    """Insert a transfer wherever a value is produced on one side and needed on the other.

    ``placement`` is the linker's (its context for this phase): ``loc`` (variable -> where
    it is produced, "host" or "device") and ``impls`` (node -> its ``CudaImpl``, whose
    ``input_locs`` say where each input must be). A value gets one transfer per
    direction however many clients need it, and the transfer's output is placed on the
    side it copies to (``loc``), so the linker sees only matching sides. User outputs
    computed on the device get a final ``HostFromGpu``; update outputs stay on the device
    (they become the shared variables' new device values). A transfer node keeps the
    creation trace of the value it copies, so errors still name the user's line."""
    loc = placement.loc
    made: dict = {}

    def transfer(v, need):
        t = made.get((v, need))
        if t is None:
            t = (gpu_from_host if need == "device" else host_from_gpu)(v)
            t.owner.tag.trace = getattr(v.owner.tag, "trace", ()) if v.owner else ()
            made[(v, need)] = t
            loc[t] = need
        return t

    for node in fgraph.toposort():
        impl = placement.impls.get(node)
        if impl is None:  # a transfer inserted above
            continue
        for i, v in enumerate(list(node.inputs)):
            need = impl.input_locs[i]
            if isinstance(v, Constant) or need in (loc[v], "const"):
                continue
            fgraph.change_input(node, i, transfer(v, need), reason="cuda_transfers")
    for k in range(getattr(fgraph, "n_user_outputs", len(fgraph.outputs))):
        v = fgraph.outputs[k]
        if not isinstance(v, Constant) and loc[v] == "device":
            fgraph.change_input(OUTPUT, k, transfer(v, "host"), reason="cuda_transfers")
