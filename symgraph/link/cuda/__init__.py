"""The Numba CUDA backend: ``function(..., mode='cuda')`` or ``SYMGRAPH_FLAGS=device=cuda``.

- ``linker``: ``CudaLinker`` (placement of every node on the device or the host, the
  ``GpuFromHost``/``HostFromGpu`` transfers, generated kernels and host code) and
  ``CudaExecutable`` (its calls: shared values stay on the device);
- ``dispatch``: the registry ``cuda_impl`` (Op class -> device implementation);
- ``impl/``: the implementations, one module per op family;
- ``runtime``: device arrays, views, copies, reusable buffers, device-resident shared
  values; ``mathfuncs``: the scalar templates' math vocabulary on the GPU;
- ``transfer``: the transfer marker ops shown by ``debugprint``.

Without a GPU, compiling raises ``runtime.CudaUnavailableError``; with
``NUMBA_ENABLE_CUDASIM=1`` (set before Python starts) everything runs on Numba's CUDA
simulator instead -- slowly, for tests. Importing this package imports nothing heavy.
"""
