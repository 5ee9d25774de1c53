"""The intermediate representation: an immutable, hash-consed DAG of scalar nodes.

A `Node` is one float64-valued operation applied to operand nodes. Nodes are
interned: building a node equal in structure to a live one returns that
node, so common subexpressions are shared by construction and identity is
structural equality. Arrays are NumPy object arrays of nodes.

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
    leaf (a float for a constant, a `(name, tag)` pair for a symbol).
    Python operators on nodes are installed by `symgrad.primitives`.
    """

    __slots__ = ("op", "args", "param", "id", "__weakref__")

    op: Any
    args: tuple[Node, ...]
    param: Any
    id: int

    @staticmethod
    def make(op: Any, args: tuple[Node, ...] = (), param: Any = None) -> Node:
        """The interned node for `op(*args)` with `param`; built only if new."""
        key = (op.name, _param_key(param), *[a.id for a in args])
        node = _interned.get(key)
        if node is None:
            node = object.__new__(Node)
            node.op, node.args, node.param = op, args, param
            node.id = next(_next_id)
            _interned[key] = node
        return node

    def __repr__(self) -> str:
        if not self.args:
            return f"Node({self.op.name}, {self.param!r})"
        return f"Node({self.op.name}, #{', #'.join(str(a.id) for a in self.args)})"

    def __reduce__(self):
        raise TypeError(
            "symgrad nodes are not pickled one by one; pickle a compiled callable "
            "or a `Graph` instead"
        )


def _param_key(param: Any) -> Any:
    # Floats compare equal across -0.0/0.0 and unequal for NaN; key them by bits.
    return param.hex() if isinstance(param, float) else param


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

    Nodes the rule keeps are rebuilt through their primitive's `bind` when an
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
            image[node] = node.op.bind(*args)
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
