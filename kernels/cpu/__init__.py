"""Hand-written Numba CPU kernels (``symgraph.kernels.cpu``).

Plain functions on numpy arrays, callable from Python and from generated ``@njit`` code:

* ``conv``: ``conv2d_forward``, ``conv2d_grad_input``, ``conv2d_grad_filters``
* ``pool``: ``pool2d_forward``, ``pool2d_backward`` (Theano ``pool_2d`` semantics)
* ``softmax``: ``softmax``, ``log_softmax``, their gradients, ``softmax_nll_forward``,
  ``softmax_nll_backward``
* ``gemm``: ``small_gemm`` (the batch-shaped matrix products of a dense layer's step)
* ``blas``: ``gemm_into``, ``gemv_into`` (BLAS, bound to scipy's OpenBLAS without
  importing scipy.linalg)
* ``reference``: the plain-numpy specification of all of the above (``*_ref``)

Threading note (why importing this package starts Numba's threading layer): Numba's
``parallel=True`` kernels run on GNU OpenMP, whose idle workers busy-wait for ``GOMP_SPINCOUNT``
(default 300000 pause loops, milliseconds) after every parallel region. On a 2-core
machine a spinning worker starves OpenBLAS's threads (BLAS calls in the same graph) and
any other process, turning a 0.3 ms conv+GEMM step into 5-10 ms. Unless the user set
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` themselves, importing symgraph shortens
the spin to ``symgraph.GOMP_SPINCOUNT`` (30000, ~1 ms), long enough that the workers stay
awake between the kernels of a training step (see ``symgraph/__init__.py``). It only takes
effect if no Numba parallel code has run in the process yet (libgomp reads it once),
and only if symgraph is imported before ``torch``: torch loads its own
``libgomp.so.1`` into the global symbol scope and Numba's OpenMP pool then binds to
that copy, initialised when torch was imported (measured: the MNIST ConvPool layer
forward+backward at batch 100 takes ~40 ms instead of ~1.5-6 ms).

    >>> import os, symgraph.kernels.cpu
    >>> "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ
    True
"""

# The kernels are cached functions calling cached ``prange`` functions. Loaded from the
# disk cache, such a caller does not start Numba's threading layer itself (numba #8578)
# and a direct call like ``conv2d_forward(...)`` in a fresh process then crashed. Starting
# the layer here makes every entry point safe (``symgraph/__init__.py``, imported first,
# has already set the spin that libgomp reads when it loads); ``get_num_threads`` is the
# public call that starts it. The Numba linker imports this package for the same reason.
import numba as _numba

from . import blas as _blas  # noqa: F401,E402  (registers the BLAS symbols cached code calls)

_numba.get_num_threads()
