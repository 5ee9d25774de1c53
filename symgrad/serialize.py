"""Graphs to bytes: back again, so compiled callables can be pickled, and one way,
to key the compile cache.

A graph is written as its nodes in topological order, each as
(primitive name, operand positions, param); reading rebuilds the same DAG.
A transformed callable whose function cannot be pickled by reference (a
lambda, a closure) is saved as the graphs of the signatures it compiled,
which run without the function (`freeze_signatures`, `thaw_transformed`).
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

from .ir import Graph, Node, topological_order
from .primitives import LEAVES, REGISTRY, STRUCTURAL, ArrayConstant, Indices, const_p, symbol_p

_LEAVES = LEAVES


def graph_to_bytes(graph: Graph) -> bytes:
    order = topological_order([*graph.inputs, *graph.outputs])
    for node in order:
        if node.op.name not in REGISTRY and node.op.name not in _LEAVES and STRUCTURAL.get(node.op.name) is not node.op:
            raise TypeError(
                f"cannot pickle a kernel with the operation `{node.op.name}`: sums over data "
                "(a `vmap` over data reduced inside a traced function) hold that data in the kernel; "
                "pickle the function and the data instead, and transform it again"
            )
    position = {node: i for i, node in enumerate(order)}
    nodes = [(n.op.name, tuple(position[a] for a in n.args), n.param, n.shape) for n in order]
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
    for name, args, param, shape in state["nodes"]:
        op = _LEAVES.get(name) or STRUCTURAL.get(name) or REGISTRY[name]
        built.append(Node.make(op, tuple(built[i] for i in args), param, tuple(shape)))
    return Graph(
        inputs=tuple(built[i] for i in state["inputs"]),
        outputs=tuple(built[i] for i in state["outputs"]),
        input_names=tuple(state["input_names"]),
        input_shapes=tuple(map(tuple, state["input_shapes"])),
        output_names=tuple(state["output_names"]),
        output_shapes=tuple(map(tuple, state["output_shapes"])),
    )


def graph_key(graph: Graph, order: list[Node] | None = None, constants_by_value: bool = False) -> bytes | None:
    """Bytes that determine exactly the code lowered from `graph`, or None when they cannot.

    Equal bytes mean the same DAG (positions stand for nodes), the same
    primitives, constants bit for bit, the same shapes, and sums over data
    of the same layout (the data is read in place, not part of the code).
    Symbols are keyed by position only: code reads inputs by position, not
    by name. Constant arrays are keyed by shape (loop kernels read them at
    call time), or bit for bit with `constants_by_value` (for a graph to be
    expanded into scalars, whose code holds them). None for a graph with a
    primitive outside the table, whose lowering these bytes could not
    capture. `order` is the graph's topological order, when known.
    """
    from .reduction import RowSum

    order = list(order if order is not None else topological_order(graph.outputs))
    position = {node: k for k, node in enumerate(order)}
    row_sums = _RowSums(order, position)
    entries: list[tuple] = []
    k = 0
    while k < len(order):  # row sums append the nodes of their rows to `order`
        node = order[k]
        k += 1
        op = node.op
        if op is const_p:
            entries.append((struct.pack("<d", node.param),))
        elif op is symbol_p:
            entries.append((node.shape,))
        elif REGISTRY.get(op.name) is op:
            entries.append((op.name, tuple(position[a] for a in node.args), node.shape))
        elif STRUCTURAL.get(op.name) is op:
            entries.append((op.name, tuple(position[a] for a in node.args), _param_key(node.param), node.shape))
        elif LEAVES.get(op.name) is op:
            # Constant arrays are given to loop kernels at call time: only their shape is in the code,
            # unless the graph is expanded into scalars (`constants_by_value`), whose code holds them.
            value = node.param.value if constants_by_value and isinstance(node.param, ArrayConstant) else None
            entries.append((op.name, node.shape) if value is None else (op.name, node.shape, value.tobytes()))
        elif isinstance(op.llvm, RowSum):
            entries.append(("row_sum", row_sums.place(node.args), row_sums.key(op.llvm)))
        else:
            return None
    inputs = tuple(position.get(n, -1) for n in graph.inputs)
    return pickle.dumps((entries, row_sums.datasets, row_sums.tuples, inputs,
                         [position[n] for n in graph.outputs], graph.input_shapes, graph.output_shapes), protocol=5)


def _param_key(param):
    if isinstance(param, Indices):
        return ("indices", param.array.shape, param.array.tobytes())
    if isinstance(param, tuple):
        return tuple(_param_key(p) for p in param)
    return param


class _RowSums:
    """Row sums as data: a dataset (numbered, its layout written once), the variables
    (a tuple of positions, written once however many sums share it) and the row expression.

    Nodes of rows and row symbols are appended to `order`, so they get positions too.
    """

    def __init__(self, order: list[Node], position: dict[Node, int]):
        self.order = order
        self.position = position
        self.numbers: dict[int, int] = {}
        self.datasets: list[tuple] = []
        self.tuple_numbers: dict[tuple[Node, ...], int] = {}
        self.tuples: list[tuple] = []

    def key(self, how) -> tuple:
        dataset = how.dataset
        number = self.numbers.get(id(dataset))
        if number is None:
            number = self.numbers[id(dataset)] = len(self.datasets)
            self.datasets.append((dataset.n, tuple((data.dtype.str, data.shape, data.strides,
                                                    self.place(tuple(symbols.flat)))
                                                   for data, symbols in dataset.columns)))
        return number, self.place(how.variables), self.place((how.expression,))

    def place(self, nodes: tuple[Node, ...]) -> int:
        """The number of the tuple of positions of `nodes` in `tuples`, each tuple written once
        (the sums of one gradient share their operands, often thousands of them)."""
        number = self.tuple_numbers.get(nodes)
        if number is None:
            for node in topological_order(nodes, stop=self.position):
                self.position[node] = len(self.order)
                self.order.append(node)
            number = self.tuple_numbers[nodes] = len(self.tuples)
            self.tuples.append(tuple(self.position[n] for n in nodes))
        return number
def pickles(obj: Any) -> bool:
    """Whether `obj` pickles (a module-level function does, a lambda does not)."""
    try:
        pickle.dumps(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def freeze_signatures(cache: dict) -> list[tuple]:
    """The compiled signatures of a transformed callable, as picklable data (graphs as bytes)."""
    return [(key, graph_to_bytes(c.graph), c.float_leaves, c.out_treedef, c.out_is_node, c.out_static,
             c.lowering) for key, c in cache.items()]


def thaw_transformed(name: str, kind: str, frozen: list[tuple]) -> Any:
    """A transformed callable that runs the signatures in `frozen` and refuses any other."""
    from .loop_kernel import LoopKernel
    from .runtime import Kernel
    from .transformed import Transformed, _Compiled

    def untraceable(*args: Any) -> Any:
        raise TypeError(
            f"`{name}` was unpickled without its Python function, so it runs only the input signatures "
            f"compiled before pickling ({'; '.join(_describe_key(key) for key, *_ in frozen)}), not this one. "
            "To pickle a callable that compiles any signature, transform a function defined at module level."
        )

    untraceable.__name__ = name
    transformed = Transformed(untraceable, lambda args, fresh: untraceable(), kind)
    transformed.__name__ = transformed.__qualname__ = name
    for key, graph_bytes, float_leaves, out_treedef, out_is_node, out_static, lowering in frozen:
        graph = graph_from_bytes(graph_bytes)
        kernel = LoopKernel(graph, name) if lowering == "loops" else Kernel(graph, name)
        transformed._cache[key] = _Compiled(kernel, float_leaves, out_treedef, out_is_node, out_static, lowering)
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
