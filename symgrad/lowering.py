"""Choosing a lowering: a small array graph is expanded into scalars, a large one becomes loops.

Scalarised (`symgrad.scalarize`), a graph compiles to the per-point kernels
(straight-line code, SIMD across a batch, the fastest for small functions)
and prints as scalar formulas; its build time grows with the number of
elements. Lowered to loop nests, build time depends on the program alone.
The choice is made per graph from `scalar_size` against `SCALAR_BUDGET`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .ir import Graph
from .scalarize import scalar_size, scalarize_graph
from .simplify import inline_identities

logger = logging.getLogger("symgrad")

# Scalar operations above which a graph is lowered to loops instead.
SCALAR_BUDGET = float(os.environ.get("SYMGRAD_SCALAR_BUDGET", "inf"))


@dataclass
class Lowered:
    graph: Graph
    kernel: Any
    lowering: str


def lower(graph: Graph, name: str) -> Lowered:
    """The kernel of an array graph, by the lowering its size calls for."""
    from .runtime import Kernel

    outputs = tuple(inline_identities(graph.outputs))
    graph = Graph(graph.inputs, outputs, graph.input_names, graph.input_shapes,
                  graph.output_names, graph.output_shapes)
    size = scalar_size(outputs, limit=SCALAR_BUDGET)
    if size <= SCALAR_BUDGET:
        scalar = scalarize_graph(graph)
        return Lowered(scalar, Kernel(scalar, name), "scalar")
    from .loop_kernel import LoopKernel

    logger.info("`%s`: about %.3g scalar operations, over the budget of %.3g: lowered to loops", name, size,
                SCALAR_BUDGET)
    return Lowered(graph, LoopKernel(graph, name), "loops")
