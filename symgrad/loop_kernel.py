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
from .codegen.schedule import Contract
from .codegen.schedule import plan as make_plan
from .ir import Graph
from .runtime import _get_engine, check_argument, contraction, unique_symbol

_CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lock = threading.Lock()


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

    def _compiled(self):
        if self._fn is None:
            with _lock:
                if self._fn is None:
                    self._fn = _CALL(self._compile()[self._symbol])
        return self._fn

    def _compile(self) -> dict[str, int]:
        from .codegen.llvm import data_symbols, module_source
        from .progress import Build
        from .serialize import graph_key

        order = self.graph.order()
        build = Build(self.name, "loops", len(order), self.trace_seconds)
        with build.stage("key"):
            key = graph_key(self.graph, order)
            symbols = data_symbols(self.graph, order)
        return _get_engine().add(lambda: module_source(lower_loops(self.plan, self._symbol)), [self._symbol],
                                 key=None if key is None else (("loops",), key), symbols=symbols, build=build,
                                 owner=self)

    def python_function(self):
        return None

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
