"""Kernels of large array graphs: the loop lowering, compiled and called.

A `LoopKernel` plans an array graph (`codegen.schedule`), lowers the plan to
one native function (`codegen.loops`) and calls it with a table of
pointers: the argument arrays, fresh output arrays, the constants the
graph holds, and temporaries cut from one workspace. Arguments are checked
in Python before native code runs, as for the per-point kernels.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from .codegen.loops import lower_loops
from .codegen.schedule import plan as make_plan
from .codegen.steps import Contract, Loop
from .engine import _get_engine, contraction, unique_symbol
from .ir import Graph
from .runtime import check_argument

_CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lock = threading.Lock()
# Kernels doing less work than this (points and multiply-adds) also get a native CPython entry, which
# holds the GIL while it runs (longer kernels are called through ctypes, which releases it).
NATIVE_ENTRY_WORK = 2_000_000


class LoopKernel:
    """An array graph compiled to loop nests; called like `runtime.Kernel` (one array per input)."""

    lowering = "loops"

    def __init__(self, graph: Graph, name: str = "kernel"):
        self.graph = graph
        self.name = name
        self.input_names = graph.input_names
        self.input_shapes = graph.input_shapes
        self.output_shapes = graph.output_shapes
        self.plan = make_plan(graph)
        self._symbol = unique_symbol(name)
        self._fn = None
        self.trace_seconds = 0.0
        if any(isinstance(step, Contract) for step in self.plan.steps):
            contraction()  # the matrix product entries, named for the code to link to
        sizes = [b.size for b in self.plan.temps]
        self._offsets = np.cumsum([0, *sizes])
        self._constants = [(b.slot, value) for b, value in self.plan.constants]
        self.work = sum(step.work for step in self.plan.steps if isinstance(step, Loop)) + sum(
            step.batch * step.m * step.n * max(step.k, 1) for step in self.plan.steps if isinstance(step, Contract))
        self._python_fn = None
        self._method_def = None
        # The native entry's slots: constants and temporaries in a workspace of its own (one call at a
        # time: the entry holds the GIL), inputs and outputs filled at each call.
        self.slot_template = None

    def _compiled(self):
        if self._fn is None:
            with _lock:
                if self._fn is None:
                    entry = self.work <= NATIVE_ENTRY_WORK
                    addresses = self._compile(entry)
                    if entry:
                        from .runtime import _builtin_function

                        self._method_def, self._python_fn = _builtin_function(
                            self.name, addresses[self._symbol + "_py"], self)
                        self.slot_template = self._slots(np.empty(max(int(self._offsets[-1]), 1)))
                    self._fn = _CALL(addresses[self._symbol])
        return self._fn

    def _slots(self, workspace: np.ndarray) -> np.ndarray:
        """A slot table with the constants and the temporaries (in `workspace`) filled in."""
        slots = np.zeros(max(self.plan.slots, 1), dtype=np.uint64)
        for slot, value in self._constants:
            slots[slot] = value.ctypes.data
        for buffer, offset in zip(self.plan.temps, self._offsets):
            slots[buffer.slot] = workspace.ctypes.data + 8 * int(offset)
        self._workspace = workspace
        return slots

    def _compile(self, entry: bool) -> dict[str, int]:
        from .codegen import lapack
        from .codegen.llvm import module_source
        from .codegen.rows import data_symbols, datasets
        from .progress import Build
        from .serialize import graph_key

        order = self.graph.order()
        build = Build(self.name, "loops", len(order), self.trace_seconds)
        with build.stage("key"):
            key = graph_key(self.graph, order)
            found = datasets(self.graph, order)  # the data row sums read, numbered for code and symbols
            symbols = {**data_symbols(self.graph, order, found), **lapack.symbols(order)}
        names = [self._symbol, self._symbol + "_py"] if entry else [self._symbol]
        return _get_engine().add(lambda: module_source(lower_loops(self.plan, self._symbol, entry, found)), names,
                                 key=None if key is None else (("loops", entry), key), symbols=symbols, build=build,
                                 owner=self)

    def python_function(self):
        """The native CPython entry (see `codegen.loops.lower_python_entry`), or None for a long kernel."""
        self._compiled()
        return self._python_fn

    def __reduce__(self):
        from .serialize import graph_from_bytes, graph_to_bytes

        return (_rebuild, (graph_to_bytes(self.graph), self.name, graph_from_bytes))

    def __repr__(self) -> str:
        args = ", ".join(f"{n}: {s}" for n, s in zip(self.input_names, self.input_shapes))
        return f"<symgrad LoopKernel {self.name}({args}) -> {len(self.output_shapes)} outputs>"

    def __call__(self, *args: Any) -> list[Any]:
        if len(args) != len(self.input_shapes):
            raise TypeError(
                f"`{self.name}` takes {len(self.input_shapes)} arguments "
                f"({', '.join(self.input_names)}), got {len(args)}"
            )
        fn = self._compiled()
        plan = self.plan
        slots = np.zeros(max(plan.slots, 1), dtype=np.uintp)
        keep = []
        for buffer, name, shape, value in zip(plan.inputs, self.input_names, self.input_shapes, args):
            array = np.ascontiguousarray(check_argument(name, shape, value), dtype=np.float64)
            keep.append(array)
            slots[buffer.slot] = array.ctypes.data
        outputs = [np.empty(shape) for shape in self.output_shapes]
        for buffer, array in zip(plan.outputs, outputs):
            slots[buffer.slot] = array.ctypes.data
        for slot, value in self._constants:
            slots[slot] = value.ctypes.data
        workspace = np.empty(max(int(self._offsets[-1]), 1))
        for buffer, offset in zip(plan.temps, self._offsets):
            slots[buffer.slot] = workspace.ctypes.data + 8 * int(offset)
        fn(slots.ctypes.data)
        return [float(o) if o.shape == () else o for o in outputs]


def _rebuild(data: bytes, name: str, graph_from_bytes) -> LoopKernel:
    return LoopKernel(graph_from_bytes(data), name)
