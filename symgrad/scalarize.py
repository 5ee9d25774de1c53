"""Scalarisation: an array graph expanded into a scalar graph (one node per element).

This is the first of the two lowerings (DESIGN.md, "Two levels"): a small
array graph becomes the scalar DAG that the per-point kernels, the batch
kernels and the scalar formulas are made from. Symbols of shape `s` named
`x` become the scalar symbols `x[i, j]` (same tag); elementwise nodes are
applied with broadcasting over object arrays of scalar nodes; structural
nodes expand by their `scalarize` facet. Scalar nodes are rebuilt through
the primitives' builders, so constant folding and identities apply, and
structural zeros vanish from products and sums.

`scalar_size` estimates the number of scalar operations an expansion would
build, without building it, so that the lowering can be chosen first.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from .ir import Graph, Node, topological_order
from .primitives import LINALG, const_p, element, object_ufunc, symbol, symbol_p
from .primitives.linalg import scalar_cost
from .primitives.reduce import contraction_axes

_LINALG = set(LINALG)


def node_array(nodes, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of `shape` holding `nodes` in C order."""
    out = np.empty(math.prod(shape), dtype=object)
    out[:] = list(nodes)
    return out.reshape(shape)


def symbol_elements(name: str, shape: tuple[int, ...], tag: int) -> np.ndarray:
    """The scalar symbols `name[i, j]` of an array symbol (the symbol itself for a scalar)."""
    out = np.empty(shape, dtype=object)
    if shape == ():
        out[()] = symbol(name, tag)
        return out
    for index in np.ndindex(*shape):
        out[index] = symbol(f"{name}[{', '.join(map(str, index))}]", tag)
    return out


def scalarize(outputs: Sequence[Node], kept: Collection[Node] = ()) -> list[np.ndarray]:
    """Object arrays of scalar nodes, one per output, with the outputs' shapes.

    Nodes in `kept` are not expanded: their elements are `element(node, k)`
    (so the scalars stay connected to the array graph they come from).
    """
    values: dict[Node, np.ndarray] = {node: _elements(node) for node in kept}
    for node in topological_order(outputs, stop=values):
        op = node.op
        if op is const_p:
            values[node] = _boxed(node)
        elif op is symbol_p:
            name, tag = node.param
            values[node] = symbol_elements(name, node.shape, tag)
        elif op.structural and op.scalarize is None:
            raise ValueError(f"`{op.name}` has no expansion into scalars (it is lowered to loops)")
        elif op.scalarize is not None:
            values[node] = _objects(op.scalarize(node, *(values[a] for a in node.args)), node.shape)
        elif node.shape == () and all(values[a].shape == () for a in node.args):
            scalars = [values[a][()] for a in node.args]
            unchanged = all(x is a for x, a in zip(scalars, node.args))
            # A scalar node of unchanged scalars is itself; of new ones, rebuilt.
            values[node] = _boxed(node if unchanged else op.rebind(node, tuple(scalars)))
        else:
            elements = object_ufunc(op.bind, len(node.args))(*(values[a] for a in node.args))
            values[node] = _objects(elements, node.shape)
    return [values[o] for o in outputs]


def _elements(node: Node) -> np.ndarray:
    if node.shape == ():
        return _boxed(node)
    return node_array((element(node, k) for k in range(node.size)), node.shape)


def _objects(elements, shape: tuple[int, ...]) -> np.ndarray:
    # NumPy returns a bare element for 0-d results.
    if isinstance(elements, Node):
        return _boxed(elements)
    return np.asarray(elements, dtype=object).reshape(shape)


def _boxed(node: Node) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = node
    return out


def scalarize_graph(graph: Graph) -> Graph:
    """The scalar graph of an array graph: flat scalar inputs and outputs, names and shapes kept."""
    inputs = []
    for node in graph.inputs:
        name, tag = node.param
        inputs.extend(symbol_elements(name, node.shape, tag).flat)
    outputs = [n for array in scalarize(graph.outputs) for n in array.flat]
    return Graph(tuple(inputs), tuple(outputs), graph.input_names, graph.input_shapes,
                 graph.output_names, graph.output_shapes)


def scalar_size(outputs: Sequence[Node], limit: float = math.inf, order: list[Node] | None = None) -> float:
    """About how many scalar nodes `scalarize(outputs)` would build (counting stops past `limit`).
    `order` is the topological order of `outputs`, when known."""
    total = 0.0
    for node in order if order is not None else topological_order(outputs):
        if node.op in _LINALG:
            total += scalar_cost(node)
        elif node.op.name == "dot_general":
            axes = contraction_axes(node)
            total += node.size * 2 * max(axes.count(axes.contracted), 1)
        elif node.args or node.op is symbol_p:
            total += node.size
        if total > limit:
            return total
    return total
