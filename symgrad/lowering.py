"""Choosing a lowering: a small array graph is expanded into scalars, a large one becomes loops.

Scalarised (`symgrad.scalarize`), a graph compiles to the per-point kernels
(straight-line code, SIMD across a batch, the fastest calls) and prints as
scalar formulas; its build time grows with the number of elements (about
0.1-0.3 ms per scalar operation here). Lowered to loop nests, build time
depends on the program alone (0.15 s plus a few ms per array operation), and
each call pays some 30 us plus about a microsecond per loop.

The choice, measured with `python benchmarks/lowering_budget.py`: a graph
is scalarised when its scalar size is at most `SCALAR_BUDGET` (its build is
then under about a second), or, up to `SCALAR_LIMIT`, when its arrays are
small, at most `SMALL_ARRAYS` elements per operation on average (a Python
loop over small slices: loops would be many and tiny, slow to build and to
call). `SYMGRAD_SCALAR_BUDGET` overrides the choice: 0 lowers every graph
to loops, `inf` scalarises every graph.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from .ir import Graph, topological_order
from .scalarize import scalar_size, scalarize_graph
from .simplify import inline_identities

logger = logging.getLogger("symgrad")

SCALAR_BUDGET = 10_000
SCALAR_LIMIT = 250_000
SMALL_ARRAYS = 250
_FORCED = os.environ.get("SYMGRAD_SCALAR_BUDGET")


@dataclass
class Lowered:
    kernel: Any
    lowering: str

    @property
    def graph(self) -> Graph:
        return self.kernel.graph


def lower(graph: Graph, name: str) -> Lowered:
    """The kernel of an array graph, by the lowering its size calls for."""
    from .runtime import Kernel

    outputs = tuple(inline_identities(graph.outputs))
    graph = Graph(graph.inputs, outputs, graph.input_names, graph.input_shapes,
                  graph.output_names, graph.output_shapes)
    if _scalarised(outputs, name):
        # Expanded into scalars when code is generated (a compile-cache hit needs no expansion).
        return Lowered(Kernel(graph, name, expand=scalarize_graph), "scalar")
    from .loop_kernel import LoopKernel

    return Lowered(LoopKernel(graph, name), "loops")


def _scalarised(outputs, name: str) -> bool:
    if _FORCED is not None:
        budget = float(_FORCED)
        size = scalar_size(outputs, limit=budget)
        return size <= budget and size != math.inf  # (inf: a node without an expansion into scalars)
    order = topological_order(outputs)
    size = scalar_size(outputs, limit=SCALAR_LIMIT, order=order)
    operations = sum(1 for n in order if n.args)
    small = size <= SCALAR_BUDGET or (size <= SCALAR_LIMIT and size <= SMALL_ARRAYS * max(operations, 1))
    logger.debug("`%s`: about %.3g scalar operations in %d array operations: %s", name, size, operations,
                 "scalarised" if small else "lowered to loops")
    return small
