"""Cached Numba libraries loaded without parsing their LLVM bitcode.

Why: a function loaded from Numba's disk cache carries two things: its machine code (an
object file, which is what runs) and its whole LLVM module as bitcode, kept so that a
later compile can link it in (inline it). Numba parses that bitcode at every load, then
walks the parsed module to record which symbols the library defines. For a cached
training graph those two steps were most of the time spent per library loaded (about
40 libraries for network3: docs/benchmarks.md), and most loads never link anything.
Here the bitcode is parsed when something first links against the library, and the
defined symbols are read from the object file's ELF symbol table (a few table reads).
The same table lists the symbols the object calls: one of symgraph's by-symbol callees
(``bysymbol.py``) that nothing registered would make LLVM abort the process, so such a
library is refused (:class:`~symgraph.numba_compat.bysymbol.StaleCallee`: the caller
compiles it afresh) instead of loaded.

Private uses: the CPU codegen's ``_library_class`` (swapped for the duration of one
load, under Numba's compiler lock, by :func:`lazy_bitcode`), and in the subclass
``CPUCodeLibrary``'s ``_unserialize``/``_get_module_for_linking``/
``enable_object_caching``/``_set_compiled_object``/``_finalize_final_module`` and the JIT
engine's ``_defined_symbols``. Public path: Numba's own eager load. Anything but an
ELF64 little-endian object file (another platform) also takes Numba's path.
"""
from __future__ import annotations

import contextlib
import struct

from symgraph.numba_compat.bysymbol import StaleCallee, unregistered

__all__ = ["lazy_bitcode", "elf_symbols"]

_SHT_SYMTAB = 2
_STT_OBJECT, _STT_FUNC = 1, 2


def elf_symbols(obj: bytes) -> tuple | None:
    """``(defined, undefined)``: the names an ELF64 little-endian relocatable object
    defines (functions and data, any binding) and those it references without defining;
    None if ``obj`` is not such a file."""
    if len(obj) < 64 or obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    if shentsize != 64 or shoff + shnum * 64 > len(obj):
        return None
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + 64 * i) for i in range(shnum)]
    names: set = set()
    undefined: set = set()
    for sec in sections:
        if sec[1] != _SHT_SYMTAB:
            continue
        off, size, link, entsize = sec[4], sec[5], sec[6], sec[9] or 24
        if link >= shnum:
            return None
        stroff, strsize = sections[link][4], sections[link][5]
        strtab = obj[stroff:stroff + strsize]
        for k in range(off, off + size - entsize + 1, entsize):
            st_name, st_info, _other, st_shndx = struct.unpack_from("<IBBH", obj, k)
            end = strtab.find(b"\0", st_name)
            if end <= st_name:
                continue
            if st_shndx == 0:
                undefined.add(strtab[st_name:end].decode("utf-8", "replace"))
            elif (st_info & 0xF) in (_STT_OBJECT, _STT_FUNC):
                names.add(strtab[st_name:end].decode("utf-8", "replace"))
    return names, undefined


_subclass: dict = {}


def _lazy_class(base):
    cls = _subclass.get(base)
    if cls is not None:
        return cls
    from llvmlite import binding as ll

    class LazyBitcodeLibrary(base):
        """A cached library whose linking module is parsed on first use."""

        _sg_bitcode = None

        @classmethod
        def _unserialize(cls, codegen, state):
            name, kind, data = state
            found = elf_symbols(data[0]) if kind == "object" else None
            if found is None:
                return base._unserialize.__func__(cls, codegen, state)
            names, undefined = found
            missing = unregistered(undefined)
            if missing:
                # LLVM would abort the process on the first of them: compile instead
                raise StaleCallee(f"cached machine code of {name} calls {missing[0]}, "
                                  f"which nothing registered; it is compiled afresh")
            object_code, shared_bitcode = data
            self = codegen.create_library(name)
            self.enable_object_caching()
            self._set_compiled_object(object_code)
            self._sg_bitcode = shared_bitcode
            self._finalize_final_module()
            codegen._engine._defined_symbols |= names
            return self

        def _get_module_for_linking(self):
            if self._shared_module is None and self._sg_bitcode is not None:
                self._shared_module = ll.parse_bitcode(self._sg_bitcode)
                self._sg_bitcode = None
            return super()._get_module_for_linking()

    _subclass[base] = LazyBitcodeLibrary
    return LazyBitcodeLibrary


@contextlib.contextmanager
def lazy_bitcode(target_context):
    """Within the block, libraries that ``target_context``'s codegen loads from the cache
    parse their bitcode only when linked against. Hold Numba's compiler lock."""
    codegen = target_context.codegen()
    base = getattr(codegen, "_library_class", None)
    engine = getattr(codegen, "_engine", None)
    if base is None or not hasattr(engine, "_defined_symbols") or \
            not hasattr(base, "_get_module_for_linking") or base in _subclass.values():
        # (already inside such a block: a load that loads its callees first)
        yield
        return
    codegen._library_class = _lazy_class(base)
    try:
        yield
    finally:
        codegen._library_class = base
