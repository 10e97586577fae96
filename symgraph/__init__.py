"""symgraph: a Theano-style symbolic graph compiler with Numba CPU and CUDA backends.

Theano code runs with the imports changed::

    import symgraph as theano
    import symgraph.tensor as T

    a, b = T.dscalars('a', 'b')
    f = theano.function([a, b], T.sqrt(a ** 2 + b ** 2))
    f(3, 4)   # array(5.)
"""
import os as _os

# How long Numba's idle OpenMP workers spin before they sleep. libgomp's default (300000
# pause loops, ~15 ms here) starved BLAS and other processes on small machines; too short,
# and workers fall asleep between the kernels of one training step and each kernel waits
# for them to wake (measured, network3 step at batch 10: 3000 -> 0.74 ms, 30000 -> 0.64 ms,
# 100000 -> 0.64 ms; CPU spent spinning after a call: 0.15, 0.5 and 2.6 ms). libgomp reads
# it once, when first loaded, so it is set before numba (or torch) loads it. A user's own
# setting wins.
GOMP_SPINCOUNT = "30000"
#: whether this import set GOMP_SPINCOUNT (so tools that start other programs, like the
#: benchmarks' PyTorch processes, can give them the environment they would have had)
SET_GOMP_SPINCOUNT = "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ
if SET_GOMP_SPINCOUNT:
    _os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT


def _libgomp_already_loaded() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return "libgomp" in maps.read()
    except OSError:
        return False


#: the Numba threading layer this import chose ("workqueue"), or None (Numba's default).
#: When libgomp was loaded before us (``import torch`` first, say) it never saw the spin
#: setting above: its busy-waiting threads then starved BLAS and made a network3 training
#: step ~20x slower (32 vs 1.5 ms). Numba's own workqueue layer does not spin (it measured
#: as fast as OpenMP here); it must not be entered from two threads at once, which
#: compiled functions only do when users call them concurrently from threads.
THREADING_LAYER = None
if (SET_GOMP_SPINCOUNT and "NUMBA_THREADING_LAYER" not in _os.environ
        and _libgomp_already_loaded()):
    THREADING_LAYER = "workqueue"
    _os.environ["NUMBA_THREADING_LAYER"] = THREADING_LAYER
    import sys as _sys

    if "numba" in _sys.modules:  # numba read its config already: set it there too
        _sys.modules["numba"].config.THREADING_LAYER = THREADING_LAYER

from symgraph._malloc import keep_large_blocks as _keep_large_blocks

#: whether this import tuned glibc's malloc to reuse large blocks (``symgraph/_malloc.py``)
MALLOC_TUNED = _keep_large_blocks()

from symgraph.config import config  # noqa: F401, E402
from symgraph.compile.function import Function, function  # noqa: F401
from symgraph.compile.io import In, Out  # noqa: F401
from symgraph.compile.mode import Mode  # noqa: F401
from symgraph.compile.shared import SharedVariable, shared  # noqa: F401
from symgraph.graph.utils import MissingInputError, UnusedInputError  # noqa: F401
from symgraph import tensor  # noqa: F401
from symgraph import gradient  # noqa: F401
from symgraph.gradient import grad  # noqa: F401
from symgraph.tensor.dot import dot  # noqa: F401
from symgraph import printing  # noqa: F401
from symgraph.printing import pp, debugprint  # noqa: F401
from symgraph import scan_module, ifelse  # noqa: F401,E402
from symgraph.scan_module import scan, map, reduce, foldl, foldr  # noqa: F401,E402,A004
from symgraph.graph.compare import clone_with_replace as clone  # noqa: F401,E402

__version__ = "0.1.0"
