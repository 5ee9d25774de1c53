"""Runtime: the compiled kernels of scalar graphs, called from Python.

A `Kernel` holds a scalar graph and compiles, on first use, its one-point
function, its native CPython entry and its batch functions (one per input
layout) through the engine (`symgrad.engine`). It checks its arguments in
Python before native code runs, so no input can crash the process, and
splits long batches between the CPU's cores.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .codegen.llvm import (
    SHARED,
    STRIDED,
    UNIT,
    VECTOR_WIDTH,
    lower_batch,
    lower_point,
    module_source,
)
from .codegen.rows import data_symbols, datasets
from .engine import _get_engine, _lock, unique_symbol
from .ir import Graph
from .progress import Build
from .scalarize import scalar_size
from .serialize import graph_key

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

    def __init__(self, graph: Graph, name: str = "kernel", *, expand: Callable[[Graph], Graph] | None = None):
        """The kernel of the scalar graph `graph`; with `expand`, of `expand(graph)`, the scalar form of
        the array graph `graph`, made only when code must be generated or the graph is asked for. The
        compile cache is then keyed by the array graph, so a hit skips the expansion."""
        self._graph = None if expand is not None else graph
        self._array_graph, self._expand = (graph, expand) if expand is not None else (None, None)
        self._expanding = threading.Lock()
        self.name = name
        self.input_names = graph.input_names
        self.input_shapes = graph.input_shapes
        self.output_shapes = graph.output_shapes
        self._in_sizes = [int(np.prod(s, dtype=np.int64)) for s in self.input_shapes]
        self._out_sizes = [int(np.prod(s, dtype=np.int64)) for s in self.output_shapes]
        self._n_in = sum(self._in_sizes)
        self._n_out = sum(self._out_sizes)
        self._symbol = unique_symbol(name)
        order = graph.order()
        if expand is None:
            assert self._n_in == len(graph.inputs) and self._n_out == len(graph.outputs), graph
            operations = sum(1 for n in order if n.args)
        else:
            operations = int(min(scalar_size(graph.outputs, order=order), 1e12))
        self._cost = max(1, operations) + self._n_in + self._n_out
        # The data row sums read, numbered for the code and for the symbols that give their addresses.
        self._datasets = datasets(graph, order)
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
        # Bytes that determine this kernel's code, keying the compile cache (`serialize.graph_key`),
        # computed at the first compile: of the array graph an expanded kernel is made from (its
        # expansion is deterministic; constants by value), else of the graph.
        self.cache_key: bytes | None = None
        self._data_symbols: dict[str, int] | None = None
        self._order: list | None = order  # until the first compile needs it
        self._method_def = None

    @property
    def graph(self) -> Graph:
        """The scalar graph the kernel computes."""
        if self._graph is None:
            with self._expanding:
                if self._graph is None:
                    self._graph = self._expand(self._array_graph)
        return self._graph

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
                    addresses = self._compile([name], ("batch", layout),
                                              lambda: lower_batch(self.graph, name, layout, self._datasets))
                    fn = self._batch_fns[layout] = _BATCH(addresses[name])
        return fn

    def _compile_point(self) -> None:
        with _lock:
            if self._point_fn is not None:
                return
            names = [self._symbol, self._symbol + "_py"]
            addresses = self._compile(names, ("point",),
                                      lambda: lower_point(self.graph, self._symbol, True, self._datasets))
            self._method_def, self._python_fn = _builtin_function(self.name, addresses[self._symbol + "_py"], self)
            self._point_fn = _POINT(addresses[self._symbol])

    def _compile(self, names: list[str], kind: tuple, lower: Callable) -> dict[str, int]:
        """The addresses of the named functions of the module `lower()` makes (or the compile cache has)."""
        build = Build(self.name, kind[0], self._cost, self.trace_seconds)
        self.trace_seconds = 0.0
        if self._data_symbols is None:
            with build.stage("key"):
                order, self._order = self._order, None  # of the graph the kernel was made from
                expanded = self._array_graph is not None
                self._data_symbols = data_symbols(self._array_graph if expanded else self._graph, order,
                                                  self._datasets)
                if self.cache_key is None and expanded:
                    array_key = graph_key(self._array_graph, order, constants_by_value=True)
                    self.cache_key = None if array_key is None else b"expanded" + array_key
                if self.cache_key is None:
                    self.cache_key = graph_key(self.graph, None if expanded else order)
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
