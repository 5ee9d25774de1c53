"""The reference interpreter: evaluate a graph with NumPy, one primitive `impl` per node.

This is the semantics compiled kernels are tested against. For scalar
graphs, inputs may carry a leading batch axis (every elementwise `impl`
broadcasts); array graphs take arrays of the symbols' shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .ir import Node, topological_order
from .primitives import const_p, symbol_p


def evaluate(outputs: Sequence[Node], values: Mapping[Node, np.ndarray | float]) -> list[np.ndarray]:
    """The value of each output, given a value for each symbol it depends on.

    `values` may also give the value of other nodes: they are not looked through.
    """
    result: dict[Node, object] = {node: value for node, value in values.items() if node.op is not symbol_p}
    with np.errstate(all="ignore"):
        for node in topological_order(outputs, stop=result):
            op = node.op
            if op is const_p:
                result[node] = float(node.param)
            elif op is symbol_p:
                if node not in values:
                    raise ValueError(f"no value given for symbol `{node.param[0]}`")
                result[node] = values[node]
            elif op.structural or not node.args:
                result[node] = op.impl(node, *(result[a] for a in node.args))
            else:
                result[node] = op.impl(*(result[a] for a in node.args))
    return [np.asarray(result[o], dtype=np.float64) for o in outputs]
