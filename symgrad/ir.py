"""The intermediate representation: an immutable, hash-consed DAG of array nodes.

A `Node` is one float64-valued operation applied to operand nodes; its value
is an array of a static `shape` (`()` for a scalar). Nodes are interned:
building a node equal in structure to a live one returns that node, so
common subexpressions are shared by construction and identity is structural
equality.

The same nodes serve two levels (see DESIGN.md, "Two levels"): array graphs,
whose nodes are whole arrays (what tracing builds), and scalar graphs, whose
nodes all have shape `()` (what `symgrad.scalarize` turns a small array graph
into, and what the symbolic layer builds); arrays of scalar nodes are NumPy
object arrays.

Invariants:
- a node never changes after it is built;
- `node.id` grows with creation order, which gives every traversal a
  deterministic order;
- every traversal here is iterative, so graphs deeper than Python's recursion
  limit are fine.

This module imports nothing from symgrad: the operation of a node (`node.op`)
is a `symgrad.primitives.Primitive`, used here only through its `name`.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_next_id = itertools.count()
_interned: weakref.WeakValueDictionary[tuple, Node] = weakref.WeakValueDictionary()


class Node:
    """One scalar operation in the DAG. Build nodes with `Node.make`, never directly.

    `op` is the primitive, `args` the operand nodes, `param` the payload of a
    leaf (a float for a constant, a `(name, tag)` pair for a symbol) or the
    static parameters of a structural operation (axes, shapes, indices), and
    `shape` the shape of its value. Python operators on nodes are installed by
    `symgrad.primitives`.
    """

    __slots__ = ("op", "args", "param", "shape", "id", "__weakref__")

    op: Any
    args: tuple[Node, ...]
    param: Any
    shape: tuple[int, ...]
    id: int

    @staticmethod
    def make(op: Any, args: tuple[Node, ...] = (), param: Any = None, shape: tuple[int, ...] = ()) -> Node:
        """The interned node for `op(*args)` with `param` and `shape`; built only if new."""
        key = (op.name, _param_key(param), shape, *[a.id for a in args])
        node = _interned.get(key)
        if node is None:
            node = object.__new__(Node)
            node.op, node.args, node.param, node.shape = op, args, param, shape
            node.id = next(_next_id)
            _interned[key] = node
        return node

    @property
    def size(self) -> int:
        """The number of elements of the value."""
        size = 1
        for n in self.shape:
            size *= n
        return size

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        shape = f", shape={self.shape}" if self.shape else ""
        if not self.args:
            return f"Node({self.op.name}, {self.param!r}{shape})"
        return f"Node({self.op.name}, #{', #'.join(str(a.id) for a in self.args)}{shape})"

    def __reduce__(self):
        raise TypeError(
            "symgrad nodes are not pickled one by one; pickle a compiled callable "
            "or a `Graph` instead"
        )


def _param_key(param: Any) -> Any:
    # Floats compare equal across -0.0/0.0 and unequal for NaN; key them by bits
    # (and by type: a structural zero is a float subclass distinct from 0.0).
    if isinstance(param, float):
        return param.hex() if type(param) is float else (type(param), param.hex())
    return param


def topological_order(outputs: Iterable[Node], stop: Container[Node] = ()) -> list[Node]:
    """Every node the outputs depend on, each once, operands before users.

    Nodes in `stop` are neither listed nor looked through (values known already).
    """
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(n, False) for n in reversed(list(outputs)) if n not in stop]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(node.args) if a not in seen and a not in stop)
    return order


def rewrite(outputs: Sequence[Node], rule: Callable[[Node, tuple[Node, ...]], Node | None]) -> list[Node]:
    """The outputs rebuilt bottom-up, each node replaced by `rule(node, new_operands)` when that is not None.

    Nodes the rule keeps are rebuilt through their primitive (`rebind`) when an
    operand changed, so the construction-time simplifications apply again.
    """
    image: dict[Node, Node] = {}
    for node in topological_order(outputs):
        args = tuple(image[a] for a in node.args)
        replaced = rule(node, args)
        if replaced is not None:
            image[node] = replaced
        elif all(new is old for new, old in zip(args, node.args)):
            image[node] = node
        else:
            image[node] = node.op.rebind(node, args)
    return [image[n] for n in outputs]


def substitute(outputs: Sequence[Node], mapping: dict[Node, Node]) -> list[Node]:
    """The outputs with every node in `mapping` replaced by its image (a symbol by a
    constant folds away)."""
    if not mapping:
        return list(outputs)
    return rewrite(outputs, lambda node, args: mapping.get(node))


def count_users(order: Sequence[Node]) -> dict[Node, int]:
    """How many times each node is used as an operand within `order`."""
    users: dict[Node, int] = dict.fromkeys(order, 0)
    for node in order:
        for a in node.args:
            users[a] += 1
    return users


@dataclass(frozen=True, eq=False)
class Graph:
    """A function as a DAG: input symbols in order, output nodes in order.

    `input_names`/`input_shapes` and `output_names`/`output_shapes` say how
    the flat lists map back to the arrays the user sees.
    """

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    input_names: tuple[str, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()
    output_names: tuple[str, ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()

    def order(self) -> list[Node]:
        return topological_order(self.outputs)
