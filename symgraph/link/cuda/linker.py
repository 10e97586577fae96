"""Numba CUDA backend: the optimized graph runs on the GPU, data stays on the device.

Linking a graph (``CudaLinker.link``, which returns a ``CudaExecutable``):

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

A call (the common ``Executable`` call path) runs the host function, then commits the
updates (``CudaExecutable.store``): a shared variable takes its new device array (the
node's output buffer, swapped with the old value; no copy), and ``get_value()`` copies
it to the host only when asked.

Example::

    >>> f = symgraph.function([x], y, updates=[(w, w - 0.1 * g)], mode='cuda')  # doctest: +SKIP
    >>> symgraph.debugprint(f)   # GpuFromHost / HostFromGpu mark the copies
"""
from __future__ import annotations

import warnings

import numpy as np

from symgraph.graph.basic import Constant
from symgraph.graph.fg import OUTPUT
from symgraph.link.cuda import runtime
from symgraph.link.cuda.dispatch import RUN_ON_HOST, CudaContext, CudaImpl, cuda_impl
from symgraph.link.cuda.transfer import GpuFromHost, HostFromGpu
from symgraph.link.executable import Executable
from symgraph.rewriting.engine import run_backend_phase
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.type import DTYPES

__all__ = ["CudaLinker", "CudaExecutable", "CudaFallbackWarning"]


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

    def __init__(self, fgraph, input_vars, shared_vars, input_locs=None):
        self.fgraph = fgraph
        self.input_vars = list(input_vars)
        # where each input arrives (default: the host); a loop's step graph gets its
        # states and sequence rows as device arrays (impl/scan.py)
        self.input_locs = dict(input_locs or {})
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
            self.loc[v] = self.input_locs.get(v, "host")
        for v in self.shared_vars:
            self.loc[v] = "device" if v.type.ndim > 0 else "host"
        ctx = CudaContext(self)
        order = fg.toposort()
        for n, node in enumerate(order):
            ctx.name = f"node{n}"
            ctx.node = node
            ctx.why = None
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
        # a loop (an op with an inner graph: Scan) is no cheap scalar arithmetic, even
        # with host inputs and 0-d outputs: its generator decides
        loop = hasattr(node.op, "inner_outputs")
        if on_host and not loop and all(o.type.ndim == 0 for o in node.outputs):
            # scalar arithmetic on host values (i * batch_size): no device round trip
            if isinstance(node.op, Elemwise):
                return _host_scalar_impl(node)
            return _host_impl(node)
        gen = cuda_impl.find(type(node.op))
        impl = gen(node.op, node, ctx) if gen is not None else None
        if impl is RUN_ON_HOST:
            return _host_impl(node)
        if impl is None:
            self._warn(node, registered=gen is not None, why=ctx.why)
            self.fallbacks.append(node)
            return _host_impl(node)
        return impl

    def _warn(self, node, registered, why=None):
        op = node.op
        key = (type(op), registered)
        if key in _warned:
            return
        _warned.add(key)
        cls = f"{type(op).__module__}.{type(op).__qualname__}"
        if why is None:
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
        run_backend_phase(fg, "cuda", self)
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
        env["_as_device"] = runtime.as_device
        for k, v in enumerate(self.shared_vars):
            params.append(f"s{k}")
            if self.loc[v] == "device":
                # the executable passes the device value; a checking mode passes a copy
                # of the host value, uploaded here
                body.append(f"s{k} = _as_device(s{k})")
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
        self.commit_plan = self._commit_plan(order, n_user)

    def _flag_error(self):
        code = int(self.flag.copy_to_host()[0])
        self.flag.copy_to_device(np.zeros(1, np.int32))
        msg = self.flag_messages[code - 1] if 0 < code <= len(self.flag_messages) else \
            f"a CUDA kernel reported error code {code}"
        raise ValueError(msg)

    def _commit_plan(self, order, n_user):
        """How each update value becomes its shared variable's value: a list of
        ``(kind, container, extra)``, run by ``CudaExecutable.store``:

        * ``"const"``: a constant update, ``extra`` the array (a copy is stored);
        * ``"host"``: a value computed on the host, copied (``extra``: its dtype);
        * ``"own"``: a device array the node made for this call: it becomes the value
          without a copy, and the node's reusable buffer (``extra``, a ``Slot`` or
          None) takes the previous value's array in exchange;
        * ``"copy"``: a device array that is not the update's own (a view, or an array
          another update took already): stored as a contiguous copy;
        * ``"same"``: the variable updated to itself (nothing to do).
        """
        fg = self.fgraph
        claimed = set()
        slots = {}
        for node in order:
            for j, slot in self.impls[node].slots.items():
                slots[node.outputs[j]] = slot
        plan = []
        for u, sv in zip(fg.outputs[n_user:], self._upd_vars):
            c = sv.container
            if isinstance(u, Constant):
                plan.append(("const", c, np.asarray(u.data, dtype=u.type.dtype)))
            elif self.loc[u] == "host":
                plan.append(("host", c, np.dtype(u.type.dtype)))
            elif u is sv:
                plan.append(("same", c, None))
            elif (u.owner is not None and u.index in self.impls[u.owner].fresh_outputs
                  and u not in claimed):
                claimed.add(u)
                plan.append(("own", c, slots.get(u)))
            else:
                plan.append(("copy", c, None))
        return plan


class CudaExecutable(Executable):
    """A graph linked by the CUDA backend: ``run`` calls the generated host function
    (inputs on the host, shared values as device arrays where they live on the device;
    outputs come back on the host), and ``store`` makes the update values the shared
    variables' device values (``_State._commit_plan``), all or none."""

    def __init__(self, state, fgraph, inputs, shared, updates, **opts):
        super().__init__(fgraph, inputs, shared, updates, **opts)
        self.graph_fn = state.graph_fn
        self.source = state.host_source
        self.kernel_source = state.kernel_source
        self.commit_plan = state.commit_plan
        self.fallbacks = list(state.fallbacks)
        self.locations = dict(state.loc)
        self._on_device = [state.loc[v] == "device" for v in self.shared_vars]
        # the host function copies every user output that could alias another value, and
        # the commit plan every update value that is not its own: nothing to copy after
        self.copy_out = []

    def run(self, vals, shared_vals):
        return list(self.graph_fn(*vals, *shared_vals))

    def read_shared(self):
        return [runtime.device_array(c) if dev else c.value
                for c, dev in zip(self.containers, self._on_device)]

    def store(self, values):
        plan = self.commit_plan
        before = [(c.host, c.device_value) for c in self.update_containers]
        try:
            for (kind, c, extra), u in zip(plan, values):
                if kind == "own":
                    old = runtime.set_device(c, u)
                    if extra is not None:
                        extra.give(old)
                elif kind == "copy":
                    runtime.set_device(c, runtime.contiguous(
                        u, runtime.device_empty(u.shape, u.dtype)))
                elif kind == "host":
                    c.value = np.array(u, dtype=extra, copy=True)
                elif kind == "const":
                    c.value = extra.copy()
        except BaseException:
            # an interrupted store (Ctrl-C): every variable keeps its previous value, and
            # no node buffer stays shared with one of them
            for c, (host, dv) in zip(self.update_containers, before):
                c.host, c.device_value = host, dv
            for kind, _, extra in plan:
                if kind == "own" and extra is not None:
                    extra.give(None)
            raise


class CudaLinker:
    """Links a FunctionGraph for the GPU (see the module docstring)."""

    name = "cuda"

    def link(self, fgraph, inputs, shared, updates, **opts) -> CudaExecutable:
        CudaExecutable.prepare()
        runtime.require_device()
        _register_impls()
        state = _State(fgraph, fgraph.inputs, shared)
        state._upd_vars = list(updates)
        state.place()
        order = state.insert_transfers()
        state.generate(order)
        return CudaExecutable(state, fgraph, inputs, shared, updates, **opts)
