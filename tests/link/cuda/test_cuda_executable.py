"""The CUDA backend's Executable: the common call path, device-resident shared values
read and committed through ``CudaExecutable.read_shared``/``store``, and a store that
Ctrl-C interrupts leaves every shared variable as it was (and no node buffer shared
with one of them)."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.function import Function
from symgraph.link.cuda import runtime
from symgraph.link.cuda.linker import CudaExecutable


def _step():
    x = T.dvector("x")
    w = symgraph.shared(np.zeros(3), name="w")
    b = symgraph.shared(np.ones(3), name="b")
    f = symgraph.function([x], (w * x).sum(), updates=[(w, w + x), (b, b * 2)], mode="cuda")
    return f, w, b


def test_cuda_functions_run_through_their_executable():
    f, w, b = _step()
    assert isinstance(f.executable, CudaExecutable) and type(f) is Function
    assert [kind for kind, _, _ in f.executable.commit_plan] == ["own", "own"]
    f(np.ones(3))
    assert type(f) is Function
    assert w.container.device_value is not None and w.container.device_value.newer
    np.testing.assert_array_equal(w.get_value(), np.ones(3))
    np.testing.assert_array_equal(b.get_value(), np.full(3, 2.0))
    assert float(f.executable.call(np.ones(3))) == 3.0       # the generic call, same path


def test_an_interrupted_store_leaves_the_shared_values_whole(monkeypatch):
    f, w, b = _step()
    f(np.ones(3))
    f(np.ones(3))                                 # the nodes' buffers are in use now
    stores = []
    set_device = runtime.set_device

    def interrupted(container, arr):
        stores.append(arr)
        if len(stores) == 2:
            raise KeyboardInterrupt
        return set_device(container, arr)

    monkeypatch.setattr(runtime, "set_device", interrupted)
    with pytest.raises(KeyboardInterrupt):
        f(np.ones(3))
    monkeypatch.setattr(runtime, "set_device", set_device)
    np.testing.assert_array_equal(w.get_value(), np.full(3, 2.0))   # the first store undone
    np.testing.assert_array_equal(b.get_value(), np.full(3, 4.0))
    # the next calls compute from the restored values, into buffers of their own
    assert float(f(np.ones(3))) == 6.0
    assert float(f(np.ones(3))) == 9.0
    np.testing.assert_array_equal(w.get_value(), np.full(3, 4.0))
    np.testing.assert_array_equal(b.get_value(), np.full(3, 16.0))
