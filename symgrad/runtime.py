"""Runtime: turn LLVM modules into native code and call it.

The only module that talks to LLVM (through `llvmlite.binding`). MCJIT
engines, created on demand, hold the kernels' code; modules are parsed,
verified, optimised for the host CPU and compiled to object code, or their
object code is loaded from the persistent compile cache (`symgrad.cache`),
before they are linked, and their code is freed when the last kernel using
it is garbage (see `_Engine`). A `Kernel` checks its arguments in Python
before native code runs, so no input can crash the process.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import binding as llvm

from . import cache
from .codegen.llvm import (
    NUMPY_OBJECTS,
    PYTHON_API,
    SHARED,
    STRIDED,
    UNIT,
    VECTOR_WIDTH,
    lower_batch,
    lower_point,
    module_source,
)
from .codegen.llvm import settings as codegen_settings
from .codegen.rows import data_symbols
from .errors import CompileError
from .ir import Graph
from .progress import Build
from .serialize import graph_key

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
        for name, address in symbols.items():
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


_POINT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_BATCH = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
# A batch is split between the CPU's cores (ctypes releases the GIL during the
# native call) when it holds at least this many operations (points x operations
# per point): starting a thread costs some 50 us, about 10^6 vector operations.
PARALLEL_MIN_WORK = 1_000_000
_CORES = max(1, min(os.cpu_count() or 1, 8))


class Kernel:
    """A compiled graph with a fixed input signature.

    Called with one array (or float) per input, shaped as declared; returns
    a list with one fresh array (or float, for a scalar) per output.
    """

    def __init__(self, graph: Graph, name: str = "kernel"):
        self.graph = graph
        self.name = name
        self.input_names = graph.input_names
        self.input_shapes = graph.input_shapes
        self.output_shapes = graph.output_shapes
        self._in_sizes = [int(np.prod(s, dtype=np.int64)) for s in self.input_shapes]
        self._out_sizes = [int(np.prod(s, dtype=np.int64)) for s in self.output_shapes]
        self._n_in = sum(self._in_sizes)
        self._n_out = sum(self._out_sizes)
        assert self._n_in == len(graph.inputs) and self._n_out == len(graph.outputs), graph
        self._symbol = unique_symbol(name)
        order = graph.order()
        self._cost = max(1, sum(1 for n in order if n.args)) + self._n_in + self._n_out
        # Per output scalar: the distance (in doubles) between consecutive points.
        self._out_steps = np.repeat(self._out_sizes, self._out_sizes).astype(np.int64)
        self._out_offsets = [np.arange(size, dtype=np.uintp) * np.uintp(8) for size in self._out_sizes]
        self._plans: dict[tuple, tuple] = {}
        # Each entry is compiled on first use: a kernel called point by point
        # never pays for its batch loop, and the other way round.
        self._point_fn = None
        self._batch_fns: dict[tuple[str, ...], Any] = {}
        self._python_fn = None
        # Seconds spent tracing and differentiating to make the graph (set by the caller, logged).
        self.trace_seconds = 0.0
        # Bytes that determine this kernel's code, keying the compile cache: by default the
        # graph's (`serialize.graph_key`). A caller that knows an exact key cheaper to compute
        # (the function's graph and the transformation, before differentiating) may set it.
        self.cache_key: bytes | None = None
        self._data_symbols: dict[str, int] | None = None
        self._order: list | None = order  # until the first compile needs it
        self._method_def = None

    @property
    def _point(self):
        if self._point_fn is None:
            self._compile_point()
        return self._point_fn

    def _batch(self, layout: tuple[str, ...]):
        """The batch function for an input layout, compiled on first use."""
        fn = self._batch_fns.get(layout)
        if fn is None:
            with _lock:
                fn = self._batch_fns.get(layout)
                if fn is None:
                    name = f"{self._symbol}_batch{len(self._batch_fns)}"
                    addresses = self._compile([name], ("batch", layout), lambda: lower_batch(self.graph, name, layout))
                    fn = self._batch_fns[layout] = _BATCH(addresses[name])
        return fn

    def _compile_point(self) -> None:
        with _lock:
            if self._point_fn is not None:
                return
            names = [self._symbol, self._symbol + "_py"]
            addresses = self._compile(names, ("point",), lambda: lower_point(self.graph, self._symbol, True))
            self._method_def, self._python_fn = _builtin_function(self.name, addresses[self._symbol + "_py"], self)
            self._point_fn = _POINT(addresses[self._symbol])

    def _compile(self, names: list[str], kind: tuple, lower: Callable) -> dict[str, int]:
        """The addresses of the named functions of the module `lower()` makes (or the compile cache has)."""
        build = Build(self.name, kind[0], self._cost, self.trace_seconds)
        self.trace_seconds = 0.0
        if self._data_symbols is None:
            with build.stage("key"):
                order, self._order = self._order or self.graph.order(), None
                if self.cache_key is None:
                    self.cache_key = graph_key(self.graph, order)
                self._data_symbols = data_symbols(self.graph, order)
        key = None if self.cache_key is None else (kind, self.cache_key)
        return _get_engine().add(lambda: module_source(lower()), names, key=key, symbols=self._data_symbols,
                                 build=build, owner=self)

    def python_function(self):
        """The native CPython entry of the kernel (see `codegen.llvm.lower_point`).

        For all-scalar kernels it takes one Python float per input and returns
        float(s); otherwise it takes floats and C-contiguous float64 arrays and
        a last output array to fill. It returns `NotImplemented` for arguments
        it does not take.
        """
        if self._point_fn is None:
            self._compile_point()
        return self._python_fn

    def __repr__(self) -> str:
        args = ", ".join(f"{n}: {s}" for n, s in zip(self.input_names, self.input_shapes))
        return f"<symgrad Kernel {self.name}({args}) -> {len(self.output_shapes)} outputs>"

    def __reduce__(self):
        from .serialize import graph_from_bytes, graph_to_bytes

        return (_rebuild_kernel, (graph_to_bytes(self.graph), self.name, graph_from_bytes))

    def __call__(self, *args: Any) -> list[Any]:
        if len(args) != len(self.input_shapes):
            raise TypeError(
                f"`{self.name}` takes {len(self.input_shapes)} arguments "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        buffer = np.empty(self._n_in)
        offset = 0
        for name, shape, size, value in zip(self.input_names, self.input_shapes, self._in_sizes, args):
            buffer[offset:offset + size] = check_argument(name, shape, value).reshape(-1)
            offset += size
        out = np.empty(self._n_out)
        self._point(buffer.ctypes.data, out.ctypes.data)
        return self._split(out)

    def batch(self, args: list[Any], batched: list[bool], n: int) -> list[np.ndarray]:
        """Evaluate `n` points at once in native code.

        Args:
            args: one value per input; a batched one has a leading axis of
                length `n` before the declared shape, the others are shared.
            batched: which inputs carry the batch axis.
            n: the number of points.

        Returns:
            One array per output, of shape `(n, *output_shape)`.
        """
        if len(args) != len(self.input_shapes):
            raise TypeError(
                f"`{self.name}` takes {len(self.input_shapes)} arguments "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        arrays = []
        for name, shape, value, is_batched in zip(self.input_names, self.input_shapes, args, batched):
            array = check_argument(name, ((n,) + tuple(shape)) if is_batched else tuple(shape), value)
            arrays.append(array if not any(s % 8 for s in array.strides) else np.ascontiguousarray(array))
        key = (tuple(a.strides for a in arrays), tuple(batched))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(arrays, batched)
        offsets, strides, fn = plan
        in_ptrs = np.concatenate([a.ctypes.data + o for a, o in zip(arrays, offsets)])
        outs = [np.empty((n, *shape)) for shape in self.output_shapes]
        out_ptrs = np.concatenate([o.ctypes.data + self._out_offsets[k] for k, o in enumerate(outs)]) \
            if outs else np.zeros(1, dtype=np.uintp)
        self._run_batch(fn, in_ptrs, strides, out_ptrs, n)
        return outs

    def _plan(self, arrays: list[np.ndarray], batched: list[bool]) -> tuple:
        """What a batch call with these strides needs, computed once per layout."""
        offsets, steps = [], []
        for shape, array, is_batched in zip(self.input_shapes, arrays, batched):
            offsets.append(_offsets(tuple(shape), array.strides[1:] if is_batched else array.strides))
            steps.extend([array.strides[0] // 8 if is_batched else 0] * len(offsets[-1]))
        kinds = {0: SHARED, 1: UNIT}
        layout = tuple(kinds.get(step, STRIDED) for step in steps)
        return offsets, np.array(steps or [0], dtype=np.int64), self._batch(layout)

    def _run_batch(self, fn, in_ptrs: np.ndarray, in_strides: np.ndarray, out_ptrs: np.ndarray, n: int) -> None:
        if n * self._cost < PARALLEL_MIN_WORK or _CORES == 1 or n < 2 * _CORES:
            fn(in_ptrs.ctypes.data, in_strides.ctypes.data, out_ptrs.ctypes.data, n)
            return
        # Chunks start on a multiple of the vector width, so unit-stride data stays aligned alike.
        bounds = np.linspace(0, n, _CORES + 1).astype(np.int64) // VECTOR_WIDTH * VECTOR_WIDTH
        bounds[-1] = n
        calls = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            chunk_in = in_ptrs + (start * in_strides * 8).astype(np.uintp)
            chunk_out = out_ptrs + (start * 8 * self._out_steps).astype(np.uintp)
            calls.append((chunk_in, chunk_out, int(stop - start)))
        threads = [threading.Thread(target=fn, args=(ci.ctypes.data, in_strides.ctypes.data, co.ctypes.data, m))
                   for ci, co, m in calls[1:]]
        for t in threads:
            t.start()
        ci, co, m = calls[0]
        fn(ci.ctypes.data, in_strides.ctypes.data, co.ctypes.data, m)
        for t in threads:
            t.join()

    def _split(self, out: np.ndarray) -> list[Any]:
        results, offset = [], 0
        for shape, size in zip(self.output_shapes, self._out_sizes):
            results.append(float(out[offset]) if shape == () else out[offset:offset + size].reshape(shape))
            offset += size
        return results


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x0080
_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
def _builtin_function(name: str, address: int, owner: Any) -> tuple[_MethodDef, Any]:
    """A builtin function object calling the METH_FASTCALL native code at `address`.

    The function holds `owner` as its `self` (which the native code ignores),
    so the owner, which keeps the method definition and the code alive, lives
    at least as long as the function; the caller keeps the definition.
    """
    method = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    return method, _new_function(ctypes.addressof(method), owner, None)


@functools.lru_cache(maxsize=256)
def _offsets(shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """Byte offsets of the elements of an array of `shape` and `strides`, in C order."""
    if not shape:
        return np.zeros(1, dtype=np.uintp)
    index = np.indices(shape).reshape(len(shape), -1)
    offsets = (index * np.asarray(strides, dtype=np.int64)[:, None]).sum(axis=0).astype(np.uintp)
    offsets.flags.writeable = False
    return offsets


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(1, dtype=dtype)


def _rebuild_kernel(data: bytes, name: str, graph_from_bytes) -> Kernel:
    return Kernel(graph_from_bytes(data), name)


def check_argument(name: str, shape: tuple[int, ...], value: Any) -> np.ndarray:
    """`value` as a float64 array of `shape`, or a TypeError/ValueError naming `name`."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        array = np.asarray(value, dtype=np.float64)
    else:
        try:
            array = np.asarray(value)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"argument `{name}`: cannot convert {type(value).__name__} to an array ({e})") from e
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"argument `{name}`: expected real numbers (float64), got dtype {array.dtype}"
                f" ({type(value).__name__})"
            )
        array = array.astype(np.float64, copy=False)
    if array.shape != tuple(shape):
        raise ValueError(f"argument `{name}`: expected shape {tuple(shape)}, got shape {array.shape}")
    return array
