"""Numba's typing, without compiling: of basic indexing, and of a whole small function.

Why (``index_result``): a new graph's kernels are compiled in a background process for
argument types guessed from the graph before this process has compiled the kernels
producing them (``link/numba/plan_compile.py``). A view's layout (C, F or any) follows
Numba's own rules for basic indexing, which only Numba's typing states exactly; a guess
that differs from them only costs the background process a useless compile, never a
result.

Why (``return_type``): the Python tier runs a new graph's view nodes (slices,
dimshuffles) as their kernels' Python source on numpy arrays instead of compiling a
kernel for each (``link/numba/tiered.py``), but the nodes after them must still be
called with the types Numba gives those views inside the compiled glue. The tier types
a view from its declared view steps (``index_result``, microseconds); where a step has
no such typing, this types the kernel's whole source: 14 ms a kernel on average in an
LSTM's first call, against 60-230 ms for compiling it.

Private uses: ``numba.core.typing.arraydecl.get_array_index_type``, the function Numba's
typing of ``array[index]`` calls; a compiler class made of Numba's own untyped pipeline
(``DefaultPassBuilder.define_untyped_pipeline``) and type inference pass, ended by a
pass that returns the inferred type (``_EarlyPipelineCompletion``), run through
``compiler.compile_extra`` with the dispatcher's options (``_compiler.targetdescr``)
under Numba's compiler lock. Public path: None (the caller then guesses the view like a
new array, C-ordered, or compiles the kernel).
"""
from __future__ import annotations

__all__ = ["index_result", "return_type"]


def index_result(ary, kinds: str):
    """The Numba type of ``ary[index]`` for an index of ``kinds`` (one letter per entry:
    ``i`` integer, ``s`` slice without step, ``S`` slice with step, ``n`` None), or None
    when it is not known (the public path, or an index Numba's typing refuses)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return None
    from numba import types
    from numba.core.typing.arraydecl import get_array_index_type

    of = {"i": types.intp, "s": types.slice2_type, "S": types.slice3_type, "n": types.none}
    idx = [of[k] for k in kinds]
    try:
        res = get_array_index_type(ary, types.Tuple(idx) if len(idx) != 1 else idx[0])
    except Exception:  # noqa: BLE001 - an index Numba refuses: no guess
        return None
    return None if res is None else res.result


def return_type(dispatcher, argtys: tuple):
    """The Numba type ``dispatcher``'s function returns for arguments of types
    ``argtys``, by Numba's own untyped passes and type inference with the dispatcher's
    options (nothing lowered or compiled), or None when it is not known (the public path,
    or a function Numba's typing refuses)."""
    from symgraph.numba_compat import numba_internals

    if not numba_internals():
        return None
    from numba.core import compiler
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    try:
        with global_compiler_lock:
            typingctx, targetctx = cpu_target.typing_context, cpu_target.target_context
            typingctx.refresh()
            targetctx.refresh()
            flags = compiler.Flags()
            dispatcher._compiler.targetdescr.options.parse_as_flags(
                flags, dispatcher.targetoptions)
            return compiler.compile_extra(typingctx, targetctx, dispatcher.py_func,
                                          tuple(argtys), None, flags, {},
                                          pipeline_class=_typing_only_class())
    except Exception:  # noqa: BLE001 - a function Numba's typing refuses: not known
        return None


_classes: list = []


def _typing_only_class():
    """A Numba compiler class whose pipeline is the nopython pipeline's untyped passes
    and type inference, ending with the inferred return type as its result."""
    if _classes:
        return _classes[0]
    from numba.core import compiler
    from numba.core.compiler_machinery import AnalysisPass, register_pass
    from numba.core.typed_passes import NopythonTypeInference

    @register_pass(mutates_CFG=False, analysis_only=True)
    class _ReturnTypeOnly(AnalysisPass):
        _name = "symgraph_return_type_only"

        def __init__(self):
            AnalysisPass.__init__(self)

        def run_pass(self, state):
            raise compiler._EarlyPipelineCompletion(state.return_type)

    class _TypingOnly(compiler.CompilerBase):
        def define_pipelines(self):
            pm = compiler.DefaultPassBuilder.define_untyped_pipeline(self.state)
            pm.add_pass(NopythonTypeInference, "nopython frontend")
            pm.add_pass(_ReturnTypeOnly, "the return type, nothing lowered")
            pm.finalize()
            return [pm]

    _classes.append(_TypingOnly)
    return _TypingOnly
