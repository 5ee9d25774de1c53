"""Batching: a graph rewritten to carry a leading batch axis (the rule behind `vmap` and Jacobians).

Some symbols of a graph are replaced by batched nodes (their shape with a
leading axis of length `size`); every node that depends on them is rebuilt
by its primitive's batching rule, which moves the batch axis to the front
of its result. Elementwise primitives batch by broadcasting; structural
ones declare `batch`. Nodes that do not depend on a batched symbol are kept
as they are (unbatched).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import UnsupportedPrimitiveError
from .ir import Node, topological_order
from .primitives import broadcast_to, reshape


def vectorize(outputs: Sequence[Node], batched: Mapping[Node, Node]) -> list[tuple[Node, bool]]:
    """Each output rebuilt with `batched[s]` in place of each symbol `s`, and whether it is batched."""
    image: dict[Node, tuple[Node, bool]] = {}
    for node in topological_order(outputs):
        if node in batched:
            image[node] = (batched[node], True)
            continue
        args = [image[a] for a in node.args]
        if not any(b for _, b in args):
            image[node] = (node, False)
            continue
        operands = [a for a, _ in args]
        flags = [b for _, b in args]
        image[node] = (_batch_one(node, operands, flags), True)
    return [image[o] for o in outputs]


def _batch_one(node: Node, operands: list[Node], flags: list[bool]) -> Node:
    op = node.op
    if op.batch is not None:
        return op.batch(node, operands, flags)
    if op.partials is not None and not op.structural:
        rank = node.ndim
        aligned = [reshape(a, (a.shape[0], *(1,) * (rank - a.ndim + 1), *a.shape[1:])) if b else a
                   for a, b in zip(operands, flags)]
        return op.bind(*aligned)
    raise UnsupportedPrimitiveError(f"no batching rule for primitive `{op.name}`")


def batched_output(node: Node, is_batched: bool, size: int) -> Node:
    """An output with its batch axis, broadcast when it does not depend on the batch."""
    return node if is_batched else broadcast_to(node, (size, *node.shape))
