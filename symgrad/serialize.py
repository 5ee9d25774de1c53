"""Graphs to bytes and back, so compiled callables can be pickled.

A graph is written as its nodes in topological order, each as
(primitive name, operand positions, param); reading rebuilds the same DAG.
A transformed callable whose function cannot be pickled by reference (a
lambda, a closure) is saved as the graphs of the signatures it compiled,
which run without the function (`freeze_signatures`, `thaw_transformed`).
"""

from __future__ import annotations

import pickle
from typing import Any

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


def pickles(obj: Any) -> bool:
    """Whether `obj` pickles (a module-level function does, a lambda does not)."""
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def freeze_signatures(cache: dict) -> list[tuple]:
    """The compiled signatures of a transformed callable, as picklable data (graphs as bytes)."""
    return [(key, graph_to_bytes(c.graph), c.float_leaves, c.out_treedef, c.out_is_node, c.out_static)
            for key, c in cache.items()]


def thaw_transformed(name: str, kind: str, frozen: list[tuple]) -> Any:
    """A transformed callable that runs the signatures in `frozen` and refuses any other."""
    from .api import Transformed, _Compiled
    from .runtime import Kernel

    def untraceable(*args: Any) -> Any:
        raise TypeError(
            f"`{name}` was unpickled without its Python function, so it runs only the input signatures "
            f"compiled before pickling ({'; '.join(_describe_key(key) for key, *_ in frozen)}), not this one. "
            "To pickle a callable that compiles any signature, transform a function defined at module level."
        )

    untraceable.__name__ = name
    transformed = Transformed(untraceable, lambda args, fresh: untraceable(), kind)
    transformed.__name__ = transformed.__qualname__ = name
    for key, graph_bytes, float_leaves, out_treedef, out_is_node, out_static in frozen:
        graph = graph_from_bytes(graph_bytes)
        transformed._cache[key] = _Compiled(graph, Kernel(graph, name), float_leaves, out_treedef,
                                            out_is_node, out_static)
    return transformed


def _describe_key(key: tuple) -> str:
    """A signature's arguments as people read them: `(float64 (3,), constant 2)`."""
    parts = []
    for leaf in key[1]:
        if leaf[0] == "f":
            parts.append(f"float64 {leaf[1]}")
        elif len(leaf) == 3:
            parts.append(f"constant {leaf[2]!r:.20}")
        else:
            parts.append(f"constant array {leaf[1]} {leaf[2]}")
    return "(" + ", ".join(parts) + ")"
