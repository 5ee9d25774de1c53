"""Graphs to bytes and back, so compiled callables can be pickled.

A graph is written as its nodes in topological order, each as
(primitive name, operand positions, param); reading rebuilds the same DAG.
"""

from __future__ import annotations

import pickle

from .ir import Graph, Node, topological_order
from .primitives import REGISTRY, const_p, symbol_p

_LEAVES = {const_p.name: const_p, symbol_p.name: symbol_p}


def graph_to_bytes(graph: Graph) -> bytes:
    order = topological_order([*graph.inputs, *graph.outputs])
    for node in order:
        if node.op.name not in REGISTRY and node.op.name not in _LEAVES:
            raise TypeError(
                f"cannot pickle a kernel with the operation `{node.op.name}`: sums over data "
                "(a `vmap` over data reduced inside a traced function) hold that data in the kernel; "
                "pickle the function and the data instead, and transform it again"
            )
    position = {node: i for i, node in enumerate(order)}
    nodes = [(n.op.name, tuple(position[a] for a in n.args), n.param) for n in order]
    return pickle.dumps({
        "nodes": nodes,
        "inputs": [position[n] for n in graph.inputs],
        "outputs": [position[n] for n in graph.outputs],
        "input_names": graph.input_names,
        "input_shapes": graph.input_shapes,
        "output_names": graph.output_names,
        "output_shapes": graph.output_shapes,
    })


def graph_from_bytes(data: bytes) -> Graph:
    state = pickle.loads(data)
    built: list[Node] = []
    for name, args, param in state["nodes"]:
        op = _LEAVES.get(name) or REGISTRY[name]
        built.append(Node.make(op, tuple(built[i] for i in args), param))
    return Graph(
        inputs=tuple(built[i] for i in state["inputs"]),
        outputs=tuple(built[i] for i in state["outputs"]),
        input_names=tuple(state["input_names"]),
        input_shapes=tuple(map(tuple, state["input_shapes"])),
        output_names=tuple(state["output_names"]),
        output_shapes=tuple(map(tuple, state["output_shapes"])),
    )
