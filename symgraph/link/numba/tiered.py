"""The Python tier: a new graph runs at once, its kernels called from Python, while its
glue (``graph_fn``) compiles in a background process.

Why: a graph whose kernels are all compiled (by this graph or any other) still waited
for Numba to compile its glue, ``graph_fn``: seconds for an MLP, growing with every
layer (docs/benchmarks.md), most of it Numba's typing and lowering of the glue's calls.
The kernels are what compute; the glue only orders their calls. So a new graph's first
calls run the same kernels in the same order from a plain-Python function, while a
worker process (``glue_worker.py``) compiles ``graph_fn`` into the shared cache; the
function switches to the compiled glue at a call boundary once it is there.

Identical results on both tiers, by construction, not by tolerance: every node runs as
the very machine code the compiled glue runs. Each call goes to the kernel's
specialization for the argument types Numba gives them *inside* ``graph_fn`` (the
static types, propagated here from the glue's parameters through each kernel's return
type), not for the types Python values would be given: a slice that happens to be
contiguous is still passed as the glue passes it, so no kernel takes a different path.
Straight-line nodes, which ``graph_fn`` has inline, run here as kernels of their own
made from the same source (Numba types and compiles a function body the same inline or
not; symgraph compiles without fast-math, so LLVM reorders no arithmetic). The nodes
the tier runs without their kernels compute the same values by other means: integer
shape arithmetic and views in Python (:class:`PythonNode`), elementwise IEEE arithmetic
and reshapes as numpy, each step mirroring the kernel's expression
(``tier_numpy.NumpyNode``). Tests compare both tiers bit for bit
(``tests/link/numba/test_tiered.py``, ``test_tier_numpy.py``). So when the switch happens
(it depends on how long the compile takes) never changes a result.

Building a plan compiles (or loads) every kernel of the graph for its argument types;
the worker shares that work (``plan_compile.py``), so a new graph's first call waits for
about half of its kernels' compile time on two cores.

``config.numba_glue``: ``"tiered"`` (the default) or ``"compiled"`` (compile ``graph_fn``
in this process before the first call, as before).
"""
from __future__ import annotations

import threading
import types as pytypes

import numpy as np

from symgraph.link.numba import tier_extern, tier_loop, tier_numpy
from symgraph.link.numba.fastload import load_or_compile
from symgraph.link.numba.plan_compile import (
    Compiled,
    StandIn,
    compile_nodes,
    new_value_type,
    view_type,
)

__all__ = ["PythonTier", "TieredCall"]


def _typeof(v):
    from numba import typeof

    return typeof(v)


class _NumpyAllocators:
    """``_sg_helpers`` for a kernel's source run in Python: numpy's own allocators (the
    compiled helpers return the same new C-ordered array, or ``a`` itself when it is
    C-contiguous; on the private path they are intrinsics, which Python cannot call),
    anything else the helper."""

    empty = empty_hugepage = staticmethod(np.empty)
    zeros = staticmethod(np.zeros)
    full = staticmethod(np.full)
    ascontiguousarray = staticmethod(np.ascontiguousarray)

    def __getattr__(self, name):
        from symgraph.link.numba import helpers

        return getattr(helpers, name)


class PythonNode(StandIn):
    """A node the tier runs as its kernel's Python source, not compiled. It stands in
    for the kernel's dispatcher in a plan (``plan_compile``): ``overloads`` holds an
    entry for the argument types a plan gives it, as if compiled. Two kinds:

    * exact values (``outputs``: each output's dtype and rank; ``tier_steps.
      python_exact``): integer arithmetic, comparisons and selections on 0-d int64 and
      bool values, ``Shape``, ``Shape_i``, ``AxesSize``, int64 ``MakeVector``, and a 0-d
      value indexed or dimshuffled (itself, or copied into a new array of its dtype).
      The same values as the machine code, by construction: the scalar operands are
      numpy scalars of their dtypes and every result is cast to its dtype as in the
      kernel, so each value is the exact integer (or the copied value), which the machine
      code computes too, as long as nothing overflows int64 or divides by zero. Those
      have no value Python can vouch for: LLVM compiles Numba's integer arithmetic as if
      it never overflowed (``abs(k - n)`` became ``n - k`` when ``k < n``), and Numba's
      division by zero is its own. So a call whose Python evaluation meets either (numpy
      raises, under ``errstate(all="raise")``) runs the compiled kernel instead. The
      types given to the nodes after it are the kernel's: a scalar, or a new C-ordered
      array.
    * views (``views``: each output's ``NumbaCode.views`` entry; ``tier_steps.
      python_view``): basic indexing and axis changes, which numpy and Numba compute
      alike (a view of the same memory, the same bounds checks in the source). The types
      given to the nodes after it are the ones Numba's typing of indexing gives the view
      for these argument types (``plan_compile.view_type``), so every later kernel is
      called for the very types the compiled glue has there. A result that does not fit
      its type (a layout typed contiguous that the array is not), an exception (an index
      out of bounds), or a view Numba's typing cannot type, runs the compiled kernel
      instead.

    Argument types other than int64, bool, float32, float64 and arrays run the compiled
    kernel too."""

    def __init__(self, dispatcher, outputs=None, views=None):
        super().__init__(dispatcher)
        self._views = views
        #: a view's Numba return type per argument types a plan asked for
        self.typed: dict = {}
        if views is None:
            self._ret = _one_or_tuple([new_value_type(d, nd) for d, nd in outputs])
        f = dispatcher.py_func
        # (``_sg_transpose``: ``helpers.transpose`` by symbol, ``tier_steps.PYTHON_EXTERNS``)
        env = dict(f.__globals__, _sg_helpers=_NumpyAllocators(),
                   _sg_transpose=np.transpose)
        self._run = pytypes.FunctionType(f.__code__, env, f.__name__, f.__defaults__,
                                         f.__closure__)

    def __getitem__(self, argtys):
        from numba import types

        argtys = tuple(argtys)
        conv = {types.int64: np.int64, types.boolean: np.bool_, types.float32: np.float32,
                types.float64: np.float64}
        if not all(t in conv or isinstance(t, types.Array) for t in argtys):
            return self._compiled(argtys)
        convs = tuple(conv.get(t) for t in argtys)
        run = self._run
        if self._views is None:
            def entry(*args):
                try:
                    with np.errstate(all="raise"):
                        return run(*[a if c is None else c(a) for c, a in zip(convs, args)])
                except (FloatingPointError, OverflowError):
                    return self._compiled(argtys).entry_point(*args)

            return Compiled(entry, self._ret)
        # each output's view steps typed by Numba's typing of indexing (microseconds);
        # None only where Numba cannot type the view at all: its kernel then runs
        rets = [view_type(argtys[k], steps) for k, steps in self._views]
        checks = [None if r is None else _fit_check(r) for r in rets]
        if any(c is None for c in checks):
            return self._compiled(argtys)
        fits = checks[0] if len(checks) == 1 else _tuple_check(checks)

        def view_entry(*args):
            try:
                out = run(*[a if c is None else c(a) for c, a in zip(convs, args)])
            except Exception:  # noqa: BLE001 - the compiled kernel raises its own error
                out = None
            else:
                if fits(out):
                    return out
            return self._compiled(argtys).entry_point(*args)

        self.typed[argtys] = ret = _one_or_tuple(rets)
        return Compiled(view_entry, ret)


def _one_or_tuple(rets):
    """A kernel's return type: its one output's type, or the tuple of them."""
    from numba import types

    return rets[0] if len(rets) == 1 else types.Tuple(rets)


def _tuple_check(checks):
    return lambda value: (isinstance(value, tuple) and len(value) == len(checks)
                          and all(c(v) for c, v in zip(checks, value)))


def _fit_check(t):
    """A test of whether a value (a numpy array or scalar) may be passed where Numba type
    ``t`` is expected: the dtype, rank and writability, and the contiguity a 'C' or 'F'
    layout promises (compiled code addresses such arrays by their shape alone); None for
    a type it cannot vouch for. Made once per plan, run on every call of the node."""
    from numba import types
    from numba.np.numpy_support import as_dtype

    if isinstance(t, types.Array):
        dtype, ndim, writeable = as_dtype(t.dtype), t.ndim, t.mutable
        flag = {"C": "C_CONTIGUOUS", "F": "F_CONTIGUOUS"}.get(t.layout)

        def fits(value):
            if value.__class__ is not np.ndarray or value.ndim != ndim:
                return False
            if value.dtype != dtype or (writeable and not value.flags.writeable):
                return False
            return flag is None or value.flags[flag]

        return fits
    if isinstance(t, (types.Integer, types.Float, types.Boolean, types.Complex)):
        dtype = as_dtype(t)
        return lambda value: isinstance(value, np.generic) and value.dtype == dtype
    return None


class PythonTier:
    """Runs one generated graph module's nodes as calls of their kernels' compiled
    specializations; one plan per signature of ``graph_fn``'s arguments."""

    def __init__(self, module):
        self.module = module
        self.spec = module._sg_tier
        self._plans: dict = {}
        self._sigs: dict = {}
        self._inline: dict = {}
        self._lock = threading.Lock()
        self._by_worker = 0

    @property
    def by_worker(self) -> int:
        """Kernels of this graph the background worker compiled (``plan_compile.py``),
        those of its scans' steps included."""
        return self._by_worker + sum(
            d._tier.by_worker for d in self._inline.values()
            if isinstance(d, tier_loop.PythonLoop) and d._tier is not None)

    def _kernel(self, ref):
        """The dispatcher of node ``ref``: a kernel module of the glue (``_sgk<k>``; for
        a scan's loop, the loop run in Python: :class:`~.tier_loop.PythonLoop`), or
        the kernel made from a straight-line node's source (loaded on first use, shared
        with every graph that has the same node), or, for integer shape arithmetic and
        views, that source run in Python (:class:`PythonNode`), or, for exact
        elementwise arithmetic and reshapes, the node run as numpy
        (:class:`~.tier_numpy.NumpyNode`), or, for products, sums and the
        neural-network ops, their kernel's callee called directly
        (:class:`~.tier_extern.ExternNode`, ``tier_nnet.py``)."""
        disp = self._inline.get(ref)
        if disp is not None:
            return disp
        if isinstance(ref, str):
            kernel = getattr(self.module, ref)
            disp = self._stand_in(ref, kernel)
            if disp is kernel:
                loop = self.spec.get("loops", {}).get(ref)
                if loop is None or not tier_loop.ENABLED:
                    return kernel
                # a scan's loop, run in Python (``tier_loop.py``)
                disp = tier_loop.PythonLoop(kernel, loop)
        else:
            from symgraph.link.numba.cache import load_kernel

            disp = self._stand_in(ref, load_kernel(self.spec["inline"][ref]))
        self._inline[ref] = disp
        return disp

    def _stand_in(self, ref, kernel):
        """``kernel`` wrapped as the node the tier runs without it (``linker._stand_in``,
        and ``tier["python"]``: ``tier_steps.python_exact``), or ``kernel`` itself."""
        spec = self.spec
        if ref in spec.get("numpy", {}):
            return tier_numpy.NumpyNode(kernel, spec["numpy"][ref])
        if ref in spec.get("extern", {}):
            return tier_extern.ExternNode(kernel, spec["extern"][ref])
        if ref in spec.get("python", {}):
            return PythonNode(kernel, spec["python"][ref])
        if ref in spec.get("views", {}):
            return PythonNode(kernel, views=spec["views"][ref])
        return kernel

    def signature(self, args) -> tuple:
        """The argument types ``graph_fn`` would be compiled for (Numba's ``typeof``).

        Called on every Python-tier call: Numba's ``typeof`` of a graph's dozen
        arguments costs more than the rest of the call, so each signature is kept under
        a key of what ``typeof`` reads (an array's dtype, dimensions, contiguity,
        writability and alignment; a scalar's class), computed only for a new key."""
        key = []
        for a in args:
            c = a.__class__
            if c is np.ndarray:
                f = a.flags
                key.append((a.dtype, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable,
                            f.aligned))
            elif c is int:   # int64, or uint64 beyond int64's range
                key.append((c, -(1 << 63) <= a < (1 << 63)))
            elif c in (float, bool, complex) or isinstance(a, np.number | np.bool_):
                key.append(c)
            else:   # anything else: typeof itself each time
                return tuple(_typeof(v) for v in args)
        key = tuple(key)
        sig = self._sigs.get(key)
        if sig is None:
            sig = self._sigs[key] = tuple(_typeof(a) for a in args)
        return sig

    def plan(self, sig: tuple, args):
        """The plain-Python function running the graph for arguments of types ``sig``
        (built once per signature: compiles or loads each kernel specialization)."""
        run = self._plans.get(sig)
        if run is None:
            with self._lock:
                run = self._plans.get(sig)
                if run is None:
                    run = self._plans[sig] = self._build(sig, args)
        return run

    def _build(self, sig, args):
        from numba import types

        spec = self.spec
        params = spec["params"]
        env = dict(vars(self.module))
        scope = dict(zip(params, args))
        tys = dict(zip(params, sig))
        lines = [f"def tier_fn({', '.join(params)}):"]
        for line in spec["consts"]:
            exec(line, env, scope)   # noqa: S102 - generated text (constants by index)
            name = line.split("=", 1)[0].strip()
            tys[name] = types.unliteral(_typeof(scope[name]))
            lines.append("    " + line)
        nodes = [(self._kernel(ref), ins, outs, ref) for ref, ins, outs in spec["nodes"]]
        compiled, by_worker = compile_nodes(nodes, tys, self, spec.get("guess"))
        self._by_worker += by_worker
        for j, ((ref, ins, outs), cres) in enumerate(zip(spec["nodes"], compiled)):
            env[f"_sge{j}"] = cres.entry_point
            lhs = outs[0] if len(outs) == 1 else ", ".join(outs)
            lines.append(f"    {lhs} = _sge{j}({', '.join(ins)})")
        lines.append("    return (" + "".join(r + ", " for r in spec["ret"]) + ")")
        src = "\n".join(lines)
        exec(compile(src, f"<symgraph python tier {self.module.__name__}>", "exec"), env)
        return env["tier_fn"]


_warned: set = set()


def _warn_once(what: str, why: str) -> None:
    if what not in _warned:
        _warned.add(what)
        import warnings

        warnings.warn(f"symgraph: {what}; compiling the graph's glue in this process "
                      f"({why})", RuntimeWarning, stacklevel=4)


class TieredCall:
    """What a new graph's executable calls in place of ``graph_fn`` until the compiled
    glue is there: the Python tier, and the switch (``switch(compiled)`` is called
    with ``graph_fn`` once its machine code for the call's signature is loaded)."""

    def __init__(self, module, switch, hold: bool = False):
        self.module = module
        self.tier = PythonTier(module)
        self.switch = switch
        #: stay on the Python tier even where graph_fn is compiled (``hold_python_tier``)
        self.hold = hold
        self.jobs: dict = {}

    def __call__(self, *args):
        graph_fn = self.module.graph_fn
        sig = self.tier.signature(args)
        if self.hold:
            return self.tier.plan(sig, args)(*args)
        if sig not in graph_fn.overloads:
            job = self.jobs.get(sig)
            if job is None or not job.done:
                try:
                    # the plan first: it compiles the kernels the glue calls, which the
                    # worker then finds in the cache instead of compiling them too
                    run = self.tier.plan(sig, args)
                except Exception as e:  # noqa: BLE001 - the compiled glue says it better
                    _warn_once("the Python tier could not run a graph",
                               f"{type(e).__name__}: {e}")
                else:
                    if job is None:
                        from symgraph.link.numba import glue_worker, progress

                        progress.finish(self.module)
                        self.jobs[sig] = glue_worker.submit(self.module, sig, self)
                    return run(*args)
            elif not job.ok and job.error != "dropped":
                _warn_once("a background compile did not succeed", job.error)
            self._load(sig)
        self.switch(graph_fn)
        return graph_fn(*args)

    def _load(self, sig) -> None:
        """``graph_fn``'s machine code for ``sig``: from the cache the worker wrote (with
        the link table re-read first), else compiled here."""
        from symgraph.link.numba.linker import preload_signatures, record_signatures

        preload_signatures(self.module)
        if sig not in self.module.graph_fn.overloads:
            load_or_compile(self.module.graph_fn, sig)
            record_signatures(self.module)
