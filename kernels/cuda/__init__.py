"""Hand-written Numba CUDA kernels with thin host launchers (``symgraph.kernels.cuda``).

Launchers take and return device arrays and know nothing of graphs; the CUDA
linker (``symgraph.link.cuda``) calls them. One module per job:

==============  =================================================================
``launch``      grid/block choices, GPU-vs-simulator detection, argument checks
``block``       device helpers: block-wide tree sum/max, integer min/max
``elemwise``    ``make_elemwise_kernel`` / ``launch_elemwise`` for fused scalar code
``reduce``      ``reduce_axis`` (sum/max/min/argmax/argmin on one axis), ``reduce_all``
``gemm``        ``gemm`` (shared-memory tiles), ``gemv``
``conv``        ``conv2d_forward``, ``conv2d_grad_input``, ``conv2d_grad_filters``
``pool``        ``pool2d_forward``, ``pool2d_backward`` (Theano ``pool_2d`` semantics)
``softmax``     softmax / log-softmax, their gradients, fused softmax + NLL
``random``      ``DeviceRandomState``: uniform / normal / binomial fills
==============  =================================================================

Every kernel uses grid-stride loops, so any launch geometry is correct; this is
what lets the test-suite run them on Numba's CUDA simulator with a handful of
threads. The package itself imports nothing, so importing it does not fix
``numba.cuda``'s real-vs-simulator choice.
"""
