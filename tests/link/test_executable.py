"""The backend boundary: every backend's ``link()`` returns an ``Executable`` that owns
the call (arguments, run, alias copies, all-or-none commit), and ``Function`` only
delegates to it: no class is swapped, on any backend, before or after the first call.
"""
import inspect

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.function import Function
from symgraph.link import get_linker
from symgraph.link.executable import Executable
from symgraph.tensor.sharedvar import Container

BACKENDS = ["py", "numba"]


@pytest.mark.parametrize("mode", BACKENDS)
def test_function_delegates_to_the_backends_executable(mode):
    a, b = T.dscalars("a", "b")
    f = symgraph.function([a, b], T.sqrt(a ** 2 + b ** 2), mode=mode)
    exe = f.executable
    assert isinstance(exe, Executable) and type(exe) is not Executable
    assert type(f) is Function
    assert f.__call__ == exe.entry()          # f(...) is the executable's entry
    for _ in range(3):
        assert float(f(3.0, 4.0)) == 5.0
    assert type(f) is Function                # still: no class swapped after a call
    assert float(exe.call(3.0, b=4.0)) == 5.0  # the generic call every backend shares
    assert float(f(a=3, b=4)) == 5.0
    assert str(inspect.signature(f)) == "(*args, **kwargs)"


def test_linkers_return_executables_from_link():
    x = T.dvector("x")
    f = symgraph.function([x], x * 2, mode="py")
    for name in BACKENDS:
        assert hasattr(get_linker(name), "link")
        assert not hasattr(get_linker(name), "make_thunk")
    assert f.executable.run([np.ones(2)], [])[0].tolist() == [2.0, 2.0]


@pytest.mark.parametrize("mode", BACKENDS)
def test_a_failed_call_commits_no_update_on_either_path(mode):
    x = T.dvector("x")
    w = symgraph.shared(np.zeros(3), name="w")
    c = symgraph.shared(np.float64(0), name="c")
    f = symgraph.function([x], (x + w).sum(), updates=[(c, c + 1), (w, w + x)], mode=mode)
    f(np.ones(3))
    f.executable.call(np.ones(3))
    assert float(c.get_value()) == 2.0
    assert set(f.get_shared()) == {c, w}
    for call in (f, f.executable.call):
        with pytest.raises(ValueError):
            call(np.ones(4))                  # shape mismatch inside the graph
        assert float(c.get_value()) == 2.0
        np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("mode", BACKENDS)
def test_trust_input_switches_the_entry_and_back(mode):
    x = T.dvector("x")
    f = symgraph.function([x], x + 1, mode=mode)
    fast = f.__call__
    f.trust_input = True
    assert f.trust_input and f.__call__ == f.executable.call_trusted
    np.testing.assert_array_equal(f(np.zeros(2)), [1.0, 1.0])
    f.trust_input = False
    assert f.__call__ == fast
    np.testing.assert_array_equal(f([1, 2]), [2.0, 3.0])  # a list is converted again


@pytest.mark.parametrize("mode", BACKENDS)
def test_outputs_aliasing_an_input_or_each_other_are_copies(mode):
    x = T.dvector("x")
    f = symgraph.function([x], [x, x], mode=mode)
    v = np.ones(2)
    r1, r2 = f(v)
    assert not np.shares_memory(r1, v) and not np.shares_memory(r1, r2)
    assert f.executable.copy_out


class _DeviceValue:
    """What a device backend keeps in ``Container.device_value``."""

    def __init__(self, array):
        self.array = array
        self.newer = True
        self.copies = 0

    def copy_to_host_array(self):
        self.copies += 1
        return np.array(self.array, copy=True)


def test_container_reads_a_newer_device_value_once_and_forgets_it_on_assignment():
    c = Container(np.zeros(2))
    dv = c.device_value = _DeviceValue(np.full(2, 7.0))
    np.testing.assert_array_equal(c.value, [7.0, 7.0])
    np.testing.assert_array_equal(c.value, [7.0, 7.0])
    assert dv.copies == 1 and not dv.newer
    c.value = np.ones(2)
    assert c.device_value is None and c.host is c.value


@pytest.mark.parametrize("mode", BACKENDS)
def test_a_cpu_function_sees_a_value_another_backend_left_on_the_device(mode):
    w = symgraph.shared(np.zeros(2), name="w")
    f = symgraph.function([], w * 2, updates=[(w, w + 1)], mode=mode)
    f()
    w.container.device_value = _DeviceValue(np.full(2, 5.0))   # as a CUDA call leaves it
    np.testing.assert_array_equal(f(), [10.0, 10.0])
    np.testing.assert_array_equal(w.get_value(), [6.0, 6.0])
    assert w.container.device_value is None   # the update made the device copy stale


def test_the_numba_fast_call_is_generated_per_function_and_records_once(monkeypatch):
    a = T.dscalar("a")
    f = symgraph.function([a], a * 2)
    exe = f.executable
    assert "def fast_call(" in f.__call__.source
    calls = []
    record = type(exe).record

    def counted(self):
        calls.append(1)
        record(self)          # still written: a later process loads what this one compiled

    monkeypatch.setattr(type(exe), "record", counted)
    g = symgraph.function([a], a * 3)
    for _ in range(3):
        assert float(g(1.0)) == 3.0
    assert len(calls) == 1                    # after the first successful call only
