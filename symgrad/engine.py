"""The JIT engine: LLVM modules to native code, through the compile cache.

The only module that drives LLVM's code generation (through
`llvmlite.binding`). MCJIT engines, created on demand, hold the kernels'
code; modules are parsed, verified, optimised for the host CPU and compiled
to object code, or their object code is loaded from the persistent compile
cache (`symgrad.cache`), before they are linked, and their code is freed
when the last kernel using it is garbage (see `_Engine`). Also here: the
contraction entries (`contraction`) and kernel names (`unique_symbol`).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import binding as llvm

from . import cache
from .codegen import native
from .codegen.llvm import NUMPY_OBJECTS, PYTHON_API
from .codegen.llvm import settings as codegen_settings
from .errors import CompileError
from .progress import Build

OPT_LEVEL = 3
# Reentrant: code that compiles a module under it may ask for `contraction()` first.
_lock = threading.RLock()
_names = itertools.count()


class _Engine:
    """The process-wide JIT: a target machine for this CPU and an MCJIT engine.

    Every module's object code goes through the compile cache (`symgrad.cache`):
    compiled from IR on a miss, read from disk on a hit, then linked into the
    engine the same way. Kernel names hold a number unique in this process
    (`unique_symbol`); the cached code has placeholders in its place, put
    back when it is linked.

    MCJIT frees a module's machine code only when the engine that holds it
    is disposed of (`remove_module` gives back the IR, not the code), so the
    engine is a *generation*: after `MODULES_PER_ENGINE` modules a fresh one
    takes new modules, and an old one is closed once every kernel that used
    it is gone. A loop making throwaway kernels then runs in flat memory; a
    long-lived kernel pins only its own generation.
    """

    MODULES_PER_ENGINE = 64

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        # Object code for the modules about to be linked, by module name (see `_new_engine`).
        self._objects: dict[str, bytes] = {}
        self._module_names = itertools.count()
        self._lock = threading.RLock()
        self._new_engine()
        # Modules whose last user (a Kernel) is gone, as (engine, module), handled at the next
        # safe point: a finalizer may run inside a compile, under `_lock`, so it only queues them.
        self.dead: list[tuple[Any, Any]] = []
        # Engines that take no new modules: engine -> [its modules, how many are in use].
        self.retired: dict[Any, list] = {}
        for name in PYTHON_API:
            llvm.add_symbol(name, _python_symbol(name))
        llvm.add_symbol(NUMPY_OBJECTS[0], id(np.ndarray))
        llvm.add_symbol(NUMPY_OBJECTS[1], id(np.dtype(np.float64)))

    def _new_engine(self) -> None:
        target = llvm.Target.from_default_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        self.machine = target.create_target_machine(cpu=self.cpu, features=self.features, opt=OPT_LEVEL, jit=True)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.machine)
        self.modules: list[Any] = []
        # Object code for the modules about to be linked, by module name: MCJIT asks for it
        # (its object cache) instead of compiling the module, which is empty.
        self.engine.set_object_cache(None, lambda module: self._objects.pop(module.name, None))
        self.added = 0

    def add(self, source: str | Callable[[], str], names: list[str], *, key: Any = None,
            symbols: dict[str, int] | None = None, build: Build | None = None, owner: Any = None,
            speed_level: int = OPT_LEVEL) -> dict[str, int]:
        """Compile an LLVM module, or load it from the compile cache, and return the addresses
        of the named functions.

        Args:
            source: the module's IR text, or a function that makes it.
            names: the functions to return the addresses of.
            key: what determines the IR text exactly (a graph and kernel kind: see
                `serialize.graph_key`), so that a cache hit need not make the text;
                `source` is then called only on a miss. Without it, the text is the key.
            symbols: external symbols the code reads (data arrays), with their addresses
                in this process.
            build: the record of the build, for its log line and progress display.
            owner: the only holder of the addresses: the code stays until it is garbage,
                then `release_dead` frees it.
            speed_level: LLVM's optimisation level for this module.
        """
        build = build or Build(names[0], "module", 0)
        try:
            with self._lock:
                environment = self._environment if speed_level == OPT_LEVEL else \
                    (lambda: (*self._environment(), speed_level))
                code, kernel_ids = cache.object_code(source, names, key, environment,
                                                     lambda text, b: self._compile(text, b, speed_level), build)
                with build.stage("load"):
                    addresses = self._link(code, kernel_ids, names, symbols or {}, owner)
        except BaseException:
            build.close(failed=True)
            raise
        build.close()
        build.log()
        return addresses

    def _environment(self) -> tuple:
        """What code depends on besides its module: the target, LLVM, the options."""
        return (self.machine.triple, self.cpu, self.features, llvm.llvm_version_info, OPT_LEVEL,
                codegen_settings())

    def _compile(self, source: str, build: Build, speed_level: int = OPT_LEVEL) -> bytes:
        """Object code for LLVM IR text: parsed, verified, optimised for this CPU."""
        with build.stage("llvm"):
            try:
                module = llvm.parse_assembly(source)
                module.verify()
            except RuntimeError as e:
                raise CompileError(f"LLVM rejected a generated module: {e}\n{source[:4000]}") from e
            module.triple = self.machine.triple
            module.data_layout = str(self.machine.target_data)
            self._optimize(module, speed_level)
            return self.machine.emit_object(module)

    def _link(self, code: bytes, kernel_ids: list[str], names: list[str], symbols: dict[str, int],
              owner: Any = None) -> dict[str, int]:
        code = cache.with_kernel_ids(code, kernel_ids)
        # Symbols are resolved when the code is finalized, below: each module's take effect for it.
        for name, address in {**native.called(code), **symbols}.items():
            llvm.add_symbol(name, address)
        module = llvm.parse_assembly("")
        module.name = f"symgrad_object{next(self._module_names)}"
        module.triple = self.machine.triple
        module.data_layout = str(self.machine.target_data)
        self._objects[module.name] = code
        self.engine.add_module(module)
        self.engine.finalize_object()
        self.modules.append(module)
        self.added += 1
        if owner is not None:
            weakref.finalize(owner, self.dead.append, (self.engine, module)).atexit = False
        addresses = {name: self.engine.get_function_address(name) for name in names}
        missing = [name for name, address in addresses.items() if not address]
        if missing:
            raise CompileError(f"compiled code lacks the functions {missing}; clear the compile cache "
                               "(`symgrad.clear_cache()`) and report this")
        return addresses

    def release_dead(self) -> None:
        """Free the code of kernels that are gone, and start a new engine when this one is full
        (call under `_lock`)."""
        while self.dead:
            engine, module = self.dead.pop()
            if engine is self.engine:
                engine.remove_module(module)
                self.modules.remove(module)
                continue
            entry = self.retired[engine]
            entry[1] -= 1
            if entry[1] == 0:
                del self.retired[engine]
                engine.close()  # frees its code and the modules it still owns
        if self.added >= self.MODULES_PER_ENGINE:
            if self.modules:
                self.retired[self.engine] = [self.modules, len(self.modules)]
            else:
                self.engine.close()
            self._new_engine()

    def _optimize(self, module, speed_level: int = OPT_LEVEL) -> None:
        options = llvm.create_pipeline_tuning_options(speed_level=speed_level)
        builder = llvm.create_pass_builder(self.machine, options)
        passes = builder.getModulePassManager()
        try:
            passes.run(module, builder)
        finally:
            _dispose_pass_manager(passes)


def _dispose_pass_manager(passes) -> None:
    """Free a pass manager (some 30 kB per module otherwise).

    llvmlite's `ModulePassManager` lists `ObjectRef` before `NewPassManager`
    among its bases, so `ObjectRef`'s empty `_dispose` hides the one that
    frees it, and every pipeline leaks. Call the real one while that is so.
    """
    from llvmlite.binding import ffi, newpassmanagers

    if type(passes)._dispose is ffi.ObjectRef._dispose:
        newpassmanagers.NewPassManager._dispose(passes)
        passes.detach()


_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    with _engine._lock:
        _engine.release_dead()
    return _engine


def release_unused_code() -> None:
    """Free the native code of kernels that are gone (`symgrad.clear_caches` calls this)."""
    with _lock:
        if _engine is not None:
            _engine.release_dead()


_contractions: dict[tuple, dict[str, int]] = {}


def contraction(width: int | None = None, policy=None, use_blas: bool = True) -> dict[str, int]:
    """The addresses of the contraction entries (`symgrad_gemm`, ...; see `codegen.contract`).

    Compiled once per process. With the defaults, the entries are also
    named for JIT code (`symgrad_gemm`, `symgrad_gemm_batched`,
    `symgrad_parallel_for`): call this before adding a module that declares them. Other arguments build a
    separate module under another prefix (tests and benchmarks).
    """
    from .codegen import contract

    key = (width, policy, use_blas)
    with _lock:
        if key not in _contractions:
            prefix = "symgrad_" if key == (None, None, True) else f"symgrad_{len(_contractions)}_"
            module, names = contract.emit_module(prefix, width, policy or contract.POLICY, use_blas)
            # Its loops are vectorised by hand: -O1 runs them as fast as -O3 (measured) and compiles 20% sooner.
            addresses = _get_engine().add(contract.module_source(module, width), names, speed_level=1)
            for name, address in addresses.items():
                llvm.add_symbol(name, address)
            _contractions[key] = {name.removeprefix(prefix): address for name, address in addresses.items()}
    return _contractions[key]


def _python_symbol(name: str) -> int:
    """The address of a function or object of the CPython C API in this process."""
    return ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, name))


def unique_symbol(name: str) -> str:
    """A symbol for this process's next kernel: `name` made safe, and a number (`cache.kernel_id`)."""
    return _safe(name) + cache.kernel_id(next(_names))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "kernel"
