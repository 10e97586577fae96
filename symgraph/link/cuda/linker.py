"""Numba CUDA backend: the optimized graph runs on the GPU, data stays on the device.

Linking a graph (``CudaLinker.make_thunk``):

1. **placement** -- each node, in topological order, gets a device implementation from
   the registry (``dispatch.cuda_impl``) or runs on the host: silently for scalar and
   shape arithmetic on host values (``i * batch_size``), with a one-time
   ``CudaFallbackWarning`` naming the op when it has no CUDA implementation;
2. **transfers** -- the backend's rewrite phase (``transfer.insert_transfers``, run with
   ``rewriting.engine.run_backend_phase``) inserts a ``GpuFromHost``/``HostFromGpu``
   node into the function's graph where a value is produced on one side and needed on
   the other (so ``debugprint(f)`` shows every crossing); user outputs computed on the
   device get a final ``HostFromGpu``; shared variables need none: they live on the
   device (``Container.device_value``) from one call to the next;
3. **code** -- the kernels of all nodes go into one generated module, written to the
   cache directory and imported (``symgraph.link.numba.cache``; kernels are
   ``cuda.jit(cache=True)``), and a straight-line host function calls each node's
   launcher in order: device arrays flow from kernel to kernel with no host round trip.

A call (``CudaFunction.__call__``) runs the host function, then commits the updates: a
shared variable takes its new device array (the node's output buffer, swapped with the
old value; no copy), and ``get_value()`` copies it to the host only when asked.

Example::

    >>> f = symgraph.function([x], y, updates=[(w, w - 0.1 * g)], mode='cuda')  # doctest: +SKIP
    >>> symgraph.debugprint(f)   # GpuFromHost / HostFromGpu mark the copies
"""
from __future__ import annotations

import warnings

import numpy as np

from symgraph.compile.function import Function
from symgraph.graph.basic import Constant
from symgraph.graph.fg import OUTPUT
from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import RUN_ON_HOST, CudaContext, CudaImpl, cuda_impl
from symgraph.link.cuda.transfer import GpuFromHost, HostFromGpu
from symgraph.rewriting.engine import run_backend_phase
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.type import DTYPES

__all__ = ["CudaLinker", "CudaFunction", "CudaFallbackWarning"]


class CudaFallbackWarning(UserWarning):
    """An op of a CUDA function runs on the CPU (it has no CUDA implementation)."""


_warned: set = set()

HEADER = [
    "import math",
    "import numpy as np",
    "import numba",
    "from numba import cuda",
    "from symgraph.link.cuda.mathfuncs import *  # noqa: F401,F403",
] + [f"_sg_dt_{d} = np.{'bool_' if d == 'bool' else d}" for d in DTYPES] + [
    f"_sg_nb_{d} = numba.from_dtype(np.{'bool_' if d == 'bool' else d})" for d in DTYPES]


def _register_impls():
    import symgraph.link.cuda.impl  # noqa: F401  (importing registers the generators)


def _host_impl(node):
    """Run ``node`` with its py implementation (inputs and outputs on the host)."""
    from symgraph.link.py.dispatch import py_impl

    run = py_impl.get(node)
    single = len(node.outputs) == 1

    def build(module):
        if single:
            def fn(*args):
                return run(node, list(args))[0]
        else:
            def fn(*args):
                return tuple(run(node, list(args)))
        return fn

    return CudaImpl(["host"] * len(node.inputs), build,
                    output_locs=["host"] * len(node.outputs))


def _host_scalar_impl(node):
    """A 0-d Elemwise on host values as plain Python over numpy scalars, generated from the
    scalar templates like the kernels (faster than the op's array ``perform``)."""
    from symgraph.link.cuda.impl._common import host_scalar_converter, make_host
    from symgraph.link.cuda.mathfuncs import numpy_table
    from symgraph.link.scalar_render import inline_literal, scalar_body

    env = numpy_table()
    env.update({f"_sg_dt_{d}": np.dtype(d).type for d in DTYPES})
    names, lines = [], []
    for k, v in enumerate(node.inputs):
        lit = inline_literal(v)
        if lit is not None:
            names.append(lit)
            continue
        env[f"_hs{k}"] = host_scalar_converter(v.type.dtype)
        lines.append(f"a{k} = _hs{k}(x{k})")
        names.append(f"a{k}")
    counter = [0]

    def fresh():
        counter[0] += 1
        return f"t{counter[0]}"

    out_dts = [o.type.dtype for o in node.outputs]
    stmts, exprs = scalar_body(node.op.scalar_op, names, [v.type.dtype for v in node.inputs],
                               out_dts, fresh)
    lines += stmts
    rets = []
    for j, (e, dt) in enumerate(zip(exprs, out_dts)):
        env[f"_odt{j}"] = np.dtype(dt)
        rets.append(f"np.asarray({e}, dtype=_odt{j})")
    lines.append("return " + (rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ",)"))
    body = "\n        ".join(lines)
    src = (f"def fn({', '.join(f'x{k}' for k in range(len(node.inputs)))}):\n"
           f"    with np.errstate(all='ignore'):\n        {body}\n")
    return CudaImpl(["host"] * len(node.inputs), lambda module: make_host(src, env),
                    output_locs=["host"] * len(node.outputs))


def _transfer_impl(node):
    if isinstance(node.op, GpuFromHost):
        dt = node.outputs[0].type.dtype

        def build(module):
            upload = runtime.upload

            def fn(x):
                return upload(np.asarray(x, dtype=dt))
            return fn
        return CudaImpl(["host"], build, fresh_outputs=(0,))

    def build(module):
        return runtime.download
    return CudaImpl(["device"], build, output_locs=["host"])


class _State:
    """Everything the linker decides about one graph."""

    def __init__(self, fgraph, input_vars, shared_vars):
        self.fgraph = fgraph
        self.input_vars = list(input_vars)
        self.shared_vars = list(shared_vars)
        self.loc: dict = {}
        self.impls: dict = {}
        self.names: dict = {}
        self.dconst: dict = {}
        self.flag = None
        self.flag_messages: list = []
        self.fallbacks: list = []

    # -- services for generators ---------------------------------------------------
    def device_constant(self, c):
        arr = self.dconst.get(c)
        if arr is None:
            arr = self.dconst[c] = runtime.upload(np.asarray(c.data, dtype=c.type.dtype))
        return arr

    def error_flag(self, message):
        if self.flag is None:
            self.flag = runtime.upload(np.zeros(1, np.int32))
        self.flag_messages.append(message)
        return self.flag, len(self.flag_messages)

    # -- 1. placement --------------------------------------------------------------
    def place(self):
        fg = self.fgraph
        for v in self.input_vars:
            self.loc[v] = "host"
        for v in self.shared_vars:
            self.loc[v] = "device" if v.type.ndim > 0 else "host"
        ctx = CudaContext(self)
        order = fg.toposort()
        for n, node in enumerate(order):
            ctx.name = f"node{n}"
            ctx.node = node
            impl = self._choose(node, ctx)
            self.impls[node] = impl
            locs = impl.output_locs or ["device"] * len(node.outputs)
            for o, lo in zip(node.outputs, locs):
                self.loc[o] = lo
        # shared arrays read only on the host stay there (no per-call download)
        for v in self.shared_vars:
            if v.type.ndim > 0:
                needs = [self.impls[c].input_locs[i] for c, i in fg.clients.get(v, [])
                         if c != OUTPUT]
                if needs and all(nd == "host" for nd in needs):
                    self.loc[v] = "host"
        return order

    def _choose(self, node, ctx):
        in_locs = [ctx.loc(v) for v in node.inputs]
        on_host = all(lo in ("host", "const") for lo in in_locs)
        if on_host and all(o.type.ndim == 0 for o in node.outputs):
            # scalar arithmetic on host values (i * batch_size): no device round trip
            if isinstance(node.op, Elemwise):
                return _host_scalar_impl(node)
            return _host_impl(node)
        gen = cuda_impl.find(type(node.op))
        impl = gen(node.op, node, ctx) if gen is not None else None
        if impl is RUN_ON_HOST:
            return _host_impl(node)
        if impl is None:
            self._warn(node, registered=gen is not None)
            self.fallbacks.append(node)
            return _host_impl(node)
        return impl

    def _warn(self, node, registered):
        op = node.op
        key = (type(op), registered)
        if key in _warned:
            return
        _warned.add(key)
        cls = f"{type(op).__module__}.{type(op).__qualname__}"
        why = ("has no CUDA implementation for these inputs (" +
               ", ".join(str(v.type) for v in node.inputs) + ")") if registered else \
            "has no CUDA implementation"
        warnings.warn(
            f"symgraph cuda: {op} ({cls}) {why}; it runs on the CPU, its inputs copied "
            f"device->host and its outputs host->device on every call (HostFromGpu/"
            f"GpuFromHost in debugprint(f)). Register one with "
            f"symgraph.link.cuda.dispatch.cuda_impl.", CudaFallbackWarning, stacklevel=7)

    # -- 2. transfers ----------------------------------------------------------------
    def insert_transfers(self):
        """Run the backend's rewrite phase (``transfer.insert_transfers`` inserts the
        copies, reading this placement), give the new transfer nodes their host code and
        return the node order: uploads of graph inputs first, downloads of outputs last,
        so no download stalls the device in between."""
        fg = self.fgraph
        fg.cuda_placement = self
        try:
            run_backend_phase(fg, "cuda")
        finally:
            del fg.cuda_placement  # the graph outlives the link: keep no link state on it
        topo = fg.toposort()
        for node in topo:
            if node not in self.impls:
                if not isinstance(node.op, (GpuFromHost, HostFromGpu)):
                    raise RuntimeError(f"internal: the cuda phase added {node.op}, not a transfer")
                self.impls[node] = _transfer_impl(node)
        first = [n for n in topo if isinstance(n.op, GpuFromHost) and n.inputs[0].owner is None]
        last = [n for n in topo if isinstance(n.op, HostFromGpu)
                and all(c == OUTPUT for c, _ in fg.clients[n.outputs[0]])]
        skip = set(first) | set(last)
        return first + [n for n in topo if n not in skip] + last

    # -- 3. code ---------------------------------------------------------------------
    def generate(self, order):
        fg = self.fgraph
        env = {"np": np, "runtime": runtime}
        names = self.names
        params = []
        body = []
        for k, v in enumerate(self.input_vars):
            names[v] = f"i{k}"
            params.append(f"i{k}")
        containers = []
        for k, v in enumerate(self.shared_vars):
            c = v.container
            env[f"_c{k}"] = c
            containers.append(c)
            if self.loc[v] == "device":
                runtime.device_container(c)
                body.append(f"s{k} = _c{k}.device_array()")
            else:
                body.append(f"s{k} = _c{k}.value")
            names[v] = f"s{k}"
        kernels = []
        imports = set()
        for n, node in enumerate(order):
            impl = self.impls[node]
            if impl.kernels:
                kernels.append(f"# {node.op}\n{impl.kernels}")
            imports.update(impl.imports)
        src = None
        module = None
        if kernels:
            src = ("\n".join(HEADER + sorted(imports)) + "\n\n\n" + "\n\n\n".join(kernels)
                   + "\n")
            from symgraph.link.numba import cache

            module = cache.load_module(src)
        self.kernel_source = src
        self.module = module
        nconst = 0
        for n, node in enumerate(order):
            impl = self.impls[node]
            fn = impl.build(module)
            env[f"n{n}"] = fn
            args = []
            for i, v in enumerate(node.inputs):
                if isinstance(v, Constant):
                    nconst += 1
                    nm = f"k{nconst}"
                    if impl.input_locs[i] == "device":
                        env[nm] = self.device_constant(v)
                    else:
                        env[nm] = v.data
                    args.append(nm)
                else:
                    args.append(names[v])
            outs = [f"v{n}_{j}" for j in range(len(node.outputs))]
            for o, nm in zip(node.outputs, outs):
                names[o] = nm
            lhs = outs[0] if len(outs) == 1 else ", ".join(outs)
            body.append(f"{lhs} = n{n}({', '.join(args)})  # {node.op}")
        n_user = getattr(fg, "n_user_outputs", len(fg.outputs))
        rets = []
        for k, o in enumerate(fg.outputs):
            if isinstance(o, Constant):
                env[f"out{k}"] = np.asarray(o.data, dtype=o.type.dtype)
                nm = f"out{k}.copy()" if k < n_user else f"out{k}"
            else:
                nm = names[o]
            if k < n_user and not isinstance(o, Constant) and (
                    o in fg.outputs[:k] or not (o.owner is not None
                                                and isinstance(o.owner.op, HostFromGpu))):
                # a host value that may alias an input, or a repeated output: copy it
                env[f"_odt{k}"] = np.dtype(o.type.dtype)
                nm = f"np.array({nm}, dtype=_odt{k}, copy=True)"
            rets.append(nm)
        if self.flag is not None:
            env["_flag"] = self.flag
            env["_flag_error"] = self._flag_error
            body.append("if _flag.copy_to_host()[0]:\n        _flag_error()")
        body.append("return (" + "".join(r + ", " for r in rets) + ")")
        host_src = (f"def graph_fn({', '.join(params)}):\n    " + "\n    ".join(body) + "\n")
        exec(compile(host_src, "<symgraph cuda graph_fn>", "exec"), env)
        self.host_source = host_src
        self.graph_fn = env["graph_fn"]
        self.containers = containers
        self.commit = self._make_commit(order, n_user)

    def _flag_error(self):
        code = int(self.flag.copy_to_host()[0])
        self.flag.copy_to_device(np.zeros(1, np.int32))
        msg = self.flag_messages[code - 1] if 0 < code <= len(self.flag_messages) else \
            f"a CUDA kernel reported error code {code}"
        raise ValueError(msg)

    def _make_commit(self, order, n_user):
        """Straight-line code storing the update values into the shared containers."""
        fg = self.fgraph
        upd_outs = fg.outputs[n_user:]
        env = {"np": np, "runtime": runtime}
        lines = []
        claimed = set()
        slots = {}
        for node in order:
            impl = self.impls[node]
            for j, s in impl.slots.items():
                slots[node.outputs[j]] = s
        for k, (u, sv) in enumerate(zip(upd_outs, self._upd_vars)):
            c = sv.container
            env[f"_c{k}"] = c
            if isinstance(u, Constant):
                env[f"_v{k}"] = np.asarray(u.data, dtype=u.type.dtype)
                lines.append(f"_c{k}.value = _v{k}.copy()")
                continue
            if self.loc[u] == "host":
                env[f"_dt{k}"] = np.dtype(u.type.dtype)
                lines.append(f"_c{k}.value = np.array(u{k}, dtype=_dt{k}, copy=True)")
                continue
            runtime.device_container(c)
            if u is sv:
                continue  # updated to itself
            node = u.owner
            fresh = (node is not None and u.index in self.impls[node].fresh_outputs
                     and u not in claimed)
            if fresh:
                claimed.add(u)
                slot = slots.get(u)
                if slot is not None:
                    env[f"_s{k}"] = slot
                    lines.append(f"_s{k}.give(_c{k}.set_device(u{k}))")
                else:
                    lines.append(f"_c{k}.set_device(u{k})")
            else:
                lines.append(f"_c{k}.set_device(runtime.contiguous(u{k}, "
                             f"runtime.device_empty(u{k}.shape, u{k}.dtype)))")
        params = ", ".join(f"u{k}" for k in range(len(upd_outs)))
        src = f"def commit({params}):\n    " + "\n    ".join(lines or ["pass"]) + "\n"
        exec(compile(src, "<symgraph cuda commit>", "exec"), env)
        self.commit_source = src
        return env["commit"]


class CudaThunk:
    """The linked graph: ``graph_fn(*inputs)`` runs it, ``commit(*updates)`` stores updates."""

    def __init__(self, state):
        self.graph_fn = state.graph_fn
        self.commit = state.commit
        self.source = state.host_source
        self.kernel_source = state.kernel_source
        self.commit_source = state.commit_source
        self.module = None  # (no Numba CPU module: keeps the generic fast path away)
        self.fallbacks = list(state.fallbacks)
        self.locations = dict(state.loc)
        self.const_args = []

    #: compile.function uses this class for the compiled function
    @property
    def function_class(self):
        return CudaFunction

    def __call__(self, vals, shared_vals=None):
        """Run without committing updates; returns outputs then update values."""
        return list(self.graph_fn(*vals))


class CudaLinker:
    """Links a FunctionGraph for the GPU (see the module docstring)."""

    name = "cuda"

    def make_thunk(self, fgraph, input_vars, shared_vars, **kw):
        runtime.require_device()
        _register_impls()
        state = _State(fgraph, input_vars, shared_vars)
        n_user = getattr(fgraph, "n_user_outputs", len(fgraph.outputs))
        upd = kw.get("update_vars")
        if upd is None or len(upd) != len(fgraph.outputs) - n_user:
            raise RuntimeError("internal: the CUDA linker needs update_vars (the shared "
                               "variable of each update output) from compile.function")
        state._upd_vars = list(upd)
        state.place()
        order = state.insert_transfers()
        state.generate(order)
        return CudaThunk(state)


class CudaFunction(Function):
    """A compiled CUDA function: runs the linked graph, then commits shared updates."""

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self.ins):
            args = self._bind(args, kwargs)
        if self.trust_input:
            vals = args
        else:
            fast = self._fast
            vals = [a if (fast[k] is not None and type(a) is fast[k]) else self._filter(k, a)
                    for k, a in enumerate(args)]
        thunk = self.thunk
        prof = self._profile
        if prof is not None:
            import time

            prof.t0 = time.perf_counter()
        try:
            res = thunk.graph_fn(*vals)
        except Exception as e:  # noqa: BLE001 - re-raised with the user's node named
            raise self._explain(e, vals, [c.value for c in self._containers]) from None
        n = self.n_out
        if len(res) > n:
            thunk.commit(*res[n:])
        if prof is not None:
            import time

            prof.record(time.perf_counter() - prof.t0)
        if self.single:
            return res[0]
        return list(res[:n])

    def dry_run(self, *args, **kwargs):
        """Run once without committing updates."""
        if kwargs or len(args) != len(self.ins):
            args = self._bind(args, kwargs)
        vals = [self._filter(k, a) for k, a in enumerate(args)]
        return list(self.thunk.graph_fn(*vals)[: self.n_out])
