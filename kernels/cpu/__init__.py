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
* ``tasks``: ``task_count``, ``split_tasks`` (how parallel loops split their work, from
  compiled code, independent of the calling thread's current count)

Threading note (why importing this package starts Numba's threading layer): see
``threads.py``. ``threads.start()`` loads the layer with symgraph's OpenMP spin setting for
this process only (the environment is left as it was), and ``threads.call_threads()``
gives compiled calls fewer threads when other processes keep the cores busy.

    >>> from symgraph.kernels.cpu import threads
    >>> threads.STATE["layer"] in ("omp", "tbb", "workqueue")
    True
"""

# The kernels are cached functions running tasks on Numba's threading layer
# (``numba_compat.launch``). Machine code loaded from the disk cache must find the layer
# started (Numba's own ``prange`` code does not start it either: numba #8578, a direct
# call like ``conv2d_forward(...)`` in a fresh process crashed). The launcher records a
# start in each caller's cache entry; starting it here as well keeps every entry point
# safe, and the Numba linker imports this package for the same reason.
from . import threads as _threads  # noqa: E402
from . import blas as _blas  # noqa: F401,E402  (registers the BLAS symbols cached code calls)

_threads.start()
