"""Equal ops built at different source lines share one kernel module (nothing to compile).

A kernel module is named after its source's hash, so anything node-specific in that
source gives each call site a kernel of its own. An elementwise kernel's shape check,
and a scan loop's checks (with the script's full path), used to name the source line in
their messages: the same network built from two scripts (or the same layer at two lines)
compiled every such kernel twice. The user still sees the line: a failed call re-runs the user's graph on the numpy reference,
whose error names the node, its inputs' shapes and the line.
"""
import glob
import os

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.link.numba.cache import module_dir

THIS_FILE = os.path.abspath(__file__)


def _kernel_modules() -> set:
    out = set()
    for path in glob.glob(os.path.join(module_dir(), "sg_*.py")):
        with open(path) as f:
            if "def graph_fn" not in f.read():
                out.add(os.path.basename(path))
    return out


def _line_of(marker: str) -> int:
    with open(THIS_FILE) as f:
        return next(i for i, line in enumerate(f, 1) if marker in line and "_line_of" not in line)


def test_the_same_op_at_two_lines_shares_its_kernels():
    x, y = T.fmatrices("x", "y")
    f = theano.function([x, y], T.exp(x) * y + x, mode="numba")   # <- marker: first site
    a = np.ones((3, 4), "float32")
    expected = f(a, a)
    before = _kernel_modules()

    p, q = T.fmatrices("p", "q")
    g = theano.function([p, q], T.exp(p) * q + p, mode="numba")   # <- marker: second site
    np.testing.assert_array_equal(g(a, a), expected)
    assert _kernel_modules() == before   # no kernel module of its own: nothing compiled

    with pytest.raises(ValueError) as info:
        g(a, np.ones((3, 5), "float32"))
    msg = str(info.value)
    assert "(3, 4)" in msg and "(3, 5)" in msg
    assert f"line {_line_of('# <- marker: second site')}" in msg   # the user's line


def test_the_same_scan_at_two_lines_shares_its_kernels():
    a = np.arange(6.0, dtype="float32")
    v = T.fvector("v")
    r, _ = theano.scan(lambda x, acc: acc + x, sequences=v, outputs_info=T.zeros_like(v[0]),
                       name="cumsum")   # <- marker: first scan
    f = theano.function([v], r, mode="numba")
    expected = f(a)
    np.testing.assert_array_equal(expected, np.cumsum(a))
    before = _kernel_modules()

    w = T.fvector("w")
    q, _ = theano.scan(lambda x, acc: acc + x, sequences=w, outputs_info=T.zeros_like(w[0]),
                       name="cumsum")   # <- marker: second scan
    g = theano.function([w], q, mode="numba")
    np.testing.assert_array_equal(g(a), expected)
    assert _kernel_modules() == before   # the loop's kernel and its step: shared
